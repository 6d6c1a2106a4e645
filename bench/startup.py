"""Startup benchmark: the app against a bare PySide6 window, measured alternately in one run.

Two figures for the app, from process start:
  first paint   the window is on screen (goal: within 1.5x the bare window's first paint);
  ready         the window is usable: the shown page built, the model list filled and the device
                known (goal: within 3x the bare window), with the longest event-loop stall on
                the way and its cause (gui.stall_probe).
"cold" runs use a fresh data folder each time (the model list comes from the first scan, the device
from the quick torch-free check); "warm" runs reuse one (the last scan's list and the last device
show at once, confirmed behind; the torch check runs in a child once the window is ready).

    .venv/bin/python bench/startup.py [--runs 5]

Uses the current QT_QPA_PLATFORM (offscreen when there is no display).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"^(first-paint|ready)-epoch (\d+\.\d+)$", re.M)
STALL = re.compile(r"^max-stall-ms (\d+\.\d+)$", re.M)
CAUSE = re.compile(r"^longest-stall-cause (.*)$", re.M)


def measure(cmd: list[str], env: dict) -> dict[str, float]:
    start = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    marks = {name: float(t) - start for name, t in MARK.findall(out.stderr)}
    if out.returncode != 0 or "first-paint" not in marks:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    stall = STALL.search(out.stderr)
    if stall:
        marks["stall"] = float(stall.group(1)) / 1000
    cause = CAUSE.search(out.stderr)
    marks["cause"] = cause.group(1) if cause else "-"
    return marks


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    app_cmd = [sys.executable, "main.py", "--screenshot", str(tmp / "app.png"), "--wait-idle",
               "--startup-trace", "--page", "models"]
    bare_cmd = [sys.executable, str(ROOT / "bench" / "bare_window.py"), str(tmp / "bare.png")]
    warm_env = {**env, "LLM_WORKBENCH_HOME": str(tmp / "warm-home")}
    measure(app_cmd, warm_env)  # warms the file cache, and the warm home's device answer
    measure(bare_cmd, env)
    runs: dict[str, list[dict]] = {"bare": [], "cold": [], "warm": []}
    for i in range(args.runs):
        runs["bare"].append(measure(bare_cmd, env))
        cold_env = {**env, "LLM_WORKBENCH_HOME": str(tmp / f"cold-home-{i}")}
        runs["cold"].append(measure(app_cmd, cold_env))
        runs["warm"].append(measure(app_cmd, warm_env))

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    bare = med("bare", "first-paint")
    load = os.getloadavg()
    print(f"platform: {env.get('QT_QPA_PLATFORM', 'default')}, runs: {args.runs}, "
          f"cpus: {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"bare PySide6 window, first paint:   {bare * 1000:6.0f} ms")
    for kind in ("cold", "warm"):
        paint, ready, stall = med(kind, "first-paint"), med(kind, "ready"), med(kind, "stall")
        print(f"app {kind}, first paint:              {paint * 1000:6.0f} ms  "
              f"({paint / bare:.2f}x; goal <= 1.5x)")
        print(f"app {kind}, ready (models + device):  {ready * 1000:6.0f} ms  "
              f"({ready / bare:.2f}x; goal <= 3x)  longest stall {stall * 1000:.0f} ms")
        worst = max(runs[kind], key=lambda r: r.get("stall", 0))
        print(f"    longest stall of the {kind} runs ({worst.get('stall', 0) * 1000:.0f} ms): "
              f"{worst['cause']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
