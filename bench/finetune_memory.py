"""Fine-tune memory benchmark, run by hand:

    .venv/bin/python bench/finetune_memory.py [--steps 10] [--batch 2] [--chunk 256] [--rounds 1]

The LoRA job of bench/finetune.py (SmolLM2-135M-Instruct, r=8 on q/v, tiny_shakespeare) two ways:
the app's way, ``train_in_child`` started from a process that stands for the window (the run
itself in a "spawn" child), and the plain transformers Trainer + peft script of bench/finetune.py
with the same settings. Printed per run: the peak resident memory of the process that trained
(the app's training child; the plain script itself), and for the app the peak and the final
resident memory of the starting process (what the window keeps). Goal: the app's training peak
within 1.3x of the plain script's.
"""
from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "bench" / "finetune.py")
ft = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ft)


def run_app(args) -> dict:
    import psutil

    from core.cancel import CancelToken
    from core.events import Done
    from core.finetune import FinetuneConfig, train_in_child
    from core.models.registry import Registry
    from core.paths import AppHome

    home = AppHome(Path(tempfile.mkdtemp(prefix="app-", dir=args.work))).ensure()
    config = FinetuneConfig(**ft.settings(args))
    result = None
    for ev in train_in_child(config, CancelToken(), home=home,
                             registry=Registry(home, scan_hf_cache=False)):
        if isinstance(ev, Done):
            result = ev.result
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"train_peak_mib": children,
            "parent_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "parent_end_mib": psutil.Process().memory_info().rss / 2**20,
            "eval_loss": result.metrics["eval_loss"], "steps": result.metrics["global_step"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kb", type=int, default=60, help="KB of tiny_shakespeare.txt")
    parser.add_argument("--variant", choices=("app",), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        print("RESULT " + json.dumps(run_app(args)), flush=True)
        return

    base = ft.converted_smollm2()
    work = Path(tempfile.mkdtemp(prefix="bench-ftmem-"))
    atexit.register(shutil.rmtree, work, True)
    data = work / "shakespeare.txt"
    data.write_text(ft.DATA.read_text(encoding="utf-8")[: args.kb * 1000], encoding="utf-8")
    print(f"SmolLM2-135M-Instruct LoRA r=8 q/v, batch {args.batch}, {args.chunk}-token chunks, "
          f"{args.steps} steps, CPU ({os.cpu_count()} cores)")
    common = ["--base", base, "--data", str(data), "--work", str(work), "--steps",
              str(args.steps), "--batch", str(args.batch), "--chunk", str(args.chunk)]
    results: dict[str, list[dict]] = {"app": [], "plain": []}
    for r in range(args.rounds):
        for variant in (("app", "plain") if r % 2 == 0 else ("plain", "app")):
            script = __file__ if variant == "app" else str(ROOT / "bench" / "finetune.py")
            proc = subprocess.run([sys.executable, script, "--variant", variant, *common],
                                  capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(proc.stdout[-2000:], proc.stderr[-4000:])
                raise SystemExit(f"the {variant} run failed")
            res = json.loads(lines[-1][len("RESULT "):])
            if variant == "plain":
                res["train_peak_mib"] = res["peak_rss_mib"]
            results[variant].append(res)
            extra = (f", starting process peak {res['parent_peak_mib']:.0f} MiB and "
                     f"{res['parent_end_mib']:.0f} MiB at the end" if variant == "app" else "")
            print(f"  {variant:5s}: training process peak RSS {res['train_peak_mib']:.0f} MiB"
                  f"{extra}, eval loss {res['eval_loss']:.4f}")
    app = statistics.median(r["train_peak_mib"] for r in results["app"])
    plain = statistics.median(r["train_peak_mib"] for r in results["plain"])
    print(f"training peak RSS (median of {args.rounds}): app (child) {app:.0f} MiB, plain "
          f"Trainer + peft {plain:.0f} MiB, ratio {app / plain:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
