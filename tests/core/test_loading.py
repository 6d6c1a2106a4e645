"""The one HF loader: dtype per device, out-of-memory translation, kinds, LoRA adapters."""
import warnings

import pytest

from core.errors import BadInput, OutOfMemory
from core.models.loading import dtype_for, load_hf, load_trained, out_of_memory, trained_kind


def test_cpu_runs_in_float32():
    import torch

    assert dtype_for("cpu") is torch.float32
    if torch.cuda.is_available():
        assert dtype_for("cuda:0") in (torch.bfloat16, torch.float16)


def test_memory_failures_become_out_of_memory_and_others_pass():
    import torch

    with pytest.raises(OutOfMemory, match="load 'big'") as info, \
            out_of_memory("Not enough memory to load 'big'."):
        raise MemoryError()
    assert isinstance(info.value.__cause__, MemoryError) and info.value.hint
    with pytest.raises(OutOfMemory), out_of_memory("x"):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
    with pytest.raises(ValueError, match="not memory"), out_of_memory("x"):
        raise ValueError("not memory")
    with out_of_memory("x"):  # nothing raised, nothing changed
        pass


def _logits(model, tokenizer, text="the quick brown fox"):
    import torch

    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def test_loads_a_causal_lm_and_a_classifier(tiny_gpt2_dir, tiny_classifier_dir):
    import torch

    lm, tok = load_hf(tiny_gpt2_dir, "causal-lm")
    assert not lm.training and lm.dtype is torch.float32
    assert _logits(lm, tok).shape[-1] == lm.config.vocab_size
    clf, tok = load_hf(tiny_classifier_dir, "classifier")
    assert not clf.training and _logits(clf, tok).shape == (1, 2)
    assert clf.config.id2label == {0: "negative", 1: "positive"}
    assert trained_kind(tiny_classifier_dir) == "classifier"
    assert trained_kind(tiny_gpt2_dir) == "causal-lm"


@pytest.mark.parametrize(("folder", "kind"), [("tiny_classifier_dir", "causal-lm"),
                                             ("tiny_gpt2_dir", "fill-mask")])
def test_a_folder_of_the_wrong_kind_is_bad_input(request, folder, kind):
    with pytest.raises(BadInput, match="'tiny' cannot be loaded as"):
        load_hf(request.getfixturevalue(folder), kind, name="tiny")


def test_a_folder_without_a_model_is_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="'empty' cannot be loaded as a causal language model"):
        load_hf(tmp_path / "empty", "causal-lm")


def test_unknown_kind():
    with pytest.raises(ValueError):
        load_hf("anything", "seq2seq")


def test_a_lora_adapter_is_loaded_merged_onto_its_base(tiny_gpt2_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    tok = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    plain = _logits(base, tok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(base, LoraConfig(
            r=4, lora_alpha=8, target_modules=["c_attn"], task_type="CAUSAL_LM",
            init_lora_weights=False, fan_in_fan_out=True))
    peft_model.eval()
    expected = _logits(peft_model, tok)
    assert not torch.allclose(expected, plain)  # the adapter changes the output
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    assert not (adapter / "config.json").exists()  # an adapter folder, no full weights

    model, tokenizer = load_hf(adapter, "causal-lm")
    assert type(model).__name__ == "GPT2LMHeadModel"  # merged: no peft wrapper left
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert torch.allclose(_logits(model, tokenizer), expected, atol=1e-5)
    trained, _ = load_trained(adapter)
    assert torch.allclose(_logits(trained, tokenizer), expected, atol=1e-5)
