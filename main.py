"""LLM Workbench: `python main.py` opens the app; `python main.py SUBCOMMAND` runs the CLI.
(The entry point itself is gui.launcher, which `python -m gui` and `llm-workbench` run too.)"""
from __future__ import annotations

import sys

from gui.launcher import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
