"""Chat on llama.cpp (llama-cpp-python): a GGUF file chats as it is, without conversion.

``LlamaEngine.load(path, ...)`` reads the GGUF header first (gguf_file.py: a truncated or foreign
file is refused before native code sees it), then loads the model with the context length the
file declares (capped by ``max_context``), one thread per physical core, and every layer on the
GPU when this llama.cpp build can offload. ``engine.stream(request, cancel)`` answers the same
ChatRequest with the same events as the transformers ChatEngine: Truncated, Token..., then
Done(ReplyStats). The prompt is the GGUF's chat template rendered as transformers renders it
(template.py). Tokens are drawn one at a time on the caller's thread and the cancel token is
checked before each, so Stop ends a reply within one token and keeps what was shown. Beam search
is a transformers feature and is refused here.
"""
from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.cancel import CancelToken
from core.chat.engine import LoadedInfo, ReplyStats, Token, Truncated
from core.chat.gguf_file import GgufInfo, read_gguf
from core.chat.llama_native import load_llama
from core.chat.settings import ChatRequest, fit_prompt
from core.errors import BadInput, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.gguf_info import gguf_file

ENGINE_NAME = "llama.cpp"
FALLBACK_CONTEXT = 2048  # a GGUF that does not declare its context length
BEAM_REFUSED = "Beam search needs the transformers engine."
BEAM_HINT = "Pick greedy or sampling, or load the model with the transformers engine."


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can run layers on a GPU (CUDA, Metal, Vulkan...)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaEngine:
    """A GGUF model loaded in llama.cpp. Its lock lets one reply run at a time, whoever asks;
    ``close()`` ends a reply in progress at its next token and frees the model."""

    engine = ENGINE_NAME

    def __init__(self, llama: Any, info: LoadedInfo, gguf: GgufInfo) -> None:
        from core.chat.template import compile_template

        self.llama = llama
        self.info = info
        self.gguf = gguf
        self._lock = threading.Lock()  # one reply at a time per loaded model
        self._closing = threading.Event()
        self._template = compile_template(gguf.chat_template) if gguf.chat_template else None
        self._vocab = llama._model.vocab
        model, meta = llama._model, gguf.metadata
        token_ids = {"bos_token": llama.token_bos(), "eos_token": llama.token_eos(),
                     "unk_token": meta.get("tokenizer.ggml.unknown_token_id"),
                     "pad_token": meta.get("tokenizer.ggml.padding_token_id")}
        # the special tokens a template may use, as transformers passes them
        self._special = {key: model.token_get_text(i) for key, i in token_ids.items()
                         if isinstance(i, int) and 0 <= i < llama.n_vocab()}

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def close(self, timeout: float | None = None) -> bool:
        """Stop any reply at its next token, then free the model (once no reply holds it; up to
        ``timeout`` seconds). True when it was freed. A closed engine refuses new replies."""
        self._closing.set()
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            if self.llama is not None:
                self.llama.close()
                self.llama = None
        finally:
            self._lock.release()
        return True

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, name: str | None = None, device: str = "auto",
             cancel: CancelToken | None = None, max_context: int | None = None
             ) -> Iterator[Event]:
        """Yield Progress, then Done(result=LlamaEngine). ``device`` is a preference (auto, cpu,
        cuda): anything but cpu offloads every layer when the build can."""
        cancel = cancel or CancelToken()
        file = gguf_file(path)
        name = name or file.stem
        started = time.perf_counter()
        yield Progress("Reading the GGUF header", 0, 2, name)
        gguf = read_gguf(file)
        if max_context is not None and max_context < 16:
            raise BadInput("The context cap must be at least 16 tokens.")
        context = gguf.context_length or FALLBACK_CONTEXT
        if max_context:
            context = min(context, max_context)
        offload = device != "cpu" and gpu_offload_supported()
        cancel.raise_if_cancelled()
        yield Progress("Loading the weights", 1, 2, name)
        llama = load_llama(gguf, context=context, gpu_layers=-1 if offload else 0,
                           threads=physical_cores(), on_gpu=offload)
        try:
            info = LoadedInfo(name, str(file), "gpu" if offload else "cpu",
                              time.perf_counter() - started, context,
                              bool(gguf.chat_template), engine=ENGINE_NAME,
                              quantization=gguf.quantization, size_bytes=gguf.size_bytes)
            engine = cls(llama, info, gguf)
        except BaseException:
            llama.close()
            raise
        yield Progress("Loaded", 2, 2, name)
        yield Done(result=engine, summary=f"Loaded {name} in {info.seconds:.1f} s on llama.cpp "
                                          f"({'GPU' if offload else 'CPU'}).")

    # ---- prompt ------------------------------------------------------------------------------
    def encode(self, system_prompt: str, messages: list[dict]) -> list[int]:
        """Prompt ids of a conversation: the chat template's text tokenized with special tokens
        parsed and none added (as transformers' apply_chat_template does); without a template,
        the conversation's text as a plain completion."""
        from core.chat.template import render

        llama = self._model()
        if self._template is not None:
            convo = ([{"role": "system", "content": system_prompt}] if system_prompt else [])
            convo += [{"role": m["role"], "content": m["content"]} for m in messages]
            text = render(self._template, convo, self._special)
            return llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        parts = ([system_prompt] if system_prompt else []) + [m["content"] for m in messages]
        return llama.tokenize("\n\n".join(parts).encode("utf-8"), add_bos=True, special=False)

    def build_prompt(self, request: ChatRequest) -> tuple[list[int], int]:
        """Prompt ids and how many old messages were dropped to fit the context."""
        return fit_prompt(request, self.info.context, self.encode)

    def _model(self) -> Any:
        llama = self.llama
        if llama is None or self._closing.is_set():
            raise ModelUnavailable("This model was unloaded.", hint="Load it again.")
        return llama

    # ---- generation --------------------------------------------------------------------------
    def _piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens give none)."""
        import llama_cpp

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, False)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def stream(self, request: ChatRequest, cancel: CancelToken) -> Iterator[Event]:
        import llama_cpp

        self._model()
        request.validate()
        settings = request.settings.validate()
        if settings.decoding == "beam":
            raise BadInput(BEAM_REFUSED, hint=BEAM_HINT)
        ids, dropped = self.build_prompt(request)
        if dropped:
            yield Truncated(dropped, len(ids), self.info.context)

        with self._lock:
            llama = self._model()
            started = time.perf_counter()
            if settings.decoding == "greedy":
                temp, seed = 0.0, llama_cpp.LLAMA_DEFAULT_SEED
            else:  # LLAMA_DEFAULT_SEED draws a fresh seed for each reply
                temp = settings.temperature
                seed = llama_cpp.LLAMA_DEFAULT_SEED if settings.seed is None else settings.seed
            llama.set_seed(seed)
            if settings.seed is not None:
                # a seeded reply repeats exactly: the prompt is evaluated afresh, since logits
                # from a reused cache differ in the last bits from those of a whole batch
                llama.reset()
            tokens = llama.generate(
                ids, temp=temp, top_k=settings.top_k, top_p=settings.top_p, min_p=0.0,
                typical_p=1.0, repeat_penalty=settings.repetition_penalty)
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            parts: list[str] = []
            count, ttft, stopped = 0, None, False
            try:
                while count < settings.max_new_tokens:
                    if cancel.cancelled or self._closing.is_set():
                        stopped = True
                        break
                    try:
                        token = next(tokens)
                    except RuntimeError as exc:  # llama_decode failed
                        raise ModelUnavailable(f"llama.cpp failed while generating: {exc}") from exc
                    if ttft is None:
                        ttft = time.perf_counter() - started
                    count += 1
                    if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                        break
                    piece = decoder.decode(self._piece(token))
                    if piece:
                        parts.append(piece)
                        yield Token(piece)
            finally:
                tokens.close()
            tail = decoder.decode(b"", final=True)
            if tail:
                parts.append(tail)
                yield Token(tail)
            elapsed = time.perf_counter() - started
        yield Done(result=ReplyStats("".join(parts), count, elapsed, ttft, len(ids),
                                     stopped or cancel.cancelled))
