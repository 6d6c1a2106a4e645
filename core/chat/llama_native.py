"""Opening a GGUF in llama.cpp, with one clear sentence for each way it can fail.

llama-cpp-python reports every failed load as "Failed to load model from file"; the reason (an
unknown architecture, a tensor out of the file's bounds...) only goes to llama.cpp's log. The log
is routed here so that the lines a load writes on its own thread become its error message. The
route is installed once per process because llama.cpp has one log callback per process.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any

from core.chat.gguf_file import GgufInfo
from core.errors import BadInput, ModelUnavailable, OutOfMemory

CONTEXT_HINT = "Set a lower context cap (chat --context N), or pick a smaller model."
LOG_WARN, LOG_ERROR = 3, 4  # ggml_log_level (ggml.h): none, debug, info, warn, error, cont


class _LogRoute:
    """llama.cpp's log callback: warnings and errors logged by a thread that is loading a model
    are kept for its message; everything else is dropped, as llama-cpp-python does unless asked
    to be verbose."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._guard = threading.Lock()
        self._callback: Any = None  # kept alive while llama.cpp holds it

    def install(self) -> None:
        with self._guard:
            if self._callback is not None:
                return
            import llama_cpp
            import llama_cpp._logger  # it installs its own route on import: replaced below

            local = self._local

            @llama_cpp.llama_log_callback
            def route(level: int, text: bytes, _user: Any) -> None:
                lines = getattr(local, "lines", None)
                if lines is not None and level in (LOG_WARN, LOG_ERROR) and text:
                    lines.append(text.decode("utf-8", "replace").strip())

            llama_cpp.llama_log_set(route, ctypes.c_void_p(0))
            self._callback = route

    def start(self) -> list[str]:
        self._local.lines = []
        return self._local.lines

    def stop(self) -> None:
        self._local.lines = None


_LOG = _LogRoute()


def cache_bytes(gguf: GgufInfo, context: int) -> int | None:
    """About how much memory the key/value cache of ``context`` tokens takes (f16), or None when
    the header does not say enough."""
    meta, arch = gguf.metadata, gguf.architecture
    layers = meta.get(f"{arch}.block_count")
    heads = meta.get(f"{arch}.attention.head_count")
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", heads)
    width = meta.get(f"{arch}.embedding_length")
    if not all(isinstance(v, int) and v > 0 for v in (layers, heads, kv_heads, width)):
        return None
    key = meta.get(f"{arch}.attention.key_length") or width // heads
    value = meta.get(f"{arch}.attention.value_length") or width // heads
    return layers * context * kv_heads * (key + value) * 2


def check_memory(gguf: GgufInfo, context: int) -> None:
    """OutOfMemory before loading when the context's cache cannot fit in the free memory."""
    import psutil

    need = cache_bytes(gguf, context)
    free = psutil.virtual_memory().available
    if need is not None and need > free:
        raise OutOfMemory(
            f"A context of {context:,} tokens needs about {need / 2**30:.1f} GiB for its cache; "
            f"{free / 2**30:.1f} GiB of memory is free.", hint=CONTEXT_HINT)


def load_llama(gguf: GgufInfo, *, context: int, gpu_layers: int, threads: int,
               on_gpu: bool) -> Any:
    """A ``llama_cpp.Llama`` for ``gguf``, or a typed error that says why not."""
    name = gguf.path.rsplit("/", 1)[-1]
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelUnavailable(
            "The llama.cpp engine (llama-cpp-python) is not installed.",
            hint="Run 'make run' again to build it, or chat with --engine transformers.") from exc
    if not on_gpu:
        check_memory(gguf, context)
    _LOG.install()
    lines = _LOG.start()
    try:
        return llama_cpp.Llama(
            gguf.path, n_ctx=context, n_batch=min(512, context), n_threads=threads,
            n_threads_batch=threads, n_gpu_layers=gpu_layers, verbose=False)
    except ValueError as exc:
        reason = next((ln for ln in reversed(lines) if ln), "")
        if "context" in str(exc):
            raise OutOfMemory(f"llama.cpp could not make a context of {context:,} tokens for "
                              f"'{name}'{': ' + reason if reason else ''}.",
                              hint=CONTEXT_HINT) from exc
        if any("unknown model architecture" in ln for ln in lines):
            raise BadInput(f"'{name}' is a '{gguf.architecture}' model: an architecture this "
                           "llama.cpp build does not know.",
                           hint="Update llama-cpp-python, or pick another model.") from exc
        raise BadInput(f"llama.cpp cannot load '{name}': "
                       f"{reason or 'the file is corrupt or not a model it knows'}.") from exc
    except MemoryError as exc:
        raise OutOfMemory(f"Not enough memory to load '{name}'.", hint=CONTEXT_HINT) from exc
    finally:
        _LOG.stop()
