"""Large input files are streamed (issue 15, row 7): `classify --file` on a huge one-line file
keeps its memory bounded and echoes a shortened text. The streaming reader splits lines exactly as
the whole-file reader does, whatever the chunk boundaries and encodings."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from core.classify import read_table, short_text
from core.errors import BadInput
from core.textfiles import read_text_file, sniff_encoding, stream_lines
from tests.conftest import ROOT

BIG_MB = 20
PEAK_CEILING = 1500 * 2**20  # a fixed ceiling: the whole file tokenized took several GB


def peak_rss(cmd: list[str], env: dict, timeout: float = 300) -> tuple[int, str, str, int]:
    """Run ``cmd``; (peak resident memory in bytes, stdout, stderr, exit code), sampled with
    psutil every 20 ms."""
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        ps = psutil.Process(proc.pid)
        peak = 0
        out_chunks: list[bytes] = []
        import threading

        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))
        reader.start()
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        err = proc.stderr.read()
        proc.wait()
        reader.join()
        return peak, b"".join(out_chunks).decode(), err.decode(), proc.returncode


def test_classify_a_huge_one_line_file_in_bounded_memory(home, tiny_classifier_dir, tmp_path):
    big = tmp_path / "one line.txt"
    word = "a good film with a great story and fine acting "
    with open(big, "w", encoding="utf-8") as f:
        f.write(word * (BIG_MB * 2**20 // len(word)))
    assert big.stat().st_size > (BIG_MB - 1) * 2**20
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home.root)}
    peak, out, err, code = peak_rss(
        [sys.executable, "main.py", "classify", "--file", str(big), "--model",
         str(tiny_classifier_dir)], env)
    assert code == 0, err
    assert peak < PEAK_CEILING, f"peak {peak / 2**20:.0f} MB"
    lines = out.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 200 and lines[0].endswith("…")  # short echo
    assert "1 text(s) longer than the model reads" in err


@pytest.mark.parametrize("content, encoding", [
    ("one\ntwo\r\nthree\rfour\n\n  five  \nlast", "utf-8"),
    ("\ufeffbom first\nsecond\n", "utf-8"),
    ("héllo wörld\nçà et là\n", "cp1252"),
    ("ünïcode\r\nlines\n", "utf-16"),
    ("x" * 50 + "\n" + "y" * 7 + "\n\n", "utf-8"),
])
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_streamed_lines_match_the_whole_file_reader(tmp_path, content, encoding, chunk):
    path = tmp_path / "t.txt"
    path.write_bytes(content.encode(encoding))
    text, _enc = read_text_file(path)
    assert sniff_encoding(path, chunk_bytes=chunk) == _enc
    got = list(stream_lines(path, 10_000, chunk_chars=chunk))
    assert [line for line, _cut in got] == text.splitlines()
    assert not any(cut for _line, cut in got)


def test_long_lines_are_cut_while_reading(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a" * 100 + "\nshort\n" + "b" * 30, encoding="utf-8")
    for chunk in (1, 7, 1000):
        assert list(stream_lines(path, 20, chunk_chars=chunk)) == [
            ("a" * 20, True), ("short", False), ("b" * 20, True)]
    table = read_table(path, max_chars=20)
    assert table.texts == ["a" * 20, "short", "b" * 20] and table.cut == 2
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("text\n" + "c" * 50 + "\nok\n", encoding="utf-8")
    table = read_table(csv_path, max_chars=20)
    assert table.texts == ["c" * 20, "ok"] and table.rows[0] == ["c" * 20] and table.cut == 1


def test_the_streamed_reader_refuses_what_the_whole_file_reader_refuses(tmp_path):
    cases = {"empty.txt": b"", "blank.txt": b"  \n\t\n", "binary.txt": b"abc\x00def" * 10,
             "controls.txt": bytes(range(1, 32)) * 200 + b"\xff"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(BadInput) as whole:
            read_text_file(path)
        with pytest.raises(BadInput) as streamed:
            read_table(path)
        assert streamed.value.message == whole.value.message, name
    with pytest.raises(BadInput, match="does not exist"):
        read_table(tmp_path / "missing.txt")
    with pytest.raises(BadInput, match="is not a file"):
        read_table(tmp_path)


def test_short_text_is_one_line_and_bounded():
    assert short_text("a good film") == "a good film"
    assert short_text("two\nlines\there") == "two lines here"
    long = short_text("word " * 10_000)
    assert len(long) <= 100 and long.endswith("…")


# ---- CSV/TSV tables are streamed row by row --------------------------------------------------
TABLE_MB = 50
TABLE_CEILING = 320 * 2**20  # reading the whole text first peaked at ~420 MB; streamed ~180 MB
TRAINING_TABLE_CEILING = 250 * 2**20  # fine-tune's data check: whole text 423 MB, streamed 129 MB


def _write_big_table(path, mb: int) -> int:
    words = ["a", "good", "film", "with", "a", "great", "story", "and", "fine", "acting", "but",
             "the", "end", "was", "weak"]
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("id;text;label\n")
        while f.tell() < mb * 2**20:
            text = " ".join(words[(n + k) % len(words)] for k in range(20))
            f.write(f'{n};"{text}";{n % 2}\n')
            n += 1
    return n


def test_a_50mb_csv_is_read_in_bounded_memory(tmp_path):
    """Row 7 for tables: the semicolon table is sniffed, every row read, and the peak stays far
    below what holding the whole text, then every row, then the texts took."""
    big = tmp_path / "big reviews.csv"
    n = _write_big_table(big, TABLE_MB)
    code = ("import sys; from core.classify import read_table; "
            "t = read_table(sys.argv[1]); print(len(t.texts), repr(t.delimiter), t.columns)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    peak, out, err, rc = peak_rss([sys.executable, "-c", code, str(big)], env)
    assert rc == 0, err
    assert out.split()[0] == str(n) and "';'" in out and "'text'" in out, out
    assert peak < TABLE_CEILING, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("name, content, encoding", [
    ("t.csv", "text,label\n\"a, quoted\nline\",1\n\nplain,0\n", "utf-8"),
    ("t.csv", "\ufefftext;label\ncafé;1\n  ;0\nthé;0\n", "utf-8"),
    ("t.csv", "text;label\nhéllo;1\nçà;0\n", "cp1252"),
    ("t.tsv", "text\tlabel\n\"not quoted\"\t1\nb\t0\n", "utf-16"),
    ("t.txt", "text|label\na|1\nb|0\n", "utf-8"),
])
def test_streamed_table_rows_match_the_whole_text_parser(tmp_path, name, content, encoding):
    from core.textfiles import open_table, parse_table

    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    text, enc = read_text_file(path)
    whole = parse_table(text, path)
    streamed = open_table(path)
    assert streamed.encoding == enc
    assert (streamed.columns, streamed.delimiter) == (whole.columns, whole.delimiter)
    assert list(streamed.rows()) == whole.rows


def test_a_table_on_one_huge_line_is_refused_without_holding_it(tmp_path):
    from core.textfiles import TABLE_LINE_CHARS

    path = tmp_path / "one line.csv"
    path.write_text("text\n" + "x" * (TABLE_LINE_CHARS + 10), encoding="utf-8")
    with pytest.raises(BadInput, match="one line.csv' has a line of over"):
        read_table(path)
    path.write_text("text\n" + "y" * 200_000 + "\nok\n", encoding="utf-8")
    with pytest.raises(BadInput, match="has a cell of over .* characters near line 2"):
        read_table(path)


def test_blank_and_whitespace_tables_are_refused_in_words(tmp_path):
    for name, raw, word in [("e.csv", b"", "is empty"), ("w.csv", b" \n\t\n  \n", "whitespace"),
                            ("h.csv", b"text,label\n\n", "no text in its column")]:
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(BadInput, match=word):
            read_table(path)


def test_a_50mb_training_table_is_read_in_bounded_memory(tmp_path):
    """Fine-tune's classification data is streamed too: the data check (what the New-run dialog
    and `finetune` run first) keeps only the (text, label) pairs, not the file's text and every
    parsed row besides."""
    big = tmp_path / "big reviews.csv"
    n = _write_big_table(big, TABLE_MB)
    code = ("import sys; from core.finetune import FinetuneConfig, preview_data; "
            "p = preview_data(FinetuneConfig(task='classification', data=(sys.argv[1],), "
            "base='x', output='big').validate()); print(p.n_examples, p.encoding)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    peak, out, err, rc = peak_rss([sys.executable, "-c", code, str(big)], env)
    assert rc == 0, err
    assert out.split()[0] == str(n), out
    assert peak < TRAINING_TABLE_CEILING, f"peak {peak / 2**20:.0f} MB"
