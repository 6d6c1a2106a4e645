"""The openai-whisper child process: the code that runs inside the "spawn" child (which imports
this module by name), and the error mapping that sends typed errors back to the parent.

Replies, all plain tuples: ("download", done, total), ("ready", multilingual),
("progress", job, frames, total_frames, segments), ("result", job, {"language", "segments"}),
("error", job, error class name in core.errors, message, hint).
"""
from __future__ import annotations

import time
from pathlib import Path

OFFLINE_HINT = ("Connect to the internet once (the model is then cached in "
                "~/.cache/whisper), pick a local .pt checkpoint (Models ▸ Add file…), "
                "or use the faster-whisper engine with the bundled tiny.en.")
MEMORY_HINT = "Pick a smaller model or free some memory."


def cache_dir() -> Path:
    """Where openai-whisper keeps the models it downloads."""
    import os

    default = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.getenv("XDG_CACHE_HOME", default)) / "whisper"


def child_error(exc: BaseException, stage: str, model_ref: str) -> tuple[str, str, str]:
    """(error class name in core.errors, message, hint) for an exception in the child."""
    import urllib.error

    from core.errors import WorkbenchError
    from core.models.loading import is_out_of_memory

    label = Path(model_ref).name if model_ref.endswith(".pt") else model_ref
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, WorkbenchError):
        return exc.__class__.__name__, exc.message, exc.hint
    if is_out_of_memory(exc) or "out of memory" in text.lower():
        return ("OutOfMemory", f"openai-whisper ran out of memory ({stage} '{label}').",
                MEMORY_HINT)
    if stage == "loading":
        if isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, OSError)) and \
                not model_ref.endswith(".pt") and not isinstance(exc, FileNotFoundError):
            return ("HubUnreachable", f"openai-whisper could not download '{label}': it needs "
                    f"the internet, or a local .pt file ({exc.__class__.__name__}: {text}).",
                    OFFLINE_HINT)
        if isinstance(exc, RuntimeError) and "not found; available models" in text:
            return ("ModelUnavailable", f"openai-whisper has no model called '{label}'.",
                    "Use a name such as tiny.en, base.en, small or turbo, or a .pt file.")
        if model_ref.endswith(".pt"):
            return ("BadInput", f"'{label}' is not a usable openai-whisper checkpoint "
                    f"({exc.__class__.__name__}: {text}).", "")
        return "ModelUnavailable", f"openai-whisper cannot load '{label}': {text}", ""
    return ("WorkbenchError", f"openai-whisper failed while transcribing: "
            f"{exc.__class__.__name__}: {text}", "")


def plain_segment(s: dict) -> tuple:
    """An openai-whisper segment as a plain tuple (start, end, text, words) for the pipe."""
    words = tuple((float(w["start"]), float(w["end"]), w["word"], float(w.get("probability", 0)))
                  for w in s.get("words") or ())
    return float(s["start"]), float(s["end"]), str(s["text"]), words


def child_main(requests, replies, model_ref: str, device: str) -> None:
    """Entry point of the child: loads the model once, then serves transcription jobs from
    ``requests`` until it gets None (or the parent terminates it on cancel)."""
    import importlib
    import signal
    import sys
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    warnings.simplefilter("ignore")  # FP16/CPU notices and the like: the parent reports
    try:
        import whisper

        class _DownloadBar:  # whisper._download's tqdm: progress to the parent, 10 a second
            def __init__(self, total=None, **_kwargs):
                self.total, self.n, self.last = total, 0, 0.0

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                replies.put(("download", self.n, self.total))
                return False

            def update(self, n=1):
                self.n += n
                if time.perf_counter() - self.last >= 0.1:
                    self.last = time.perf_counter()
                    replies.put(("download", self.n, self.total))

        whisper.tqdm = _DownloadBar
        model = whisper.load_model(model_ref, device=device)
    except BaseException as exc:
        replies.put(("error", None, *child_error(exc, "loading", model_ref)))
        return
    replies.put(("ready", bool(getattr(model, "is_multilingual", True))))
    transcribe_module = importlib.import_module("whisper.transcribe")
    while True:
        job = requests.get()
        if job is None:
            return
        job_id, audio, kwargs = job

        class _Bar:  # whisper.transcribe's tqdm: one update per 30 s window
            def __init__(self, total=None, **_kwargs):
                self.total, self.n, self.sent = total, 0, 0

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def update(self, n=1, _job=job_id):
                self.n += n
                # The window's segments are already in transcribe()'s list: stream them.
                found = sys._getframe(1).f_locals.get("all_segments")
                new = []
                if isinstance(found, list):
                    new = [plain_segment(s) for s in found[self.sent:]]
                    self.sent = len(found)
                replies.put(("progress", _job, self.n, self.total, new))

        transcribe_module.tqdm = type("tqdm_module", (), {"tqdm": _Bar})
        try:
            result = model.transcribe(audio, **kwargs)
            replies.put(("result", job_id, {
                "language": result.get("language"),
                "segments": [plain_segment(s) for s in result["segments"]]}))
        except BaseException as exc:
            replies.put(("error", job_id, *child_error(exc, "transcribing", model_ref)))
