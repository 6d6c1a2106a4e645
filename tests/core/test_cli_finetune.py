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


# ---- in-process: the parser and the run function -----------------------------------------------
def _parse(*argv):
    import argparse

    from core.cli import finetune

    parser = argparse.ArgumentParser()
    finetune.add_parser(parser.add_subparsers())
    return parser.parse_args(["finetune", *argv])


def _run(*argv) -> tuple[int, str, str]:
    import io

    from core.cli import run

    out, err = io.StringIO(), io.StringIO()
    code = run(_parse(*argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_hard_cut_keeps_non_ascii_and_understands_typed_escapes(tmp_path, tiny_gpt2_dir,
                                                                     home):
    import ast

    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    code, _out, err = _run("--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                           str(data), "--output", "s", "--hard-cut", "§ — é\\n\\t\\\\x\\q",
                           "--export-script", str(tmp_path / "script"))
    assert code == 0, err
    source = (tmp_path / "script" / "train.py").read_text(encoding="utf-8")
    literal = source.split("CONFIG = ", 1)[1].split("\n\nHERE", 1)[0]
    assert ast.literal_eval(literal)["hard_cut"] == "§ — é\n\t\\x\\q"


def test_defaults_come_from_the_config_and_the_device_choices_from_core(tmp_path):
    from dataclasses import fields

    from core.cli.finetune import config_from_args
    from core.device import DevicePreference
    from core.finetune import FinetuneConfig

    defaults = {f.name: f.default for f in fields(FinetuneConfig)}
    args = _parse("--output", "x")
    for option, name in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr",
                         "learning_rate"), ("lora_r", "lora_r"), ("lora_alpha", "lora_alpha"),
                         ("max_length", "max_length"), ("chunk_length", "chunk_length"),
                         ("overlap", "overlap"), ("eval_split", "eval_split"),
                         ("save_steps", "save_steps"), ("seed", "seed"), ("method", "method"),
                         ("device", "device"), ("max_steps", "max_steps"),
                         ("grad_accum", "grad_accum")):
        assert getattr(args, option) == defaults[name], option
    for value in DevicePreference:
        assert _parse("--output", "x", "--device", value.value).device == value.value
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\ngood\t1\nbad\t0\n")
    full = config_from_args(_parse("--task", "classification", "--base", "b", "--data",
                                   str(data), "--output", "x", "--method", "full"))
    assert full.learning_rate == 5e-5  # the method's own default, not LoRA's
    lora = config_from_args(_parse("--task", "classification", "--base", "b", "--data",
                                   str(data), "--output", "x"))
    assert lora.learning_rate == 5e-4


def test_task_base_and_data_are_needed_only_to_start_a_run(home):
    code, _out, err = _run("--output", "x")
    assert code == 1 and err.startswith("error:") and err.strip().count("\n") == 0
    assert "--task" in err and "--resume" in err
    code, _out, err = _run("--output", "nothing-here", "--resume")
    assert code == 1 and "no run called 'nothing-here'" in err


def test_resume_reads_the_run_and_refuses_other_settings(home, tiny_gpt2_dir, tmp_path):
    from core.cancel import CancelToken
    from core.finetune import FinetuneConfig, TrainProgress, train

    data = tmp_path / "story.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(data),),
                            output="half", method="full", max_steps=8, save_steps=2,
                            chunk_length=64, overlap=8, batch_size=4, device="cpu")
    cancel = CancelToken()
    for ev in train(config, cancel, home=home):
        if isinstance(ev, TrainProgress) and ev.step >= 3:
            cancel.cancel()
    other = tmp_path / "other.txt"
    other.write_text("something else entirely " * 100)
    code, _out, err = _run("--output", "half", "--resume", "--base", "other-model", "--data",
                           str(other))
    assert code == 1 and err.strip().count("\n") == 0
    assert "--base other-model" in err and "--data" in err and "other settings" in err
    code, out, err = _run("--output", "half", "--resume", "--task", "causal-lm", "--data",
                          str(data), "--device", "cpu")  # the same values are fine
    assert code == 0, err
    assert out.startswith("app:half ") and "step 8/8" in err


def test_a_flat_loss_is_a_warning_on_stderr(home, tiny_gpt2_dir, tmp_path):
    data = tmp_path / "story.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    code, out, err = _run("--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                          str(data), "--output", "flat", "--method", "full", "--lr", "1e-9",
                          "--max-steps", "20", "--chunk-length", "64", "--overlap", "8",
                          "--batch-size", "4", "--save-steps", "100", "--device", "cpu")
    assert code == 0, err
    assert out.startswith("app:flat ")
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "did not go down" in warning[0]
