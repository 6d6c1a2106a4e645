"""Starting and stopping the server: the socket is bound first (a port in use is a sentence, not a
traceback), then uvicorn serves the app on it, in the foreground (the CLI) or on a thread of its
own (the GUI switch, the tests). Stopping ends uvicorn, unloads the models and frees the port."""
from __future__ import annotations

import errno
import logging
import socket
import threading
import time

from core.errors import BadInput
from core.server.config import ServerConfig

log = logging.getLogger("workbench.server")
START_TIMEOUT_S = 30.0


def bind(config: ServerConfig) -> socket.socket:
    """A listening socket for ``config`` (port 0: any free port). BadInput when the address is
    in use or cannot be bound."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadInput(f"Port {config.port} on {config.host} is already in use (another "
                           "server, or this one started twice).",
                           hint="Stop the other one, or pick another port with --port.") from None
        raise BadInput(f"Cannot listen on {config.host}:{config.port}: {exc.strerror or exc}.",
                       hint="Check the address given to --host.") from None
    sock.set_inheritable(True)
    return sock


class ServerHandle:
    """One running server. ``start()`` returns once it accepts connections; ``stop()`` returns
    once the port is free and the models are unloaded."""

    def __init__(self, config: ServerConfig, registry=None) -> None:
        from core.server.app import build_app

        if registry is None:
            from core.models import Registry

            registry = Registry()
        self.config = config.validate()
        self.app = build_app(self.config, registry)
        self.state = self.app.state.server
        self._sock: socket.socket | None = None
        self._port = config.port
        self._server = None
        self._thread: threading.Thread | None = None
        self.loop = None  # the server's event loop, once it runs on its thread
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _uvicorn(self):
        import uvicorn

        config = uvicorn.Config(self.app, log_config=None, access_log=False,
                                timeout_graceful_shutdown=5, lifespan="off")
        return uvicorn.Server(config)

    def preload(self) -> list[str]:
        return self.state.pool.preload(self.config.models)

    def start(self) -> ServerHandle:
        """Bind, then serve on a thread; return once it is serving (BadInput when it cannot)."""
        self._sock = bind(self.config)
        self._port = self._sock.getsockname()[1]
        self._server = self._uvicorn()
        self._thread = threading.Thread(target=self._run, name="serve-uvicorn", daemon=False)
        self._thread.start()
        started = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() - started > START_TIMEOUT_S:
                self.stop()
                raise BadInput(f"The server did not start: {self.error or 'timed out'}.")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        import asyncio

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._sock])

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by start() / the switch
            self.error = exc
            log.exception("the server stopped with an error")

    def serve_forever(self, sock: socket.socket | None = None) -> None:
        """Serve in the foreground until Ctrl+C (uvicorn handles the signal), then clean up.
        ``sock``: one ``bind`` made already."""
        self._sock = sock or bind(self.config)
        self._port = self._sock.getsockname()[1]
        self._server = self._uvicorn()
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._cleanup()

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.state.pool.close()
