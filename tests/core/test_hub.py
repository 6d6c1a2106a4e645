import threading
import time
from contextlib import closing

import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, HubUnreachable
from core.events import Done, Progress
from core.models import hub
from core.models.hub import download
from core.models.registry import Registry, Task


def test_unreachable_hub_gives_the_typed_error(home, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    reg = Registry(home, scan_hf_cache=False)
    with pytest.raises(HubUnreachable) as info:
        list(download(reg, "HuggingFaceTB/SmolLM2-360M-Instruct", CancelToken(),
                      endpoint="http://127.0.0.1:9"))
    text = info.value.user_message()
    assert "Cannot reach the Hugging Face Hub" in text and "Add folder" in text


def test_offline_mode_gives_the_typed_error(home, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    reg = Registry(home, scan_hf_cache=False)
    with pytest.raises(HubUnreachable):
        list(download(reg, "someone/not-cached-anywhere", CancelToken()))


def test_not_a_hub_id(home):
    with pytest.raises(BadInput, match="owner/name"):
        list(download(Registry(home, scan_hf_cache=False), "no slash here", CancelToken()))


class FakeHub:
    """Stands in for huggingface_hub.snapshot_download: a file-count bar and a bytes bar, chunks
    reported in a loop (forever, or ``chunks`` of them before returning ``folder``)."""

    def __init__(self, chunks: int | None = None, folder=None, error: Exception | None = None):
        self.chunks, self.folder, self.error = chunks, folder, error
        self.sent = 0
        self.stopped = threading.Event()

    def __call__(self, hub_id, *, endpoint=None, tqdm_class):
        try:
            if self.error is not None:
                raise self.error
            # as huggingface_hub opens them: network bytes, bytes written, then the file count
            network = tqdm_class(total=10_000_000, unit="B", desc="Downloading bytes")
            data = tqdm_class(total=10_000_000, unit="B", unit_scale=True)
            files = tqdm_class(total=3, desc="Fetching 3 files")
            files.update(1)
            while self.chunks is None or self.sent < self.chunks:
                network.update(1000)  # compressed: fewer bytes on the wire than on disk
                data.update(4096)
                self.sent += 1
                time.sleep(0.002)
            return str(self.folder)
        finally:
            self.stopped.set()


def _download_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(hub.THREAD_PREFIX)]


def _until_downloading(gen) -> list[Progress]:
    seen = []
    for event in gen:
        seen.append(event)
        if event.stage == "Downloading" and event.done > 0:
            return seen
    raise AssertionError("no download progress")


def test_cancel_stops_the_download_promptly(home, monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(hub, "snapshot_download", fake)
    token = CancelToken()
    gen = download(Registry(home, scan_hf_cache=False), "someone/big-model", token)
    with closing(gen):  # a failed assertion must not leave the fake running
        shown = _until_downloading(gen)[-1]
        # the bytes written, not the file count nor the (compressed) network bytes
        assert shown.total == 10_000_000 and shown.done > 0 and shown.done % 4096 == 0
        token.cancel()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            list(gen)
    assert time.monotonic() - started < 2
    assert fake.stopped.is_set() and _download_threads() == []
    sent = fake.sent
    time.sleep(0.05)
    assert fake.sent == sent


def test_closing_the_generator_stops_the_download(home, monkeypatch, request):
    fake = FakeHub()
    monkeypatch.setattr(hub, "snapshot_download", fake)
    token = CancelToken()
    request.addfinalizer(token.cancel)  # after the asserts: a failed test leaves nothing running
    gen = download(Registry(home, scan_hf_cache=False), "someone/big-model", token)
    _until_downloading(gen)
    gen.close()  # what a GUI job does when it is dropped
    assert fake.stopped.is_set() and _download_threads() == []


def test_a_finished_download_is_a_registry_entry(home, monkeypatch, tiny_gpt2_dir):
    monkeypatch.setattr(hub, "snapshot_download", FakeHub(chunks=60, folder=tiny_gpt2_dir))
    events = list(download(Registry(home, scan_hf_cache=False), "someone/tiny", CancelToken()))
    done = events[-1]
    assert isinstance(done, Done) and done.result.path == str(tiny_gpt2_dir)
    assert done.result.task is Task.TEXT_GENERATION and done.result.hub_id == "someone/tiny"
    fractions = [e.fraction for e in events if isinstance(e, Progress) and e.fraction is not None]
    assert fractions == sorted(fractions) and _download_threads() == []


def test_a_connection_failure_is_the_typed_error(home, monkeypatch):
    monkeypatch.setattr(hub, "snapshot_download", FakeHub(error=ConnectionError("refused")))
    with pytest.raises(HubUnreachable):
        list(download(Registry(home, scan_hf_cache=False), "someone/model", CancelToken()))
    assert _download_threads() == []
