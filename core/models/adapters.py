"""LoRA adapter folders: what they hold, where their base is, applying one to a model."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from core.errors import BadInput, ModelUnavailable

ADAPTER_CONFIG = "adapter_config.json"


def adapter_config(folder: str | Path) -> dict | None:
    """The adapter_config.json of a LoRA adapter folder (its base, peft task type, ...); None when
    the folder holds no adapter. BadInput when it is unreadable."""
    folder = Path(folder)
    cfg = folder / ADAPTER_CONFIG
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"The adapter config of '{folder.name}' is unreadable: {exc}") from exc
    return data if isinstance(data, dict) else {}


def adapter_base(folder: str | Path, registry=None) -> Path | None:
    """For a LoRA adapter folder: the local folder of its base model; None if not an adapter.
    A base named by Hub id is looked up in ``registry`` (a bundled pack may hold it), then in the
    Hugging Face cache. ModelUnavailable when the base is not on this machine."""
    folder = Path(folder)
    data = adapter_config(folder)
    if data is None:
        return None
    base = str(data.get("base_model_name_or_path") or "")
    if not base:
        raise BadInput(f"The adapter '{folder.name}' does not say which base model it belongs to.")
    if Path(base).expanduser().is_dir():
        return Path(base).expanduser()
    if registry is not None:
        for entry in registry.entries(endpoints=False):
            if entry.hub_id == base and entry.load_path and Path(entry.load_path).is_dir():
                return Path(entry.load_path)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(base, local_files_only=True))
    except Exception:
        raise ModelUnavailable(
            f"The base model of '{folder.name}' ('{base}') is not on this machine.",
            hint="Download or add the base model on the Models page, then try again.") from None


def apply_adapter(model, folder: str | Path):
    """``model`` with the LoRA adapter in ``folder`` applied and merged in (so it runs at the
    plain model's speed)."""
    from core.imports import import_heavy

    import_heavy("peft")
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


