"""The server's options (their defaults live here once: the CLI and the GUI switch read them) and
the bind check: any address but loopback needs an API key."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from core.errors import BadInput

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (the handle says which)
    api_key: str | None = None  # with a key, every request needs "Authorization: Bearer KEY"
    models: tuple[str, ...] = ()  # loaded at start; others load on their first request
    allow_downloads: bool = False  # Hub models are listed and downloaded only when True
    cors: tuple[str, ...] = ()  # origins allowed to call from a browser; none: no CORS headers
    device: str = "auto"  # a core.device.DevicePreference value
    max_body_bytes: int = 4 * MB  # JSON bodies
    max_upload_bytes: int = 64 * MB  # multipart uploads (audio)
    request_timeout_s: float = 600.0  # from arrival to the last byte, queueing included
    queue_size: int = 32  # requests waiting for one model; one more gets 429
    retry_after_s: int = 2  # what a 429 tells the client
    memory_budget_mb: int | None = None  # loaded models' size; None: half the machine's RAM
    max_inputs: int = 2048  # texts in one embeddings or classifications request
    aliases: dict[str, str] = field(default_factory=lambda: {"whisper-1": "whisper-tiny.en"})

    def validate(self) -> ServerConfig:
        if not 0 <= self.port <= 65535:
            raise BadInput(f"Port {self.port} is not a port number (0 to 65535).")
        if self.api_key is not None and not self.api_key.strip():
            raise BadInput("The API key is empty.")
        if not is_loopback(self.host) and not self.api_key:
            raise BadInput(
                f"Refusing to listen on {self.host} without an API key: any machine that can "
                "reach it could use the models.",
                hint="Start it with --api-key KEY, or bind 127.0.0.1.")
        for name in ("max_body_bytes", "max_upload_bytes", "queue_size", "max_inputs"):
            if getattr(self, name) < 1:
                raise BadInput(f"{name.replace('_', ' ').capitalize()} must be at least 1.")
        if self.request_timeout_s <= 0:
            raise BadInput("The request timeout must be above 0 seconds.")
        if self.memory_budget_mb is not None and self.memory_budget_mb < 1:
            raise BadInput("The memory budget must be at least 1 MB.")
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
