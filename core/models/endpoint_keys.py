"""API keys of remote endpoints, kept apart from the endpoint list.

With a usable ``keyring`` backend (the platform's secret store: Keychain, Windows Credential
Locker, Secret Service) the key goes there, under the service ``llm-workbench-endpoint`` and the
endpoint's name. Without one, keys live in ``endpoint_keys.json`` in the app data folder, written
atomically and readable by the user alone (mode 0600). A key is never put in the endpoint list,
never logged and never part of an error message.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import BadInput

SERVICE = "llm-workbench-endpoint"
KEYRING = "keyring"  # the endpoint list's ``key`` field: where the key is
FILE = "file"


def usable_keyring() -> Any | None:
    """The platform's keyring backend when one that really stores secrets is installed."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    if type(backend).__module__.startswith("keyring.backends.null"):
        return None
    chained = getattr(backend, "backends", None)  # a chainer with nothing behind it stores nothing
    if chained is not None and not chained:
        return None
    return backend


class KeyStore:
    """Saves, reads and forgets endpoint keys. ``backend`` is a keyring backend, ``None`` to pick
    the platform's when usable, or ``False`` to use the 0600 file only."""

    def __init__(self, file: Path, backend: Any = None) -> None:
        self.file = file
        self._backend = backend or None
        self._picked = backend is not None  # None: looked up on first use (keyring is slow to import)

    @property
    def backend(self) -> Any | None:
        if not self._picked:
            self._backend, self._picked = usable_keyring(), True
        return self._backend

    @backend.setter
    def backend(self, value: Any | None) -> None:
        self._backend, self._picked = value, True

    @property
    def kind(self) -> str:
        return KEYRING if self.backend is not None else FILE

    def save(self, name: str, key: str) -> str:
        """Store ``key`` for endpoint ``name``; returns where (``keyring`` or ``file``)."""
        if self.backend is not None:
            try:
                self.backend.set_password(SERVICE, name, key)
                return KEYRING
            except Exception:  # a locked or broken store: the private file still works
                pass
        keys = self._read()
        keys[name] = key
        self._write(keys)
        return FILE

    def get(self, name: str, where: str | None) -> str | None:
        if where == KEYRING and self.backend is not None:
            try:
                return self.backend.get_password(SERVICE, name)
            except Exception:
                return None
        if where == FILE:
            return self._read().get(name)
        return None

    def forget(self, name: str, where: str | None) -> None:
        if where == KEYRING and self.backend is not None:
            try:
                self.backend.delete_password(SERVICE, name)
            except Exception:  # already gone
                pass
        keys = self._read()
        if name in keys:
            del keys[name]
            self._write(keys)

    # ---- the private file ----------------------------------------------------------------------
    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

    def _write(self, keys: dict[str, str]) -> None:
        import json

        from core.paths import atomic_write

        try:  # a temporary file made 0600 (mkstemp), fsync, rename
            atomic_write(self.file, json.dumps(keys))
        except BadInput as exc:
            raise BadInput(f"Cannot save the endpoint's API key in '{self.file}': {exc}") from exc
