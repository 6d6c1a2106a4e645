"""`python -m gui` runs LLM Workbench (the app, or the CLI with a subcommand)."""
import sys

from gui.launcher import main

sys.exit(main())
