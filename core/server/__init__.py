"""The local OpenAI-compatible server: the same engines as the GUI and the CLI behind
/v1/models, /v1/chat/completions, /v1/embeddings, /v1/audio/transcriptions and
/v1/classifications.

What the CLI, the GUI switch and other packages use; the modules inside may move. Importing it
loads neither torch nor the web stack (FastAPI and uvicorn load when a server is built)."""
from __future__ import annotations

from core.server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, is_loopback

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerConfig", "ServerHandle", "build_app", "bind",
           "is_loopback"]


def __getattr__(name: str):
    if name in ("ServerHandle", "bind"):
        from core.server import run

        return getattr(run, name)
    if name == "build_app":
        from core.server.app import build_app

        return build_app
    raise AttributeError(name)
