"""`main.py classify`: one result per input, three formats, one-line errors."""
import csv
import io
import json
import subprocess
import sys

from tests.conftest import ROOT


def _main(*args, home):
    env = {**__import__("os").environ, "LLM_WORKBENCH_HOME": str(home.root)}
    return subprocess.run([sys.executable, "main.py", "classify", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


def test_json_has_every_label_for_every_text(home, tiny_classifier_dir):
    out = _main("a good film", "a bad film", "--model", str(tiny_classifier_dir), "--format",
                "json", home=home)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["text"] for r in rows] == ["a good film", "a bad film"]
    for r in rows:
        assert set(r["scores"]) == {"negative", "positive"}
        assert r["label"] == max(r["scores"], key=r["scores"].get)
        assert abs(sum(r["scores"].values()) - 1) < 1e-4 and r["score"] == r["scores"][r["label"]]


def test_file_with_a_column_as_csv(home, tiny_classifier_dir, tmp_path):
    f = tmp_path / "reviews.csv"
    f.write_text('id,body\n1,"good, very good"\n2,bad\n3,\n', encoding="utf-8")
    out = _main("--file", str(f), "--column", "body", "--model", str(tiny_classifier_dir),
                "--format", "csv", home=home)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["text", "predicted_label", "score", "p_negative", "p_positive"]
    assert [r[0] for r in rows[1:]] == ["good, very good", "bad"]
    assert "1 empty line(s) or row(s) left out" in out.stderr


def test_text_format_and_fill_mask(home, tmp_path):
    from tests.tiny_models import tiny_bert_masked_lm

    mlm = tiny_bert_masked_lm(tmp_path / "mlm")
    out = _main("the quick brown [MASK] jumps", "--model", str(mlm), "--top-k", "3", home=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "the quick brown [MASK] jumps"
    assert lines[1].startswith("  mask 1: ") and lines[1].count(",") == 2
    out = _main("the quick brown [MASK] jumps", "--model", str(mlm), "--format", "json",
                home=home)
    [row] = json.loads(out.stdout)
    assert len(row["masks"]) == 1 and len(row["masks"][0]) == 5


def test_bad_input_is_one_line(home, tiny_classifier_dir, tiny_gpt2_dir, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,body\n1,x\n", encoding="utf-8")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\xff" * 100)
    cases = [
        ((), "Nothing to classify"),
        (("   ",), "Text 1 is empty"),
        (("--file", str(f), "--column", "nope"), "Columns found: 'id', 'body'"),
        (("--file", str(binary)), "binary"),
        (("hi", "--model", str(tiny_gpt2_dir)), "not a text classifier"),
        (("hi", "--model", "no-such-model"), "No model called 'no-such-model'"),
    ]
    for args, message in cases:
        if "--model" not in args:
            args = args + ("--model", str(tiny_classifier_dir))
        out = _main(*args, home=home)
        assert out.returncode == 1, (args, out.stderr)
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, (args, out.stderr)


def test_defaults_come_from_core_classify(monkeypatch):
    import argparse

    import core.classify
    from core.cli import classify
    from core.device import DevicePreference

    for batch, top_k in ((core.classify.BATCH_SIZE, core.classify.FILL_TOP_K), (7, 3)):
        monkeypatch.setattr(core.classify, "BATCH_SIZE", batch)
        monkeypatch.setattr(core.classify, "FILL_TOP_K", top_k)
        parser = argparse.ArgumentParser()
        classify.add_parser(parser.add_subparsers())
        args = parser.parse_args(["classify", "hi"])
        assert (args.batch_size, args.top_k) == (batch, top_k)
        assert args.device == DevicePreference.AUTO.value
        args = parser.parse_args(["classify", "hi", "--device", "cuda"])
        assert args.device == DevicePreference.CUDA.value
