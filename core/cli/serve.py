"""The `serve` subcommand: the local OpenAI-compatible server, in the foreground until Ctrl+C."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli import add_device_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.server import ServerConfig

    d = ServerConfig()  # the defaults live there once
    serve = sub.add_parser("serve", help="serve the models on an OpenAI-compatible HTTP API")
    serve.add_argument("--host", default=d.host,
                       help="address to listen on (default: %(default)s; any other address "
                            "needs --api-key)")
    serve.add_argument("--port", type=int, default=d.port, help="default: %(default)s")
    serve.add_argument("--api-key", metavar="KEY",
                       help="require 'Authorization: Bearer KEY' on every request")
    serve.add_argument("--models", metavar="ID,...", default="",
                       help="load these models at start (others load on their first request)")
    serve.add_argument("--allow-downloads", action="store_true",
                       help="serve Hub models too, downloading them on their first request")
    serve.add_argument("--cors", metavar="ORIGIN", action="append", default=[],
                       help="allow browser pages from ORIGIN to call the API (repeatable); "
                            "default: no CORS")
    serve.add_argument("--memory-budget", type=int, metavar="MB", default=d.memory_budget_mb,
                       help="unload the least recently used model past this much "
                            "(default: half the machine's RAM)")
    serve.add_argument("--queue", type=int, metavar="N", default=d.queue_size,
                       help="requests that may wait for one model; more get 429 "
                            "(default: %(default)s)")
    serve.add_argument("--timeout", type=float, metavar="S", default=d.request_timeout_s,
                       help="per-request time limit in seconds (default: %(default)s)")
    add_device_option(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.server import ServerConfig, ServerHandle, bind

    config = ServerConfig(
        host=args.host, port=args.port, api_key=args.api_key,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        allow_downloads=args.allow_downloads, cors=tuple(args.cors), device=args.device,
        memory_budget_mb=args.memory_budget, queue_size=args.queue,
        request_timeout_s=args.timeout).validate()
    handle = ServerHandle(config, registry=args.registry)

    sock = bind(config)  # a port in use is said now, before any model loads
    try:
        if config.models:
            print(f"Loading {', '.join(config.models)}…", file=err, flush=True)
            names = handle.preload()
            print(f"Loaded {', '.join(names)}.", file=err, flush=True)
    except BaseException:
        sock.close()
        handle.state.pool.close()
        raise
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"Serving on http://{host}:{sock.getsockname()[1]}/v1  (Ctrl+C stops)", file=err,
          flush=True)
    if config.api_key:
        print("Every request needs 'Authorization: Bearer <the key>'.", file=err, flush=True)
    handle.serve_forever(sock)
    print("Stopped.", file=err, flush=True)
    return 0
