"""The list of models the user added (``user_models.json``).

Saved atomically (a temporary file, then a rename). A file the app cannot read (truncated JSON,
not UTF-8, not a list) is set aside as ``user_models.json.broken-<time>`` with its bytes intact,
and a sentence for the user says where the copy went; it is never overwritten without that copy.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import BadInput

BROKEN_SUFFIX = ".broken-"


def _parse(raw: bytes) -> tuple[list[dict], int, str]:
    """(usable items, how many items were left out, why the file is unusable or "")."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], 0, "it is not UTF-8 text"
    if not text.strip():
        return [], 0, ""  # empty: nothing to lose
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], 0, f"it is not valid JSON ({exc.msg} at line {exc.lineno})"
    if not isinstance(data, list):
        return [], 0, "it does not hold a list"
    good = [d for d in data if isinstance(d, dict) and isinstance(d.get("id"), str)
            and isinstance(d.get("path"), str)]
    return good, len(data) - len(good), ""


class UserList:
    """Reads and writes one user list file; ``report`` receives each sentence for the user."""

    def __init__(self, path: Path, report: Callable[[str], None]) -> None:
        self.path = path
        self.report = report

    def read(self) -> list[dict]:
        """The usable entries. A broken file is set aside first (and reported); an unreadable one
        (permissions, I/O) is reported and left alone, and ``write`` then refuses to replace it."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.report(f"Cannot read the list of models you added ('{self.path}'): "
                        f"{exc.strerror or exc}. Those models are not listed.")
            return []
        items, dropped, broken = _parse(raw)
        if not (broken or dropped):
            return items
        try:
            if broken:
                self._set_aside(f"it could not be read: {broken}", "A new list was started")
                return []
            if self._set_aside(f"{dropped} of its entries could not be used",
                               "The usable entries were kept") is not None:
                self._replace(items)
        except BadInput:  # reported; ``write`` will refuse to replace the file
            pass
        return items

    def write(self, items: list[dict]) -> None:
        """Save ``items`` atomically. An existing file that cannot be read is first set aside;
        if that is impossible, BadInput and the file stays as it is."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            raise BadInput(f"Cannot update the list of models you added ('{self.path}'): it "
                           f"cannot be read ({exc.strerror or exc}).",
                           hint="Check the file's permissions.") from exc
        if raw is not None:
            _items, dropped, broken = _parse(raw)
            if broken or dropped:
                self._set_aside(f"it could not be read: {broken}" if broken
                                else f"{dropped} of its entries could not be used",
                                "A new list was started")
        self._replace(items)

    def _replace(self, items: list[dict]) -> None:
        from core.paths import atomic_write_json

        atomic_write_json(self.path, items)

    def _set_aside(self, why: str, then: str) -> Path | None:
        """Move the file to a new ``.broken-<time>`` name (never over an earlier copy) and report
        it. None when another process moved it first; BadInput when it cannot be moved."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while True:
            suffix = f"{BROKEN_SUFFIX}{stamp}" + (f"-{n}" if n > 1 else "")
            backup = self.path.with_name(self.path.name + suffix)
            try:  # reserve the name, so an earlier copy is never replaced
                os.close(os.open(backup, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                break
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise self._cannot_move(exc) from exc
        try:
            os.replace(self.path, backup)
        except FileNotFoundError:
            backup.unlink(missing_ok=True)
            return None
        except OSError as exc:
            backup.unlink(missing_ok=True)
            raise self._cannot_move(exc) from exc
        self.report(f"The list of models you added ('{self.path}') was set aside because {why}; "
                    f"the original is kept as '{backup}'. {then}: your model files are untouched, "
                    "add them again or repair the copy.")
        return backup

    def _cannot_move(self, exc: OSError) -> BadInput:
        message = (f"The list of models you added ('{self.path}') cannot be read and cannot be "
                   f"set aside ({exc.strerror or exc}); it was left as it is.")
        self.report(message)
        return BadInput(message, hint="Move or repair the file, then try again.")
