"""What keeps a run's work safe on disk: the disk-space estimate a run checks before it trains,
and the Trainer callback that marks each checkpoint complete once its files are on disk (so a
kill or a full disk in the middle of a save never becomes the point a run resumes from)."""
from __future__ import annotations

from pathlib import Path

from core.finetune.config import FinetuneConfig
from core.finetune.runs import mark_checkpoint_complete
from core.paths import need_space

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
KEPT_CHECKPOINTS = 3  # save_total_limit=2, and a new one is written before the oldest goes
LORA_SHARE = 0.05  # a LoRA checkpoint (adapter, its optimizer state) is a few % of the weights


def weights_bytes(folder: Path) -> int:
    """The size of a model folder's weight files (0 when there are none)."""
    total = 0
    for p in Path(folder).rglob("*"):
        if p.suffix in WEIGHT_SUFFIXES and p.is_file():
            try:
                total += p.stat().st_size
            except OSError:
                pass
    return total


def _fp32_bytes(folder: Path) -> int:
    """The weights as float32 (what the Trainer saves): a 16-bit file counts double."""
    size = weights_bytes(folder)
    try:
        import json

        dtype = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get(
            "torch_dtype") or ""
    except (OSError, ValueError):
        dtype = ""
    return size * 2 if str(dtype) in ("float16", "bfloat16") else size


def space_needed(config: FinetuneConfig, folder: Path) -> int:
    """Bytes a run needs on disk: its checkpoints (weights plus two optimizer moments each for a
    full run; a few % of that for LoRA) and the published model."""
    fp32 = _fp32_bytes(folder)
    if config.method == "full":
        per_checkpoint = 3 * fp32
        published = fp32
    else:
        per_checkpoint = int(LORA_SHARE * 3 * fp32)
        published = fp32 if config.merge_lora else int(LORA_SHARE * fp32)
    return KEPT_CHECKPOINTS * per_checkpoint + published


def check_space(config: FinetuneConfig, folder: Path, run_dir: Path) -> None:
    """BadInput before training when the disk cannot hold the run's checkpoints and model."""
    need_space(run_dir, space_needed(config, folder),
               f"the checkpoints of run '{config.output}' ({config.method})")


def checkpoint_marks():
    """A TrainerCallback that marks each checkpoint complete right after the Trainer saved it."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    class _Marks(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if folder.is_dir():
                mark_checkpoint_complete(folder)

    return _Marks()
