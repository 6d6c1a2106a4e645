"""What the fault tests share: running the CLI as a user would (a fresh process, its own data
folder), and the three checks every fault case makes (a plain message, a failing exit code,
nothing half-written)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TIMEOUT = 300


def env_for(home: Path, **extra) -> dict:
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT),
           "HF_HUB_OFFLINE": "1"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cli(home, *args, timeout: float = TIMEOUT, **extra) -> subprocess.CompletedProcess:
    """``main.py ARGS`` in a new process on the data folder ``home`` (an AppHome or a path)."""
    root = getattr(home, "root", home)
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env_for(root, **extra),
                          timeout=timeout)


def popen(home, *args, module: str | None = None, **extra) -> subprocess.Popen:
    root = getattr(home, "root", home)
    cmd = [sys.executable, "-m", module] if module else [sys.executable, "main.py"]
    return subprocess.Popen([*cmd, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_for(root, **extra))


def assert_user_error(proc: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """Failure said in words: the exit code, one ``error:`` line, no traceback; returns stderr."""
    err = proc.stderr
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    assert "error:" in err, err
    for word in words:
        assert word.lower() in err.lower(), (word, err)
    return err


def no_temp_files(folder: Path) -> list[Path]:
    """Temporary or partial files left under ``folder`` (should be none)."""
    return [p for p in Path(folder).rglob("*")
            if p.name.endswith((".tmp", ".partial")) or ".tmp" in p.suffixes]


def finetune_args(base, data, output, *extra) -> list:
    return ["finetune", "--task", "causal-lm", "--base", base, "--data", data, "--output",
            output, "--chunk-length", "32", "--overlap", "0", "--batch-size", "2",
            "--eval-split", "0.2", *extra]
