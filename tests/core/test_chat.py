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


# ---- issue 9: sampling leaves the global RNG alone; the generation thread is not a daemon ---------
def sampled(seed, **kw):
    settings = GenerationSettings(decoding="sampling", temperature=1.5, seed=seed,
                                  max_new_tokens=20, **kw)
    return ChatRequest(ask("the quick"), settings=settings)


def test_a_seeded_reply_leaves_the_global_rng_alone(tiny_chat_dir):
    import torch

    engine = load_engine(tiny_chat_dir)
    torch.manual_seed(1234)  # what a training run in this process would have set
    before = torch.get_rng_state()
    first = run(engine, sampled(7))[1].text
    assert torch.equal(torch.get_rng_state(), before)
    assert run(engine, sampled(7))[1].text == first  # the seed still repeats a reply
    assert run(engine, sampled(8))[1].text != first  # and still decides it
    run(engine, sampled(None))  # an unseeded reply draws from its own generator too
    assert torch.equal(torch.get_rng_state(), before)
    engine.close()


def test_seeded_sampling_draws_what_transformers_draws(tiny_chat_dir):
    """The same warpers and the same draws as transformers' own sampling with that seed: a seed
    gives the reply it gave before sampling had a generator of its own."""
    import torch

    engine = load_engine(tiny_chat_dir)
    for seed, top_k, top_p in ((3, 50, 0.9), (4, 5, 1.0), (5, 0, 0.7)):
        request = sampled(seed, top_k=top_k, top_p=top_p)
        ids = torch.tensor([engine.build_prompt(request)[0]])
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            out = engine.model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.5,
                top_k=top_k, top_p=top_p, max_new_tokens=20,
                pad_token_id=engine.tokenizer.pad_token_id)
        want = engine.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        assert run(engine, request)[1].text == want
    greedy = run(engine, ChatRequest(ask("the quick"), settings=GenerationSettings(
        decoding="greedy", max_new_tokens=20)))[1].text
    assert run(engine, sampled(1, top_k=1))[1].text == greedy  # one candidate left: greedy
    engine.close()


def chat_threads():
    import threading

    return {t for t in threading.enumerate() if t.name == "chat-generate"}


def test_the_generation_thread_is_not_a_daemon_and_ends_on_close(tiny_chat_dir):
    before = chat_threads()
    engine = load_engine(tiny_chat_dir)
    run(engine, ChatRequest(ask("hello"), settings=GREEDY))
    mine = chat_threads() - before
    assert mine and not any(t.daemon for t in mine)
    assert engine.close(timeout=30)
    assert not any(t.is_alive() for t in mine)
    assert engine.close()  # twice is fine


def test_close_ends_a_reply_in_progress_and_a_closed_engine_refuses(tiny_chat_dir):
    import threading

    from core.errors import ModelUnavailable

    before = chat_threads()
    engine = load_engine(tiny_chat_dir)
    real = engine.model.forward
    steps = []
    started = threading.Event()

    def slow(*args, **kwargs):  # a tiny model is too quick to stop before its end otherwise
        steps.append(1)
        if len(steps) == 5:
            started.set()
        time.sleep(0.005)
        return real(*args, **kwargs)

    engine.model.forward = slow
    closed = []
    closer = threading.Thread(target=lambda: started.wait(30) and closed.append(
        engine.close(timeout=30)))
    closer.start()
    long = ChatRequest(ask("the quick"), settings=GenerationSettings(
        decoding="greedy", max_new_tokens=200))
    stats = run(engine, long)[1]
    closer.join(timeout=60)
    assert closed == [True]
    assert 0 < stats.tokens < 100
    assert not any(t.is_alive() for t in chat_threads() - before)
    with pytest.raises(ModelUnavailable, match="unloaded"):
        list(engine.stream(ChatRequest(ask("hi"), settings=GREEDY), CancelToken()))


def test_an_engine_dropped_without_close_lets_its_thread_end(tiny_chat_dir):
    import gc

    before = chat_threads()
    engine = load_engine(tiny_chat_dir)
    run(engine, ChatRequest(ask("hello"), settings=GREEDY))
    mine = chat_threads() - before
    del engine
    gc.collect()
    for t in mine:
        t.join(timeout=30)
        assert not t.is_alive()


def test_two_replies_never_run_on_one_engine_at_once(tiny_chat_dir):
    import threading

    engine = load_engine(tiny_chat_dir)
    beam = GenerationSettings(decoding="beam", num_beams=3, max_new_tokens=8)
    # a streamed reply runs on the generation thread, a beam search on the caller's: only the
    # engine's lock keeps them apart
    requests = [ChatRequest(ask("the quick"), settings=GREEDY),
                ChatRequest(ask("hello world"), settings=beam)]
    alone = [run(engine, r)[1].text for r in requests]
    real = engine.model.generate
    inside, most = [0], [0]
    guard = threading.Lock()

    def watched(**kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.01)  # widen the window two unlocked replies would overlap in
            return real(**kwargs)
        finally:
            with guard:
                inside[0] -= 1

    engine.model.generate = watched
    texts: list[list[str]] = [[], []]
    errors = []

    def reply(k):
        try:
            for _ in range(4):
                texts[k].append(run(engine, requests[k])[1].text)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=reply, args=(k,)) for k in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors and texts == [[alone[0]] * 4, [alone[1]] * 4]
    assert most[0] == 1
    engine.close()
