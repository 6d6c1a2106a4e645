"""LLM Workbench: `python main.py` opens the app; `python main.py SUBCOMMAND` runs the CLI."""
from __future__ import annotations

import argparse
import sys


class _Version(argparse.Action):
    """--version, looked up only when asked (the window should not wait for it)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from core.runtime import app_version

        print(f"LLM Workbench {app_version()}")
        parser.exit()


def build_parser(with_subcommands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__)
    parser.add_argument("--version", action=_Version, help="print the app's version and exit")
    parser.add_argument("--screenshot", metavar="PATH",
                        help="open the window, save a PNG once it has painted, and exit")
    parser.add_argument("--page", metavar="NAME",
                        help="page to show: chat, classify, transcribe, finetune or models")
    parser.add_argument("--wait-idle", action="store_true",
                        help="with --screenshot: wait until background jobs finish first")
    if with_subcommands:
        from core.cli import add_subcommands

        sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
        add_subcommands(sub)
    else:
        parser.set_defaults(command=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The GUI path skips the CLI modules: the window should paint as early as possible.
    cli = bool(argv) and (argv[0] in ("-h", "--help") or not argv[0].startswith("-"))
    args = build_parser(with_subcommands=cli).parse_args(argv)
    if args.command:
        from core.cli import run
        from core.runtime import use_spawn

        use_spawn()
        return run(args)
    from gui.app import run_app  # PySide6 only; torch loads later, in workers

    return run_app(screenshot=args.screenshot, page=args.page, wait_idle=args.wait_idle)


if __name__ == "__main__":
    sys.exit(main())
