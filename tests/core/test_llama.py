"""The llama.cpp chat engine on the bundled SmolLM2 GGUF (it loads in well under a second)."""
import threading
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.chat import (
    BEAM_REFUSED,
    ChatEngine,
    ChatRequest,
    GenerationSettings,
    LlamaEngine,
    Token,
    open_chat,
)
from core.errors import BadInput, OutOfMemory
from core.events import Done, Progress

GREEDY = GenerationSettings(decoding="greedy", max_new_tokens=24)
SMOLLM2 = "smollm2-135m-instruct"


def ask(text):
    return ({"role": "user", "content": text},)


def run(engine, request, cancel=None):
    events = list(engine.stream(request, cancel or CancelToken()))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


def opened(registry, model_id=SMOLLM2, **kw):
    events = list(open_chat(registry, model_id, "cpu", CancelToken(), **kw))
    assert isinstance(events[-1], Done)
    return events[-1].result


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry over an app home of its own, so that "nothing converted" means this module."""
    from core.models.registry import Registry
    from core.paths import AppHome

    return Registry(AppHome(tmp_path_factory.mktemp("llama-home")), scan_hf_cache=False)


@pytest.fixture(scope="module")
def gguf_path(registry):
    return registry.get(SMOLLM2).path


@pytest.fixture(scope="module")
def engine(registry):
    engine = opened(registry)
    yield engine
    engine.close()


def test_a_gguf_opens_on_llama_cpp_without_conversion(registry):
    events = list(open_chat(registry, SMOLLM2, "cpu", CancelToken()))
    engine = events[-1].result
    try:
        assert isinstance(engine, LlamaEngine)
        assert any(isinstance(e, Progress) for e in events)
        assert not registry.conversion_dir(registry.get(SMOLLM2)).exists()  # nothing written
        assert engine.info.line() == "llama.cpp · Q4_1 · 98 MB · CPU · context 8192"
        assert engine.info.seconds < 5 and engine.info.has_chat_template
    finally:
        engine.close()


def test_greedy_knows_the_capital_of_france(engine):
    # with the template's default system prompt, llama.cpp's Q4_1 arithmetic (8-bit activations)
    # tips this 135M model's first greedy token elsewhere; a system prompt of its own keeps it
    request = ChatRequest(ask("What is the capital of France?"),
                          system_prompt="You are a helpful assistant.", settings=GREEDY)
    events, stats = run(engine, request)
    assert "Paris" in stats.text
    assert "".join(e.text for e in events if isinstance(e, Token)) == stats.text
    assert 0 < stats.tokens <= 24 and stats.ttft_s is not None and stats.tokens_per_s > 0
    again = run(engine, request)[1]
    assert again.text == stats.text and not stats.stopped


def test_prompt_ids_match_transformers_apply_chat_template(engine, gguf_path):

    from transformers import AutoTokenizer

    path = Path(gguf_path)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    system = "You are terse. Answer in one word."
    messages = [{"role": "user", "content": "Name a colour of the sky."},
                {"role": "assistant", "content": "Blue."},
                {"role": "user", "content": "And at night, été ünïcode?"}]
    want = tok.apply_chat_template([{"role": "system", "content": system}] + messages,
                                   add_generation_prompt=True, tokenize=True,
                                   return_dict=True)["input_ids"]
    assert engine.encode(system, messages) == list(want)
    # without a system prompt the template inserts its own default one
    want = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                   return_dict=True)["input_ids"]
    assert engine.encode("", messages) == list(want)


def test_stop_mid_stream_ends_within_two_tokens_and_keeps_the_partial_reply(engine):
    cancel = CancelToken()
    request = ChatRequest(ask("Write a long story about a dragon."),
                          settings=GenerationSettings(decoding="greedy", max_new_tokens=200))
    seen, after = [], 0
    stats = None
    for ev in engine.stream(request, cancel):
        if isinstance(ev, Token):
            seen.append(ev.text)
            if cancel.cancelled:
                after += 1
            elif len(seen) == 5:
                cancel.cancel()
        elif isinstance(ev, Done):
            stats = ev.result
    assert stats.stopped and after <= 2
    assert stats.text == "".join(seen) and 5 <= stats.tokens <= 7


def test_a_seeded_sampling_reply_repeats(engine):
    settings = GenerationSettings(decoding="sampling", temperature=1.2, top_p=0.95, top_k=40,
                                  seed=11, max_new_tokens=30)
    request = ChatRequest(ask("Tell me something surprising."), settings=settings)
    a = run(engine, request)[1].text
    b = run(engine, request)[1].text
    assert a == b and a
    greedy = run(engine, ChatRequest(request.messages, settings=GenerationSettings(
        decoding="greedy", max_new_tokens=30)))[1].text
    others = {run(engine, ChatRequest(request.messages, settings=GenerationSettings(
        decoding="sampling", temperature=1.2, seed=s, max_new_tokens=30)))[1].text
        for s in (1, 2, 3)}
    assert len(others | {greedy}) > 1  # sampling does sample


def test_beam_search_is_refused_with_the_reason(engine):
    request = ChatRequest(ask("hi"), settings=GenerationSettings(decoding="beam", num_beams=2))
    with pytest.raises(BadInput, match="transformers"):
        list(engine.stream(request, CancelToken()))
    assert "transformers" in BEAM_REFUSED


def test_two_concurrent_replies_do_not_interleave(engine):
    order: list[str] = []
    texts: dict[str, str] = {}
    start = threading.Barrier(2)

    def reply(tag):
        start.wait()
        request = ChatRequest(ask(f"Count from one to ten ({tag})."),
                              settings=GenerationSettings(decoding="greedy", max_new_tokens=20))
        for ev in engine.stream(request, CancelToken()):
            if isinstance(ev, Token):
                order.append(tag)
            elif isinstance(ev, Done):
                texts[tag] = ev.result.text

    threads = [threading.Thread(target=reply, args=(t,)) for t in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(texts) == {"A", "B"}
    first = order[0]
    switch = order.index("B" if first == "A" else "A")
    assert all(t == first for t in order[:switch]) and first not in order[switch:]
    alone = run(engine, ChatRequest(ask("Count from one to ten (A)."), settings=GenerationSettings(
        decoding="greedy", max_new_tokens=20)))[1].text
    assert texts["A"] == alone  # neither reply disturbed the other's state


def test_a_truncated_gguf_gives_a_typed_error(tmp_path, gguf_path, registry):
    cut = tmp_path / "cut.gguf"
    with open(gguf_path, "rb") as src:
        cut.write_bytes(src.read(1 << 20))
    with pytest.raises(BadInput, match="truncated"):
        list(LlamaEngine.load(cut, device="cpu"))
    with pytest.raises(BadInput, match="truncated"):  # refused when it is added
        registry.add_local(cut)
    later = tmp_path / "later.gguf"  # a file cut short after it was added
    later.write_bytes(Path(gguf_path).read_bytes())
    entry = registry.add_local(later)
    later.write_bytes(cut.read_bytes())
    with pytest.raises(BadInput, match="truncated"):
        opened(registry, entry.id)
    (tmp_path / "text.gguf").write_text("hello, not a model at all, but long enough")
    with pytest.raises(BadInput, match="not a GGUF file"):
        list(LlamaEngine.load(tmp_path / "text.gguf", device="cpu"))


def test_an_unknown_architecture_is_named(tmp_path, gguf_path):
    data = bytearray(Path(gguf_path).read_bytes())
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type (u32), string length (u64)
    assert data[at:at + 5] == b"llama"
    data[at:at + 5] = b"zzyzx"
    odd = tmp_path / "odd.gguf"
    odd.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="'zzyzx' model: an architecture this llama.cpp build"):
        list(LlamaEngine.load(odd, device="cpu"))


def test_a_context_beyond_memory_is_refused_before_loading(gguf_path):
    from core.chat.gguf_file import read_gguf
    from core.chat.llama_native import cache_bytes, check_memory

    info = read_gguf(gguf_path)
    # SmolLM2: 30 layers, 3 key/value heads of 64: 30 * 8192 * 3 * 128 * 2 bytes
    assert cache_bytes(info, 8192) == 30 * 8192 * 3 * 128 * 2
    with pytest.raises(OutOfMemory, match="context"):
        check_memory(info, 10**9)


def test_the_context_cap_and_close(registry):
    engine = opened(registry, max_context=512)
    assert engine.info.context == 512 and engine.llama.n_ctx() == 512
    assert engine.close() and engine.closed
    from core.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="unloaded"):
        list(engine.stream(ChatRequest(ask("hi"), settings=GREEDY), CancelToken()))


def test_close_ends_a_reply_in_progress(registry):
    engine = opened(registry, max_context=1024)
    request = ChatRequest(ask("Write a long story."),
                          settings=GenerationSettings(decoding="greedy", max_new_tokens=500))
    stream = engine.stream(request, CancelToken())
    tokens = 0
    for ev in stream:
        if isinstance(ev, Token):
            tokens += 1
            if tokens == 3:
                closer = threading.Thread(target=engine.close)
                closer.start()
                while not engine.closed:
                    pass
        elif isinstance(ev, Done):
            stats = ev.result
    closer.join(10)
    assert not closer.is_alive() and engine.llama is None
    assert stats.stopped and stats.tokens <= 5


def test_engine_choice(registry, tiny_chat_dir):
    entry = registry.add_local(tiny_chat_dir)
    folder = opened(registry, entry.id)
    assert isinstance(folder, ChatEngine) and folder.info.line().startswith("transformers · ")
    folder.close()
    with pytest.raises(BadInput, match="not a GGUF file"):
        opened(registry, entry.id, engine="llama.cpp")
    with pytest.raises(BadInput, match="Unknown chat engine"):
        opened(registry, engine="vllm")
    forced = opened(registry, engine="llama.cpp")
    assert isinstance(forced, LlamaEngine)
    forced.close()


@pytest.mark.slow
def test_the_transformers_engine_still_converts_a_gguf(smollm2_converted):
    registry, entry, _ = smollm2_converted
    engine = opened(registry, entry.id, engine="transformers")
    assert isinstance(engine, ChatEngine) and engine.info.engine == "transformers"
    stats = run(engine, ChatRequest(ask("What is the capital of France?"), settings=GREEDY))[1]
    assert "Paris" in stats.text
    engine.close()



def test_importing_chat_loads_no_llama_cpp():
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import json, sys, core.chat, core.chat.llama, core.chat.llama_native, core.cli.chat\n"
            "print(json.dumps([m for m in ('llama_cpp', 'jinja2', 'torch') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cli_chat_on_llama_cpp(home):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home.root)}
    out = subprocess.run([sys.executable, "main.py", "chat", "What is the capital of France?",
                          "--temperature", "0", "--max-new-tokens", "16", "--engine", "llama.cpp",
                          "--context", "1024", "--system", "You are a helpful assistant."],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout
    assert "llama.cpp · Q4_1 · 98 MB · CPU · context 1024" in out.stderr
    assert "tok/s" in out.stderr.strip().splitlines()[-1]
    beam = subprocess.run([sys.executable, "main.py", "chat", "hi", "--num-beams", "2"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert beam.returncode == 1 and "Beam search needs the transformers engine" in beam.stderr


def test_old_turns_go_when_the_conversation_outgrows_the_context(registry):
    from core.chat import Truncated

    engine = opened(registry, max_context=256)
    try:
        turn = "the quick brown fox jumps over the lazy dog " * 3
        messages = []
        for i in range(8):
            messages += [{"role": "user", "content": f"turn {i} {turn}"},
                         {"role": "assistant", "content": turn}]
        messages.append({"role": "user", "content": "last question"})
        request = ChatRequest(tuple(messages), system_prompt="SYSTEM RULES",
                              settings=GenerationSettings(decoding="greedy", max_new_tokens=32))
        ids, dropped = engine.build_prompt(request)
        assert dropped >= 2 and dropped % 2 == 0 and len(ids) <= 256 - 32
        text = engine.llama.detokenize(ids, special=True).decode()
        assert text.startswith("<|im_start|>system\nSYSTEM RULES")
        assert "turn 0 " not in text and "last question" in text
        events, _ = run(engine, request)
        notice = [e for e in events if isinstance(e, Truncated)]
        assert len(notice) == 1 and notice[0].dropped_messages == dropped
    finally:
        engine.close()
