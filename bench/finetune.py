"""Fine-tune benchmark, run by hand:

    .venv/bin/python bench/finetune.py [--steps 10] [--batch 2] [--chunk 256] [--rounds 2]

The same small causal-LM LoRA job (SmolLM2-135M-Instruct, the bundled pack converted once, on
~60 KB of tiny_shakespeare.txt, 256-token chunks, r=8 on q/v) through the app's ``train`` generator
and through a plain transformers ``Trainer`` with identical data, settings and seed. Each variant
runs in its own child process (so each has its own peak RSS); the rounds alternate
(app, plain, plain, app, ...) and the medians are compared. Goal: samples/s >= 0.95x.

Two figures, taken the same way in both variants: the Trainer's own train_samples_per_second
(examples over the wall time of ``trainer.train()``, the final checkpoint save included), and
samples/s from the median step time (step ends timestamped in the training thread: by the app's
TrainProgress events, by a timing-only callback in the plain run), which a burst of load from
other processes on a shared machine disturbs less. The app's run pays for its callback, the event
queue and run.json updates inside both.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "eval" / "tiny_shakespeare.txt"
SEED = 42


def converted_smollm2() -> str:
    from core.cancel import CancelToken
    from core.events import Done
    from core.models.convert import ensure_loadable
    from core.models.registry import Registry

    registry = Registry(scan_hf_cache=False)
    entry = registry.get("smollm2-135m-instruct")
    for ev in ensure_loadable(registry, entry, CancelToken()):
        if isinstance(ev, Done):
            return ev.result.load_path
    raise SystemExit("conversion failed")


def settings(args) -> dict:
    return dict(task="causal-lm", base=args.base, data=(args.data,), output="bench-lora",
                method="lora", lora_r=8, lora_alpha=16, lora_dropout=0.05, max_steps=args.steps,
                learning_rate=2e-4, batch_size=args.batch, grad_accum=1, eval_split=0.1,
                save_steps=1000, logging_steps=4, seed=SEED, chunk_length=args.chunk,
                overlap=32, device="cpu")


def since_start() -> float:
    """Seconds since this process started: imports, loading, training, evaluation, saving."""
    import psutil

    return time.time() - psutil.Process().create_time()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_app(args) -> dict:
    from core.cancel import CancelToken
    from core.events import Done
    from core.finetune import FinetuneConfig, TrainProgress, train
    from core.models.registry import Registry
    from core.paths import AppHome

    home = AppHome(Path(tempfile.mkdtemp(prefix="app-", dir=args.work))).ensure()
    config = FinetuneConfig(**settings(args))
    result = None
    ends = []
    for ev in train(config, CancelToken(), home=home, registry=Registry(home, scan_hf_cache=False)):
        if isinstance(ev, TrainProgress):
            ends.append(ev.elapsed_s)
        elif isinstance(ev, Done):
            result = ev.result
    m = result.metrics
    return {"samples_per_s": m["train_samples_per_second"], "train_s": m["train_runtime_s"],
            "median_step_s": median_step(ends), "eval_loss": m["eval_loss"],
            "steps": m["global_step"], "total_s": since_start()}


def median_step(ends: list[float]) -> float:
    """Median time between step ends, the first step (warm-up) left out."""
    steps = [b - a for a, b in zip(ends, ends[1:])]
    return statistics.median(steps[1:] if len(steps) > 2 else steps)


def run_plain(args) -> dict:
    """What a user would write by hand with transformers + peft."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out_dir = tempfile.mkdtemp(prefix="plain-", dir=args.work)
    tok = AutoTokenizer.from_pretrained(args.base)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    text = Path(args.data).read_text(encoding="utf-8")
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    size, step = args.chunk, args.chunk - 32
    spans = [(s, s + size) for s in range(0, len(ids) - size + 1, step)]
    if spans[-1][1] < len(ids):
        spans.append((len(ids) - size, len(ids)))
    examples = [{"input_ids": ids[s:e], "labels": ids[s:e]} for s, e in spans]
    order = list(range(len(examples)))
    random.Random(SEED).shuffle(order)
    n_eval = max(1, round(len(examples) * 0.1))
    train_ds = [examples[i] for i in sorted(order[n_eval:])]
    eval_ds = [examples[i] for i in sorted(order[:n_eval])]

    def collate(batch):
        width = max(len(ex["input_ids"]) for ex in batch)
        x = torch.full((len(batch), width), tok.pad_token_id)
        y = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, ex in enumerate(batch):
            n = len(ex["input_ids"])
            x[i, :n], y[i, :n], mask[i, :n] = torch.tensor(ex["input_ids"]), \
                torch.tensor(ex["labels"]), 1
        return {"input_ids": x, "attention_mask": mask, "labels": y}

    set_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                             target_modules=["q_proj", "v_proj"],
                                             task_type=TaskType.CAUSAL_LM))
    targs = TrainingArguments(
        output_dir=out_dir, per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=args.batch, max_steps=args.steps, learning_rate=2e-4,
        logging_steps=4, logging_first_step=True, save_steps=1000, save_total_limit=2,
        prediction_loss_only=True, seed=SEED, data_seed=SEED, report_to=[], disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=False, remove_unused_columns=False,
        train_sampling_strategy="group_by_length", use_cpu=True)
    ends: list[float] = []

    class Clock(TrainerCallback):  # timing only, as the app's TrainProgress timestamps
        def on_train_begin(self, *a, **kw):
            self.t0 = time.perf_counter()
            ends.append(0.0)

        def on_step_end(self, *a, **kw):
            ends.append(time.perf_counter() - self.t0)

    trainer = Trainer(model=model, args=targs, data_collator=collate, train_dataset=train_ds,
                      eval_dataset=eval_ds, processing_class=tok, callbacks=[Clock()])
    out = trainer.train()
    ev = trainer.evaluate()
    model.save_pretrained(Path(out_dir) / "final")
    tok.save_pretrained(Path(out_dir) / "final")
    return {"samples_per_s": out.metrics["train_samples_per_second"],
            "train_s": out.metrics["train_runtime"], "median_step_s": median_step(ends),
            "eval_loss": round(ev["eval_loss"], 6),
            "steps": trainer.state.global_step, "total_s": since_start()}


def child(args) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run_app(args) if args.variant == "app" else run_plain(args)
    result["peak_rss_mib"] = peak_rss_mib()
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kb", type=int, default=60, help="KB of tiny_shakespeare.txt")
    parser.add_argument("--variant", choices=("app", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return

    base = converted_smollm2()
    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    atexit.register(shutil.rmtree, work, True)  # data, runs and checkpoints of every variant
    data = work / "shakespeare.txt"
    data.write_text(DATA.read_text(encoding="utf-8")[: args.kb * 1000], encoding="utf-8")
    print(f"SmolLM2-135M-Instruct (converted: {base})")
    print(f"LoRA r=8 q/v, {args.kb} KB of tiny_shakespeare, {args.chunk}-token chunks, batch "
          f"{args.batch}, {args.steps} steps, CPU ({os.cpu_count()} cores), seed {SEED}")
    results: dict[str, list[dict]] = {"app": [], "plain": []}
    order = []
    for r in range(args.rounds):
        order += ["app", "plain"] if r % 2 == 0 else ["plain", "app"]
    for variant in order:
        cmd = [sys.executable, __file__, "--variant", variant, "--base", base, "--data", str(data),
               "--work", str(work), "--steps", str(args.steps), "--batch", str(args.batch),
               "--chunk", str(args.chunk)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(proc.stdout[-2000:], proc.stderr[-4000:])
            raise SystemExit(f"the {variant} run failed")
        res = json.loads(lines[-1][len("RESULT "):])
        results[variant].append(res)
        res["step_samples_per_s"] = args.batch / res["median_step_s"]
        print(f"  {variant:5s}: {res['samples_per_s']:.3f} samples/s (Trainer), "
              f"{res['step_samples_per_s']:.3f} samples/s (median step "
              f"{res['median_step_s']:.2f} s),"
              f" train {res['train_s']:.1f} s ({res['steps']} steps), eval loss "
              f"{res['eval_loss']:.4f}, whole run {res['total_s']:.1f} s, peak RSS "
              f"{res['peak_rss_mib']:.0f} MiB")

    def med(v, key):
        return statistics.median(r[key] for r in results[v])

    for key, what in (("samples_per_s", "Trainer samples/s"),
                      ("step_samples_per_s", "samples/s from the median step")):
        app_v, plain_v = med("app", key), med("plain", key)
        print(f"{what} (median of {args.rounds} runs each): app {app_v:.3f}, plain Trainer "
              f"{plain_v:.3f}, ratio {app_v / plain_v:.3f}x (goal >= 0.95x)")
    print(f"peak RSS (median): app {med('app', 'peak_rss_mib'):.0f} MiB, plain Trainer "
          f"{med('plain', 'peak_rss_mib'):.0f} MiB")
    same = {round(r["eval_loss"], 4) for v in results for r in results[v]}
    print(f"eval loss identical across variants and rounds: {len(same) == 1} ({sorted(same)})")


if __name__ == "__main__":
    main()
