"""Server benchmark, run by hand:

    .venv/bin/python bench/serve.py [--clients 16] [--seconds 60] [--single-seconds 20]
                                    [--max-tokens 48] [--port 0]

Starts ``python main.py serve --models smollm2-135m-instruct`` in a child process on loopback (so
its resident memory is its own), warms it up, then:

1. one streaming client alone, request after request, for --single-seconds: its tokens/s;
2. --clients concurrent streaming clients (the real ``openai`` package, one thread each), each
   starting requests back to back until --seconds have passed; requests in flight then finish
   (bounded: the server's per-request timeout).

Prints requests completed, failures (429s counted apart: goal 0 other failures), p50/p95 time to
first token and total latency, aggregate tokens/s against the single client (goal >= 0.9x:
queueing costs nothing, since one model serves one request at a time either way), and the
server's resident memory before and after the concurrent phase (goal: growth <= 50 MB).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
PROMPT = "Write a short story about a lighthouse keeper."


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode})")
        try:
            urllib.request.urlopen(f"{url}/models", timeout=5).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not start in time")


def one_request(client, max_tokens: int) -> dict:
    import openai

    started = time.perf_counter()
    ttft = None
    tokens = 0
    try:
        stream = client.chat.completions.create(
            model=MODEL, stream=True, max_tokens=max_tokens, temperature=0,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": PROMPT}])
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and ttft is None:
                ttft = time.perf_counter() - started
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
    except openai.RateLimitError:
        return {"status": 429}
    except Exception as exc:  # counted as a failure and shown
        return {"status": "failed", "error": f"{exc.__class__.__name__}: {exc}"}
    return {"status": 200, "ttft": ttft, "latency": time.perf_counter() - started,
            "tokens": tokens}


def phase(url: str, clients: int, seconds: float, max_tokens: int) -> tuple[list[dict], float]:
    from openai import OpenAI

    results: list[dict] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        client = OpenAI(base_url=url, api_key="bench", max_retries=0, timeout=600)
        while time.monotonic() < deadline:
            r = one_request(client, max_tokens)
            with lock:
                results.append(r)
            if r["status"] == 429:
                time.sleep(1.0)

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--single-seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port), "--models", MODEL,
           "--device", "cpu", "--queue", str(max(32, args.clients * 2))]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(url, proc)
        from openai import OpenAI

        warm = OpenAI(base_url=url, api_key="bench", max_retries=0)
        one_request(warm, 8)

        single, single_s = phase(url, 1, args.single_seconds, args.max_tokens)
        single_tps = sum(r.get("tokens", 0) for r in single) / single_s
        rss_start = rss_mb(proc.pid)
        many, many_s = phase(url, args.clients, args.seconds, args.max_tokens)
        rss_end = rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()

    ok = [r for r in many if r["status"] == 200]
    limited = [r for r in many if r["status"] == 429]
    failed = [r for r in many if r["status"] == "failed"]
    tps = sum(r["tokens"] for r in ok) / many_s
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    lats = [r["latency"] for r in ok]
    report = {
        "command": " ".join(["bench/serve.py", f"--clients {args.clients}",
                             f"--seconds {args.seconds:g}",
                             f"--single-seconds {args.single_seconds:g}",
                             f"--max-tokens {args.max_tokens}"]),
        "single_client": {"requests": len(single), "tokens_per_s": round(single_tps, 2)},
        "concurrent": {"clients": args.clients, "wall_s": round(many_s, 1),
                       "completed": len(ok), "rate_limited_429": len(limited),
                       "failures": len(failed),
                       "ttft_p50_s": round(pct(ttfts, 0.5), 3),
                       "ttft_p95_s": round(pct(ttfts, 0.95), 3),
                       "latency_p50_s": round(pct(lats, 0.5), 3),
                       "latency_p95_s": round(pct(lats, 0.95), 3),
                       "tokens_per_s": round(tps, 2)},
        "throughput_vs_single": round(tps / single_tps, 3) if single_tps else None,
        "server_rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1),
                          "growth": round(rss_end - rss_start, 1)},
    }
    for r in failed[:3]:
        print("failure:", r["error"], file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
