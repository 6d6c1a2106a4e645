"""One window per data folder: a second start on the same folder brings the first window to the
front and exits. A lock file (in the temporary folder, so a read-only data folder still works)
decides who is first; a local socket named after the folder carries the "come to the front"."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from PySide6.QtCore import QDir, QLockFile, QObject, Signal

MESSAGE = b"activate\n"


def instance_key(folder: Path) -> str:
    """The socket and lock name for a data folder (the same folder, however it is spelt)."""
    resolved = os.path.normcase(str(Path(folder).expanduser().resolve()))
    digest = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:20]
    user = os.environ.get("USER", "")
    return f"llm-workbench-{hashlib.sha256(user.encode()).hexdigest()[:6]}-{digest}"


class SingleInstance(QObject):
    """``claim()`` True: this process is the first on the folder; after ``serve()`` (once the
    window has painted: QtNetwork is not needed before) ``activate_requested`` fires when a later
    start asks for the window. ``claim()`` False: call ``notify_primary()``."""

    activate_requested = Signal()

    def __init__(self, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = instance_key(folder)
        self._lock = QLockFile(str(Path(QDir.tempPath()) / f"{self.key}.lock"))
        self._lock.setStaleLockTime(0)  # a lock is stale only when its process is gone
        self._server = None  # a QLocalServer once serving

    def claim(self) -> bool:
        return self._lock.tryLock(100)

    def serve(self) -> bool:
        """Listen for later starts (after a successful claim). False when that failed: the app
        runs all the same, only the "come to the front" is lost."""
        from PySide6.QtNetwork import QLocalServer

        if self._server is not None or not self._lock.isLocked():
            return self._server is not None
        QLocalServer.removeServer(self.key)  # a socket left by a crashed run
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.UserAccessOption)
        server.newConnection.connect(self._on_connection)
        if not server.listen(self.key):
            server.deleteLater()
            return False
        self._server = server
        return True

    def notify_primary(self, timeout_ms: int = 10_000) -> bool:
        """Ask the first window to come to the front. False when it could not be reached."""
        from PySide6.QtNetwork import QLocalSocket

        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            sock = QLocalSocket()
            sock.connectToServer(self.key)
            if sock.waitForConnected(300):
                sock.write(MESSAGE)
                sock.flush()
                ok = sock.bytesToWrite() == 0 or sock.waitForBytesWritten(1000)
                sock.disconnectFromServer()
                return ok
            if time.monotonic() > deadline:  # the first one may still be starting: retry a while
                return False
            time.sleep(0.1)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _on_connection(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            sock.readyRead.connect(self._on_ready_read)
            sock.disconnected.connect(sock.deleteLater)
            self._read(sock)

    def _on_ready_read(self) -> None:
        sock = self.sender()
        if sock is not None and hasattr(sock, "readAll"):
            self._read(sock)

    def _read(self, sock) -> None:
        if sock.bytesAvailable() and MESSAGE.strip() in bytes(sock.readAll()):
            self.activate_requested.emit()
