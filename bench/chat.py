"""Chat benchmark, run by hand:

    .venv/bin/python bench/chat.py [--runs 3] [--new-tokens 128]

SmolLM2-135M-Instruct (the bundled Q4_1 GGUF), greedy, N new tokens, the same prompt ids on every
side. Three sides, each in a child process of its own (so its peak resident memory and load time
are its own), asked in turn, round after round (alternating, medians):

- app llama.cpp: the app's path (open_chat -> LlamaEngine.stream);
- raw llama.cpp: llama-cpp-python's ``Llama.generate`` on the same file, same context and threads;
- app transformers: the app's path with ``engine="transformers"`` (the GGUF converted once to
  safetensors, beforehand; the conversion is not timed here).

Each run starts from an empty cache (``Llama.reset()``) so time to first token includes the whole
prompt. Goals: app/raw llama.cpp tokens/s >= 0.95x and TTFT <= 1.1x; llama.cpp/transformers
tokens/s >= 5x; llama.cpp peak RSS <= GGUF size + 300 MB; llama.cpp load <= 1 s, no conversion.
Last, the longest event-loop stall while the real Chat panel streams a reply from llama.cpp (a
5 ms QTimer heartbeat, offscreen). Goal: <= 50 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "Write a detailed story about a lighthouse keeper who finds a message in a bottle."
MODEL = "smollm2-135m-instruct"
SIDES = ("app llama.cpp", "raw llama.cpp", "app transformers")


def request(n: int):
    from core.chat import ChatRequest, GenerationSettings

    return ChatRequest(({"role": "user", "content": PROMPT},),
                       settings=GenerationSettings(decoding="greedy", max_new_tokens=n))


def app_run(engine, n: int) -> dict:
    from core.cancel import CancelToken
    from core.events import Done

    if getattr(engine, "llama", None) is not None:
        engine.llama.reset()  # the whole prompt is evaluated, as on the raw side
    stats = [ev.result for ev in engine.stream(request(n), CancelToken())
             if isinstance(ev, Done)][0]
    return {"tokens": stats.tokens, "ttft": stats.ttft_s, "tps": stats.tokens_per_s}


def raw_run(llama, ids: list[int], n: int) -> dict:
    import llama_cpp

    vocab = llama._model.vocab
    llama.reset()
    started = time.perf_counter()
    first = None
    count = 0
    for token in llama.generate(ids, temp=0.0, top_k=50, top_p=0.9, min_p=0.0,
                                repeat_penalty=1.0):
        if first is None:
            first = time.perf_counter()
        count += 1
        if llama_cpp.llama_vocab_is_eog(vocab, token) or count >= n:
            break
        llama.detokenize([token])
    end = time.perf_counter()
    ttft = first - started
    return {"tokens": count, "ttft": ttft,
            "tps": (count - 1) / (end - first) if count > 1 else 0.0}


def child(side: str) -> int:
    """One side: load, answer "run N" lines with a JSON line each, then report peak RSS."""
    from core.cancel import CancelToken
    from core.chat import open_chat
    from core.chat.llama import physical_cores
    from core.events import Done
    from core.models.registry import Registry

    registry = Registry(scan_hf_cache=False)
    started = time.perf_counter()
    out: dict = {}
    if side == "raw llama.cpp":
        import llama_cpp

        line = json.loads(sys.stdin.readline())
        llama = llama_cpp.Llama(registry.get(MODEL).path, n_ctx=line["context"],
                                n_batch=min(512, line["context"]), n_threads=physical_cores(),
                                n_threads_batch=physical_cores(), verbose=False)
        ids = line["ids"]

        def once(n):
            return raw_run(llama, ids, n)
    else:
        engine_name = "llama.cpp" if side == "app llama.cpp" else "transformers"
        engine = [e.result for e in open_chat(registry, MODEL, "cpu", CancelToken(),
                                              engine=engine_name) if isinstance(e, Done)][0]
        out = {"ids": engine.build_prompt(request(8))[0], "context": engine.info.context,
               "line": engine.info.line()}

        def once(n):
            return app_run(engine, n)
    out["load_s"] = time.perf_counter() - started
    print(json.dumps(out), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        print(json.dumps(once(int(line))), flush=True)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
          flush=True)
    return 0


class Side:
    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.runs: list[dict] = []

    def send(self, obj) -> None:
        self.proc.stdin.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name}: the child process ended early")
        return json.loads(line)

    def run(self, n: int) -> dict:
        self.send(str(n))
        result = self.read()
        self.runs.append(result)
        return result

    def finish(self) -> float:
        self.send("")
        peak = self.read()["peak_rss_mb"]
        self.proc.wait(60)
        return peak

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)


def converted_first() -> float | None:
    """Convert the GGUF for the transformers side now, so no side's load includes it."""
    from core.cancel import CancelToken
    from core.models.convert import ensure_loadable
    from core.models.registry import Registry

    registry = Registry(scan_hf_cache=False)
    entry = registry.get(MODEL)
    if entry.converted_path:
        return None
    started = time.perf_counter()
    for _ in ensure_loadable(registry, entry, CancelToken()):
        pass
    return time.perf_counter() - started


def stall_benchmark(n: int) -> tuple[float, int]:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from core.cancel import CancelToken
    from core.chat import open_chat
    from core.events import Done
    from core.models.registry import Registry
    from gui.app import make_app
    from gui.panels.chat import ChatPanel
    from gui.window import MainWindow

    app = make_app()
    os.environ["LLM_WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="bench-chat-")
    win = MainWindow()
    engine = [e.result for e in open_chat(Registry(scan_hf_cache=False), MODEL, "cpu",
                                          CancelToken()) if isinstance(e, Done)][0]
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
    engine.close()
    win.close()
    return max(gaps) - 5.0, result["stats"].tokens


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)

    from core.chat.llama import physical_cores
    from core.models.registry import Registry

    gguf_mb = Path(Registry(scan_hf_cache=False).get(MODEL).path).stat().st_size / 1e6
    conversion = converted_first()
    app_llama = Side("app llama.cpp")
    hello = app_llama.read()
    raw = Side("raw llama.cpp")
    raw.send({"ids": hello["ids"], "context": hello["context"]})
    raw_hello = raw.read()
    app_hf = Side("app transformers")
    hf_hello = app_hf.read()
    sides = (app_llama, raw, app_hf)
    for side in sides:  # warm-up
        side.runs.clear()
        side.run(8)
        side.runs.clear()
    for _ in range(args.runs):
        for side in sides:  # alternating: one run of each side per round
            side.run(args.new_tokens)
    peaks = [side.finish() for side in sides]
    loads = [hello["load_s"], raw_hello["load_s"], hf_hello["load_s"]]

    print(f"model: SmolLM2-135M-Instruct Q4_1 GGUF ({gguf_mb:.0f} MB), greedy, "
          f"{args.new_tokens} new tokens, {len(hello['ids'])} prompt tokens, "
          f"{physical_cores()} threads, {args.runs} alternating runs per side (medians)")
    print(f"app llama.cpp loaded: {hello['line']}")
    if conversion is not None:
        print(f"(the transformers side's one-off GGUF conversion took {conversion:.0f} s before "
              "the runs)")
    print(f"{'side':18} {'tok/s':>7} {'TTFT ms':>8} {'load s':>7} {'peak RSS MB':>12}  tokens")
    for side, load, peak in zip(sides, loads, peaks):
        print(f"{side.name:18} {side.median('tps'):7.1f} {side.median('ttft') * 1000:8.1f} "
              f"{load:7.2f} {peak:12.0f}  {[r['tokens'] for r in side.runs]}")
    tps = app_llama.median("tps") / raw.median("tps")
    ttft = app_llama.median("ttft") / raw.median("ttft")
    speed = app_llama.median("tps") / app_hf.median("tps")
    print(f"app/raw llama.cpp: tokens/s {tps:.3f}x (goal >= 0.95)   TTFT {ttft:.3f}x "
          f"(goal <= 1.1)")
    print(f"app llama.cpp / app transformers: tokens/s {speed:.1f}x (goal >= 5)")
    print(f"app llama.cpp: peak RSS {peaks[0]:.0f} MB (goal <= {gguf_mb + 300:.0f} MB: the GGUF "
          f"+ 300 MB); load {loads[0]:.2f} s (goal <= 1 s, no conversion)")
    stall, tokens = stall_benchmark(args.new_tokens)
    print(f"GUI: longest event-loop stall while streaming {tokens} tokens from llama.cpp: "
          f"{stall:.1f} ms (goal <= 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
