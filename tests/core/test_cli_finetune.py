"""`main.py finetune` end to end on a tiny model, then `main.py chat --model NAME` on the result."""
import os
import subprocess
import sys

from tests.conftest import ROOT


def _main(*args, home):
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home.root)}
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=300)


def test_finetune_then_chat_with_the_result(home, tiny_gpt2_dir, tmp_path):
    data = tmp_path / "story.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    out = _main("finetune", "--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                str(data), "--output", "fox", "--max-steps", "6", "--chunk-length", "64",
                "--overlap", "8", "--batch-size", "4", "--save-steps", "3", home=home)
    assert out.returncode == 0, out.stderr
    assert "step 6/6" in out.stderr and "perplexity" in out.stderr
    assert out.stdout.startswith("app:fox ")
    chat = _main("chat", "the quick", "--model", "fox", "--temperature", "0",
                 "--max-new-tokens", "4", home=home)
    assert chat.returncode == 0, chat.stderr
    assert "4 tokens" in chat.stderr.strip().splitlines()[-1]
    again = _main("finetune", "--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                  str(data), "--output", "fox", "--max-steps", "2", home=home)
    assert again.returncode == 1 and "fox" in again.stderr and again.stderr.startswith("error:")


def test_finetune_bad_data_is_one_line(home, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    out = _main("finetune", "--task", "causal-lm", "--base", "smollm2-135m-instruct", "--data",
                str(empty), "--output", "x", home=home)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and "empty.txt" in out.stderr


def test_export_script(home, tmp_path, tiny_gpt2_dir):
    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    out = _main("finetune", "--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                str(data), "--output", "s", "--export-script", str(tmp_path / "script"),
                home=home)
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "script").iterdir())
    assert "train.py" in names and any(n.endswith(".yaml") for n in names)
    assert "accelerate launch" in (tmp_path / "script" / "launch.sh").read_text()
