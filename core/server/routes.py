"""GET /v1/models, POST /v1/embeddings and POST /v1/classifications: the JSON endpoints other than
chat. Each resolves its model for its task, waits for the model's turn and runs the engine's own
work method (jobs.py)."""
from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from core.models.entry import Task
from core.server import jobs
from core.server.errors import ApiError

router = APIRouter()
CREATED = int(time.time())  # OpenAI lists a creation time; ours is when the server started


@router.get("/v1/models")
async def list_models(request: Request):
    state = request.app.state.server
    entries = await state.servable()
    loaded = set(state.pool.loaded())
    return {"object": "list", "data": [
        {"id": e.id, "object": "model", "created": CREATED, "owned_by": e.source.value,
         "name": e.name, "task": e.task.value, "loaded": e.id in loaded} for e in entries]}


class InputBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str]
    encoding_format: str = "float"


def texts(body: InputBody, limit: int) -> list[str]:
    items = [body.input] if isinstance(body.input, str) else list(body.input)
    if not items:
        raise ApiError(400, "'input' is empty.", param="input")
    if len(items) > limit:
        raise ApiError(400, f"At most {limit} inputs in one request (got {len(items)}).",
                       param="input")
    if any(not t.strip() for t in items):
        raise ApiError(400, "'input' holds an empty string.", param="input")
    return items


def _vector(values: list[float], encoding: str):
    if encoding == "base64":  # little-endian float32, as OpenAI sends it
        import numpy as np

        return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")
    return values


@router.post("/v1/embeddings")
async def embeddings(body: InputBody, request: Request):
    state = request.app.state.server
    until = jobs.deadline(state)
    if body.encoding_format not in ("float", "base64"):
        raise ApiError(400, "encoding_format must be float or base64.", param="encoding_format")
    items = texts(body, state.config.max_inputs)
    entry = await state.resolve(body.model, Task.FEATURE_EXTRACTION)
    job = await jobs.start(state, entry, lambda engine, cancel: engine.embed(items, cancel), until)
    result = await jobs.result(job)
    return {"object": "list", "model": body.model,
            "data": [{"object": "embedding", "index": i,
                      "embedding": _vector(v, body.encoding_format)}
                     for i, v in enumerate(result.vectors)],
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens}}


@router.post("/v1/classifications")
async def classifications(body: InputBody, request: Request):
    """Every label's probability for each input (a workbench extension of the API)."""
    state = request.app.state.server
    until = jobs.deadline(state)
    items = texts(body, state.config.max_inputs)
    entry = await state.resolve(body.model, Task.TEXT_CLASSIFICATION)

    def work(engine, cancel):
        if not hasattr(engine, "classify"):
            raise ApiError(400, f"'{entry.name}' fills masks; it is not a classifier.",
                           param="model")
        return engine.classify(items, cancel)

    job = await jobs.start(state, entry, work, until)
    predictions = await jobs.result(job)
    return {"object": "list", "model": body.model,
            "data": [{"object": "classification", "index": i, "label": p.label,
                      "score": p.score, "scores": p.scores, "truncated": p.truncated}
                     for i, p in enumerate(predictions)]}
