#!/usr/bin/env python3
"""Checks deploy/systemd/streamsight.service.

With systemd-analyze (Debian's systemd package) on the PATH: `verify` on a
copy whose ExecStart is the built binary (verify wants an executable there)
must print nothing, and `security --offline=true` must rate the unit's
exposure at most 2.5 (printed). Always: the directives the README promises
(Restart=on-failure, DynamicUser, StateDirectory, the video group for
webcams, ProtectSystem=strict), the config file in the state directory,
and every STREAMSIGHT_* variable the unit sets is one the server reads. The
unit is not started: there is no systemd running as PID 1 here.

Usage: check-systemd.py SOURCE_ROOT STREAMSIGHT_EXE
Exit 0 (passed), 1 (failures printed).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT, EXE = sys.argv[1], sys.argv[2]
UNIT = os.path.join(ROOT, "deploy", "systemd", "streamsight.service")
failures = []
passed = 0


def check(cond, msg):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(msg)
    return cond


text = open(UNIT, encoding="utf-8").read()
directives = {}
for line in text.splitlines():
    m = re.match(r"^([A-Za-z]+)=(.*)$", line)
    if m:
        directives.setdefault(m.group(1), []).append(m.group(2))


def has(key, value):
    check(value in directives.get(key, []),
          f"{key}={value} missing (found {directives.get(key)})")


has("Restart", "on-failure")
has("DynamicUser", "yes")
has("StateDirectory", "streamsight")
has("SupplementaryGroups", "video")
has("ProtectSystem", "strict")
has("NoNewPrivileges", "yes")
check(any(v.startswith("STREAMSIGHT_CONFIG=%S/streamsight/")
          for v in directives.get("Environment", [])),
      "the config file is not in the state directory (%S/streamsight)")
check(directives.get("ExecStart", [""])[0].split()[0] ==
      "/usr/local/bin/streamsight", "ExecStart is not /usr/local/bin/streamsight")
server_env = set()
for name in os.listdir(os.path.join(ROOT, "server")):
    if name.endswith(".c"):
        with open(os.path.join(ROOT, "server", name), encoding="utf-8") as f:
            server_env |= set(re.findall(r'"(STREAMSIGHT_[A-Z_]+)"', f.read()))
for v in directives.get("Environment", []):
    name = v.split("=", 1)[0]
    check(not name.startswith("STREAMSIGHT_") or name in server_env,
          f"Environment={name}: the server reads no such variable")
# The stop timeout leaves room for the server's own 9 s shutdown bound.
stop = directives.get("TimeoutStopSec", ["90s"])[0]
check(int(stop.rstrip("s")) >= 10, f"TimeoutStopSec={stop} < the 9 s shutdown")

analyze = shutil.which("systemd-analyze")
if not analyze:
    print("note: no systemd-analyze (Debian's systemd package): verify and "
          "security not run")
else:
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, "streamsight.service")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("/usr/local/bin/streamsight",
                                 os.path.abspath(EXE)))
        r = subprocess.run([analyze, "verify", copy], capture_output=True,
                           text=True, timeout=120)
        out = (r.stdout + r.stderr).strip()
        # Complaints about other units of this machine are not ours.
        ours = [l for l in out.splitlines() if "streamsight" in l]
        check(r.returncode == 0 and not ours,
              f"systemd-analyze verify: rc {r.returncode}: {out}")
        print(f"systemd-analyze verify: rc {r.returncode}"
              f"{', ' + out if out else ', no complaint'}")
        r = subprocess.run([analyze, "security", "--offline=true", copy],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        if check(m is not None, f"systemd-analyze security: {r.stdout[-300:]}"
                 f"{r.stderr[-300:]}"):
            level = float(m.group(1))
            print(f"systemd-analyze security --offline: exposure {level} "
                  "(0 = fully locked down, 10 = unprotected)")
            check(level <= 2.5, f"exposure {level} > 2.5")

for f in failures:
    print(f"FAIL: {f}")
print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
