"""Hugging Face Hub downloads with progress, and a typed error when the Hub cannot be reached.

The Hub client runs on a worker thread through ``core.relay`` (never a daemon; joined when the
consumer stops). Its progress bars are replaced by a hook that reports bytes and raises Cancelled
on the client's next chunk once the job is cancelled, so a cancelled download stops promptly.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, HubUnreachable, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.registry import HUB_ID, ModelEntry, Registry, Source, inspect_path
from core.relay import Emit, relay

OFFLINE_HINT = (
    "Connect to the internet and try again, or add a local copy with "
    "Models ▸ Add folder (CLI: pass the folder path instead of the id)."
)
THREAD_PREFIX = "hub-download"
PROGRESS_EVERY_S = 0.1


def _unreachable(hub_id: str) -> HubUnreachable:
    return HubUnreachable(f"Cannot reach the Hugging Face Hub to download '{hub_id}': this "
                          "computer is offline (or the Hub is down), and the model is not in the "
                          "local cache.", hint=OFFLINE_HINT)


def snapshot_download(hub_id: str, **kwargs) -> str:
    """``huggingface_hub.snapshot_download``, imported when first used."""
    from huggingface_hub import snapshot_download as hub_snapshot_download

    return hub_snapshot_download(hub_id, **kwargs)


def _progress_bar_class(hub_id: str, cancel: CancelToken, emit: Emit):
    """A tqdm class for the Hub client: every bar it opens reports here. Bytes bars win over the
    file-count bar, and of those the one furthest along is shown (the client also keeps a bar of
    network bytes whose total it only estimates); one Progress at most every PROGRESS_EVERY_S."""
    from tqdm.auto import tqdm as base_tqdm

    lock = threading.Lock()
    bars: dict[int, tuple[float, float | None, bool]] = {}  # id -> (done, total, counts bytes)
    last = [0.0]

    class HookBar(base_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)  # huggingface_hub's own bar option
            kwargs["disable"] = True
            self.counts_bytes = kwargs.get("unit") == "B"  # a disabled tqdm keeps no unit
            super().__init__(*args, **kwargs)
            cancel.raise_if_cancelled()
            with lock:
                bars[id(self)] = (self.n, self.total, self.counts_bytes)

        def update(self, n=1):
            cancel.raise_if_cancelled()  # stops the client on its next chunk
            self.n += n or 0
            with lock:
                bars[id(self)] = (self.n, self.total, self.counts_bytes)
                now = time.monotonic()
                if now - last[0] < PROGRESS_EVERY_S:
                    return
                last[0] = now
                chosen = [b for b in bars.values() if b[2]] or list(bars.values())
                # the furthest along: bytes written to disk against the files' sizes, usually
                done, total, _ = max(chosen, key=lambda b: b[0] / b[1] if b[1] else 0.0)
            emit(Progress("Downloading", done, total or None, hub_id))

    return HookBar


def _hub_error(hub_id: str, error: BaseException) -> BaseException:
    """The typed error for what the Hub client raised."""
    from huggingface_hub import errors as hf_errors

    if isinstance(error, (hf_errors.RepositoryNotFoundError, hf_errors.GatedRepoError)):
        return ModelUnavailable(f"The Hub has no public model '{hub_id}'.",
                                hint="Check the id, or log in for gated models.")
    if isinstance(error, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
                          ConnectionError, TimeoutError)) or "connect" in str(error).lower():
        return _unreachable(hub_id)
    return error


_NO_OWNER = re.compile(r"^[A-Za-z0-9][\w.-]*$")  # the Hub's oldest repos: gpt2, bert-base-uncased


def download(registry: Registry, hub_id: str, cancel: CancelToken,
             *, endpoint: str | None = None) -> Iterator[Event]:
    """Download a model repository into the HF cache; Done(result=the registry entry).

    Cancelled once ``cancel`` is set; closing the generator also stops the download. Either way
    the download thread has ended when this generator has."""
    if not (HUB_ID.match(hub_id) or _NO_OWNER.match(hub_id)):  # 'gpt2' is a Hub id too
        raise BadInput(f"'{hub_id}' is not a Hub id.",
                       hint="Hub ids look like 'owner/name' (or 'name' for a few old models).")

    def work(emit: Emit) -> str:
        bar = _progress_bar_class(hub_id, cancel, emit)
        try:
            return snapshot_download(hub_id, endpoint=endpoint, tqdm_class=bar)
        except Cancelled:
            raise
        except Exception as exc:
            if cancel.cancelled:  # whatever the client made of the hook's Cancelled
                raise Cancelled() from exc
            typed = _hub_error(hub_id, exc)
            if typed is exc:
                raise
            raise typed from exc

    yield Progress("Contacting the Hub", 0, None, hub_id)
    folder = yield from relay(work, cancel, name=f"{THREAD_PREFIX} {hub_id}")
    cancel.raise_if_cancelled()
    path = Path(folder)
    fmt, task, _ = inspect_path(path)
    entry = ModelEntry(f"hf:{hub_id}", hub_id, task, fmt, Source.HF_CACHE, str(path),
                       hub_id=hub_id)
    yield Done(result=entry, summary=f"Downloaded '{hub_id}'.")
