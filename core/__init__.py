"""Model work for LLM Workbench. Nothing in this package imports Qt."""
