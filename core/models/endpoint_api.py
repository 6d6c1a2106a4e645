"""Talking to an OpenAI-compatible server (vLLM, TGI, llama.cpp's server, Ollama, LM Studio, ours):
the base URL's normal form, the ``openai`` client, its model list, and its failures as typed errors.

Every failure names the URL: unreachable or timed out (EndpointUnreachable), a key refused or
missing (EndpointRefused, 401/403), an unknown model (EndpointModelMissing, 404). The key is never
part of a message: whatever a server echoes is masked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import BadInput, ModelUnavailable

CONNECT_TIMEOUT_S = 5.0
LIST_TIMEOUT_S = 10.0  # the model list: a server that takes longer is as good as down
READ_TIMEOUT_S = 120.0  # between two streamed chunks (a server may load a model first)


class EndpointUnreachable(ModelUnavailable):
    title = "Endpoint unreachable"


class EndpointRefused(ModelUnavailable):
    title = "Endpoint refused the key"


class EndpointModelMissing(ModelUnavailable):
    title = "Model not on the endpoint"


def normal_url(url: str) -> str:
    """``localhost:8000`` -> ``http://localhost:8000/v1``; a URL with a path keeps it."""
    url = url.strip()
    if not url:
        raise BadInput("The endpoint's base URL is empty.", hint="Example: http://127.0.0.1:8000/v1")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"'{url}' is not an http(s) URL.", hint="Example: http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        raise BadInput("Put the API key in its own field, not in the URL.")
    try:
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError:
        raise BadInput(f"'{url}' has a bad port number.") from None
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"  # every server in the list serves the API under /v1
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class Target:
    """Where to send requests: the endpoint's name (for messages), URL and key (or None)."""

    name: str
    url: str
    key: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Target(name={self.name!r}, url={self.url!r}, key={'***' if self.key else None})"


def make_client(target: Target, *, read_timeout: float = READ_TIMEOUT_S) -> Any:
    """An ``openai.OpenAI`` client for ``target``: no retries (a failure shows at once), no key
    or base URL from the environment, no Authorization header without a key."""
    import openai

    timeout = openai.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S)
    # without a key: a placeholder the client wants; each request leaves the header out (no_key)
    client = openai.OpenAI(base_url=target.url, api_key=target.key or "unused", timeout=timeout,
                           max_retries=0)
    client.organization = client.project = None  # never the OpenAI account's ids from the env
    return client


def no_key(target: Target) -> dict:
    """The request options that leave the Authorization header out when there is no key."""
    if target.key:
        return {}
    from openai import Omit

    return {"extra_headers": {"Authorization": Omit()}}


def mask(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


def server_message(exc: Any) -> str:
    """The sentence a server put in its error object, else its status line."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("detail"):
            return str(body["detail"])
    return str(getattr(exc, "message", "") or exc)


def translate(exc: BaseException, target: Target, model: str | None = None) -> Exception:
    """An ``openai`` failure as the typed error a user can act on (others are returned as they
    are). Nothing in the result holds the key."""
    import openai

    where = f"the endpoint '{target.name}' ({target.url})"
    who = where[0].upper() + where[1:]  # at the start of a sentence
    if isinstance(exc, openai.APITimeoutError):
        return EndpointUnreachable(f"{who} did not answer in time.",
                                   hint="Check that the server is running and not overloaded.")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = mask(str(cause or exc), target.key)
        return EndpointUnreachable(f"Cannot reach {where}: {why}.",
                                   hint="Check the URL and that the server is running.")
    if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIStatusError):
        # an error event in the middle of a stream
        return ModelUnavailable(f"{who} failed while answering: {mask(server_message(exc), target.key)}")
    if not isinstance(exc, openai.APIStatusError):
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    said = mask(server_message(exc), target.key)
    status = exc.status_code
    if status in (401, 403):
        if target.key:
            return EndpointRefused(f"{who} refused the API key ({status}): {said}",
                                   hint="Check the key, or add the endpoint again with the right one.")
        return EndpointRefused(f"{who} needs an API key ({status}): {said}",
                               hint="Add the endpoint again with its API key.")
    if status == 404:
        what = f"no model '{model}'" if model else "no such page"
        return EndpointModelMissing(f"{who} has {what} (404): {said}",
                                    hint="Refresh the list of its models, and check that the base "
                                         "URL ends with /v1.")
    if status == 429:
        return ModelUnavailable(f"{who} is busy (429): {said}", hint="Try again in a moment.")
    if status in (400, 413, 422):
        return BadInput(f"{who} refused the request ({status}): {said}")
    return ModelUnavailable(f"{who} failed ({status}): {said}")


def list_models(target: Target) -> list[str]:
    """The ids of the models ``target`` serves (``GET /v1/models``), sorted."""
    import openai

    client = make_client(target, read_timeout=LIST_TIMEOUT_S)
    try:
        # a server that says what each model does (ours does: "task") lists more than chat models
        return sorted({m.id for m in client.models.list(**no_key(target))
                       if getattr(m, "task", None) in (None, "text-generation")})
    except openai.OpenAIError as exc:
        raise translate(exc, target) from None
    finally:
        client.close()
