"""Reproduces the bundled sentiment model (resources/models/sentiment-minilm/) from the SST-2 train
file with the app's own fine-tune engine:

    .venv/bin/python resources/models/make_sentiment.py [--train ../shared/eval/sst2_train.tsv]

It trains a LoRA adapter (all linear layers of the encoder) plus the pooler and a new classifier
head on all-MiniLM-L6-v2 from its pack, holding out 2 % of the train file as its own validation
split, then copies only the adapter file (which holds pooler and head too) and the label names into
the folder above: about 3 MB, never the encoder. On 2 CPU cores it takes about an hour
(``--resume`` continues a cancelled run). The dev set
(sst2_dev.tsv) is never read here: its accuracy is measured by the tests and ``bench/classify.py``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.cancel import CancelToken  # noqa: E402
from core.events import Done, Log, Progress  # noqa: E402
from core.finetune import FinetuneConfig, LossPoint, TrainProgress, train  # noqa: E402
from core.paths import AppHome  # noqa: E402

OUT = Path(__file__).resolve().parent / "sentiment-minilm"
LABELS = {"0": "negative", "1": "positive"}  # SST-2's label ids
BASE_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def config(train_file: Path) -> FinetuneConfig:
    return FinetuneConfig(
        task="classification", base="all-minilm-l6-v2", data=(str(train_file),),
        output="sentiment-minilm", method="lora", lora_r=16, lora_alpha=32, lora_dropout=0.05,
        target_modules=("query", "key", "value", "dense"), epochs=3.0, learning_rate=5e-4,
        batch_size=32, max_length=128, warmup_ratio=0.06, eval_split=0.02, save_steps=500,
        eval_steps=1000, logging_steps=50, seed=42)


def ship(trained: Path, cfg: FinetuneConfig, train_file: Path, out: Path) -> None:
    """Copy the adapter and head with readable label names; nothing of the encoder."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(trained / "adapter_model.safetensors", tmp / "adapter_model.safetensors")
    acfg = json.loads((trained / "adapter_config.json").read_text(encoding="utf-8"))
    acfg["base_model_name_or_path"] = BASE_HUB_ID  # resolved to the local pack when loading
    (tmp / "adapter_config.json").write_text(json.dumps(acfg, indent=2), encoding="utf-8")
    mcfg = json.loads((trained / "config.json").read_text(encoding="utf-8"))
    id2label = {str(i): LABELS.get(lab, lab) for i, lab in mcfg["id2label"].items()}
    mcfg["id2label"] = id2label
    mcfg["label2id"] = {lab: int(i) for i, lab in id2label.items()}
    mcfg.pop("_name_or_path", None)
    mcfg["architectures"] = ["BertForSequenceClassification"]
    (tmp / "config.json").write_text(json.dumps(mcfg, indent=2), encoding="utf-8")
    meta = json.loads((trained / "workbench.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256(train_file.read_bytes()).hexdigest()
    info = {"name": "sentiment-minilm", "base": "all-minilm-l6-v2", "base_hub_id": BASE_HUB_ID,
            "labels": list(id2label.values()), "train_file": train_file.name,
            "train_sha256": digest, "config": {**asdict(cfg), "data": [train_file.name]},
            "validation": meta.get("metrics", {}), "made": time.strftime("%Y-%m-%d")}
    (tmp / "training.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=ROOT.parent / "shared/eval/sst2_train.tsv")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "workbench-sentiment",
                    help="where the run and its checkpoints live")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    if "dev" in args.train.name:
        ap.error("the dev file is for evaluation only")
    home = AppHome(args.work)
    cfg = config(args.train.resolve())
    if not args.resume:
        shutil.rmtree(home.trained / cfg.output, ignore_errors=True)
    started, last = time.time(), 0.0
    for ev in train(cfg, CancelToken(), home=home, resume=args.resume):
        if isinstance(ev, TrainProgress) and time.time() - last > 60:
            last = time.time()
            eta = f"{ev.eta_s / 60:.0f} min left" if ev.eta_s else ""
            print(f"step {ev.step}/{ev.max_steps} epoch {ev.epoch:.2f} "
                  f"({time.time() - started:.0f} s, {eta})", flush=True)
        elif isinstance(ev, LossPoint) and (ev.split == "eval" or ev.step % 500 == 0):
            print(f"{ev.split} loss at step {ev.step}: {ev.loss:.4f}", flush=True)
        elif isinstance(ev, Log):
            print(ev.message, flush=True)
        elif isinstance(ev, Progress):
            print(ev.stage, ev.message, flush=True)
        elif isinstance(ev, Done):
            print(ev.summary, flush=True)
            ship(Path(ev.result.path), cfg, args.train.resolve(), args.out)
            print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
