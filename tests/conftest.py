"""Shared fixtures. Every test run gets its own app data folder; nothing touches the user's."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "eval"

# Before anything reads them: an isolated app home and an offscreen Qt.
_session_home = tempfile.mkdtemp(prefix="workbench-test-home-")
os.environ["LLM_WORKBENCH_HOME"] = _session_home
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """../shared/eval: skipped where absent (a user's machine), a failure where absent on CI."""
    if not SHARED_EVAL.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{SHARED_EVAL} is missing on CI")
        pytest.skip(f"{SHARED_EVAL} is not here (it exists only beside a development checkout)")
    return SHARED_EVAL


@pytest.fixture(scope="session")
def session_home() -> Path:
    return Path(_session_home)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh, empty app home for one test."""
    from core.paths import AppHome

    monkeypatch.setenv("LLM_WORKBENCH_HOME", str(tmp_path / "home"))
    return AppHome(tmp_path / "home").ensure()


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import tiny_gpt2

    return tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import tiny_distilbert_classifier

    return tiny_distilbert_classifier(tmp_path_factory.mktemp("tiny-distilbert"))


@pytest.fixture(scope="session")
def smollm2_converted():
    """The bundled SmolLM2 GGUF, converted once per test session (about 40 s on 2 cores)."""
    from core.cancel import CancelToken
    from core.events import Done
    from core.models.convert import convert_gguf
    from core.models.registry import Registry
    from core.paths import AppHome

    registry = Registry(AppHome(Path(_session_home)), scan_hf_cache=False)
    entry = registry.get("smollm2-135m-instruct")
    events = list(convert_gguf(registry, entry, CancelToken()))
    done = events[-1]
    assert isinstance(done, Done)
    return registry, done.result, events


TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|endoftext|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    """A tiny random GPT-2 that has a chat template (the SmolLM2 path, in milliseconds)."""
    from transformers import AutoTokenizer

    from tests.tiny_models import tiny_gpt2

    folder = tiny_gpt2(tmp_path_factory.mktemp("tiny-chat"))
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = TINY_CHAT_TEMPLATE
    tok.save_pretrained(folder)
    return folder


def load_engine(folder, **kw):
    from core.chat import ChatEngine
    from core.events import Done

    events = list(ChatEngine.load(folder, **kw))
    assert isinstance(events[-1], Done)
    return events[-1].result


@pytest.fixture(scope="session")
def speech_wavs(tmp_path_factory) -> list[Path]:
    """Two short spoken sentences made with espeak-ng (16 kHz mono WAV)."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: the set-up (make) installs it")
    folder = tmp_path_factory.mktemp("speech")
    out = []
    for i, text in enumerate(["The weather is nice today.", "Please call me tomorrow morning."]):
        raw = folder / f"raw{i}.wav"
        subprocess.run(["espeak-ng", "-s", "130", "-w", str(raw), text], check=True,
                       capture_output=True)
        path = folder / f"sentence{i}.wav"
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(path)], check=True,
                       capture_output=True)
        out.append(path)
    return out
