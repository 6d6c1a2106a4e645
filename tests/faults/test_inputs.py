"""Bad inputs for every capability on the command line: empty, truncated, binary, wrong-extension,
UTF-16 and mixed-encoding files, missing columns, a directory, a vanished file, odd names (spaces,
non-ASCII, a leading dash). Each refusal is one sentence naming the file, exit code 1, no
traceback; files that are only unusual (UTF-16, odd names) work."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

WAV_HEADER = b"RIFF\x24\x08\x00\x00WAVEfmt "  # a WAV cut off inside its header


def _run(*argv) -> tuple[int, str, str]:
    import main
    from core.cli import run

    args = main.build_parser().parse_args([str(a) for a in argv])
    out, err = io.StringIO(), io.StringIO()
    code = run(args, out, err)
    return code, out.getvalue(), err.getvalue()


def _bad_text_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a word the refusal must contain)."""
    folder.mkdir(exist_ok=True)
    cases = {
        "empty": ("empty.txt", b"", "empty"),
        "blank": ("blank.txt", b"  \n\n \t\n", "whitespace"),
        "binary": ("photo.txt", bytes(range(256)) * 20, "binary"),
        "wrong-extension": ("song.csv", b"ID3\x03\x00\x00\x00" + bytes(200) + b"\xff\xfb" * 400,
                            "song.csv"),
        "missing-column": ("table.csv", b"id,score\n1,2\n3,4\n", "column"),
    }
    out = {}
    for name, (fname, raw, word) in cases.items():
        path = folder / fname
        path.write_bytes(raw)
        out[name] = (path, word)
    (folder / "a folder").mkdir(exist_ok=True)
    out["directory"] = (folder / "a folder", "a folder")
    out["vanished"] = (folder / "gone.txt", "gone.txt")
    return out


@pytest.fixture()
def bad_files(tmp_path):
    return _bad_text_files(tmp_path / "bad")


@pytest.mark.parametrize("case", ["empty", "blank", "binary", "wrong-extension",
                                  "missing-column", "directory", "vanished"])
def test_classify_refuses_a_bad_file_before_loading(home, bad_files, case, monkeypatch):
    import core.classify as classify

    loaded = []
    monkeypatch.setattr(classify, "open_classifier", lambda *a, **k: loaded.append(a) or iter(()))
    path, word = bad_files[case]
    args = ["classify", "--file", path] + (["--column", "text"] if case == "missing-column"
                                           else [])
    code, out, err = _run(*args)
    assert code == 1 and err.startswith("error:") and err.count("\n") == 1, err
    assert word.lower() in err.lower() and not loaded and not out


@pytest.mark.parametrize("case", ["empty", "blank", "binary", "wrong-extension", "directory",
                                  "vanished"])
def test_finetune_refuses_a_bad_data_file_before_any_run(home, bad_files, case):
    path, word = bad_files[case]
    code, out, err = _run("finetune", "--task", "causal-lm", "--base", "x", "--data", path,
                          "--output", "bad")
    assert code == 1 and err.startswith("error:") and err.count("\n") == 1, err
    assert word.lower() in err.lower()
    assert not (home.root / "runs" / "bad").exists()  # no run recorded for a refused input


def test_finetune_table_without_its_columns_lists_them(home, bad_files):
    path, _word = bad_files["missing-column"]
    code, _out, err = _run("finetune", "--task", "classification", "--base", "x", "--data", path,
                           "--output", "bad")
    assert code == 1 and "id" in err and "score" in err


def _odd(folder: Path, text: str, encoding: str, suffix: str = ".txt") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"-my notes é ü 日本{suffix}"  # a leading dash, spaces, non-ASCII
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_classify_reads_unusual_encodings_and_names(home, tmp_path, tiny_classifier_dir,
                                                    encoding):
    path = _odd(tmp_path / encoding, "a fine film\nvery bad café\n", encoding)
    code, out, err = _run("classify", "--model", tiny_classifier_dir, "--file", path)
    assert code == 0, err
    assert "a fine film" in out and "very bad café" in out


def test_classify_mixed_encoding_is_refused_or_read_never_a_traceback(home, tmp_path,
                                                                      tiny_classifier_dir):
    path = _odd(tmp_path / "mixed", "", "utf-8")
    path.write_bytes("naïve line\n".encode() + "café\n".encode("cp1252"))
    code, out, err = _run("classify", "--model", tiny_classifier_dir, "--file", path)
    assert "Traceback" not in err
    assert (code == 0 and "na" in out) or (code == 1 and path.name in err), err


def test_finetune_trains_on_a_utf16_file_with_an_odd_name(home, tmp_path, tiny_gpt2_dir):
    path = _odd(tmp_path / "ft", "the quick brown fox jumps over the lazy dog. " * 60, "utf-16")
    code, out, err = _run("finetune", "--task", "causal-lm", "--base", tiny_gpt2_dir, "--data",
                          path, "--output", "odd", "--max-steps", "1", "--chunk-length", "32",
                          "--overlap", "0", "--device", "cpu")
    assert code == 0, err
    assert "app:odd" in out


@pytest.mark.parametrize("name", ["", "  ", "../../evil", "a/b", ".."])
def test_finetune_refuses_bad_output_names(home, tmp_path, name):
    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    code, _out, err = _run("finetune", "--task", "causal-lm", "--base", "x", "--data", data,
                           "--output", name)
    assert code == 1 and err.startswith("error:")
    assert not any((home.root / "runs").glob("*")) if (home.root / "runs").exists() else True


@pytest.mark.parametrize("case", ["empty", "binary", "directory", "vanished"])
def test_models_add_refuses_what_is_not_a_model(home, bad_files, case):
    path, _word = bad_files[case]
    code, _out, err = _run("models", "add", path)
    assert code == 1 and err.startswith("error:") and Path(path).name in err
    assert not home.user_models_file.exists()


def test_chat_refuses_an_empty_prompt(home):
    code, _out, err = _run("chat", "   ")
    assert code == 1 and "empty" in err


@pytest.mark.slow
def test_transcribe_reports_each_bad_file_and_writes_the_good_one(home, tmp_path, bad_files,
                                                                  speech_wavs):
    """One model load; every bad file gets one line naming it; the good file (an odd name) is
    transcribed and written; exit code 1 because some failed."""
    import shutil

    good = tmp_path / "-my talk é.wav"
    shutil.copy(speech_wavs[0], good)
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(WAV_HEADER)
    utf16 = tmp_path / "notes.wav"
    utf16.write_bytes("not audio".encode("utf-16"))
    bad = [bad_files[c][0] for c in ("empty", "binary", "directory", "vanished")]
    out_dir = tmp_path / "out"
    code, out, err = _run("transcribe", "--output-dir", out_dir, "--", good, truncated, utf16,
                          *bad)
    assert code == 1 and "Traceback" not in err
    for path in (truncated, utf16, *bad):
        assert f"error: {Path(path).name}:" in err, (path, err)
    written = out_dir / "-my talk é.txt"
    assert written.is_file() and "today" in written.read_text().lower()
