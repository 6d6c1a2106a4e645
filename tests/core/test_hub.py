import pytest

from core.cancel import CancelToken
from core.errors import BadInput, HubUnreachable
from core.models.hub import download
from core.models.registry import Registry


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
