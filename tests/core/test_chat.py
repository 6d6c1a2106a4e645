import subprocess
import sys
import time

import pytest

from core.cancel import CancelToken
from core.chat import ChatEngine, ChatRequest, GenerationSettings, Token, Truncated
from core.errors import BadInput
from core.events import Done, Progress
from tests.conftest import ROOT, load_engine

GREEDY = GenerationSettings(decoding="greedy", max_new_tokens=12)


def ask(text):
    return ({"role": "user", "content": text},)


def run(engine, request, cancel=None):
    events = list(engine.stream(request, cancel or CancelToken()))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


def test_tiny_gpt2_streams_as_plain_completion(tiny_gpt2_dir):
    engine = load_engine(tiny_gpt2_dir)
    assert not engine.info.has_chat_template and engine.info.context == 256
    events, stats = run(engine, ChatRequest(ask("hello world"), settings=GREEDY))
    tokens = [e for e in events if isinstance(e, Token)]
    assert tokens and "".join(t.text for t in tokens) == stats.text
    assert stats.tokens == 12 and stats.ttft_s is not None and stats.tokens_per_s > 0
    assert not stats.stopped


def test_greedy_is_deterministic_and_seed_repeats_sampling(tiny_chat_dir):
    engine = load_engine(tiny_chat_dir)
    a = run(engine, ChatRequest(ask("the quick"), settings=GREEDY))[1].text
    b = run(engine, ChatRequest(ask("the quick"), settings=GREEDY))[1].text
    assert a == b
    sampled = GenerationSettings(decoding="sampling", temperature=1.5, seed=7, max_new_tokens=20)
    c = run(engine, ChatRequest(ask("the quick"), settings=sampled))[1].text
    d = run(engine, ChatRequest(ask("the quick"), settings=sampled))[1].text
    assert c == d


def test_context_truncation_keeps_the_system_prompt(tiny_chat_dir):
    engine = load_engine(tiny_chat_dir)
    long_turn = "the quick brown fox jumps over the lazy dog " * 4
    messages = []
    for i in range(8):
        messages += [{"role": "user", "content": f"turn {i} {long_turn}"},
                     {"role": "assistant", "content": long_turn}]
    messages.append({"role": "user", "content": "last question"})
    request = ChatRequest(tuple(messages), system_prompt="SYSTEM RULES",
                          settings=GenerationSettings(decoding="greedy", max_new_tokens=32))
    ids, dropped = engine.build_prompt(request)
    assert dropped >= 2 and dropped % 2 == 0  # whole turns go
    assert len(ids) <= engine.info.context - 32
    prompt = engine.tokenizer.decode(ids)
    assert prompt.startswith("<|system|>SYSTEM RULES")
    assert "turn 0 " not in prompt and "last question" in prompt
    events, _ = run(engine, request)
    notice = [e for e in events if isinstance(e, Truncated)]
    assert len(notice) == 1 and notice[0].dropped_messages == dropped
    assert "system prompt stays" in notice[0].message


def test_a_message_longer_than_the_context_is_refused(tiny_chat_dir):
    engine = load_engine(tiny_chat_dir)
    request = ChatRequest(ask("fox " * 400), settings=GREEDY)
    with pytest.raises(BadInput, match="too long"):
        list(engine.stream(request, CancelToken()))


def test_bad_requests(tiny_chat_dir):
    engine = load_engine(tiny_chat_dir)
    with pytest.raises(BadInput, match="empty"):
        list(engine.stream(ChatRequest(ask("   ")), CancelToken()))
    with pytest.raises(BadInput, match="Top-p"):
        list(engine.stream(ChatRequest(ask("hi"), settings=GenerationSettings(top_p=0)),
                           CancelToken()))
    assert GenerationSettings(temperature=0).validate().decoding == "greedy"


def test_not_a_causal_lm(tiny_classifier_dir):
    with pytest.raises(BadInput, match="not a causal language model"):
        list(ChatEngine.load(tiny_classifier_dir))


def test_loading_reports_progress(tiny_chat_dir):
    events = list(ChatEngine.load(tiny_chat_dir, name="tiny"))
    stages = [e for e in events if isinstance(e, Progress)]
    assert len(stages) >= 3 and stages[-1].fraction == 1.0
    assert "Loaded tiny" in events[-1].summary


def test_generate_errors_reach_the_consumer(tiny_chat_dir, monkeypatch):
    engine = load_engine(tiny_chat_dir)

    def broken(**kwargs):
        raise RuntimeError("generation exploded")

    monkeypatch.setattr(engine.model, "generate", broken)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="generation exploded"):
        list(engine.stream(ChatRequest(ask("hi"), settings=GREEDY), CancelToken()))
    assert time.monotonic() - t0 < 5


def test_beam_search_returns_the_whole_reply(tiny_chat_dir):
    engine = load_engine(tiny_chat_dir)
    settings = GenerationSettings(decoding="beam", num_beams=3, max_new_tokens=8)
    events, stats = run(engine, ChatRequest(ask("the quick"), settings=settings))
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) <= 1 and stats.tokens > 0


@pytest.mark.slow
def test_smollm2_knows_the_capital_of_france(smollm2_converted):
    _registry, entry, _ = smollm2_converted
    engine = load_engine(entry.converted_path)
    request = ChatRequest(ask("What is the capital of France?"),
                          settings=GenerationSettings(decoding="greedy", max_new_tokens=24))
    _, stats = run(engine, request)
    assert "Paris" in stats.text


@pytest.mark.slow
def test_stop_mid_stream_ends_at_the_next_step_and_keeps_the_partial_reply(smollm2_converted):
    _registry, entry, _ = smollm2_converted
    engine = load_engine(entry.converted_path)
    request = ChatRequest(ask("Write a long story about a dragon who learns to cook."),
                          settings=GenerationSettings(decoding="greedy", max_new_tokens=400))
    cancel = CancelToken()
    seen = []
    tokens_after_stop = 0
    for ev in engine.stream(request, cancel):
        seen.append(ev)
        if isinstance(ev, Token):
            if cancel.cancelled:
                tokens_after_stop += 1
            elif len(seen) == 3:
                cancel.cancel()
    stats = seen[-1].result
    # no wall-clock bound (timings belong in bench/): the stop lands within a decoding step or two
    assert tokens_after_stop <= 2
    assert stats.stopped and 0 < stats.tokens < 50
    assert stats.text == "".join(e.text for e in seen if isinstance(e, Token))


def test_cli_chat_streams_and_prints_figures(tiny_chat_dir, home):
    env = {**__import__("os").environ, "LLM_WORKBENCH_HOME": str(home.root)}
    out = subprocess.run([sys.executable, "main.py", "chat", "the quick", "--model",
                          str(tiny_chat_dir), "--temperature", "0", "--max-new-tokens", "6"],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    last = out.stderr.strip().splitlines()[-1]
    assert "6 tokens" in last and "tok/s" in last and "TTFT" in last
    empty = subprocess.run([sys.executable, "main.py", "chat", "  "], cwd=ROOT,
                           capture_output=True, text=True, env=env, timeout=120)
    assert empty.returncode == 1 and empty.stderr.startswith("error: The prompt is empty")
    wrong = subprocess.run([sys.executable, "main.py", "chat", "hi", "--model", "all-minilm-l6-v2"],
                           cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert wrong.returncode == 1 and "not a chat model" in wrong.stderr


def test_out_of_memory_becomes_a_clear_error(tiny_chat_dir, monkeypatch):
    import torch

    from core.errors import OutOfMemory

    engine = load_engine(tiny_chat_dir)

    def oom(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine.model, "generate", oom)
    with pytest.raises(OutOfMemory, match="Out of memory"):
        list(engine.stream(ChatRequest(ask("hi"), settings=GREEDY), CancelToken()))
