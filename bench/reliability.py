"""Reliability benchmark: the fault matrix of issue 15, end to end, as a user would meet it. Every
case runs the CLI in fresh processes on a fresh data folder (a tiny random model, so no case waits
on real weights except the transcription one) and prints one row: case, expected, observed, pass.
The GUI and server rows run the fault suite's tests for them (tests/faults/test_gui_inputs.py,
tests/faults/test_server_inputs.py: the real window offscreen, the server on a loopback port with
the bundled models) in a child, one row per page or kind of request.

    .venv/bin/python bench/reliability.py [--budget 900] [--only NAME ...] [--soak]

--budget bounds the whole matrix in seconds: cases not started by then are listed as skipped.
--soak runs the 30-minute soak (alternating jobs in one app process) when bench/soak.py exists
(the memory work provides it); otherwise it says so and skips it.
Exit code 0 when every case that ran passed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
STORY = "the quick brown fox jumps over the lazy dog. " * 120


class Ctx:
    """A fresh data folder per case, the tiny models, and the CLI runner."""

    def __init__(self, work: Path, tiny_lm: Path, tiny_chat: Path) -> None:
        self.work, self.tiny_lm, self.tiny_chat = work, tiny_lm, tiny_chat

    def fresh(self, name: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.work))
        (folder / "story.txt").write_text(STORY, encoding="utf-8")
        return folder

    @staticmethod
    def env(folder: Path) -> dict:
        return {**os.environ, "LLM_WORKBENCH_HOME": str(folder / "home"),
                "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

    def cli(self, folder: Path, *args, timeout: float = 300, module: str | None = None):
        cmd = [PY, "-m", module] if module else [PY, "main.py"]
        return subprocess.run([*cmd, *map(str, args)], cwd=ROOT, env=self.env(folder),
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, folder: Path, *args, module: str | None = None) -> subprocess.Popen:
        cmd = [PY, "-m", module] if module else [PY, "main.py"]
        return subprocess.Popen([*cmd, *map(str, args)], cwd=ROOT, env=self.env(folder),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ft(self, folder: Path, output: str, *extra) -> list:
        return ["finetune", "--task", "causal-lm", "--base", self.tiny_lm, "--data",
                folder / "story.txt", "--output", output, "--chunk-length", "32", "--overlap",
                "0", "--batch-size", "2", "--max-steps", "8", "--save-steps", "2", *extra]


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:110] if lines else "(nothing)"


def _plain(proc, code: int = 1) -> bool:
    return proc.returncode == code and "Traceback" not in proc.stderr


def _runs(folder: Path) -> dict:
    out = {}
    for run in (folder / "home" / "runs").glob("*/run.json"):
        out[run.parent.name] = json.loads(run.read_text())
    return out


def _listed_status(folder: Path, name: str) -> str | None:
    from core.finetune import list_runs
    from core.paths import AppHome

    return {r.name: r.status for r in list_runs(AppHome(folder / "home"))}.get(name)


def _ckpts(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in (folder / "home" / "runs" / name / "checkpoints").glob("c*"))


# ---- the cases: each returns (expected, observed, passed) -----------------------------------------
def kill_then_rerun(ctx: Ctx):
    f = ctx.fresh("row1")
    killed = subprocess.run([PY, "-m", "tests.faults.killer", "step", "6", "--",
                             *map(str, ctx.ft(f, "r"))], cwd=ROOT, env=ctx.env(f),
                            capture_output=True, text=True, timeout=300)
    before = _ckpts(f, "r")
    rerun = ctx.cli(f, *ctx.ft(f, "r"))
    kept = _ckpts(f, "r") == before and bool(before)
    resumed = ctx.cli(f, "finetune", "--resume", "--output", "r")
    ok = (killed.returncode == -9 and _plain(rerun) and "--resume" in rerun.stderr and kept
          and resumed.returncode == 0 and "step 4/8" in resumed.stderr)
    return ("rerun refused, checkpoints kept; --resume goes on from checkpoint-4",
            f"rerun: {_last(rerun.stderr)[:60]}…; kept {before}; resume exit "
            f"{resumed.returncode}", ok)


def kill_points(ctx: Ctx):
    rows = []
    for point, nth, want in (("prep", 1, None), ("step", 6, "checkpoint-4"),
                             ("save", 2, "checkpoint-2")):
        f = ctx.fresh(f"kill-{point}")
        subprocess.run([PY, "-m", "tests.faults.killer", point, str(nth), "--",
                        *map(str, ctx.ft(f, "k"))], cwd=ROOT, env=ctx.env(f),
                       capture_output=True, text=True, timeout=300)
        status = _listed_status(f, "k")  # what the run list shows after the kill
        listed = ctx.cli(f, "finetune", "--resume", "--output", "k")
        if want is None:
            ok = _plain(listed) and "no checkpoint" in listed.stderr
            seen = f"resume refused: {_last(listed.stderr)[:50]}…"
        else:
            ok = listed.returncode == 0 and f"step {want.split('-')[1]}/8" in listed.stderr
            seen = f"resumed from {want}: exit {listed.returncode}"
        ok = ok and status == "failed"
        rows.append((f"kill -9 during {point}: listed failed, never done; resume from the last "
                     f"complete checkpoint", f"listed {status}; {seen}", ok))
    return rows


def user_list(ctx: Ctx, raw: bytes, label: str):
    f = ctx.fresh(label)
    (f / "home").mkdir()
    (f / "home" / "user_models.json").write_bytes(raw)
    listed = ctx.cli(f, "models")
    added = ctx.cli(f, "models", "add", ctx.tiny_lm)
    copies = list((f / "home").glob("user_models.json.broken-*"))
    ok = (listed.returncode == 0 and added.returncode == 0 and len(copies) == 1
          and copies[0].read_bytes() == raw)
    return ("listed with a warning; the broken file kept aside, never overwritten",
            f"warning: {'set aside' in listed.stderr}; copies {len(copies)}", ok)


def same_stem(ctx: Ctx):
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return ("talk.txt and talk-2.txt", "skipped: espeak-ng/sox missing", None)
    f = ctx.fresh("row3")
    for d in ("d1", "d2"):
        (f / d).mkdir()
        subprocess.run(["espeak-ng", "-w", str(f / d / "raw.wav"), f"this is folder {d}"],
                       check=True, capture_output=True)
        subprocess.run(["sox", str(f / d / "raw.wav"), "-r", "16000", "-c", "1",
                        str(f / d / "talk.wav")], check=True, capture_output=True)
    out = ctx.cli(f, "transcribe", f / "d1" / "talk.wav", f / "d2" / "talk.wav",
                  "--output-dir", f / "out")
    names = sorted(p.name for p in (f / "out").glob("*")) if (f / "out").is_dir() else []
    return ("talk.txt and talk-2.txt", f"exit {out.returncode}: {names}",
            out.returncode == 0 and names == ["talk-2.txt", "talk.txt"])


def disk_full_checkpoint(ctx: Ctx, method: str, nth: int):
    f = ctx.fresh(f"full-{method}")
    proc = subprocess.run([PY, "-m", "tests.faults.killer", "full", str(nth), "--",
                           *map(str, ctx.ft(f, "d", "--method", method))], cwd=ROOT,
                          env=ctx.env(f), capture_output=True, text=True, timeout=300)
    status = _runs(f).get("d", {}).get("status")
    temps = [p.name for p in (f / "home").rglob("*") if p.name.endswith((".tmp", ".partial"))]
    ckpts = _ckpts(f, "d")
    if nth == 1:
        ok = _plain(proc) and "nothing to resume" in proc.stderr and not ckpts
    else:
        ok = _plain(proc) and "checkpoint-2" in proc.stderr and ckpts == ["checkpoint-2"]
    ok = ok and "disk is full" in proc.stderr and status == "failed" and not temps
    return (f"'disk is full' + folder; run.json failed; no partial files ({method})",
            f"{status}; checkpoints {ckpts}; temp files {len(temps)}", ok)


def same_name_twice(ctx: Ctx):
    f = ctx.fresh("row10")
    procs = [ctx.popen(f, *ctx.ft(f, "twin", "--max-steps", "4")) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    status = _runs(f).get("twin", {}).get("status")
    refused = any("training right now" in err for _o, err in outs)
    return ("one trains and is listed done, the other is refused, history not failed",
            f"exit codes {codes}; run.json {status}", codes == [0, 1] and refused
            and status == "done")


def six_adds(ctx: Ctx):
    f = ctx.fresh("row11")
    folders = []
    for i in range(6):
        shutil.copytree(ctx.tiny_lm, f / f"m{i}")
        folders.append(f / f"m{i}")
    procs = [ctx.popen(f, "models", "add", d) for d in folders]
    for p in procs:
        p.communicate(timeout=120)
    kept = json.loads((f / "home" / "user_models.json").read_text())
    return ("all six kept", f"{len(kept)} kept", len(kept) == 6)


def _signal_run(ctx: Ctx, sig: int, code: int, label: str):
    f = ctx.fresh(label)
    proc = ctx.popen(f, *ctx.ft(f, "s", "--max-steps", "400", "--save-steps", "1000"))
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), ln)
                                                          for ln in proc.stderr))
    reader.start()
    deadline = time.monotonic() + 240
    while not any("step 3/400" in ln for _t, ln in lines) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=120)
    reader.join()
    stop = [t - sent for t, ln in lines if ln.startswith("stopped;")]
    status = _runs(f).get("s", {}).get("status")
    err = "".join(ln for _t, ln in lines)
    ok = (proc.returncode == code and status == "cancelled" and bool(_ckpts(f, "s"))
          and "Traceback" not in err and bool(stop))
    took = f"{stop[0]:.2f} s to stop" if stop else "no stop line"
    return (f"exit {code}, run.json cancelled, a checkpoint",
            f"exit {proc.returncode}, {status}, {_ckpts(f, 's')}, {took}", ok)


def output_dir_is_file(ctx: Ctx):
    f = ctx.fresh("row13")
    (f / "notes.txt").write_text("mine")
    (f / "a.wav").write_bytes(b"RIFF")
    started = time.monotonic()
    out = ctx.cli(f, "transcribe", f / "a.wav", "--output-dir", f / "notes.txt")
    took = time.monotonic() - started
    ok = _plain(out) and "is a file" in out.stderr and "Loading" not in out.stderr and \
        (f / "notes.txt").read_text() == "mine"
    return ("refused before any model loads", f"{_last(out.stderr)[:70]} ({took:.1f} s)", ok)


def chat_ctrl_c(ctx: Ctx):
    f = ctx.fresh("row14")
    proc = ctx.popen(f, "chat", "tell me a story", "--model", ctx.tiny_chat,
                     "--max-new-tokens", "150", "--temperature", "1")  # fits its 256 context
    first = proc.stdout.read(20)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    ok = proc.returncode == 130 and "Traceback" not in err and len(first + out) > 20
    return ("exit 130, the partial reply printed", f"exit {proc.returncode}, "
            f"{len(first + out)} characters of reply", ok)


def small_refusals(ctx: Ctx):
    f = ctx.fresh("row15")
    gpt2 = ctx.cli(f, "models", "download", "gpt2", timeout=120)
    batch = ctx.cli(f, "classify", "hi", "--batch-size", "0")
    maxlen = ctx.cli(f, *ctx.ft(f, "m", "--max-length", "64"))
    ok = ("not a Hub id" not in gpt2.stderr and "offline" in gpt2.stderr and _plain(batch)
          and "Loading" not in batch.stderr and _plain(maxlen) and "--chunk-length" in
          maxlen.stderr)
    return ("gpt2 is a Hub id (offline: says offline); batch 0 and --max-length refused",
            f"{_last(gpt2.stderr)[:40]}…; batch exit {batch.returncode}; max-length exit "
            f"{maxlen.returncode}", ok)


def damaged_history(ctx: Ctx):
    f = ctx.fresh("history")
    db = f / "chats.sqlite3"
    db.write_bytes(b"not a database" * 100)
    code = ("import sys; from core.chat import HistoryStore\n"
            f"s = HistoryStore({str(db)!r}); print(s.damage.user_message() if s.damage else '')")
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env=ctx.env(f), capture_output=True,
                         text=True, timeout=60)
    copies = list(f.glob("chats.sqlite3.broken-*"))
    ok = out.returncode == 0 and "moved to" in out.stdout and len(copies) == 1
    return ("moved aside with a timestamp, a new history, a sentence naming both",
            f"{len(copies)} copy; {out.stdout.strip()[:60]}…", ok)


def offline_hub(ctx: Ctx):
    f = ctx.fresh("offline")
    started = time.monotonic()
    out = ctx.cli(f, "chat", "hi", "--model", "nobody-here/no-such-model", timeout=120)
    took = time.monotonic() - started
    return ("fails at once, 'offline' in the message", f"{took:.1f} s: {_last(out.stderr)[:50]}…",
            _plain(out) and "offline" in out.stderr.lower())


def damaged_settings(ctx: Ctx):
    f = ctx.fresh("settings")
    home = f / "home"
    home.mkdir()
    raw = bytes((i * 151 + 7) % 256 for i in range(3000))
    (home / "settings.ini").write_bytes(raw)
    code = ("from core.paths import AppHome; from gui.settings import Settings\n"
            "s = Settings(AppHome.default()); print(s.problem); s.set('a/b', 1); s.sync()")
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env={**ctx.env(f), "QT_QPA_PLATFORM":
                                                          "offscreen"},
                         capture_output=True, text=True, timeout=60)
    copies = list(home.glob("settings.ini.broken-*"))
    ok = (out.returncode == 0 and "settings.ini" in out.stdout and len(copies) == 1
          and copies[0].read_bytes() == raw and copies[0].name in out.stdout)
    return ("moved aside with a timestamp, defaults, one sentence naming both, never overwritten",
            f"{len(copies)} copy, bytes kept {bool(copies) and copies[0].read_bytes() == raw}; "
            f"{out.stdout.strip()[:50]}…", ok)


def big_table(ctx: Ctx):
    from tests.core.test_large_inputs import TABLE_CEILING, _write_big_table, peak_rss

    f = ctx.fresh("bigcsv")
    path = f / "big reviews.csv"
    rows = _write_big_table(path, 50)
    code = ("import sys; from core.classify import read_table; "
            "t = read_table(sys.argv[1]); print(len(t.texts))")
    started = time.monotonic()
    peak, out, err, rc = peak_rss([PY, "-c", code, str(path)], ctx.env(f))
    took = time.monotonic() - started
    ok = rc == 0 and out.strip() == str(rows) and peak < TABLE_CEILING
    return (f"every row read, peak under {TABLE_CEILING >> 20} MB",
            f"{out.strip() or _last(err)} rows of {rows}; peak {peak >> 20} MB; {took:.1f} s", ok)


def _pytest_cases(select: str, path: str, expected: str):
    """Cases that need the real window or a served model run as the fault suite's tests, in a
    child (offscreen Qt; the server on a loopback port); the row is pytest's verdict."""
    def case(ctx: Ctx):
        out = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                              "no:logging", path, "-k", select], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT),
                                  "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"},
                             capture_output=True, text=True, timeout=900)
        failed = [ln.split("::")[-1][:60] for ln in out.stdout.splitlines()
                  if ln.startswith("FAILED")]
        seen = _last(out.stdout) + (f"; failed: {', '.join(failed)}" if failed else "")
        return expected, seen[:160], out.returncode == 0
    return case


GUI_TESTS = "tests/faults/test_gui_inputs.py"
SERVER_TESTS = "tests/faults/test_server_inputs.py"
WORDS = "named in words, no traceback; the page stays usable; earlier work kept"

CASES: dict[str, Callable[[Ctx], object]] = {
    "row 1  rerun a killed run without --resume": kill_then_rerun,
    "row 2  truncated user_models.json": lambda c: user_list(c, b'[{"id": "x", "pa', "row2"),
    "row 3  two talk.wav into one --output-dir": same_stem,
    "row 4  damaged chats.sqlite3, the app started": _pytest_cases(
        "damaged_chat_history", "tests/gui/test_startup_faults.py",
        "the app starts fully, the file moved aside and named, Chat works"),
    "row 5  non-UTF-8 user_models.json": lambda c: user_list(c, b"\xff\xfe\x00[", "row5"),
    "row 6  a read-only data folder": _pytest_cases(
        "read_only", "tests/gui/test_startup_faults.py",
        "the window opens and names the folder; the app process paints, no traceback"),
    "row 7  classify a 20 MB one-line file": _pytest_cases(
        "huge_one_line", "tests/core/test_large_inputs.py",
        "bounded peak memory, the text cut with a notice, not echoed"),
    "row 8  full disk during a LoRA checkpoint": lambda c: disk_full_checkpoint(c, "lora", 2),
    "row 9  full disk at a full run's first save": lambda c: disk_full_checkpoint(c, "full", 1),
    "row 10 two runs of one name at once": same_name_twice,
    "row 11 six models add at once": six_adds,
    "row 12 SIGTERM during a run": lambda c: _signal_run(c, signal.SIGTERM, 143, "row12"),
    "row 13 --output-dir names a file": output_dir_is_file,
    "row 14 Ctrl+C during chat": chat_ctrl_c,
    "row 15 gpt2, --batch-size 0, --max-length": small_refusals,
    "kill -9 at three points, then --resume": kill_points,
    "Ctrl+C during finetune": lambda c: _signal_run(c, signal.SIGINT, 130, "ctrlc"),
    "damaged chats.sqlite3": damaged_history,
    "offline Hub id": offline_hub,
    "damaged settings.ini": damaged_settings,
    "50 MB CSV to classify": big_table,
    "GUI Classify: empty, binary, UTF-16, mixed, huge line, no column, folder, vanished, odd "
    "names": _pytest_cases("classify", GUI_TESTS, WORDS),
    "GUI Transcribe: corrupt, empty, truncated, wrong extension, folder, vanished":
        _pytest_cases("transcribe", GUI_TESTS, WORDS),
    "GUI Fine-tune New-run dialog: the same bad data files":
        _pytest_cases("finetune", GUI_TESTS, WORDS),
    "GUI Chat: a model whose folder or weights are gone": _pytest_cases("chat", GUI_TESTS, WORDS),
    "server: malformed JSON, wrong types, empty messages, unknown model, huge prompt":
        _pytest_cases("body or types or empty or unknown or huge", SERVER_TESTS,
                      "400/404 in OpenAI's shape naming the field; the server goes on"),
    "server: empty, binary, truncated, wrong-extension audio uploads":
        _pytest_cases("audio or upload", SERVER_TESTS,
                      "400 naming the client's file; a good upload transcribed after"),
    "server: an engine failing mid-stream, a 500":
        _pytest_cases("engine or internal", SERVER_TESTS,
                      "an error event / 500 in OpenAI's shape; the connection and server go on"),
}


def soak(minutes: float) -> None:
    if not (ROOT / "bench" / "soak.py").is_file():
        print("soak: skipped (bench/soak.py, the 30-minute soak in one app process, is not here)")
        return
    subprocess.run([PY, str(ROOT / "bench" / "soak.py"), "--minutes", str(minutes)], cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=900, help="seconds for the whole matrix")
    ap.add_argument("--only", nargs="*", help="run only cases whose name holds one of these")
    ap.add_argument("--soak", action="store_true", help="then run the soak (bench/soak.py)")
    ap.add_argument("--soak-minutes", type=float, default=30)
    args = ap.parse_args()
    from tests.tiny_models import tiny_gpt2

    work = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    tiny_lm = tiny_gpt2(work / "tiny-lm")
    tiny_chat = tiny_gpt2(work / "tiny-chat")
    from transformers import AutoTokenizer

    from tests.conftest import TINY_CHAT_TEMPLATE

    tok = AutoTokenizer.from_pretrained(tiny_chat)
    tok.chat_template = TINY_CHAT_TEMPLATE
    tok.save_pretrained(tiny_chat)
    ctx = Ctx(work, tiny_lm, tiny_chat)
    started = time.monotonic()
    rows = []
    for name, case in CASES.items():
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        if time.monotonic() - started > args.budget:
            rows.append((name, "-", "skipped: over the time budget", None))
            continue
        t = time.monotonic()
        try:
            result = case(ctx)
        except Exception as exc:  # a case that crashed is a failed case, the matrix goes on
            result = ("-", f"crashed: {exc.__class__.__name__}: {exc}"[:100], False)
        for expected, observed, passed in (result if isinstance(result, list) else [result]):
            rows.append((name, expected, f"{observed} [{time.monotonic() - t:.0f} s]", passed))
        print(f"{name}: {'pass' if rows[-1][3] else rows[-1][3]}", file=sys.stderr, flush=True)
    print("\n| case | expected | observed | pass |\n|---|---|---|---|")
    for name, expected, observed, passed in rows:
        mark = {True: "pass", False: "FAIL", None: "skip"}[passed]
        print(f"| {name} | {expected} | {observed} | {mark} |")
    ran = [r for r in rows if r[3] is not None]
    print(f"\n{sum(bool(r[3]) for r in ran)}/{len(ran)} passed in "
          f"{time.monotonic() - started:.0f} s (work folder {work})")
    shutil.rmtree(work, ignore_errors=True)
    if args.soak:
        soak(args.soak_minutes)
    return 0 if all(r[3] for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
