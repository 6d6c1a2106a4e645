"""Chat engine: a causal LM behind a chat template, streaming tokens as typed events.

``open_chat(registry, model_id, device, cancel, engine="auto")`` resolves a registry id and loads
it through ``ChatEngine.load`` (core/models/loading.py underneath), or, for a GGUF file, through
``LlamaEngine.load`` (llama.py, llama.cpp): Progress, then Done(engine).
``engine.stream(request, cancel)`` yields Truncated (when old turns had to go), Token events as
text arrives, and Done(ReplyStats). Stop is cooperative: a StoppingCriteria checks the cancel token
between decoding steps, so generation ends within one step and the partial reply is kept. Replies
run one at a time on the engine's generation thread (worker.py); sampling uses a generator of its
own (sampling.py), never torch's global one.
"""
from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.cancel import CancelToken
from core.chat.sampling import local_sampler
from core.chat.settings import DEFAULT_CHAT_MODEL, ChatRequest, GenerationSettings, fit_prompt
from core.chat.worker import GenerationThread
from core.errors import BadInput, ModelUnavailable, OutOfMemory
from core.events import Done, Event, Progress
from core.models.loading import MEMORY_HINT, context_length, is_out_of_memory, out_of_memory


@dataclass(frozen=True)
class Token(Event):
    text: str


@dataclass(frozen=True)
class Truncated(Event):
    dropped_messages: int
    prompt_tokens: int
    context: int

    @property
    def message(self) -> str:
        return (f"The conversation outgrew the model's context ({self.context} tokens): the "
                f"{self.dropped_messages} oldest message(s) were left out; the system prompt stays.")


@dataclass(frozen=True)
class ReplyStats:
    text: str
    tokens: int
    seconds: float
    ttft_s: float | None
    prompt_tokens: int
    stopped: bool

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.seconds - (self.ttft_s or 0.0)
        if self.tokens <= 1 or gen_time <= 0:
            return self.tokens / self.seconds if self.seconds > 0 else 0.0
        return (self.tokens - 1) / gen_time

    def figures(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "tokens_per_s": round(self.tokens_per_s, 2),
                "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 3),
                "seconds": round(self.seconds, 2), "stopped": self.stopped}


@dataclass(frozen=True)
class LoadedInfo:
    name: str
    path: str
    device: str
    seconds: float
    context: int
    has_chat_template: bool
    engine: str = "transformers"
    quantization: str = ""  # GGUF files: Q4_1, Q8_0, F16...
    size_bytes: int | None = None  # GGUF files: the file's size

    def line(self) -> str:
        """The engine, quantisation, size, device and context: "llama.cpp · Q4_1 · 98 MB · CPU ·
        context 8192"."""
        parts = [self.engine]
        if self.quantization:
            parts.append(self.quantization)
        if self.size_bytes:
            parts.append(f"{self.size_bytes / 1e6:,.0f} MB")
        parts += [self.device.split(":")[0].upper(), f"context {self.context}"]
        return " · ".join(parts)


class ChatEngine:
    """A loaded causal LM. Its lock lets one reply run at a time, whoever asks; ``close()`` ends
    a reply in progress at its next step and stops the generation thread."""

    engine = "transformers"

    def __init__(self, model, tokenizer, info: LoadedInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self._lock = threading.Lock()  # one generation at a time per loaded model
        self._closing = threading.Event()
        self._worker = GenerationThread()
        # an engine dropped without close() still lets its thread end
        weakref.finalize(self, self._worker.stop).atexit = False

    def close(self, timeout: float | None = None) -> bool:
        """Stop any reply at its next decoding step, end the generation thread and wait for it
        (up to ``timeout`` seconds). True when the thread has ended. A closed engine refuses
        new replies."""
        self._closing.set()
        return self._worker.close(timeout)

    def warm_up(self) -> None:
        """One short greedy step on the generation thread, so the first reply starts warm."""
        import torch

        ids = torch.tensor([[self.tokenizer.eos_token_id or 0]], device=self.model.device)

        def run() -> None:
            with torch.inference_mode():
                self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1,
                                    do_sample=False, pad_token_id=self.tokenizer.pad_token_id)

        task = self._worker.submit(run)
        task.done.wait()
        if task.error is not None:
            if is_out_of_memory(task.error):
                raise OutOfMemory("Out of memory while warming up the model.",
                                  hint=MEMORY_HINT) from task.error
            raise task.error

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, name: str | None = None, device: str = "cpu",
             cancel: CancelToken | None = None) -> Iterator[Event]:
        """Yield Progress, then Done(result=ChatEngine). ``path`` is an HF causal-LM folder."""
        cancel = cancel or CancelToken()
        path = Path(path)
        name = name or path.name
        if not path.is_dir():
            raise ModelUnavailable(f"The model folder '{path}' does not exist.")
        started = time.perf_counter()
        yield Progress("Reading the model config", 0, 3, name)
        from core.imports import import_heavy

        import_heavy("torch", "transformers")
        from transformers import AutoConfig

        from core.runtime import quiet_transformers

        quiet_transformers()

        # a LoRA adapter folder (a fine-tuned model): its base, with the adapter merged in
        from core.models.adapters import adapter_base
        from core.models.loading import load_hf

        weights = adapter_base(path) or path
        try:
            config = AutoConfig.from_pretrained(weights)
        except Exception as exc:
            raise BadInput(f"'{name}' has no readable model config: {exc}") from exc
        archs = list(getattr(config, "architectures", None) or [])
        if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
            raise BadInput(f"'{name}' is not a causal language model (it is {archs[0]}).",
                           hint="Pick a text-generation model for Chat.")
        cancel.raise_if_cancelled()
        yield Progress("Loading the weights", 2, 3, name)
        model, tokenizer = load_hf(path, "causal-lm", device, name=name,
                                   base=None if weights == path else weights)
        model.eval()
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        engine = cls(model, tokenizer, None)
        yield Progress("Warming up", 2.8, 3, name)
        engine.warm_up()
        info = LoadedInfo(name, str(path), device, time.perf_counter() - started,
                          context_length(model.config, tokenizer), bool(tokenizer.chat_template))
        engine.info = info
        yield Progress("Loaded", 3, 3, name)
        yield Done(result=engine,
                   summary=f"Loaded {name} in {info.seconds:.1f} s on {device.upper()}.")

    # ---- prompt ------------------------------------------------------------------------------
    def _encode(self, system_prompt: str, messages: list[dict]) -> list[int]:
        tok = self.tokenizer
        if self.info.has_chat_template:
            convo = ([{"role": "system", "content": system_prompt}] if system_prompt else [])
            convo += [{"role": m["role"], "content": m["content"]} for m in messages]
            ids = tok.apply_chat_template(convo, add_generation_prompt=True, tokenize=True,
                                          return_dict=True)["input_ids"]
            return list(ids)
        # no chat template (GPT-2 style): plain completion of the conversation's text
        parts = ([system_prompt] if system_prompt else []) + [m["content"] for m in messages]
        return list(tok("\n\n".join(parts))["input_ids"])

    def encode(self, system_prompt: str, messages: list[dict]) -> list[int]:
        """The prompt ids of a conversation, however long (no fitting to the context)."""
        return self._encode(system_prompt, messages)

    def build_prompt(self, request: ChatRequest) -> tuple[list[int], int]:
        """Prompt ids and how many old messages were dropped to fit the context."""
        return fit_prompt(request, self.info.context, self._encode)

    # ---- generation --------------------------------------------------------------------------
    def _generate_kwargs(self, settings: GenerationSettings, ids: list[int],
                         stop: Callable[[], bool]) -> dict[str, Any]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop()

        input_ids = torch.tensor([ids], device=self.model.device)
        kwargs: dict[str, Any] = dict(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
            max_new_tokens=settings.max_new_tokens,
            repetition_penalty=settings.repetition_penalty,
            stopping_criteria=StoppingCriteriaList([_Stop()]),
            pad_token_id=self.tokenizer.pad_token_id,
            # the model's own sampling defaults never apply: the settings say it all
            do_sample=False, temperature=None, top_p=None, top_k=None,
        )
        if settings.decoding == "sampling":  # sampled with a generator of its own (sampling.py)
            kwargs["logits_processor"] = LogitsProcessorList([local_sampler(
                settings.temperature, settings.top_p, settings.top_k, settings.seed,
                self.model.device)])
        elif settings.decoding == "beam":
            kwargs.update(num_beams=settings.num_beams, early_stopping=True)
        return kwargs

    def stream(self, request: ChatRequest, cancel: CancelToken) -> Iterator[Event]:
        import torch
        from transformers import TextIteratorStreamer

        if self._worker.closed:
            raise ModelUnavailable("This model was unloaded.", hint="Load it again.")
        request.validate()
        settings = request.settings.validate()
        ids, dropped = self.build_prompt(request)
        if dropped:
            yield Truncated(dropped, len(ids), self.info.context)

        started = time.perf_counter()
        first_token_at: list[float] = []
        counted = [0]
        left = threading.Event()  # the consumer stopped early: end generation at the next step

        class _Streamer(TextIteratorStreamer):
            def put(self, value):  # timestamps the first new token and counts them
                if not self.next_tokens_are_prompt:
                    if not first_token_at:
                        first_token_at.append(time.perf_counter())
                    counted[0] += int(value.numel())
                super().put(value)

        closing = self._closing
        kwargs = self._generate_kwargs(
            settings, ids, lambda: cancel.cancelled or left.is_set() or closing.is_set())

        if not settings.streams:  # beam search cannot stream: the reply arrives whole
            with self._lock, torch.inference_mode(), out_of_memory(
                    "Out of memory while generating.",
                    hint="Lower Max new tokens or the number of beams."):
                out = self.model.generate(**kwargs)
            new = out[0, len(ids):]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            elapsed = time.perf_counter() - started
            if text:
                yield Token(text)
            yield Done(result=ReplyStats(text, int(new.numel()), elapsed, elapsed, len(ids),
                                         cancel.cancelled))
            return

        streamer = _Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                             timeout=0.05)
        kwargs["streamer"] = streamer

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            finally:
                streamer.end()  # the consumer's loop below ends, also on a failure

        parts: list[str] = []
        with self._lock:
            task = self._worker.submit(run)
            try:
                while True:
                    try:
                        piece = next(streamer)
                    except StopIteration:
                        break
                    except queue.Empty:
                        if task.done.is_set() and streamer.text_queue.empty():
                            break
                        continue
                    if piece:
                        parts.append(piece)
                        yield Token(piece)
            finally:
                if not task.done.is_set():
                    left.set()
                task.done.wait()  # the model is free again before the lock is
        if task.error is not None:
            if is_out_of_memory(task.error):
                raise OutOfMemory("Out of memory while generating.",
                                  hint="Lower Max new tokens or pick a smaller model."
                                  ) from task.error
            raise task.error
        elapsed = time.perf_counter() - started
        ttft = first_token_at[0] - started if first_token_at else None
        yield Done(result=ReplyStats("".join(parts), counted[0], elapsed, ttft, len(ids),
                                     cancel.cancelled))


ENGINES = ("auto", "llama.cpp", "transformers")


def open_chat(registry, model_id: str | None, device: str, cancel: CancelToken,
              engine: str = "auto", max_context: int | None = None) -> Iterator[Event]:
    """Resolve a registry id and load it for chat on ``device`` (auto, cpu or cuda). Yields
    Progress, then Done(engine).

    A GGUF entry chats on llama.cpp (LlamaEngine) as it is when ``engine`` is auto or llama.cpp;
    folders, LoRA adapters and fine-tune runs chat on transformers (ChatEngine), and so does a GGUF
    with ``engine="transformers"`` (converted to safetensors once, first). A Hub id is downloaded
    first. An endpoint's model (``NAME/MODEL``) chats on that endpoint (RemoteEngine).
    ``max_context`` caps the context length the model declares."""
    from core.device import DevicePreference, choose_device
    from core.errors import DeviceUnavailable
    from core.models.convert import prepared
    from core.models.registry import Format, Task

    if engine not in ENGINES:
        raise BadInput(f"Unknown chat engine '{engine}'.", hint=f"Use {', '.join(ENGINES)}.")
    if max_context is not None and max_context < 16:
        raise BadInput("The context cap must be at least 16 tokens.")
    entry = registry.get(model_id or DEFAULT_CHAT_MODEL, task=Task.TEXT_GENERATION)
    if entry.task is not Task.TEXT_GENERATION:
        raise BadInput(f"'{entry.name}' is a {entry.task.value} model, not a chat model.",
                       hint="Pick a text-generation model.")
    if entry.format is Format.API:  # a remote endpoint's model (remote.py)
        from core.chat.remote import open_remote

        if engine != "auto":
            raise BadInput(f"'{entry.name}' runs on its endpoint, not on {engine}.",
                           hint="Use the auto engine for it.")
        yield from open_remote(registry, entry, cancel)
        return
    if entry.format is Format.GGUF and engine != "transformers":
        from core.chat.llama import LlamaEngine

        try:
            preference = DevicePreference(device).value
        except ValueError:
            raise DeviceUnavailable(f"Unknown device '{device}'.",
                                    hint="Choose auto, cpu or cuda.") from None
        if not entry.path:
            raise ModelUnavailable(f"The GGUF file of '{entry.name}' is missing.")
        yield from LlamaEngine.load(entry.path, name=entry.name, device=preference,
                                    cancel=cancel, max_context=max_context)
        return
    if engine == "llama.cpp":
        raise BadInput(f"'{entry.name}' is not a GGUF file: llama.cpp chats with GGUF models.",
                       hint="Use the auto or transformers engine for it.")
    device = choose_device(device).torch_device
    ready = yield from prepared(registry, entry, cancel)
    cancel.raise_if_cancelled()
    for ev in ChatEngine.load(ready.load_path, name=entry.name, device=device, cancel=cancel):
        if isinstance(ev, Done) and max_context and ev.result.info.context > max_context:
            ev.result.info = replace(ev.result.info, context=max_context)
        yield ev
