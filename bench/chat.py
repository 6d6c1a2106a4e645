"""Chat benchmark, run by hand:

    .venv/bin/python bench/chat.py [--runs 3] [--new-tokens 128]

1. SmolLM2-135M-Instruct (the bundled pack, converted once), greedy, N new tokens: tokens/s and
   time to first token through the app's ChatEngine against plain ``model.generate`` on the same
   loaded model, alternating, medians. Goals: tokens/s >= 0.95x, TTFT <= 1.1x.
2. The longest event-loop stall while the real Chat panel streams a reply (a 5 ms QTimer
   heartbeat, offscreen). Goal: <= 50 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "Write a detailed story about a lighthouse keeper who finds a message in a bottle."


def converted_smollm2():
    from core.cancel import CancelToken
    from core.events import Done
    from core.models.convert import ensure_loadable
    from core.models.registry import Registry

    registry = Registry()
    entry = registry.get("smollm2-135m-instruct")
    for ev in ensure_loadable(registry, entry, CancelToken()):
        if isinstance(ev, Done):
            return ev.result.load_path
    raise SystemExit("conversion failed")


def raw_run(model, tok, ids, n):
    """Plain transformers: TTFT from a 1-token generate, rate from an n-token generate."""
    import torch

    with torch.inference_mode():
        t0 = time.perf_counter()
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1,
                       do_sample=False, pad_token_id=tok.pad_token_id)
        ttft = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                             do_sample=False, pad_token_id=tok.pad_token_id)
        total = time.perf_counter() - t0
    new = out.shape[1] - ids.shape[1]
    return new, ttft, (new - 1) / (total - ttft)


def app_run(engine, n):
    from core.cancel import CancelToken
    from core.chat import ChatRequest, GenerationSettings
    from core.events import Done

    req = ChatRequest(({"role": "user", "content": PROMPT},),
                      settings=GenerationSettings(decoding="greedy", max_new_tokens=n))
    stats = [ev.result for ev in engine.stream(req, CancelToken()) if isinstance(ev, Done)][0]
    return stats.tokens, stats.ttft_s, stats.tokens_per_s


def stall_benchmark(path: str, n: int) -> tuple[float, int]:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from core.chat import ChatEngine
    from core.events import Done
    from gui.app import make_app
    from gui.panels.chat import ChatPanel
    from gui.window import MainWindow

    app = make_app()
    os.environ["LLM_WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="bench-chat-")
    win = MainWindow()
    engine = [e.result for e in ChatEngine.load(path, name="SmolLM2") if isinstance(e, Done)][0]
    panel = ChatPanel(win.ctx, loader=lambda *_: iter([Done(result=engine)]))
    panel.resize(900, 700)
    panel.show()
    panel.settings_box.decoding.setCurrentIndex(panel.settings_box.decoding.findData("greedy"))
    panel.settings_box.max_new.setValue(n)
    clock = QElapsedTimer()
    gaps: list[float] = []
    last = [0.0]

    def beat():
        now = clock.nsecsElapsed() / 1e6
        if last[0]:
            gaps.append(now - last[0])
        last[0] = now

    heart = QTimer(interval=5, timeout=beat)
    result = {}

    def finished(stats):
        result["stats"] = stats
        heart.stop()
        app.quit()

    panel.reply_finished.connect(finished)
    clock.start()
    heart.start()
    QTimer.singleShot(50, lambda: panel.send(PROMPT))
    app.exec()
    panel.shutdown()
    win.close()
    return max(gaps) - 5.0, result["stats"].tokens


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=128)
    args = ap.parse_args()
    import torch

    from core.chat import ChatEngine, ChatRequest
    from core.events import Done

    path = converted_smollm2()
    engine = [e.result for e in ChatEngine.load(path, name="SmolLM2") if isinstance(e, Done)][0]
    model, tok = engine.model, engine.tokenizer
    ids = torch.tensor([engine.build_prompt(
        ChatRequest(({"role": "user", "content": PROMPT},)))[0]])
    raw_run(model, tok, ids, 8)  # warm-up
    app_run(engine, 8)
    raw, app = [], []
    for _ in range(args.runs):
        raw.append(raw_run(model, tok, ids, args.new_tokens))
        app.append(app_run(engine, args.new_tokens))
    r_tps = statistics.median(r[2] for r in raw)
    a_tps = statistics.median(a[2] for a in app)
    r_ttft = statistics.median(r[1] for r in raw)
    a_ttft = statistics.median(a[1] for a in app)
    print(f"model: SmolLM2-135M-Instruct (converted), greedy, {args.new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads, {args.runs} runs each; tokens made: "
          f"raw {[r[0] for r in raw]}, app {[a[0] for a in app]}")
    print(f"plain model.generate: {r_tps:6.1f} tok/s   TTFT {r_ttft * 1000:6.0f} ms")
    print(f"app ChatEngine:       {a_tps:6.1f} tok/s   TTFT {a_ttft * 1000:6.0f} ms")
    print(f"ratio tokens/s app/raw: {a_tps / r_tps:.3f}x (goal >= 0.95)   "
          f"TTFT app/raw: {a_ttft / r_ttft:.3f}x (goal <= 1.1)")
    engine.close()
    stall, tokens = stall_benchmark(path, args.new_tokens)
    print(f"GUI: longest event-loop stall while streaming {tokens} tokens: {stall:.1f} ms "
          f"(goal <= 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
