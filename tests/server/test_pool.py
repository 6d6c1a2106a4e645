"""The model pool: a model stays loaded between requests; past the memory budget the least
recently used idle model is unloaded before another loads; a model in use never is."""
from __future__ import annotations

import asyncio
from pathlib import Path

from core.models.entry import Task
from tests.conftest import _session_home
from tests.server.conftest import MINILM, SENTIMENT


def pool(budget_mb: int):
    from core.models.registry import Registry
    from core.paths import AppHome
    from core.server.config import ServerConfig
    from core.server.pool import ModelPool

    registry = Registry(AppHome(Path(_session_home)), scan_hf_cache=False)
    return ModelPool(registry, ServerConfig(device="cpu", memory_budget_mb=budget_mb))


async def use(p, model: str, task: Task):
    lease = await p.acquire(p.resolve(model, task))
    engine = lease.engine
    lease.release()
    await asyncio.sleep(0.01)  # the release is delivered on the loop
    return engine


def test_models_stay_loaded_within_the_budget():
    p = pool(budget_mb=4096)

    async def scenario():
        first = await use(p, MINILM, Task.FEATURE_EXTRACTION)
        await use(p, SENTIMENT, Task.TEXT_CLASSIFICATION)
        again = await use(p, MINILM, Task.FEATURE_EXTRACTION)
        assert again is first  # not loaded twice
        assert sorted(p.loaded()) == sorted([MINILM, SENTIMENT])

    try:
        asyncio.run(scenario())
    finally:
        p.close()


def test_past_the_budget_the_least_recently_used_idle_model_goes():
    p = pool(budget_mb=100)  # MiniLM (87 MB on disk) and the sentiment model do not fit together

    async def scenario():
        await use(p, MINILM, Task.FEATURE_EXTRACTION)
        assert p.loaded() == [MINILM]
        await use(p, SENTIMENT, Task.TEXT_CLASSIFICATION)
        assert p.loaded() == [SENTIMENT]  # MiniLM was idle and least recently used
        held = await p.acquire(p.resolve(SENTIMENT, Task.TEXT_CLASSIFICATION))
        await use(p, MINILM, Task.FEATURE_EXTRACTION)
        assert SENTIMENT in p.loaded()  # in use: kept, even over the budget
        held.release()
        await asyncio.sleep(0.01)

    try:
        asyncio.run(scenario())
    finally:
        p.close()


def test_the_server_lists_local_models_never_the_endpoints_it_could_reach(home):
    """An endpoint in the list (say, this very server, added in the app) is a model source for
    Chat, not something the server offers again: listing it would ask itself, and wait."""
    import time

    from core.models.entry import Source
    from core.models.registry import Registry
    from core.server.config import ServerConfig
    from core.server.pool import ModelPool

    registry = Registry(home, scan_hf_cache=False)
    registry.endpoints.add("http://127.0.0.1:9/v1", "self")
    assert any(e.source is Source.ENDPOINT for e in registry.entries())  # Chat sees it
    p = ModelPool(registry, ServerConfig(device="cpu"))
    try:
        started = time.monotonic()
        served = p.servable()
        assert served and not any(e.source is Source.ENDPOINT for e in served)
        assert time.monotonic() - started < 5
    finally:
        p.close()


def test_an_endpoint_on_this_server_lists_only_its_chat_models(server):
    """Our server lists every model with its task; as an endpoint, only its chat models are chat
    models (not Whisper, the embedder or the classifiers)."""
    from core.models.endpoint_api import Target, list_models

    ids = list_models(Target("self", server.url))
    assert "smollm2-135m-instruct" in ids
    assert not {"whisper-tiny.en", "all-minilm-l6-v2", "sentiment-minilm"} & set(ids)
