"""What the window's start-up reads without heavy imports: the HF cache walked by hand (the same
answer as huggingface_hub's scan), the last model listing kept in the data folder, and the device
guessed without torch (the same answer as the full check)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _fake_hf_cache(root):
    """Two model repositories (one with two revisions sharing a blob), a dataset, an empty repo."""
    def repo(name, revisions):
        folder = root / name
        (folder / "blobs").mkdir(parents=True)
        (folder / "refs").mkdir()
        for i, (rev, files) in enumerate(revisions.items()):
            snap = folder / "snapshots" / rev
            snap.mkdir(parents=True)
            for fname, content in files.items():
                blob = folder / "blobs" / f"b{abs(hash(content))}"
                if not blob.exists():
                    blob.write_text(content)
                    os.utime(blob, (1_000_000 + i * 1000, 1_000_000 + i * 1000))
                (snap / fname).parent.mkdir(parents=True, exist_ok=True)
                (snap / fname).symlink_to(os.path.relpath(blob, (snap / fname).parent))
            (folder / "refs" / "main").write_text(rev)

    cfg = json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})
    repo("models--org--tiny", {"aaa": {"config.json": cfg},
                               "bbb": {"config.json": cfg, "sub/extra.txt": "x" * 50}})
    repo("models--solo", {"ccc": {"config.json": cfg + " "}})
    repo("datasets--org--data", {"ddd": {"data.csv": "a,b\n"}})
    (root / "models--org--empty" / "snapshots").mkdir(parents=True)


def test_hf_cache_walk_matches_huggingface_hub_scan(tmp_path):
    from huggingface_hub import scan_cache_dir

    from core.models.hfcache import cached_models

    _fake_hf_cache(tmp_path)
    ours = cached_models(tmp_path)
    theirs = []
    for repo in sorted(scan_cache_dir(tmp_path).repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        rev = max(repo.revisions, key=lambda r: r.last_modified)
        theirs.append((repo.repo_id, str(rev.snapshot_path), repo.size_on_disk))
    assert [(m.repo_id, str(m.snapshot_path), m.size_on_disk) for m in ours] == theirs
    assert [m.repo_id for m in ours] == ["org/tiny", "solo"]
    assert cached_models(tmp_path / "missing") == []


def test_model_scan_imports_no_hub_client_nor_keyring(tmp_path):
    """The scan the window waits for: no huggingface_hub client (httpx) and no keyring import
    (each a quarter of a second or more on this machine)."""
    code = (
        "import sys\n"
        "from core.models.registry import Registry\n"
        "from pathlib import Path\nfrom core.paths import AppHome\n"
        f"entries = Registry(AppHome(Path({str(tmp_path / 'home')!r}))).entries()\n"
        "assert entries\n"
        "print(sorted(m for m in ('keyring', 'huggingface_hub.hf_api', 'huggingface_hub.file_download',"
        " 'httpx', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_saved_listing_round_trip_and_damage(home):
    from core.models.registry import Registry

    registry = Registry(home, scan_hf_cache=False)
    assert registry.saved_listing() is None  # a fresh data folder
    entries = registry.entries(endpoints=False)
    registry.save_listing(entries)
    assert Registry(home).saved_listing() == entries
    registry.listing_file.write_text('{"version": 1, "entries": [{"id": "x"')  # cut short
    assert registry.saved_listing() is None


def test_quick_device_answers():
    from core.device import quick_device
    from core.errors import DeviceUnavailable

    gpu = ("NVIDIA H200", 141 * 2**30)
    info = quick_device("auto", cuda=gpu, cuda_build=True)
    assert (info.kind, info.label) == ("cuda", "NVIDIA H200 · 141 GiB")
    assert info.reason == "CUDA: NVIDIA H200 found"
    # a CPU-only torch never runs on the GPU, whatever the driver says
    info = quick_device("auto", cuda=gpu, cuda_build=False)
    assert info.kind == "cpu" and "CPU-only" in info.reason
    assert quick_device("cpu", cuda=gpu, cuda_build=True).reason == "CPU: chosen in settings"
    assert quick_device("auto", cuda=None, cuda_build=True).reason == "CPU: no CUDA device found"
    with pytest.raises(DeviceUnavailable):
        quick_device("cuda", cuda=None, cuda_build=True)
    with pytest.raises(DeviceUnavailable):
        quick_device("gpu")


def test_quick_device_agrees_with_the_full_check_here():
    """On this machine, the torch-free guess says what torch says (kind and reason)."""
    code = ("import sys\nfrom core.device import quick_device\nq = quick_device()\n"
            "assert 'torch' not in sys.modules\n"
            "from core.device import choose_device\nf = choose_device()\n"
            "print(q.kind == f.kind, q.reason == f.reason)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_cache_budget_without_psutil_matches_psutil():
    """The window builds the model cache before its first paint; its default budget is read
    without importing psutil, and is what psutil would say."""
    code = ("import sys\nfrom core.models.cache import default_budget\nb = default_budget()\n"
            "assert 'psutil' not in sys.modules\nimport psutil\n"
            "print(abs(b - psutil.virtual_memory().total * 0.5) < 2**20)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
