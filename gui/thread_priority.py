"""Job threads run below the GUI thread's priority, so the window keeps a core when a job's
native threads (llama.cpp's, torch's and CTranslate2's pools) take all the others: on Linux a
thread's nice value is its own and the threads it starts inherit it, so lowering it on the job's
thread before the job starts its pools lowers them too. Elsewhere nothing changes."""
from __future__ import annotations

import os
import sys
import threading

JOB_NICE = 10  # the kernel gives a nice-0 thread about nine times the CPU of a nice-10 one


def lower_this_thread(nice: int = JOB_NICE) -> bool:
    """Lower the calling thread's priority (never raise it); True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current >= nice:
            return True
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except (AttributeError, OSError):
        return False


def thread_nice() -> int | None:
    """The calling thread's nice value (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        return None
