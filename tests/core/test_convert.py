"""GGUF conversion on the real bundled SmolLM2 (about a minute in all)."""
import shutil
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled
from core.events import Done, Progress
from core.models.convert import convert_gguf, ensure_loadable
from core.models.registry import Registry

PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


def _greedy(model, tok, n=24):
    import torch

    ids = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
def test_converted_folder_gives_the_same_greedy_output_as_the_gguf(smollm2_converted):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    registry, entry, events = smollm2_converted
    stages = [e for e in events if isinstance(e, Progress)]
    assert len(stages) >= 4 and stages[-1].fraction == 1.0
    assert [s.done for s in stages] == sorted(s.done for s in stages)  # monotonic
    conv = Path(entry.converted_path)
    assert (conv / "model.safetensors").is_file() and not conv.with_name(conv.name + ".partial").exists()
    gguf = Path(entry.path)
    direct = _greedy(AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name),
                     AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name))
    converted = _greedy(AutoModelForCausalLM.from_pretrained(conv),
                        AutoTokenizer.from_pretrained(conv))
    assert converted == direct
    assert "Paris" in converted
    # the registry now points at the converted folder, and a second conversion is instant
    again = registry.get("smollm2-135m-instruct")
    assert again.load_path == str(conv)
    assert [type(e) for e in convert_gguf(registry, again, CancelToken())] == [Done]
    assert [type(e) for e in ensure_loadable(registry, again, CancelToken())] == [Done]


def test_cancel_leaves_no_partial_folder(home):
    registry = Registry(home, scan_hf_cache=False)
    entry = registry.get("smollm2-135m-instruct")
    token = CancelToken()
    gen = convert_gguf(registry, entry, token)
    first = next(gen)
    assert isinstance(first, Progress)
    token.cancel()
    with pytest.raises(Cancelled):
        list(gen)
    assert list(home.converted.iterdir()) == []
    assert registry.get("smollm2-135m-instruct").converted_path is None


def test_not_a_gguf(home):
    registry = Registry(home, scan_hf_cache=False)
    with pytest.raises(BadInput, match="not a GGUF"):
        list(convert_gguf(registry, registry.get("all-minilm-l6-v2"), CancelToken()))


def test_corrupt_gguf_gives_a_clear_error(home, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    registry = Registry(home, scan_hf_cache=False)
    with pytest.raises(BadInput, match="broken.gguf"):  # refused when it is added
        registry.add_local(bad)
    # a file damaged after it was added: the conversion names it
    later = tmp_path / "later.gguf"
    shutil.copyfile(registry.get("smollm2-135m-instruct").path, later)
    entry = registry.add_local(later)
    later.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(BadInput, match="later.gguf"):
        list(convert_gguf(registry, entry, CancelToken()))
    assert list(home.converted.iterdir()) == []
