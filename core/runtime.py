"""Process-wide settings that must be made once, early, by the entry point."""
from __future__ import annotations


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
