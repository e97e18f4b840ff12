#!/usr/bin/python3
"""Side-by-side speed of streamsight, ONNX Runtime and PyTorch on the same
MobileNets (random weights, identical in all three), batch 1, on this machine.
Started by bench/compare, which builds the bench and installs
onnxruntime-node first; see bench/README.md.

For each network: export it (export_models.py), check that the three runtimes
compute the same logits, then
  latency: R rounds, each running streamsight, ORT, PyTorch TorchScript and
           PyTorch eager one after the other (A B C D A B C D ...), 1 thread;
           median and p90 over all the samples of each runtime;
  throughput: T rounds alternating streamsight with 2 threads and two
           1-thread ORT sessions in two processes started at the same
           instant; images/s, median over the rounds.
Prints Markdown tables; writes every sample to bench/out/compare-*.json.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import export_models  # noqa: E402

DEFAULT_NETS = ("v2:1.0:224", "v2:1.0:160", "v2:1.0:128", "v1:1.0:224")
# Logits of these networks have a standard deviation of about 0.3; runtimes
# computing the same network in float32 agree to ~1e-5. A difference above
# this means a different network (wrong weights or layout), not rounding.
SAME_NETWORK_TOL = 1e-3


def median(v):
    """Mean of the two middle values for an even count (as streamsight-bench)."""
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def p90(v):
    """Nearest rank: the ceil(0.9 n)-th smallest (as streamsight-bench)."""
    s = sorted(v)
    return s[max(math.ceil(0.9 * len(s)), 1) - 1]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class OrtWorker:
    """One node process holding one ONNX Runtime session (ort-worker.mjs)."""

    def __init__(self, model, input_path):
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "ort-worker.mjs")], cwd=HERE,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self.call(op="load", model=model, input=input_path)

    def send(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("ort-worker exited (see its messages above)")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"ort-worker: {reply.get('error')}")
        return reply

    def call(self, **cmd):
        self.send(**cmd)
        return self.recv()

    def close(self):
        try:
            self.send(op="quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def run_ours(bench, args):
    """Runs streamsight-bench with --json; returns its JSON object."""
    cmd = [bench] + args + ["--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n"
                           f"{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def torch_latency(fn, x, runs, warmup):
    with torch.inference_mode():
        for _ in range(warmup):
            fn(x)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(x)
            samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def torchscript(model, x):
    """Frozen TorchScript, optimised for inference (conv-BN folding and, where
    built in, MKL-DNN layouts), as PyTorch recommends for CPU inference."""
    with torch.inference_mode():
        try:
            ts = torch.jit.script(model.eval())
        except Exception as e:  # some modules do not script; tracing is equal here
            log(f"  torch.jit.script failed ({e}); tracing instead")
            ts = torch.jit.trace(model.eval(), x)
        return torch.jit.optimize_for_inference(torch.jit.freeze(ts))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_rev():
    try:
        return subprocess.run(["git", "-C", HERE, "describe", "--always",
                               "--dirty"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def max_diff(path, ref):
    return float(np.abs(np.fromfile(path, "<f4") - ref).max())


def measure_net(spec, a, out):
    arch, alpha, res = export_models.parse_spec(spec)
    log(f"== {spec}: exporting")
    name, model, x = export_models.export(arch, alpha, res, out)
    base = os.path.join(out, name)
    st, onnx = base + ".safetensors", base + ".onnx"
    ref = np.fromfile(base + ".logits.f32", "<f4")
    r = {"net": name, "arch": arch, "alpha": alpha, "resolution": res}
    if a.tflite.get(spec):
        r["tflite"] = a.tflite[spec]

    # Same network in all three: compare each runtime's logits on one input
    # with PyTorch eager's.
    ours_logits = base + ".ours.logits.f32"
    info = run_ours(a.bench, ["--model", st, "--runs", "0", "--duration", "0",
                              "--input", base + ".input.nhwc.f32",
                              "--logits-out", ours_logits])
    r["macs"], r["params"], r["kernels"] = (info["macs"], info["params"],
                                            info["kernels"])
    ort_a = OrtWorker(onnx, base + ".input.nchw.f32")
    ort_b = None
    try:
        r["ort_version"] = ort_a.info["version"]
        ort_logits = base + ".ort.logits.f32"
        ort_a.call(op="logits", output=ort_logits)
        ts = torchscript(model, x)
        with torch.inference_mode():
            ts_out = ts(x).numpy().ravel()
        r["max_abs_diff_vs_eager"] = {
            "ours": max_diff(ours_logits, ref),
            "ort": max_diff(ort_logits, ref),
            "torchscript": float(np.abs(ts_out - ref).max()),
        }
        r["logits_std"] = float(ref.std())
        log(f"  max |logit diff| vs PyTorch eager: {r['max_abs_diff_vs_eager']}"
            f" (logits std {ref.std():.3f})")
        bad = {k: v for k, v in r["max_abs_diff_vs_eager"].items()
               if not v <= SAME_NETWORK_TOL}
        if "torchscript" in bad and len(bad) == 1:
            # Torch 1.13's frozen, optimised TorchScript computes some
            # shapes wrongly (V1 0.75/192: a resize warning, logits off by
            # 0.4): leave TorchScript out for this network, keep the rest.
            log(f"  TorchScript differs ({bad['torchscript']:.3g}): not "
                f"timed for {name}")
            ts = None
            bad = {}
        if bad:
            raise RuntimeError(f"{name}: not the same network: max |logit "
                               f"difference| {bad} > {SAME_NETWORK_TOL}")

        # Latency, alternating.
        lat = {"ours": [], "ort": [], "torchscript": [], "eager": [],
               "int": [], "int_fp32": []}
        rounds = {k: [] for k in lat}

        def add(key, samples):
            lat[key] += samples
            rounds[key].append(median(samples))

        qfile = a.tflite.get(spec)
        for i in range(a.rounds):
            add("ours", run_ours(a.bench, [
                "--model", st, "--runs", str(a.runs), "--warmup",
                str(a.warmup), "--duration", "0", "--samples"])
                ["latency_samples_ms"])
            if qfile:
                # The quantised file of this architecture: our integer
                # engine, then our float engine on the same file.
                for key, extra in (("int", []), ("int_fp32", ["--fp32"])):
                    add(key, run_ours(a.bench, [
                        "--model", qfile, "--runs", str(a.runs), "--warmup",
                        str(a.warmup), "--duration", "0", "--samples"]
                        + extra)["latency_samples_ms"])
            add("ort", ort_a.call(op="latency", runs=a.runs,
                                  warmup=a.warmup)["samples_ms"])
            if ts is not None:
                add("torchscript", torch_latency(ts, x, a.runs, a.warmup))
            if a.eager_runs > 0:
                add("eager", torch_latency(model, x, a.eager_runs, 1))
            log(f"  latency round {i + 1}/{a.rounds}: " + ", ".join(
                f"{k} {rounds[k][-1]:.2f}" for k in rounds if rounds[k])
                + " ms")
        r["latency_ms"] = {k: {"median": median(v), "p90": p90(v),
                               "min": min(v), "n": len(v),
                               "round_medians": rounds[k], "samples": v}
                           for k, v in lat.items() if v}

        # Throughput with 2 parallel inferences, alternating.
        if a.tp_rounds > 0:
            ort_b = OrtWorker(onnx, base + ".input.nchw.f32")
            tp = {"ours": [], "ort": []}
            if qfile:
                tp.update({"int": [], "int_1": [], "int_fp32": []})
            for i in range(a.tp_rounds):
                tp["ours"].append(run_ours(a.bench, [
                    "--model", st, "--runs", "0", "--threads", "2",
                    "--duration", str(a.tp_duration)])["throughput_ips"])
                if qfile:
                    for key, extra in (("int", ["--threads", "2"]),
                                       ("int_1", ["--threads", "1"]),
                                       ("int_fp32", ["--threads", "2",
                                                     "--fp32"])):
                        tp[key].append(run_ours(a.bench, [
                            "--model", qfile, "--runs", "0", "--duration",
                            str(a.tp_duration)] + extra)["throughput_ips"])
                start = time.time() * 1e3 + 500.0
                for w in (ort_a, ort_b):
                    w.send(op="throughput", start_at_ms=start,
                           duration_s=a.tp_duration)
                ra, rb = ort_a.recv(), ort_b.recv()
                span = (max(ra["t_end_ms"], rb["t_end_ms"])
                        - min(ra["t_start_ms"], rb["t_start_ms"])) / 1e3
                tp["ort"].append((ra["count"] + rb["count"]) / span)
                log(f"  throughput round {i + 1}/{a.tp_rounds}: ours "
                    f"{tp['ours'][-1]:.1f}, ORT 2x1 {tp['ort'][-1]:.1f} img/s "
                    f"(ORT counts {ra['count']}+{rb['count']}, start skew "
                    f"{abs(ra['t_start_ms'] - rb['t_start_ms']):.1f} ms)")
            r["throughput_ips"] = {k: {"median": median(v), "rounds": v}
                                   for k, v in tp.items()}
    finally:
        ort_a.close()
        if ort_b:
            ort_b.close()
    return r


def pretty_net(r):
    v = "V1" if r["arch"] == "mobilenet_v1" else "V2"
    return f"MobileNet{v} {export_models.fmt_alpha(r['alpha'])}/{r['resolution']}"


def md_tables(results, meta):
    def mp(d):
        return f"{d['median']:.2f} / {d['p90']:.2f}"

    out = []
    out.append(f"Machine: {meta['cpu']}, {meta['cpus']} CPUs; "
               f"{meta['date']}; streamsight {meta['git']} "
               f"({meta['buildtype']} build, kernels {meta['kernels']}); "
               f"onnxruntime-node {meta['ort']}; PyTorch {meta['torch']}; "
               f"load average {meta['loadavg'][0]:.1f} before, "
               f"{meta['loadavg'][1]:.1f} after.")
    out.append("")
    out.append(f"Latency, batch 1, 1 thread, ms (median / p90 of "
               f"{meta['rounds']} alternating rounds x {meta['runs']} runs; "
               f"PyTorch eager {meta['eager_runs']} runs per round):")
    out.append("")
    out.append("| network | MMACs | streamsight | ONNX Runtime | ours / ORT "
               "| PyTorch TorchScript | PyTorch eager | fastest run: ours / "
               "ORT |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lat = r["latency_ms"]
        ratio = lat["ours"]["median"] / lat["ort"]["median"]
        eager = mp(lat["eager"]) if "eager" in lat else "-"
        out.append(f"| {pretty_net(r)} | {r['macs'] / 1e6:.0f} | "
                   f"{mp(lat['ours'])} | {mp(lat['ort'])} | {ratio:.2f}x | "
                   f"{mp(lat['torchscript']) if 'torchscript' in lat else '-'}"
                   f" | {eager} | "
                   f"{lat['ours']['min']:.2f} / {lat['ort']['min']:.2f} ms |")
    if any("throughput_ips" in r for r in results):
        out.append("")
        out.append(f"Throughput, 2 parallel inferences, images/s (median of "
                   f"{meta['tp_rounds']} alternating rounds of "
                   f"{meta['tp_duration']:g} s):")
        out.append("")
        out.append("| network | streamsight, 2 threads | ORT, 2 x 1-thread "
                   "sessions (2 processes) | ours / ORT |")
        out.append("|---|---:|---:|---:|")
        for r in results:
            if "throughput_ips" not in r:
                continue
            tp = r["throughput_ips"]
            out.append(f"| {pretty_net(r)} | {tp['ours']['median']:.1f} | "
                       f"{tp['ort']['median']:.1f} | "
                       f"{tp['ours']['median'] / tp['ort']['median']:.2f}x |")
    qrows = [r for r in results if r.get("tflite")]
    if qrows:
        out.append("")
        out.append("Quantised TFLite files of the same architectures (real "
                   "weights): our integer engine vs our float engine on the "
                   "same file vs ONNX Runtime fp32 (the random-weight "
                   "network above); latency ms (median / p90, same "
                   "alternating rounds), throughput images/s:")
        out.append("")
        out.append("| network (file) | integer | float, same file | ORT "
                   "fp32 | int / float | int / ORT | int 1 thread img/s | "
                   "int 2 workers img/s | 2 workers / 1 |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in qrows:
            lat = r["latency_ms"]
            tp = r.get("throughput_ips", {})
            t1 = tp.get("int_1", {}).get("median")
            t2 = tp.get("int", {}).get("median")
            tps = (f"{t1:.1f} | {t2:.1f} | {t2 / t1:.2f}x" if t1 and t2
                   else "- | - | -")
            out.append(
                f"| {pretty_net(r)} ({os.path.basename(r['tflite'])}) | "
                f"{mp(lat['int'])} | {mp(lat['int_fp32'])} | "
                f"{mp(lat['ort'])} | "
                f"{lat['int']['median'] / lat['int_fp32']['median']:.2f}x | "
                f"{lat['int']['median'] / lat['ort']['median']:.2f}x | "
                f"{tps} |")
    out.append("")
    out.append("Same network check, max |logit difference| vs PyTorch eager "
               "on one random input (logits std about 0.3):")
    out.append("")
    out.append("| network | streamsight | ONNX Runtime | TorchScript |")
    out.append("|---|---:|---:|---:|")
    for r in results:
        d = r["max_abs_diff_vs_eager"]
        out.append(f"| {pretty_net(r)} | {d['ours']:.1e} | {d['ort']:.1e} | "
                   f"{d['torchscript']:.1e} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True, help="streamsight-bench binary")
    ap.add_argument("--buildtype", default="unknown")
    ap.add_argument("--rev", default=None,
                    help="git revision the bench was built from")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating latency rounds (default 5)")
    ap.add_argument("--runs", type=int, default=20,
                    help="timed runs per runtime per round (default 20)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--eager-runs", type=int, default=2,
                    help="PyTorch eager runs per round (slow; 0 skips)")
    ap.add_argument("--tp-rounds", type=int, default=3,
                    help="alternating throughput rounds (0 skips)")
    ap.add_argument("--tp-duration", type=float, default=2.0,
                    help="seconds per throughput run (default 2)")
    ap.add_argument("--tflite", action="append", default=[],
                    metavar="ARCH:ALPHA:RES=FILE",
                    help="also time this quantised .tflite of that network "
                         "(integer engine, and --fp32 on it) in the same "
                         "rounds; the network is added to the list")
    ap.add_argument("nets", nargs="*", default=list(DEFAULT_NETS),
                    help="ARCH:ALPHA:RES (default: %s)" % " ".join(DEFAULT_NETS))
    a = ap.parse_args()
    tfl = {}
    for item in a.tflite:
        spec, sep, path = item.partition("=")
        if not sep or not path:
            ap.error(f"--tflite {item}: expected ARCH:ALPHA:RES=FILE")
        tfl[spec] = path
    a.tflite = tfl
    for spec in tfl:
        if spec not in a.nets:
            a.nets.append(spec)
    if a.rounds < 1 or a.runs < 1:
        ap.error("--rounds and --runs must be at least 1")
    # One thread for PyTorch's intra-op and inter-op pools, before any work.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    os.makedirs(a.out, exist_ok=True)

    t0 = time.time()
    load_start = os.getloadavg()[0]
    results = [measure_net(spec, a, a.out) for spec in a.nets]
    load_end = os.getloadavg()[0]
    meta = {
        "cpu": cpu_name(), "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "git": a.rev or git_rev(), "buildtype": a.buildtype,
        "kernels": results[0]["kernels"], "ort": results[0]["ort_version"],
        "torch": torch.__version__, "rounds": a.rounds, "runs": a.runs,
        "eager_runs": a.eager_runs, "tp_rounds": a.tp_rounds,
        "tp_duration": a.tp_duration, "elapsed_s": round(time.time() - t0, 1),
        # 1-minute load average before and after: well above 1 means other
        # jobs shared the 2 cores during the run (our own measurement adds
        # about 1, or 2 during the parallel rounds).
        "loadavg": [round(load_start, 2), round(load_end, 2)],
    }
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(a.out, f"compare-{stamp}.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(md_tables(results, meta))
    print(f"\n(all samples: {os.path.relpath(path)}; took "
          f"{meta['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
