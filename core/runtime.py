"""Process-wide settings that must be made once, early, by the entry point; the app's version."""
from __future__ import annotations

import re
from pathlib import Path

DIST_NAME = "llm-workbench"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def app_version() -> str:
    """The installed package's version; in a checkout that is not installed, pyproject's."""
    from importlib import metadata

    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        pass
    try:
        text = PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1) if project else "", re.M)
    return found.group(1) if found else "unknown"


def use_spawn() -> None:
    """Child processes (e.g. a Whisper run that can be terminated) start with "spawn": forking a
    process that holds Qt, torch threads or CUDA state is unsafe."""
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=True) != "spawn":
        multiprocessing.set_start_method("spawn", force=True)


def quiet_transformers() -> None:
    """The app reports progress through its own events: silence transformers' console bars and
    advisory warnings (they would clutter the CLI's stderr)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
