"""Hugging Face Hub downloads with progress, and a typed error when the Hub cannot be reached."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, HubUnreachable, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.registry import HUB_ID, ModelEntry, Registry, Source, inspect_path

OFFLINE_HINT = (
    "Connect to the internet and try again, or add a local copy with "
    "Models ▸ Add folder (CLI: pass the folder path instead of the id)."
)


def _unreachable(hub_id: str) -> HubUnreachable:
    return HubUnreachable(f"Cannot reach the Hugging Face Hub to download '{hub_id}'.",
                          hint=OFFLINE_HINT)


def download(registry: Registry, hub_id: str, cancel: CancelToken,
             *, endpoint: str | None = None) -> Iterator[Event]:
    """Download a model repository into the HF cache; Done(result=the registry entry)."""
    if not HUB_ID.match(hub_id):
        raise BadInput(f"'{hub_id}' is not a Hub id.", hint="Hub ids look like 'owner/name'.")
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm as base_tqdm

    updates: queue.Queue[tuple[float, float | None]] = queue.Queue()

    class _Bar(base_tqdm):  # receives the Hub client's progress, and stops it on cancel
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if cancel.cancelled:
                raise Cancelled()
            self.n += n or 0
            updates.put((self.n, self.total))

    result: dict = {}

    def work() -> None:
        try:
            result["path"] = snapshot_download(hub_id, endpoint=endpoint, tqdm_class=_Bar)
        except BaseException as exc:  # handed to the generator below
            result["error"] = exc

    thread = threading.Thread(target=work, name=f"hub-download {hub_id}", daemon=True)
    thread.start()
    yield Progress("Contacting the Hub", 0, None, hub_id)
    last = 0.0
    while thread.is_alive():
        thread.join(0.1)
        if cancel.cancelled:
            thread.join(5)
            raise Cancelled()
        latest = None
        while not updates.empty():
            latest = updates.get_nowait()
        if latest and time.monotonic() - last > 0.1:
            last = time.monotonic()
            yield Progress("Downloading", latest[0], latest[1], hub_id)
    error = result.get("error")
    if error is not None:
        if isinstance(error, Cancelled):
            raise error
        if isinstance(error, (hf_errors.RepositoryNotFoundError, hf_errors.GatedRepoError)):
            raise ModelUnavailable(f"The Hub has no public model '{hub_id}'.",
                                   hint="Check the id, or log in for gated models.") from error
        if isinstance(error, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
                              ConnectionError, TimeoutError)) or "connect" in str(error).lower():
            raise _unreachable(hub_id) from error
        raise error
    path = Path(result["path"])
    fmt, task, _ = inspect_path(path)
    entry = ModelEntry(f"hf:{hub_id}", hub_id, task, fmt, Source.HF_CACHE, str(path),
                       hub_id=hub_id)
    yield Done(result=entry, summary=f"Downloaded '{hub_id}'.")
