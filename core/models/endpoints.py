"""Remote OpenAI-compatible endpoints as a model source.

``endpoints.json`` in the app data folder lists them (name, base URL and where the key is:
``keyring``, ``file`` or none), written atomically; the keys themselves are in endpoint_keys.py,
never in this list. Each endpoint's ``GET /v1/models`` is listed as chat models whose id is
``NAME/MODEL`` (format ``openai-api``, source ``endpoint``); the lists are kept for ``LIST_TTL_S``
seconds and fetched again after that or on ``refresh()``. An endpoint that cannot be listed shows
as one entry, ``endpoint:NAME``, whose note says why.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import BadInput, ModelUnavailable, WorkbenchError
from core.models.endpoint_api import Target, list_models, normal_url
from core.models.endpoint_keys import KeyStore
from core.models.entry import Format, ModelEntry, Source, Task
from core.paths import AppHome

ENDPOINTS_FILE = "endpoints.json"
KEYS_FILE = "endpoint_keys.json"
LIST_TTL_S = 15.0
ERROR_PREFIX = "endpoint:"  # the id of an endpoint that could not be listed
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    key: str | None = None  # where its key is: "keyring", "file", or None (no key)

    def to_json(self) -> dict:
        return {"name": self.name, "url": self.url, "key": self.key}


def default_name(url: str) -> str:
    """A name from the URL's host and port: ``http://127.0.0.1:8000/v1`` -> ``127.0.0.1-8000``."""
    from urllib.parse import urlsplit

    parts = urlsplit(normal_url(url))
    name = parts.hostname + (f"-{parts.port}" if parts.port else "")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:64]


class EndpointStore:
    """The endpoint list of one app home. ``report`` receives sentences for the user (a broken
    list set aside); ``keys`` picks where keys go (default: keyring when usable, else a 0600
    file)."""

    def __init__(self, home: AppHome, report: Callable[[str], None] = lambda _m: None,
                 keys: KeyStore | None = None, ttl: float = LIST_TTL_S) -> None:
        self.path = home.root / ENDPOINTS_FILE
        self.keys = keys or KeyStore(home.root / KEYS_FILE)
        self.report = report
        self.ttl = ttl
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[float, list[str] | WorkbenchError]] = {}

    # ---- the list ---------------------------------------------------------------------------
    def read(self) -> list[Endpoint]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.report(f"Cannot read the endpoint list '{self.path}': {exc.strerror or exc}.")
            return []
        try:
            data = json.loads(raw.decode("utf-8"))
            items = [Endpoint(d["name"], d["url"], d.get("key")) for d in data]
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            backup = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, backup)
            except OSError:
                backup = self.path
            self.report(f"The endpoint list '{self.path}' could not be read and was set aside as "
                        f"'{backup}'. Add the endpoints again.")
            return []
        return items

    def _write(self, endpoints: list[Endpoint]) -> None:
        from core.paths import atomic_write_json

        atomic_write_json(self.path, [e.to_json() for e in endpoints])

    def get(self, name: str) -> Endpoint:
        for e in self.read():
            if e.name == name:
                return e
        raise ModelUnavailable(f"No endpoint called '{name}'.",
                               hint="Run 'python main.py models' to list them.")

    def add(self, url: str, name: str | None = None, key: str | None = None) -> Endpoint:
        """Remember an endpoint (its key, if any, goes to the key store). Nothing is sent to it."""
        url = normal_url(url)
        name = (name or "").strip() or default_name(url)
        if not NAME.match(name):
            raise BadInput(f"'{name}' cannot name an endpoint.",
                           hint="Use letters, digits, '.', '-' and '_' (no '/'), at most 64.")
        key = (key or "").strip() or None
        with self._lock:
            endpoints = self.read()
            if any(e.name == name for e in endpoints):
                raise BadInput(f"There is an endpoint called '{name}' already.",
                               hint="Pick another name, or remove that one first.")
            where = self.keys.save(name, key) if key else None
            endpoint = Endpoint(name, url, where)
            self._write([*endpoints, endpoint])
            self._cache.pop(name, None)
        return endpoint

    def remove(self, name: str) -> str:
        with self._lock:
            endpoints = self.read()
            gone = next((e for e in endpoints if e.name == name), None)
            if gone is None:
                raise BadInput(f"No endpoint called '{name}'.")
            self._write([e for e in endpoints if e.name != name])
            self.keys.forget(name, gone.key)
            self._cache.pop(name, None)
        return f"Removed the endpoint '{name}' ({gone.url}) and its key."

    def target(self, endpoint: Endpoint) -> Target:
        """Where to send requests, with the key read from its store."""
        key = self.keys.get(endpoint.name, endpoint.key) if endpoint.key else None
        if endpoint.key and key is None:
            raise ModelUnavailable(f"The API key of the endpoint '{endpoint.name}' is gone from "
                                   f"the {endpoint.key} store.",
                                   hint="Remove the endpoint and add it again with its key.")
        return Target(endpoint.name, endpoint.url, key)

    # ---- its models --------------------------------------------------------------------------
    @staticmethod
    def probe(url: str, key: str | None = None, name: str = "") -> list[str]:
        """The models a server not added yet serves (the Add-endpoint dialog's Test): its typed
        error when it cannot be listed."""
        url = normal_url(url)
        return list_models(Target(name.strip() or default_name(url), url, (key or "").strip() or None))

    @staticmethod
    def name_for(url: str) -> str:
        """The name an endpoint at ``url`` gets when none is given ("" for a bad URL)."""
        try:
            return default_name(url)
        except BadInput:
            return ""

    def refresh(self) -> None:
        """Forget the model lists: the next listing asks every endpoint again."""
        with self._lock:
            self._cache.clear()

    def models(self, endpoint: Endpoint, *, fresh: bool = False) -> list[str]:
        """The model ids the endpoint serves (kept for ``ttl`` seconds); its typed error when it
        cannot be listed."""
        with self._lock:
            cached = self._cache.get(endpoint.name)
        if cached is not None and not fresh and time.monotonic() - cached[0] < self.ttl:
            found = cached[1]
        else:
            try:
                found = list_models(self.target(endpoint))
            except WorkbenchError as exc:
                found = exc
            with self._lock:
                self._cache[endpoint.name] = (time.monotonic(), found)
        if isinstance(found, WorkbenchError):
            raise found
        return list(found)

    def entries(self) -> list[ModelEntry]:
        """Every endpoint's models as chat entries; one note entry for each that cannot be listed."""
        out = []
        for endpoint in self.read():
            try:
                out += [model_entry(endpoint, m) for m in self.models(endpoint)]
            except WorkbenchError as exc:
                out.append(ModelEntry(f"{ERROR_PREFIX}{endpoint.name}",
                                      f"{endpoint.name} (not listed)", Task.TEXT_GENERATION,
                                      Format.API, Source.ENDPOINT, endpoint.url,
                                      note=exc.user_message()))
        return out

    def entry_for(self, model_id: str) -> ModelEntry | None:
        """The entry of ``NAME/MODEL`` (or ``endpoint:NAME``) for an endpoint in the list, without
        asking the endpoint; None when the id names no endpoint."""
        if model_id.startswith(ERROR_PREFIX):
            endpoint = self.get(model_id[len(ERROR_PREFIX):])
            return ModelEntry(model_id, endpoint.name, Task.TEXT_GENERATION, Format.API,
                              Source.ENDPOINT, endpoint.url)
        name, slash, model = model_id.partition("/")
        if not slash or not model:
            return None
        endpoint = next((e for e in self.read() if e.name == name), None)
        return None if endpoint is None else model_entry(endpoint, model)


def model_entry(endpoint: Endpoint, model: str) -> ModelEntry:
    model_id = f"{endpoint.name}/{model}"
    return ModelEntry(model_id, model_id, Task.TEXT_GENERATION, Format.API, Source.ENDPOINT,
                      endpoint.url, note=f"endpoint {endpoint.name}")


def split_id(model_id: str) -> tuple[str, str | None]:
    """(endpoint name, model id or None) of an endpoint entry's id."""
    if model_id.startswith(ERROR_PREFIX):
        return model_id[len(ERROR_PREFIX):], None
    name, _slash, model = model_id.partition("/")
    return name, model or None
