#!/usr/bin/env python3
"""Checks the Kubernetes manifests (deploy/kubernetes) offline.

No cluster is reachable here and kubectl is not packaged in Debian 12, so
this test checks what a cluster would: every YAML document parses, every
object and nested object holds only fields of the Kubernetes API schema
(apps/v1, v1) for the kinds we use, with the required ones present
(a misspelt `readinessprobe` or a missing `selector` fails here, as
`kubectl apply` would); and it checks the manifests against the server:
probe paths are routes the server answers without a token, probe and
scrape ports are the container port the server listens on, every
STREAMSIGHT_* variable set is one the server reads, STREAMSIGHT_SHARDS
equals the replica count, each camera in the ConfigMap has an id and each
${NAME} in its URIs comes from the Secret, the pod's user and group are the
image's, requests and limits are set. When a kubectl with kustomize is on
the PATH, the rendered overlays (`kubectl kustomize`, offline) are checked
the same way.

With the built binary given, the camera list of the ConfigMap is also
loaded by the server itself (`streamsight serve --check-config`, which
loads nothing else and starts nothing) with the StatefulSet's environment
and the Secret's keys, once as each replica: every one accepts it, and the
replicas' shares add up to every camera exactly once.

Usage: check-kubernetes.py SOURCE_ROOT [STREAMSIGHT_EXE]
Exit 0 (all passed), 1 (a failure, each printed), 77 (skip: no PyYAML).
"""
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed (scripts/install-deps.sh --test)")
    sys.exit(77)

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
EXE = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
KDIR = os.path.join(ROOT, "deploy", "kubernetes")
failures = []
checks = 0


def fail(where, msg):
    failures.append(f"{where}: {msg}")


def check(cond, where, msg):
    global checks
    checks += 1
    if not cond:
        fail(where, msg)
    return cond


# ---- a subset of the Kubernetes API schema: the kinds and fields used ----
# Each object type: (required fields, {field: type}), where type is a
# Python type, another object type's name, or [type] for a list of it.
# Field names are the API's (k8s.io/api, v1.29); anything not listed is an
# error, so that a typo cannot pass as an ignored extra.
S = {
    "ObjectMeta": ((["name"]), {
        "name": str, "namespace": str, "labels": "StrMap",
        "annotations": "StrMap"}),
    "TemplateMeta": (([]), {"labels": "StrMap", "annotations": "StrMap"}),
    "LabelSelector": ((["matchLabels"]), {"matchLabels": "StrMap"}),
    "StatefulSetSpec": ((["selector", "template", "serviceName"]), {
        "serviceName": str, "replicas": int, "podManagementPolicy": str,
        "selector": "LabelSelector", "template": "PodTemplateSpec",
        "updateStrategy": dict, "minReadySeconds": int,
        "persistentVolumeClaimRetentionPolicy": dict,
        "volumeClaimTemplates": list}),
    "DeploymentSpec": ((["selector", "template"]), {
        "replicas": int, "selector": "LabelSelector",
        "template": "PodTemplateSpec", "strategy": dict}),
    "PodTemplateSpec": ((["metadata", "spec"]), {
        "metadata": "TemplateMeta", "spec": "PodSpec"}),
    "PodSpec": ((["containers"]), {
        "containers": ["Container"], "volumes": ["Volume"],
        "securityContext": "PodSecurityContext",
        "automountServiceAccountToken": bool,
        "terminationGracePeriodSeconds": int,
        "topologySpreadConstraints": ["TopologySpreadConstraint"],
        "serviceAccountName": str, "nodeSelector": "StrMap"}),
    "TopologySpreadConstraint": ((["maxSkew", "topologyKey",
                                   "whenUnsatisfiable"]), {
        "maxSkew": int, "topologyKey": str, "whenUnsatisfiable": str,
        "labelSelector": "LabelSelector"}),
    "PodSecurityContext": (([]), {
        "runAsNonRoot": bool, "runAsUser": int, "runAsGroup": int,
        "fsGroup": int, "seccompProfile": "SeccompProfile",
        "supplementalGroups": [int]}),
    "SeccompProfile": ((["type"]), {"type": str}),
    "Container": ((["name", "image"]), {
        "name": str, "image": str, "imagePullPolicy": str, "args": [str],
        "command": [str], "ports": ["ContainerPort"], "env": ["EnvVar"],
        "envFrom": ["EnvFromSource"], "resources": "Resources",
        "startupProbe": "Probe", "livenessProbe": "Probe",
        "readinessProbe": "Probe", "securityContext": "SecurityContext",
        "volumeMounts": ["VolumeMount"]}),
    "ContainerPort": ((["containerPort"]), {
        "name": str, "containerPort": int, "protocol": str}),
    "EnvVar": ((["name"]), {"name": str, "value": str,
                            "valueFrom": "EnvVarSource"}),
    "EnvVarSource": (([]), {"fieldRef": "FieldRef",
                            "secretKeyRef": "KeyRef",
                            "configMapKeyRef": "KeyRef"}),
    "FieldRef": ((["fieldPath"]), {"fieldPath": str, "apiVersion": str}),
    "KeyRef": ((["name", "key"]), {"name": str, "key": str,
                                   "optional": bool}),
    "EnvFromSource": (([]), {"secretRef": "NameRef",
                             "configMapRef": "NameRef", "prefix": str}),
    "NameRef": ((["name"]), {"name": str, "optional": bool}),
    "Resources": ((["requests", "limits"]), {
        "requests": "StrMap", "limits": "StrMap"}),
    "Probe": (([]), {
        "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction",
        "exec": dict, "initialDelaySeconds": int, "periodSeconds": int,
        "timeoutSeconds": int, "failureThreshold": int,
        "successThreshold": int}),
    "HTTPGetAction": ((["port"]), {"path": str, "port": (int, str),
                                   "scheme": str, "httpHeaders": list}),
    "TCPSocketAction": ((["port"]), {"port": (int, str)}),
    "SecurityContext": (([]), {
        "allowPrivilegeEscalation": bool, "readOnlyRootFilesystem": bool,
        "capabilities": "Capabilities", "runAsNonRoot": bool,
        "runAsUser": int, "runAsGroup": int}),
    "Capabilities": (([]), {"drop": [str], "add": [str]}),
    "VolumeMount": ((["name", "mountPath"]), {
        "name": str, "mountPath": str, "readOnly": bool, "subPath": str}),
    "Volume": ((["name"]), {"name": str, "configMap": "NameRef",
                            "secret": dict, "emptyDir": "EmptyDir"}),
    "EmptyDir": (([]), {"sizeLimit": str, "medium": str}),
    "ServiceSpec": ((["ports", "selector"]), {
        "type": str, "clusterIP": str, "selector": "StrMap",
        "sessionAffinity": str,
        "ports": ["ServicePort"], "publishNotReadyAddresses": bool}),
    "ServicePort": ((["port"]), {"name": str, "port": int,
                                 "targetPort": (int, str),
                                 "protocol": str}),
}
KINDS = {
    # kind: (apiVersion, required top-level fields, {field: type})
    "StatefulSet": ("apps/v1", ["spec"], {"spec": "StatefulSetSpec"}),
    "Deployment": ("apps/v1", ["spec"], {"spec": "DeploymentSpec"}),
    "Service": ("v1", ["spec"], {"spec": "ServiceSpec"}),
    "ConfigMap": ("v1", ["data"], {"data": "StrMap"}),
    "Secret": ("v1", [], {"type": str, "stringData": "StrMap",
                          "data": "StrMap"}),
}
ENUMS = {
    ("Container", "imagePullPolicy"): {"Always", "IfNotPresent", "Never"},
    ("StatefulSetSpec", "podManagementPolicy"): {"OrderedReady", "Parallel"},
    ("ServiceSpec", "type"): {"ClusterIP", "NodePort", "LoadBalancer",
                              "ExternalName"},
    ("ServiceSpec", "sessionAffinity"): {"ClientIP", "None"},
    ("ContainerPort", "protocol"): {"TCP", "UDP", "SCTP"},
    ("ServicePort", "protocol"): {"TCP", "UDP", "SCTP"},
    ("SeccompProfile", "type"): {"RuntimeDefault", "Localhost",
                                 "Unconfined"},
    ("TopologySpreadConstraint", "whenUnsatisfiable"): {"DoNotSchedule",
                                                        "ScheduleAnyway"},
}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def validate(obj, typ, where):
    """Checks obj against S[typ] (or a Python type), recursively."""
    if typ == "StrMap":
        ok = isinstance(obj, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in obj.items())
        check(ok, where, "must be a map of strings (quote numbers)")
        return
    if isinstance(typ, list):
        if check(isinstance(obj, list), where, "must be a list"):
            for i, item in enumerate(obj):
                validate(item, typ[0], f"{where}[{i}]")
        return
    if isinstance(typ, tuple) or isinstance(typ, type):
        ok = isinstance(obj, typ) and not (typ is int and isinstance(obj, bool))
        check(ok, where, f"must be {typ}, not {type(obj).__name__}")
        return
    required, fields = S[typ]
    if not check(isinstance(obj, dict), where, f"must be an object ({typ})"):
        return
    for key in obj:
        check(key in fields, where, f"unknown field '{key}' in {typ}")
    for key in required:
        check(key in obj, where, f"{typ}: required field '{key}' missing")
    for key, value in obj.items():
        if key in fields:
            validate(value, fields[key], f"{where}.{key}")
            allowed = ENUMS.get((typ, key))
            if allowed:
                check(value in allowed, f"{where}.{key}",
                      f"'{value}' is not one of {sorted(allowed)}")


def validate_doc(doc, where):
    kind = doc.get("kind")
    if not check(kind in KINDS, where, f"kind '{kind}' not known here"):
        return
    api, required, fields = KINDS[kind]
    check(doc.get("apiVersion") == api, where,
          f"{kind} is apiVersion {api}, not {doc.get('apiVersion')}")
    for key in doc:
        check(key in ("apiVersion", "kind", "metadata") or key in fields,
              where, f"unknown top-level field '{key}' for {kind}")
    for key in required:
        check(key in doc, where, f"{kind}: '{key}' missing")
    validate(doc.get("metadata"), "ObjectMeta", f"{where}.metadata")
    for key, typ in fields.items():
        if key in doc:
            validate(doc[key], typ, f"{where}.{key}")


# ---- what the server says about itself ----

def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def server_facts():
    routes = read("server/routes.c")
    public = set(re.findall(
        r'\{\s*"GET",\s*"([^"]+)",\s*\w+,\s*[^}]*ROUTE_PUBLIC[^}]*\}', routes))
    all_get = set(re.findall(r'\{\s*"GET",\s*"([^"]+)",', routes))
    env_read = set()
    for name in os.listdir(os.path.join(ROOT, "server")):
        if name.endswith(".c"):
            env_read |= set(re.findall(r'"(STREAMSIGHT_[A-Z_]+)"',
                                       read(f"server/{name}")))
    default_port = int(re.search(r"#define CONFIG_DEFAULT_PORT (\d+)",
                                 read("server/config.h")).group(1))
    docker = read("Dockerfile")
    image_port = int(re.search(r"STREAMSIGHT_PORT=(\d+)", docker).group(1))
    uid = int(re.search(r"--uid (\d+)", docker).group(1))
    gid = int(re.search(r"--gid (\d+)", docker).group(1))
    return {"public": public, "get": all_get, "env": env_read,
            "port": image_port, "default_port": default_port,
            "uid": uid, "gid": gid}


def load_dir(path):
    """Documents of every YAML file under path, kustomizations apart."""
    docs, kustomizations = [], {}
    for dirpath, _, files in os.walk(path):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, ROOT)
            try:
                with open(full, encoding="utf-8") as f:
                    loaded = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                fail(rel, f"not YAML: {e}")
                continue
            for i, d in enumerate(loaded):
                if d.get("kind") == "Kustomization":
                    kustomizations[dirpath] = (rel, d)
                else:
                    docs.append((f"{rel}#{i}", d))
    return docs, kustomizations


def check_kustomization(dirpath, rel, k, docs_by_file):
    check(k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1", rel,
          "apiVersion")
    for res in k.get("resources", []):
        target = os.path.normpath(os.path.join(dirpath, res))
        check(os.path.exists(target), rel, f"resource {res} does not exist")
        if os.path.isdir(target):
            check(os.path.exists(os.path.join(target, "kustomization.yaml")),
                  rel, f"{res}: a directory without kustomization.yaml")
    for p in k.get("patches", []):
        t = p.get("target", {})
        check(t.get("kind") and t.get("name"), rel, "patch without target")
        ops = yaml.safe_load(p.get("patch", "[]"))
        for op in ops or []:
            check(op.get("op") in ("add", "replace", "remove"), rel,
                  f"patch op {op.get('op')}")
            check(op.get("path", "").startswith("/spec/template/spec/"
                                                "containers/0/env"),
                  rel, f"unexpected patch path {op.get('path')}")


def check_objects(docs, facts, label, replicas_override=None):
    """Cross-checks the objects of one rendering against the server."""
    by_kind = {}
    for where, d in docs:
        validate_doc(d, f"{label}:{where}")
        by_kind.setdefault(d.get("kind"), []).append((where, d))
    secrets = {d["metadata"]["name"]: d for _, d in by_kind.get("Secret", [])}
    configmaps = {d["metadata"]["name"]: d
                  for _, d in by_kind.get("ConfigMap", [])}
    services = {d["metadata"]["name"]: d
                for _, d in by_kind.get("Service", [])}

    sts_list = by_kind.get("StatefulSet", [])
    check(len(sts_list) == 1, label, "exactly one StatefulSet expected")
    for where, sts in sts_list:
        w = f"{label}:{where}"
        spec = sts.get("spec", {})
        tmpl = spec.get("template", {})
        labels = tmpl.get("metadata", {}).get("labels", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        check(all(labels.get(k) == v for k, v in sel.items()), w,
              "selector.matchLabels do not match the pod template's labels")
        headless = services.get(spec.get("serviceName"))
        check(headless is not None and
              headless["spec"].get("clusterIP") == "None", w,
              f"serviceName {spec.get('serviceName')} is not a headless "
              "Service of the manifests")
        pod = tmpl.get("spec", {})
        psc = pod.get("securityContext", {})
        check(psc.get("runAsUser") == facts["uid"] and
              psc.get("runAsGroup") == facts["gid"], w,
              f"runAsUser/runAsGroup must be the image's "
              f"{facts['uid']}:{facts['gid']}")
        check(psc.get("runAsNonRoot") is True, w, "runAsNonRoot")
        replicas = replicas_override.get(sts["metadata"]["name"],
                                         spec.get("replicas")) \
            if replicas_override else spec.get("replicas")
        check(isinstance(replicas, int) and replicas >= 1, w, "replicas")
        ann = tmpl.get("metadata", {}).get("annotations", {})
        c = pod.get("containers", [{}])[0]
        ports = {p.get("name"): p.get("containerPort")
                 for p in c.get("ports", [])}
        env = {e["name"]: e for e in c.get("env", [])}
        listen = int(env["STREAMSIGHT_PORT"]["value"]) \
            if "STREAMSIGHT_PORT" in env else facts["port"]
        check(ports.get("http") == listen, w,
              f"container port 'http' {ports.get('http')} is not the port "
              f"the server listens on ({listen})")
        check(listen == facts["port"], w,
              f"STREAMSIGHT_PORT {listen} differs from the image's "
              f"{facts['port']}")
        for name in env:
            check(name in facts["env"] or name == "HOSTNAME", w,
                  f"env {name}: the server reads no such variable")
        shards = env.get("STREAMSIGHT_SHARDS", {}).get("value")
        check(shards is not None and shards == str(replicas), w,
              f"STREAMSIGHT_SHARDS ({shards}) must equal replicas "
              f"({replicas})")
        host = env.get("HOSTNAME", {}).get("valueFrom", {}) \
            .get("fieldRef", {}).get("fieldPath")
        check(host == "metadata.name", w,
              "HOSTNAME must be the pod name (fieldRef metadata.name)")
        for probe, want in (("livenessProbe", "/healthz"),
                            ("readinessProbe", "/readyz"),
                            ("startupProbe", None)):
            pr = c.get(probe)
            if not check(pr is not None or want is None, w,
                         f"{probe} missing"):
                continue
            if pr is None:
                continue
            hg = pr.get("httpGet", {})
            path, port = hg.get("path"), hg.get("port")
            if want:
                check(path == want, w, f"{probe} path {path}, want {want}")
            check(path in facts["public"], w,
                  f"{probe} path {path} is not a route answered without the "
                  f"token (public: {sorted(facts['public'])})")
            check(ports.get(port, port) == listen, w,
                  f"{probe} port {port} is not the server's port {listen}")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for key in ("cpu", "memory"):
                v = res.get(part, {}).get(key)
                check(v is not None and QUANTITY.match(str(v)), w,
                      f"resources.{part}.{key}: {v}")
        check(ann.get("prometheus.io/scrape") == "true", w,
              "prometheus.io/scrape")
        check(ann.get("prometheus.io/port") == str(listen), w,
              "prometheus.io/port is not the server's port")
        check(ann.get("prometheus.io/path") in facts["get"], w,
              "prometheus.io/path is not a route of the server")
        # The camera list: ids, and ${NAME} from the Secret.
        provided = set(env)
        for ef in c.get("envFrom", []):
            ref = ef.get("secretRef", {}).get("name")
            sec = secrets.get(ref)
            check(sec is not None, w, f"envFrom secret {ref} not in the "
                  "manifests")
            if sec:
                keys = set(sec.get("stringData", {})) | set(sec.get("data", {}))
                provided |= keys
                for k in keys:
                    check(not k.startswith("STREAMSIGHT_") or
                          k in facts["env"], f"{label}:Secret {ref}",
                          f"{k}: the server reads no such variable")
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        cfg_path = env.get("STREAMSIGHT_CONFIG", {}).get("value", "")
        cm_mount = [m for m in mounts.values()
                    if cfg_path.startswith(m["mountPath"] + "/")]
        if check(len(cm_mount) == 1, w,
                 f"STREAMSIGHT_CONFIG {cfg_path} is on no mounted volume"):
            m = cm_mount[0]
            check(m.get("readOnly") is True, w, "the camera list is mounted "
                  "read-only")
            cm = configmaps.get(vols[m["name"]].get("configMap", {})
                                .get("name"))
            key = cfg_path[len(m["mountPath"]) + 1:]
            if check(cm is not None and key in cm.get("data", {}), w,
                     f"ConfigMap key {key} for STREAMSIGHT_CONFIG missing"):
                check_camera_list(cm["data"][key], provided, w)
                if EXE:
                    secret_env = {}
                    for ef in c.get("envFrom", []):
                        sec = secrets.get(ef.get("secretRef", {}).get("name"))
                        if sec:
                            secret_env.update(sec.get("stringData", {}))
                    check_with_server(cm["data"][key], env, secret_env,
                                      sts["metadata"]["name"], replicas, w)
        if pod.get("securityContext") and c.get("securityContext", {}).get(
                "readOnlyRootFilesystem"):
            check(any(m["mountPath"] == "/var/lib/streamsight"
                      for m in mounts.values()), w,
                  "read-only root: HOME (/var/lib/streamsight, GStreamer's "
                  "registry cache) needs a writable volume")
    for name, svc in services.items():
        sel = svc["spec"].get("selector", {})
        matched = False
        for _, d in by_kind.get("StatefulSet", []) + \
                by_kind.get("Deployment", []):
            labels = d["spec"]["template"]["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in sel.items()):
                matched = True
                cports = {p.get("name"): p.get("containerPort")
                          for p in d["spec"]["template"]["spec"]
                          ["containers"][0].get("ports", [])}
                for sp in svc["spec"]["ports"]:
                    t = sp.get("targetPort", sp.get("port"))
                    check(t in cports or t in cports.values(),
                          f"{label}:Service {name}",
                          f"targetPort {t} is no container port")
        check(matched, f"{label}:Service {name}", "selects no pods")


def check_with_server(text, env, secret_env, name, replicas, where):
    """streamsight serve --check-config on the camera list, as each pod."""
    import tempfile
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    base.update(secret_env)
    for k, e in env.items():
        if "value" in e and k != "STREAMSIGHT_CONFIG":
            base[k] = e["value"]
    total = 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "streamsight.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        for k in range(replicas):
            penv = dict(base, HOSTNAME=f"{name}-{k}")
            r = subprocess.run([EXE, "serve", "--check-config", "--config",
                                path], env=penv, capture_output=True,
                               text=True, timeout=60, cwd=d)
            m = re.search(r"shard (\d+) of (\d+): (\d+) here", r.stdout)
            if check(r.returncode == 0 and m is not None, where,
                     f"the server refuses the camera list as {name}-{k}: "
                     f"exit {r.returncode}: {r.stdout.strip()} "
                     f"{r.stderr.strip()[-400:]}"):
                check(int(m.group(1)) == k and
                      int(m.group(2)) == replicas, where,
                      f"{name}-{k} is shard {m.group(1)} of {m.group(2)}")
                total += int(m.group(3))
    streams = len(json.loads(text).get("streams", []))
    check(total == streams, where, f"the replicas serve {total} streams "
          f"between them, the list has {streams}")
    print(f"{where}: the server accepts the camera list as each of the "
          f"{replicas} replicas; {streams} streams, each on one")


def check_camera_list(text, provided, where):
    try:
        cfg = json.loads(text)
    except ValueError as e:
        fail(where, f"the camera list is not JSON: {e}")
        return
    ids = []
    for i, s in enumerate(cfg.get("streams", [])):
        check("id" in s, where, f"streams[{i}] has no id (required when "
              "sharded)")
        ids.append(s.get("id"))
        for ref in re.findall(r"\$\{([^}]*)\}", s.get("uri", "")):
            check(ref in provided, where,
                  f"streams[{i}].uri: ${{{ref}}} comes from no Secret key "
                  "or env var")
    check(len(ids) == len(set(ids)), where, "duplicate stream ids")


def kustomize_replicas(k):
    return {r["name"]: r["count"] for r in k.get("replicas", [])}


def main():
    facts = server_facts()
    check("/healthz" in facts["public"], "server/routes.c",
          "/healthz is not a public route")
    docs, kusts = load_dir(KDIR)
    check(len(docs) > 0, KDIR, "no manifests")
    by_dir = {}
    for where, d in docs:
        by_dir.setdefault(os.path.dirname(os.path.join(ROOT, where
                                                       .split("#")[0])),
                          []).append((where, d))
    for dirpath, (rel, k) in kusts.items():
        check_kustomization(dirpath, rel, k, by_dir)
    base = os.path.join(KDIR, "base")
    check(base in kusts, KDIR, "base/kustomization.yaml missing")
    if base in kusts:
        check_objects(by_dir.get(base, []), facts, "base",
                      kustomize_replicas(kusts[base][1]))
    demo = os.path.join(KDIR, "demo")
    for where, d in by_dir.get(demo, []):
        validate_doc(d, f"demo:{where}")

    kubectl = shutil.which("kubectl")
    if kubectl:
        for overlay in ("base", "demo"):
            try:
                out = subprocess.run(
                    [kubectl, "kustomize", os.path.join(KDIR, overlay)],
                    capture_output=True, text=True, timeout=120, check=True)
            except (subprocess.SubprocessError, OSError) as e:
                err = getattr(e, "stderr", "") or str(e)
                print(f"note: kubectl kustomize {overlay} did not run "
                      f"({err.strip()[:200]}); the rendering is not checked")
                continue
            rendered = [(f"kustomize[{i}]", d) for i, d in
                        enumerate(yaml.safe_load_all(out.stdout)) if d]
            check_objects(rendered, facts, f"kubectl kustomize {overlay}")
            print(f"kubectl kustomize {overlay}: {len(rendered)} objects "
                  "rendered and checked")
    else:
        print("note: no kubectl (Debian 12 does not package it): the "
              "kustomize rendering is not checked, the files are")

    for f in failures:
        print(f"FAIL: {f}")
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
