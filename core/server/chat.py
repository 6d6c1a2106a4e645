"""POST /v1/chat/completions: a reply from a text-generation model, whole or streamed as
server-sent events ending with ``data: [DONE]``; ``usage`` counts the prompt and reply tokens.

A client that disconnects mid-stream cancels its generation at once (the stream's task is
cancelled, the bridge sets the cancel token, the engine stops at its next token)."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from core.chat import ReplyStats, Token
from core.events import Done
from core.models.entry import Task
from core.server import jobs
from core.server.chat_params import ChatBody, StopText, chat_request, stops
from core.server.errors import TimedOut, from_exception

router = APIRouter()


def finish_reason(stats: ReplyStats | None, stopped_by_text: bool, max_tokens: int) -> str:
    if stopped_by_text:
        return "stop"
    return "length" if stats is not None and stats.tokens >= max_tokens else "stop"


def usage(stats: ReplyStats | None) -> dict:
    prompt = stats.prompt_tokens if stats else 0
    completion = stats.tokens if stats else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatBody, request: Request):
    state = request.app.state.server
    until = jobs.deadline(state)
    entry = await state.resolve(body.model, Task.TEXT_GENERATION)
    chat = chat_request(body)
    cut = StopText(stops(body))
    max_tokens = chat.settings.max_new_tokens
    job = await jobs.start(state, entry, lambda engine, cancel: engine.stream(chat, cancel), until)
    reply_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        # the first event before the headers: a prompt the engine refuses is still a 400
        first = None
        try:
            first = await anext(job.events)
        except StopAsyncIteration:
            pass
        except Exception as exc:
            job.finish()
            failure = job.failure(exc)
            if failure is exc:
                raise
            raise failure from exc
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(
            _stream(job, first, cut, reply_id, created, body.model, max_tokens, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    parts: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, Token):
            parts.append(cut.feed(event.text))
            if cut.hit:
                job.cancel.cancel()  # the rest is not wanted: stop at the next token

    stats = await jobs.result(job, on_event)
    parts.append(cut.flush())
    return {
        "id": reply_id, "object": "chat.completion", "created": created, "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                     "logprobs": None,
                     "finish_reason": finish_reason(stats, cut.hit, max_tokens)}],
        "usage": usage(stats),
    }


def _sse(data: dict | str) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


async def _stream(job: jobs.Job, first, cut: StopText, reply_id: str, created: int, model: str,
                  max_tokens: int, include_usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict, reason: str | None = None) -> str:
        return _sse({"id": reply_id, "object": "chat.completion.chunk", "created": created,
                     "model": model, "choices": [{"index": 0, "delta": delta,
                                                  "logprobs": None, "finish_reason": reason}]})

    async def replay():
        if first is not None:
            yield first
        async for event in job.events:
            yield event

    stats: ReplyStats | None = None
    yield chunk({"role": "assistant", "content": ""})
    try:
        async with aclosing(job.events), aclosing(replay()) as events:
            async for event in events:
                if isinstance(event, Token):
                    text = cut.feed(event.text)
                    if text:
                        yield chunk({"content": text})
                    if cut.hit:
                        job.cancel.cancel()
                elif isinstance(event, Done):
                    stats = event.result
        if job.timed_out:
            raise TimedOut(job.timeout_s)
    except Exception as exc:  # headers are gone: the error travels as an event, as OpenAI does
        error = from_exception(job.failure(exc))
        yield _sse(error.body())
        yield _sse("[DONE]")
        return
    finally:
        job.finish()
    tail = cut.flush()
    if tail:
        yield chunk({"content": tail})
    yield chunk({}, finish_reason(stats, cut.hit, max_tokens))
    if include_usage:
        yield _sse({"id": reply_id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [], "usage": usage(stats)})
    yield _sse("[DONE]")
