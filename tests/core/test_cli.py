import json
import subprocess
import sys

from tests.conftest import ROOT


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
