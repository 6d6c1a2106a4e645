"""Event-loop stalls while jobs run, by job kind, with what caused the longest (run by hand).

    .venv/bin/python bench/stalls.py [--rounds 2] [--threshold 50] [--only chat-llama,classify]

One process holds the real main window (offscreen without a display) and runs, through its
JobRunner and the pages' own loaders (the shared model cache), each kind of job a user starts:
loading and chatting on llama.cpp (the bundled SmolLM2 GGUF) and on transformers (its converted
folder, or a tiny GPT-2), loading the sentiment model and classifying 200 SST-2 sentences, loading
whisper tiny.en and transcribing a LibriSpeech clip, and a 6-step LoRA run in its child process.
Tokens reach a text box on the GUI thread as a page shows them.

gui.stall_probe measures: a 10 ms QTimer's lateness (the stall), a watchdog thread's stack samples
every 10 ms (what the threads were doing; a gap means the interpreter was held by a C call) and the
heavy imports with their thread. Printed per job kind and round: the longest stall, the 99th
percentile, how many ticks were over the threshold, and the attribution of the longest. Round 1
pays the first imports; later rounds show the steady state. The machine's load is printed too:
on a busy machine every figure is larger.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
KINDS = ("chat-llama", "chat-transformers", "classify", "transcribe", "finetune")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=50.0, help="a stall, in ms")
    ap.add_argument("--only", default=",".join(KINDS), help=f"job kinds: {', '.join(KINDS)}")
    ap.add_argument("--tokens", type=int, default=48, help="tokens per chat reply")
    ap.add_argument("--no-idle-imports", action="store_true",
                    help="skip the idle warm-up: round 1's jobs import their modules themselves")
    args = ap.parse_args()
    kinds = [k for k in args.only.split(",") if k]
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    home_dir = Path(tempfile.mkdtemp(prefix="bench-stalls-"))
    os.environ["LLM_WORKBENCH_HOME"] = str(home_dir)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QPlainTextEdit

    from core.paths import AppHome
    from gui.stall_probe import StallProbe
    from gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    win = MainWindow(AppHome(home_dir))
    win.show()
    ctx = win.ctx
    probe = StallProbe(win, threshold_ms=args.threshold)
    reply_box = QPlainTextEdit()  # what a page does with each token
    failures: list[str] = []

    def sleep(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait(job) -> object:
        got = []
        loop = QEventLoop()
        job.finished.connect(loop.quit)
        job.failed.connect(lambda exc: failures.append(f"{job.name}: {exc!r}"))
        job.event.connect(lambda ev: got.append(ev))
        if job.is_running():
            loop.exec()
        return got[-1] if got else None

    def ensure(session, model_id, **kw):
        got = []
        loop = QEventLoop()
        session.idle.connect(loop.quit)
        session.failed.connect(lambda exc: (failures.append(f"load {model_id}: {exc!r}"),
                                            loop.quit()))
        session.ensure(model_id, got.append, **kw)
        if not got and session.busy:
            loop.exec()
        session.idle.disconnect(loop.quit)
        if not got:
            raise SystemExit(f"could not load {model_id}: {failures}")
        return got[0]

    def show_tokens(job) -> None:
        from core.chat import Token

        job.event.connect(lambda ev: isinstance(ev, Token) and reply_box.insertPlainText(ev.text))

    # let start-up settle (its own figures are bench/startup.py's), then measure
    win.start_up()
    while not win.is_ready():
        sleep(0.05)
    sleep(2)
    from core.chat import DEFAULT_CHAT_MODEL, ChatRequest, GenerationSettings, open_chat
    from core.classify import DEFAULT_CLASSIFY_MODEL, read_table
    from core.finetune import FinetuneConfig, train_in_child
    from core.transcribe import DEFAULT_FASTER_MODEL, TranscribeOptions
    from gui.panels.chat.loaded import default_loader as chat_loader
    from gui.panels.classify.panel import default_loader as classify_loader
    from gui.panels.transcribe.engine import transcriber_opener
    from gui.widgets.model_session import ModelSession

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
    tiny = home_dir / "tiny-gpt2"  # made in a child: torch and transformers stay out of here
    import subprocess

    subprocess.run([sys.executable, "-c", "import sys; from tests.tiny_models import tiny_gpt2; "
                    "tiny_gpt2(__import__('pathlib').Path(sys.argv[1]))", str(tiny)],
                   cwd=ROOT, check=True, capture_output=True)
    chat_entry = ctx.registry.get(DEFAULT_CHAT_MODEL)
    hf_chat = chat_entry.converted_path or str(tiny)
    request = ChatRequest(({"role": "user", "content": "Name three colours and say why."},),
                          settings=GenerationSettings(max_new_tokens=args.tokens))
    phases: list[str] = []

    def phase(name: str) -> None:
        phases.append(name)
        probe.phase(name)

    probe.start()
    sleep(1)
    phase("idle")
    sleep(2)
    if args.no_idle_imports:
        win.idle_imports.stop()
    else:  # what the window does when the user leaves it idle on each page (gui.warmup)
        phase("idle: warm-up imports (all pages)")
        for page in ("chat", "classify", "transcribe"):
            win.idle_imports.want(page)
        while win.idle_imports.pending() or win.idle_imports.busy():
            sleep(0.1)
    print("heavy modules in before the jobs:", sorted(
        m for m in ("torch", "transformers", "ctranslate2", "faster_whisper", "llama_cpp", "av")
        if m in sys.modules), flush=True)
    for r in range(1, args.rounds + 1):
        tag = f" #{r}"
        if "chat-llama" in kinds:
            phase("load chat (llama.cpp)" + tag)
            engine = ensure(sessions["chat"], DEFAULT_CHAT_MODEL)
            phase("chat reply (llama.cpp)" + tag)
            job = ctx.runner.start("Reply", lambda c, e=engine: e.stream(request, c))
            show_tokens(job)
            wait(job)
        if "chat-transformers" in kinds:
            phase("load chat (transformers)" + tag)
            done = wait(ctx.runner.start("Load", lambda c: open_chat(
                ctx.registry, hf_chat, "auto", c, engine="transformers")))
            engine = getattr(done, "result", None)
            if engine is not None:
                phase("chat reply (transformers)" + tag)
                job = ctx.runner.start("Reply", lambda c, e=engine: e.stream(request, c))
                show_tokens(job)
                wait(job)
                if hasattr(engine, "close"):
                    engine.close()
        if "classify" in kinds:
            phase("load classify" + tag)
            classifier = ensure(sessions["classify"], DEFAULT_CLASSIFY_MODEL)
            phase("classify file (200 rows)" + tag)
            wait(ctx.runner.start("Classify file", lambda c, m=classifier: m.classify(
                read_table(sentences).texts, c)))
        if "transcribe" in kinds:
            phase("load transcribe" + tag)
            transcriber = ensure(sessions["transcribe"], DEFAULT_FASTER_MODEL,
                                 options=("faster-whisper", "auto"))
            phase("transcribe (clip)" + tag)
            wait(ctx.runner.start("Transcribe", lambda c, t=transcriber: t.transcribe(
                audio, TranscribeOptions(model=DEFAULT_FASTER_MODEL), c)))
        if "finetune" in kinds:
            phase("fine-tune, LoRA in child" + tag)
            config = FinetuneConfig(task="causal-lm", base=str(tiny), data=(str(shakespeare),),
                                    output=f"stalls-{r}", method="lora", max_steps=6,
                                    batch_size=4, chunk_length=128, overlap=16, save_steps=100,
                                    device="cpu")
            wait(ctx.runner.start("Fine-tune", lambda c, cf=config: train_in_child(
                cf, c, home=ctx.home, registry=ctx.registry)))
    phase("end")
    probe.stop()

    load = os.getloadavg()
    print(f"stall probe: {probe.interval_ms} ms timer, stall > {args.threshold:g} ms; "
          f"cpus {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'job':34s} {'longest':>8s} {'p99':>7s} {'>thr':>5s} {'ticks':>6s}  cause of the longest")
    for name in phases[:-1]:
        worst, p99, ticks = probe.summary(name)
        over = sum(1 for s in probe.stalls if s.phase == name)
        stall = probe.worst(name)
        print(f"{name:34s} {worst:6.0f}ms {p99:5.0f}ms {over:5d} {ticks:6d}  "
              f"{stall.describe() if stall else '-'}")
    if failures:
        print("failures:", *failures, sep="\n  ")
    win.close()
    sleep(1)
    app.quit()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
