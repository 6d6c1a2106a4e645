"""The model registry, Hub downloads, GGUF conversion, the one HF loader and adapters."""
