"""Startup benchmark: process start to first painted window, the app against a bare PySide6
window doing the same, measured alternately in one run. Goal: app / bare <= 1.5.

    .venv/bin/python bench/startup.py [--runs 9]

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
PAINT = re.compile(r"first-paint-epoch (\d+\.\d+)")


def time_to_paint(cmd: list[str], env: dict) -> float:
    start = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    match = PAINT.search(out.stderr)
    if out.returncode != 0 or not match:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return float(match.group(1)) - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env["LLM_WORKBENCH_HOME"] = str(tmp / "home")
    app_cmd = [sys.executable, "main.py", "--screenshot", str(tmp / "app.png")]
    bare_cmd = [sys.executable, str(ROOT / "bench" / "bare_window.py"), str(tmp / "bare.png")]
    time_to_paint(app_cmd, env)  # warm the file cache once for both
    time_to_paint(bare_cmd, env)
    app_t, bare_t = [], []
    for _ in range(args.runs):
        app_t.append(time_to_paint(app_cmd, env))
        bare_t.append(time_to_paint(bare_cmd, env))
    a, b = statistics.median(app_t), statistics.median(bare_t)
    print(f"platform: {env.get('QT_QPA_PLATFORM', 'default')}, runs: {args.runs}")
    print(f"bare PySide6 window: median {b * 1000:.0f} ms  (min {min(bare_t) * 1000:.0f})")
    print(f"LLM Workbench:       median {a * 1000:.0f} ms  (min {min(app_t) * 1000:.0f})")
    print(f"ratio app / bare: {a / b:.2f}x  (goal <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
