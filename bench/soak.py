"""Soak benchmark, run by hand: one app process alternating jobs, resident memory every minute.

    .venv/bin/python bench/soak.py [--minutes 30] [--settle 4] [--idle-minutes 1]

One process holds the real main window (offscreen when there is no display) and runs, round after
round, what a user does: a short chat reply (SmolLM2, bundled), a classify file (200 SST-2
sentences, the bundled sentiment model), a transcription (the bundled Whisper base, a
LibriSpeech clip) and a short LoRA run (tiny random GPT-2, 6 steps, in its child process as the Fine-tune
page runs it). Models load through ModelSessions with the pages' own loaders, so they sit in the
app's shared model cache, whose idle time is set to ``--idle-minutes``. Jobs run through the
window's JobRunner. Rounds start until ``--minutes`` less ``--settle`` have passed; then at
least ``--settle`` minutes are idle: the cache unloads the models and the
resident memory should fall back (goal: at most 1.5 GB).

Before the first round the window starts as the app does and is left idle until its idle warm-up
has imported what the pages' jobs need and parsed the Whisper tokenizer (gui.warmup), as for a
user who looks at the window before picking a file; its longest stall is printed on its own line.
``--no-idle-imports``: the first jobs import and parse all that themselves.

Printed every minute: the resident memory of the app process (and of its children), the models
loaded, the jobs done so far, and the longest event-loop stall of that minute, measured by a 10 ms
QTimer that records its own lateness (goal <= 50 ms).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
TICK_MS = 10


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--settle", type=float, default=4, help="idle minutes at the end")
    ap.add_argument("--idle-minutes", type=float, default=1,
                    help="the model cache's idle time for this soak")
    ap.add_argument("--no-idle-imports", action="store_true",
                    help="no idle warm-up before the first round")
    ap.add_argument("--debug", action="store_true", help="print each step")
    args = ap.parse_args()
    if args.debug:
        import faulthandler

        faulthandler.dump_traceback_later(120, repeat=True)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    home_dir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    os.environ["LLM_WORKBENCH_HOME"] = str(home_dir)

    import psutil
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from core.models.cache import CacheSettings
    from core.paths import AppHome
    from gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    win = MainWindow(AppHome(home_dir))
    win.show()
    ctx = win.ctx
    cache = ctx.model_cache
    cache.set_settings(CacheSettings(budget_bytes=cache.settings.budget_bytes,
                                     idle_s=args.idle_minutes * 60))
    from core.chat import DEFAULT_CHAT_MODEL, ChatRequest, GenerationSettings
    from core.classify import DEFAULT_CLASSIFY_MODEL, read_table
    from core.finetune import FinetuneConfig, train_in_child
    from core.transcribe import DEFAULT_FASTER_MODEL, TranscribeOptions
    from gui.panels.chat.loaded import default_loader as chat_loader
    from gui.panels.classify.panel import default_loader as classify_loader
    from gui.panels.transcribe.engine import transcriber_opener
    from gui.widgets.model_session import ModelSession
    from tests.tiny_models import tiny_gpt2

    sessions = {"chat": ModelSession(ctx, chat_loader(ctx)),
                "classify": ModelSession(ctx, classify_loader(ctx)),
                "transcribe": ModelSession(ctx, transcriber_opener(ctx.registry,
                                                                 tokenizers=ctx.whisper_tokenizers))}
    rows = (EVAL / "sst2_dev.tsv").read_text(encoding="utf-8").splitlines()[:201]
    sentences = home_dir / "sentences.tsv"
    sentences.write_text("\n".join(rows) + "\n", encoding="utf-8")
    audio = EVAL / "speech" / "1089-134686-0000.flac"
    shakespeare = home_dir / "shakespeare.txt"
    shakespeare.write_text((EVAL / "tiny_shakespeare.txt").read_text(encoding="utf-8")[:20_000],
                           encoding="utf-8")
    tiny = tiny_gpt2(home_dir / "tiny-gpt2")
    prompts = ["Name three colours."]
    rounds = 0
    t_options = TranscribeOptions(model=DEFAULT_FASTER_MODEL)
    proc = psutil.Process()
    start = time.monotonic()
    stats = {"stall_ms": 0.0, "last": time.monotonic(), "jobs": 0, "failed": []}

    def tick() -> None:
        now = time.monotonic()
        late = (now - stats["last"]) * 1000 - TICK_MS
        stats["stall_ms"] = max(stats["stall_ms"], late)
        stats["last"] = now

    ticker = QTimer()
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(tick)
    ticker.start()
    minute = {"n": 0}

    def report() -> None:
        minute["n"] += 1
        rss = proc.memory_info().rss / 2**20
        kids = sum(c.memory_info().rss for c in proc.children(recursive=True)) / 2**20
        loaded = ", ".join(f"{x.name} ({x.size_bytes / 2**20:.0f} MB)" for x in cache.loaded())
        print(f"min {minute['n']:3d}  RSS {rss:7.0f} MiB  children {kids:6.0f} MiB  "
              f"longest stall {stats['stall_ms']:6.1f} ms  jobs {stats['jobs']:3d}  "
              f"loaded: {loaded or '-'}", flush=True)
        stats["stall_ms"] = 0.0

    reporter = QTimer()
    reporter.setInterval(60_000)
    reporter.timeout.connect(report)
    reporter.start()

    def step(text: str) -> None:
        if args.debug:
            print(f"  {time.monotonic() - start:7.1f} s  {text}", flush=True)

    def wait(job) -> None:
        step(job.name)
        loop = QEventLoop()
        job.finished.connect(loop.quit)
        job.failed.connect(lambda exc: stats["failed"].append(repr(exc)))
        if job.is_running():
            loop.exec()
        stats["jobs"] += 1

    def ensure(session, model_id, **kw):
        step(f"ensure {model_id}")
        got = []
        loop = QEventLoop()
        session.idle.connect(loop.quit)
        session.failed.connect(lambda exc: (stats["failed"].append(repr(exc)), loop.quit()))
        session.ensure(model_id, got.append, **kw)
        if not got and session.busy:
            loop.exec()
        session.idle.disconnect(loop.quit)
        if not got:
            raise SystemExit(f"could not load {model_id}: {stats['failed']}")
        return got[0]

    def sleep(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    if not args.no_idle_imports:  # the window's start-up, then the idle warm-up of three pages
        win.start_up()
        while not win.is_ready():
            sleep(0.05)
        began, stats["stall_ms"] = time.monotonic(), 0.0
        for page in ("chat", "classify", "transcribe"):
            win.idle_imports.want(page)
        while win.idle_imports.pending() or win.idle_imports.busy():
            sleep(0.1)
        print(f"idle warm-up: {time.monotonic() - began:.1f} s, longest stall "
              f"{stats['stall_ms']:.1f} ms", flush=True)
        stats["stall_ms"] = 0.0
        start = time.monotonic()
        reporter.start()  # minutes from here
    print(f"soak: {args.minutes:g} min, jobs until minute {args.minutes - args.settle:g}, "
          f"cache idle time {args.idle_minutes:g} min; start RSS "
          f"{proc.memory_info().rss / 2**20:.0f} MiB", flush=True)
    while time.monotonic() - start < (args.minutes - args.settle) * 60:
        rounds += 1
        engine = ensure(sessions["chat"], DEFAULT_CHAT_MODEL)
        for p in prompts:
            req = ChatRequest(({"role": "user", "content": p},),
                              settings=GenerationSettings(max_new_tokens=16))
            wait(ctx.runner.start("Reply", lambda c, r=req, e=engine: e.stream(r, c)))
        classifier = ensure(sessions["classify"], DEFAULT_CLASSIFY_MODEL)
        wait(ctx.runner.start("Classify file", lambda c, m=classifier: m.classify(
            read_table(sentences).texts, c)))
        transcriber = ensure(sessions["transcribe"], DEFAULT_FASTER_MODEL,
                             options=("faster-whisper", "auto"))
        wait(ctx.runner.start("Transcribe", lambda c, t=transcriber: t.transcribe(
            audio, t_options, c)))
        config = FinetuneConfig(task="causal-lm", base=str(tiny), data=(str(shakespeare),),
                                output=f"soak-{rounds}", method="lora", max_steps=6,
                                batch_size=4, chunk_length=128, overlap=16, save_steps=100,
                                device="cpu")
        wait(ctx.runner.start("Fine-tune", lambda c, cf=config: train_in_child(
            cf, c, home=ctx.home, registry=ctx.registry)))
    # the sessions keep their models, as pages do: the cache's idle time frees them
    print(f"jobs done after {rounds} round(s) at {(time.monotonic() - start) / 60:.1f} min; "
          f"idle now", flush=True)
    idle_until = max(start + args.minutes * 60, time.monotonic() + args.settle * 60)
    while time.monotonic() < idle_until:
        sleep(1)
    report()
    print(f"end: RSS {proc.memory_info().rss / 2**20:.0f} MiB (goal <= 1536), failures: "
          f"{stats['failed'] or 'none'}", flush=True)
    win.close()
    sleep(2)
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
