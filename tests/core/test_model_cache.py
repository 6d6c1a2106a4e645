"""The shared model cache (core.models.cache): one engine per key whoever asks, LRU unloading past
the memory budget, idle unloading, busy engines kept, holders told, engines really released.
Real tiny random GPT-2 chat engines, built in the test session."""
from __future__ import annotations

import gc
import weakref

import pytest

from core.models.cache import CacheSettings, ModelCache, estimate_size
from tests.conftest import load_engine


def closed(engine) -> bool:
    return engine._closing.is_set()  # ChatEngine.close() was called


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Holder:
    """A page holding engines: records what the cache unloads under it."""

    def __init__(self, cache: ModelCache) -> None:
        self.unloaded = []
        cache.on_unload(self, self.on_unload)

    def on_unload(self, key, engine) -> None:
        self.unloaded.append(key)


@pytest.fixture()
def engines(tiny_gpt2_dir):
    made = [load_engine(tiny_gpt2_dir) for _ in range(3)]
    yield made
    for e in made:
        e.close()


def test_the_size_estimate_is_the_weights(engines):
    model = engines[0].model
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert params <= estimate_size(engines[0]) <= params * 1.5


def test_one_engine_per_key_and_a_duplicate_is_closed(engines):
    cache = ModelCache(CacheSettings(budget_bytes=10**12, idle_s=0))
    a, b = Holder(cache), Holder(cache)
    first = cache.put(("chat", "m", "cpu", None), engines[0], a, name="m")
    assert cache.take(("chat", "m", "cpu", None), b) is first  # the second page: no load
    # two pages loaded it at once: the later copy is closed, the first one is used
    kept = cache.put(("chat", "m", "cpu", None), engines[1], b)
    assert kept is first and closed(engines[1]) and not closed(first)
    [item] = cache.loaded()
    assert item.name == "m" and item.holders == 2 and item.size_bytes == estimate_size(first)
    cache.release(("chat", "m", "cpu", None), a)
    assert not closed(first)  # the other page still holds it
    cache.release(("chat", "m", "cpu", None), b)
    assert closed(first) and cache.loaded() == []


def test_past_the_budget_the_least_recently_used_is_unloaded(engines):
    size = estimate_size(engines[0])
    clock = Clock()
    cache = ModelCache(CacheSettings(budget_bytes=int(size * 2.5), idle_s=0), clock=clock)
    page = Holder(cache)
    for i, engine in enumerate(engines[:2]):
        cache.put(("chat", f"m{i}", "cpu", None), engine, page)
        clock.now += 1
    cache.touch(("chat", "m0", "cpu", None))  # m0 used again: m1 is now the oldest
    clock.now += 1
    cache.put(("chat", "m2", "cpu", None), engines[2], page)
    assert [x.key[1] for x in cache.loaded()] == ["m2", "m0"]
    assert page.unloaded == [("chat", "m1", "cpu", None)] and closed(engines[1])
    assert not closed(engines[0]) and not closed(engines[2])
    assert cache.total_bytes <= cache.settings.budget_bytes


def test_a_busy_engine_is_never_unloaded(engines):
    size = estimate_size(engines[0])
    clock = Clock()
    cache = ModelCache(CacheSettings(budget_bytes=size, idle_s=60), clock=clock)
    page = Holder(cache)
    cache.put("a", engines[0], page)
    with engines[0]._lock:  # a reply is being generated
        clock.now += 1
        cache.put("b", engines[1], page)
        clock.now += 120
        assert cache.sweep() == ["b"]  # idle, and not busy
        assert not closed(engines[0]) and cache.unload("a") is False
    assert cache.sweep() == ["a"] and closed(engines[0])


def test_an_idle_engine_is_unloaded_and_released_for_real(tiny_gpt2_dir):
    clock = Clock()
    cache = ModelCache(CacheSettings(budget_bytes=10**12, idle_s=300), clock=clock)
    page = Holder(cache)
    engine = load_engine(tiny_gpt2_dir)
    model = weakref.ref(engine.model)
    cache.put("m", engine, page, name="tiny")
    del engine
    clock.now += 299
    assert cache.sweep() == []
    cache.touch("m")
    clock.now += 299
    assert cache.sweep() == [] and cache.loaded()[0].idle_s == pytest.approx(299)
    clock.now += 1
    assert cache.sweep() == ["m"] and page.unloaded == ["m"] and cache.loaded() == []
    assert model() is None  # nothing keeps the weights alive: freed at once, no full collection


def test_unload_tells_the_holders_and_a_dead_holder_is_not_kept_alive(engines):
    cache = ModelCache(CacheSettings(budget_bytes=10**12, idle_s=0))
    page = Holder(cache)
    gone = Holder(cache)
    ref = weakref.ref(gone)
    cache.put("m", engines[0], page)
    cache.take("m", gone)
    del gone
    gc.collect()
    assert ref() is None  # the cache holds its callback weakly
    assert cache.unload("m") is True and page.unloaded == ["m"] and closed(engines[0])
    assert cache.unload("m") is False
