"""The Hugging Face cache's models, found by walking its folders (``models--OWNER--NAME``, their
``snapshots``, the blobs those point at) instead of ``huggingface_hub.scan_cache_dir``: the same
repositories, revisions and sizes, without importing huggingface_hub's client (httpx, filelock,
a quarter of a second or more) on the model scan the window waits for at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    snapshot_path: Path  # the revision whose files changed last
    size_on_disk: int  # every blob the repository's revisions use, once each


def cache_dir() -> Path:
    """The hub cache folder huggingface_hub would use (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME...):
    its constants module reads the environment and nothing more."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _files(folder: Path):
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            yield Path(dirpath) / name


def cached_models(root: Path | None = None) -> list[CachedModel]:
    """Every model repository in the cache with at least one revision holding a file, sorted by id.
    A missing cache lists nothing; an unreadable repository is left out."""
    root = cache_dir() if root is None else Path(root)
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    out = []
    for folder in folders:
        kind, sep, rest = folder.name.partition("--")
        if kind != "models" or not sep or not rest:
            continue
        try:
            found = _repo(folder)
        except OSError:
            continue
        if found is not None:
            snapshot, size = found
            out.append(CachedModel(rest.replace("--", "/"), snapshot, size))
    return sorted(out, key=lambda m: m.repo_id)


def _repo(folder: Path) -> tuple[Path, int] | None:
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None
    blobs: dict[Path, int] = {}
    latest: tuple[float, Path] | None = None
    for rev in snapshots.iterdir():
        if not rev.is_dir():
            continue
        newest = None
        for f in _files(rev):
            blob = f.resolve()
            try:
                st = blob.stat()
            except OSError:
                continue
            blobs[blob] = st.st_size
            newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
        if newest is not None and (latest is None or newest > latest[0]):
            latest = (newest, rev)
    if latest is None:
        return None
    return latest[1], sum(blobs.values())
