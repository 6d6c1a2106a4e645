import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _pyproject_version() -> str:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _main(*args, home):
    env = {**__import__("os").environ, "LLM_WORKBENCH_HOME": str(home.root)}
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120)


def test_models_json_lists_the_packs(home):
    out = _main("models", "--json", home=home)
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    for key in ("id", "name", "task", "format", "source", "path"):
        assert all(key in r for r in rows.values())
    assert rows["smollm2-135m-instruct"]["name"] == "SmolLM2-135M-Instruct"
    assert rows["smollm2-135m-instruct"]["task"] == "text-generation"
    assert rows["whisper-tiny.en"]["task"] == "speech-recognition"
    assert rows["all-minilm-l6-v2"]["task"] == "feature-extraction"
    assert all(rows[k]["source"] == "bundled-pack" for k in
               ("smollm2-135m-instruct", "whisper-tiny.en", "all-minilm-l6-v2"))


def test_models_table_and_task_filter(home):
    out = _main("models", "--task", "speech-recognition", home=home)
    assert out.returncode == 0
    assert "Whisper tiny.en" in out.stdout and "SmolLM2" not in out.stdout


def test_errors_are_one_line_and_non_zero(home, tmp_path):
    out = _main("models", "add", str(tmp_path / "nothing-here"), home=home)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ")
    assert "does not exist" in out.stderr
    out = _main("models", "--task", "dancing", home=home)
    assert out.returncode == 2 and "unknown task" in out.stderr


def test_add_and_remove_through_the_cli(home, tiny_gpt2_dir):
    out = _main("models", "add", str(tiny_gpt2_dir), home=home)
    assert out.returncode == 0, out.stderr
    model_id = out.stdout.split()[1]
    listed = json.loads(_main("models", "--json", home=home).stdout)
    assert any(r["id"] == model_id and r["task"] == "text-generation" for r in listed)
    assert _main("models", "remove", model_id, home=home).returncode == 0
    listed = json.loads(_main("models", "--json", home=home).stdout)
    assert all(r["id"] != model_id for r in listed)


def test_download_offline_is_one_clear_line(home):
    env_home = home
    out = subprocess.run(
        [sys.executable, "main.py", "models", "download", "someone/some-model"], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "LLM_WORKBENCH_HOME": str(env_home.root),
             "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: Cannot reach the Hugging Face Hub")


def test_a_broken_user_list_is_one_warning_and_the_list_goes_on(home, tiny_gpt2_dir):
    raw = b'[{"id": "user:a", "path": "/m/\xe9'
    home.user_models_file.write_bytes(raw)
    out = _main("models", home=home)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(home.user_models_file) in warnings[0]
    assert ".broken-" in warnings[0] and "Traceback" not in out.stderr
    assert "all-MiniLM-L6-v2" in out.stdout and "Whisper tiny.en" in out.stdout
    added = _main("models", "add", str(tiny_gpt2_dir), home=home)
    assert added.returncode == 0 and "warning" not in added.stderr
    [backup] = home.root.glob("user_models.json.broken-*")
    assert backup.read_bytes() == raw
    assert len(json.loads(home.user_models_file.read_text(encoding="utf-8"))) == 1


def _cli(*argv):
    """Parse and run in this process: (exit code, stdout, stderr); argparse errors exit 2."""
    import contextlib
    import io

    from core.cli import run
    from main import build_parser

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = run(build_parser().parse_args(list(argv)), out, err)
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", [
    ("models", "add", "--json"),
    ("models", "add", "some/folder", "--json"),
    ("models", "--json", "add", "some/folder"),
    ("models", "--task", "fill-mask", "remove", "user:x"),
    ("models", "remove", "user:x", "--task", "fill-mask"),
    ("models", "convert", "smollm2-135m-instruct", "--json"),
    ("models", "download", "owner/name", "--json"),
    ("models", "list", "extra"),
    ("models", "frobnicate"),
])
def test_models_actions_refuse_flags_that_are_not_theirs(home, argv):
    code, out, err = _cli(*argv)
    assert code == 2 and out == ""
    assert "error:" in err
    assert home.user_models_file.exists() is False  # nothing was added


@pytest.mark.parametrize("argv", [
    ("models", "list", "--json", "--task", "speech-recognition"),
    ("models", "--json", "list", "--task", "speech-recognition"),
    ("models", "--task", "speech-recognition", "--json"),
])
def test_models_list_flags(home, argv):
    code, out, err = _cli(*argv)
    assert code == 0, err
    rows = json.loads(out)
    assert "whisper-tiny.en" in {r["id"] for r in rows}
    assert {r["task"] for r in rows} == {"speech-recognition"}


def test_models_add_and_remove_in_process(home, tiny_classifier_dir):
    code, out, _err = _cli("models", "add", str(tiny_classifier_dir))
    assert code == 0 and out.startswith("added user:")
    model_id = out.split()[1]
    code, out, _err = _cli("models", "remove", model_id)
    assert code == 0 and "untouched" in out


def test_version(home):
    from importlib import metadata

    try:
        expected = metadata.version("llm-workbench")
    except metadata.PackageNotFoundError:
        expected = _pyproject_version()
    out = _main("--version", home=home)
    assert out.returncode == 0 and out.stdout == f"LLM Workbench {expected}\n"


def test_version_falls_back_to_pyproject(monkeypatch):
    from importlib import metadata

    from core.runtime import app_version

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert app_version() == _pyproject_version()


def test_every_device_flag_offers_the_device_choices():
    import argparse

    from core.device import DEFAULT_DEVICE, DEVICE_CHOICES
    from main import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    flags = [a for p in parsers(build_parser()) for a in p._actions if "--device" in a.option_strings]
    assert len(flags) >= 4  # chat, classify, finetune, transcribe
    for flag in flags:
        assert tuple(flag.choices) == DEVICE_CHOICES and flag.default == DEFAULT_DEVICE


def test_drive_closes_a_generator_it_leaves_early():
    from core.cli.drive import drive
    from core.events import Done, Progress

    state = {"closed": False}

    def job(cancel):
        try:
            yield Progress("working", 1, 10)
            yield Progress("working", 2, 10)
            yield Done(result="never")
        finally:
            state["closed"] = True

    class Interrupting:  # the terminal: Ctrl+C arrives while the first line is printed
        def write(self, text):
            raise KeyboardInterrupt

        def flush(self):
            pass

    with pytest.raises(KeyboardInterrupt):
        drive(job, Interrupting())
    assert state["closed"]
    assert drive(lambda cancel: iter([Done(result=42)]), Interrupting()) == 42
