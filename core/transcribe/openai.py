"""The openai-whisper backend, parent side: a "spawn" child process (code in openai_child.py)
loads the model once and serves transcription jobs; cancel terminates it at once."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from core.cancel import CancelToken
from core.events import Done, Event, Progress
from core.transcribe.audio import SAMPLE_RATE
from core.transcribe.openai_child import child_main
from core.transcribe.types import Segment, TranscribeOptions, Word


class OpenAIWhisperBackend:
    """openai-whisper (PyTorch) in a "spawn" child process that loads the model once and can be
    terminated at any moment: cancel ends it (the next run starts and loads a fresh one)."""

    name = "openai-whisper"
    HOP_SECONDS = 0.01  # one mel frame

    def __init__(self, process, requests, replies, model_ref: str, device: str) -> None:
        self._process = process
        self._requests = requests
        self._replies = replies
        self.model_ref = model_ref
        self.device = device
        self._jobs = 0
        self.multilingual = True  # False for an English-only model (told by the child)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def process(self):
        """The child process (a ``multiprocessing`` Process), None once closed."""
        return self._process

    @classmethod
    def load(cls, model_ref: str, *, device: str = "cpu", name: str | None = None,
             cancel: CancelToken | None = None) -> Iterator[Event]:
        """Start the child and wait until it has loaded the model: Progress, Done(backend)."""
        import multiprocessing

        cancel = cancel or CancelToken()
        name = name or model_ref
        ctx = multiprocessing.get_context("spawn")
        requests, replies = ctx.Queue(), ctx.Queue()
        process = ctx.Process(target=child_main, args=(requests, replies, model_ref, device),
                              name="openai-whisper", daemon=True)
        started = time.perf_counter()
        yield Progress("Loading model", 0, None, name)
        process.start()
        backend = cls(process, requests, replies, model_ref, device)
        try:
            for msg in backend._messages(cancel):
                if msg[0] == "download":
                    yield Progress("Downloading", msg[1], msg[2], name)
                elif msg[0] == "ready":
                    backend.multilingual = msg[1] is not False
                    break
                elif msg[0] == "error":
                    backend._raise(msg)
        except BaseException:
            backend.close()
            raise
        yield Progress("Loading model", 1, 1, name)
        yield Done(result=backend,
                   summary=f"Loaded {name} in {time.perf_counter() - started:.1f} s on {device.upper()}.")

    def _messages(self, cancel: CancelToken) -> Iterator[tuple]:
        """The child's replies; Cancelled (after terminating it) when the token is set."""
        import queue

        from core.errors import Cancelled, ModelUnavailable, OutOfMemory

        while True:
            try:
                msg = self._replies.get(timeout=0.1)
            except queue.Empty:
                if cancel.cancelled:
                    self.close(terminate=True)
                    raise Cancelled() from None
                if not self.alive:
                    try:  # its last words may still be in the pipe
                        msg = self._replies.get(timeout=0.5)
                    except queue.Empty:
                        code = None if self._process is None else self._process.exitcode
                        self.close(terminate=True)
                        if code in (-9, 137):
                            raise OutOfMemory("The openai-whisper process was killed (out of "
                                              "memory?).") from None
                        raise ModelUnavailable("The openai-whisper process stopped unexpectedly "
                                               f"(exit code {code}).") from None
                else:
                    continue
            if cancel.cancelled:
                self.close(terminate=True)
                raise Cancelled()
            yield msg

    def _raise(self, msg: tuple) -> None:
        from core import errors

        _kind, _job, cls_name, message, hint = msg
        cls = getattr(errors, cls_name, errors.WorkbenchError)
        if not (isinstance(cls, type) and issubclass(cls, errors.WorkbenchError)):
            cls = errors.WorkbenchError
        if cls is errors.Cancelled:
            raise errors.Cancelled(message)
        raise cls(message, hint=hint)

    def close(self, terminate: bool = False, wait: bool = True) -> None:
        """End the child: politely (it exits once idle), or at once with ``terminate`` (or
        ``wait`` False)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive() and not terminate and wait:
            try:
                self._requests.put(None)
                process.join(5)
            except (OSError, ValueError):
                pass
        if process.is_alive():
            process.terminate()
            process.join(2)
        if process.is_alive():
            process.kill()
            process.join(2)
        for q in (self._requests, self._replies):
            q.cancel_join_thread()  # never block on a pipe the dead child will not read
            q.close()

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]:
        from core.errors import ModelUnavailable

        if not self.alive:
            raise ModelUnavailable("The openai-whisper process is not running.",
                                   hint="Start the transcription again.")
        duration = len(audio) / SAMPLE_RATE
        kwargs: dict[str, Any] = dict(
            language=options.language, task=options.task,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt or None,
            fp16=self.device.startswith("cuda"), verbose=None)
        if options.beam_size > 1:
            kwargs["beam_size"] = options.beam_size  # used at temperature 0 only (fallbacks
            # to higher temperatures sample instead, as openai-whisper does by design)
        self._jobs += 1
        job = self._jobs
        self._requests.put((job, audio, kwargs))
        sent = 0
        try:
            for msg in self._messages(cancel):
                if msg[0] == "error":
                    self._raise(msg)
                if msg[1] != job:
                    continue
                if msg[0] == "progress":
                    _kind, _job, frames, _total, new = msg
                    for start, end, text, words in new:
                        sent += 1
                        yield Segment(start, end, text.strip(), tuple(Word(*w) for w in words))
                    yield Progress("Transcribing", min(frames * self.HOP_SECONDS, duration),
                                   duration)
                elif msg[0] == "result":
                    data = msg[2]
                    for start, end, text, words in data["segments"][sent:]:
                        yield Segment(start, end, text.strip(), tuple(Word(*w) for w in words))
                    yield Done(result=data.get("language"))
                    return
        except GeneratorExit:  # the consumer left mid-file: the child would go on working
            self.close(terminate=True)
            raise
