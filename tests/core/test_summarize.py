"""Summaries of texts longer than the model's context (core.chat.summarize) and the `summarize`
and `compare` subcommands."""
import io
import json

import pytest

from core.cancel import CancelToken
from core.chat.summarize import Summary, pack, pieces_of, summarize
from core.errors import BadInput, Cancelled
from core.events import Done, Progress
from tests.conftest import load_engine


def words(text: str) -> int:
    return len(text.split())


def test_pack_fills_parts_in_order_within_the_room():
    pieces = [f"piece {i} " + "word " * (i % 7) for i in range(40)]
    parts = pack(pieces, 20, words)
    assert all(words(p) <= 20 for p in parts)
    assert "\n".join(parts).split("\n") == pieces  # nothing lost, nothing reordered
    assert len(parts) < len(pieces)  # joined where they fit


def test_a_piece_longer_than_a_part_is_cut_on_words():
    long = " ".join(f"w{i}" for i in range(100))
    parts = pack(["short", long, "end"], 30, words)
    assert parts[0] == "short" and parts[-1] == "end"
    assert all(words(p) <= 30 for p in parts)
    assert " ".join(parts[1:-1]).split() == long.split()


@pytest.fixture(scope="module")
def tiny_engine(tiny_chat_dir):
    return load_engine(tiny_chat_dir, device="cpu")  # a context of 256 byte-tokens


def test_a_text_far_longer_than_the_context_is_summarised(tiny_engine):
    pieces = [f"[{i // 60:02d}:{i % 60:02d}] speaker {i} said something about topic {i}."
              for i in range(120)]  # ~5,000 characters: twenty times the context
    events = list(summarize(tiny_engine, pieces, CancelToken(), max_new_tokens=40))
    done = events[-1]
    assert isinstance(done, Done) and isinstance(done.result, Summary)
    assert done.result.parts > 1 and done.result.passes >= 2
    assert any(isinstance(e, Progress) for e in events)


def test_a_summary_can_be_cancelled(tiny_engine):
    cancel = CancelToken()
    pieces = [f"line {i} " * 10 for i in range(60)]
    gen = summarize(tiny_engine, pieces, cancel, max_new_tokens=40)
    with pytest.raises(Cancelled):
        for ev in gen:
            if isinstance(ev, Progress):
                cancel.cancel()


def test_nothing_to_summarise_is_refused(tiny_engine):
    with pytest.raises(BadInput, match="empty"):
        list(summarize(tiny_engine, ["  ", ""], CancelToken()))


def test_pieces_of_a_transcript_carry_their_times(tmp_path):
    doc = {"path": "talk.flac", "duration": 75.0, "segments": [
        {"start": 0.0, "end": 4.0, "text": "Hello there."},
        {"start": 65.5, "end": 70.0, "text": "Goodbye."}]}
    (tmp_path / "talk.json").write_text(json.dumps(doc), encoding="utf-8")
    pieces, what = pieces_of(tmp_path / "talk.json")
    assert what == "transcript" and pieces == ["[00:00] Hello there.", "[01:05] Goodbye."]
    (tmp_path / "notes.txt").write_text("one\n\ntwo\nthree\n\n\n", encoding="utf-8")
    assert pieces_of(tmp_path / "notes.txt") == (["one", "two\nthree"], "text")


def cli(*argv):
    from core.cli import run
    from main import build_parser

    out, err = io.StringIO(), io.StringIO()
    code = run(build_parser().parse_args(list(argv)), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_cli_summarises_a_long_transcript_with_the_bundled_model(home, tmp_path):
    segments = [{"start": 5.0 * i, "end": 5.0 * i + 4.5,
                 "text": f"In meeting item {i} the team agreed to move the launch of product "
                         f"number {i} to week {i % 12 + 1} because the supplier was late."}
                for i in range(90)]  # ~2,600 tokens against a 512-token context
    doc = {"path": "meeting.flac", "duration": 450.0, "segments": segments}
    (tmp_path / "meeting.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = cli("summarize", str(tmp_path / "meeting.json"), "--context", "512",
                         "--max-new-tokens", "60")
    assert code == 0, err
    assert len(out.split()) >= 5
    assert "passes" in err  # it did not fit: parts, then the summaries of the parts


def test_cli_compare_prints_both_replies_with_figures(home, tiny_chat_dir):
    code, out, err = cli("compare", "Hello", "--model", str(tiny_chat_dir), "--model",
                         str(tiny_chat_dir), "--max-new-tokens", "8")
    assert code == 0, err
    assert out.count("=== ") == 2 and out.count("tok/s") == 2


def test_cli_compare_needs_two_models(home, tiny_chat_dir):
    code, _out, err = cli("compare", "Hello", "--model", str(tiny_chat_dir))
    assert code == 1 and "two models" in err
