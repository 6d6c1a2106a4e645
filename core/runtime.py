"""Process-wide settings that must be made once, early, by the entry point."""
from __future__ import annotations


def use_spawn() -> None:
    """Child processes (e.g. a Whisper run that can be terminated) start with "spawn": forking a
    process that holds Qt, torch threads or CUDA state is unsafe."""
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=True) != "spawn":
        multiprocessing.set_start_method("spawn", force=True)
