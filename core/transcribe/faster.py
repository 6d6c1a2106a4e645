"""The faster-whisper backend (CTranslate2): int8 on the CPU, float16 on CUDA.

Each loaded model has one long-lived worker thread (``_Runner``) that runs every transcription
on it (a fresh thread per file would pay for a new OpenMP thread team each time). CTranslate2
cannot be interrupted inside a 30 s window, so a job's events come through ``core.relay`` from a
job thread that only waits for the runner: a cancel ends that thread and the job at once, and the
runner stops at the start of the next window. The runner is not a daemon; the backend's
``close`` lets it finish the window in flight and end.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.events import Done, Event, Progress
from core.transcribe.audio import SAMPLE_RATE
from core.transcribe.types import Segment, TranscribeOptions, Word

MEMORY_HINT = "Pick a smaller model or free some memory."
# Files longer than one 30 s window go through faster-whisper's batched pipeline (Silero VAD cuts
# the audio at pauses into chunks of up to 30 s, decoded BATCH_SIZE at a time, one segment per
# chunk); shorter ones through the sequential pipeline, which is faster for them (nothing to
# batch, no VAD pass). Chosen with `bench/transcribe.py --choose-batch` and
# `bench/transcribe_dev.py` on synthetic speech made with espeak-ng from tiny_shakespeare.txt
# (never on the evaluation recordings): batched was slower at 13 s, level at 27 s and faster from
# 41 s on; over three 130 s files batch 8 was 1.0-1.2x (tiny.en) and 1.3x (base) faster than
# batch 4 on 2 CPU cores, with the same words.
BATCH_MIN_SECONDS = 30.0
BATCH_SIZE = {"cpu": 8, "cuda": 8}
# faster-whisper's own thresholds (its transcribe defaults) for a window that failed: the
# sequential pipeline decodes such a window again at higher temperatures; the batched pipeline
# keeps it as it is. On development speech one chunk came out as "What no no no no..."
# (compression ratio 3.6) and lost 73 words; such chunks are decoded again sequentially.
COMPRESSION_RATIO_LIMIT = 2.4
LOG_PROB_LIMIT = -1.0


def failed_chunk(segment) -> bool:
    """A batched chunk the sequential pipeline would not have kept at temperature 0: too
    repetitive (compression ratio) or too unlikely (average log probability)."""
    return (segment.compression_ratio > COMPRESSION_RATIO_LIMIT
            or segment.avg_logprob < LOG_PROB_LIMIT)


def is_oom(exc: BaseException) -> bool:
    """A memory failure: the shared test, plus CTranslate2's RuntimeError("... out of memory")."""
    from core.models.loading import is_out_of_memory

    return is_out_of_memory(exc) or "out of memory" in str(exc).lower()


class _Runner:
    """One long-lived thread per loaded faster-whisper model runs every transcription.

    It is a one-worker
    ThreadPoolExecutor: its thread is not a daemon and the interpreter joins it at exit after the
    window in flight (a daemon thread still inside CTranslate2 when Python finalizes aborts the
    process with "terminate called without an active exception").
    """

    def __init__(self, name: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._last = None

    def submit(self, fn):
        """Queue ``fn`` (it reports its own errors); returns its Future."""
        self._last = self._pool.submit(fn)
        return self._last

    def wait_idle(self, timeout: float | None = None) -> bool:
        from concurrent.futures import wait

        return self._last is None or not wait([self._last], timeout).not_done

    def close(self, timeout: float = 10.0) -> None:
        """Let the thread finish the window in flight, then end (waits up to ``timeout`` s;
        0: do not wait)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if timeout > 0:
            self.wait_idle(timeout)


class _StopWindow(Exception):
    """Raised inside faster-whisper at the start of a window once the job is stopped."""


def _segment_from_faster(seg) -> Segment:
    words = tuple(Word(float(w.start), float(w.end), w.word, float(w.probability))
                  for w in (seg.words or ()))
    return Segment(float(seg.start), float(seg.end), seg.text.strip(), words)


def typed_engine_error(exc: BaseException, engine: str) -> Exception:
    """A failure while transcribing, as a typed error (out of memory recognised)."""
    from core.errors import OutOfMemory, WorkbenchError

    if isinstance(exc, WorkbenchError):
        return exc
    text = str(exc) or exc.__class__.__name__
    if is_oom(exc):
        return OutOfMemory(f"{engine} ran out of memory while transcribing.", hint=MEMORY_HINT)
    return WorkbenchError(f"{engine} failed while transcribing: {exc.__class__.__name__}: {text}")


class FasterWhisperBackend:
    """faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA."""

    name = "faster-whisper"

    def __init__(self, model, folder: str, device: str, compute_type: str) -> None:
        self.model = model
        self.folder = folder
        self.device = device
        self.compute_type = compute_type
        self._runner = _Runner("faster-whisper")
        self._job_stop = None  # the running job's stop Event (read on the runner thread)
        self._batched = None  # the batched pipeline, made on first use
        self.multilingual = bool(getattr(getattr(model, "model", None), "is_multilingual", True))
        self._hook_windows()

    def _hook_windows(self) -> None:
        """faster-whisper encodes each 30 s window with ``self.encode`` before decoding it:
        wrapping that method of this one model object lets a stopped job end at the next window
        even where a window yields no segment (silence, music), instead of at the next segment."""
        encode = self.model.encode

        def encode_unless_stopped(features):
            stop = self._job_stop
            if stop is not None and stop.is_set():
                raise _StopWindow()
            return encode(features)

        self.model.encode = encode_unless_stopped

    @staticmethod
    def compute_type_for(device: str) -> str:
        return "float16" if device == "cuda" else "int8"

    @classmethod
    def load(cls, folder: str, *, device: str = "cpu", compute_type: str | None = None,
             cpu_threads: int | None = None, name: str | None = None,
             cancel: CancelToken | None = None, tokenizers=None) -> Iterator[Event]:
        """Yield Progress, then Done(result=FasterWhisperBackend). ``tokenizers``: a
        core.transcribe.ahead.ParsedTokenizers whose parse of this model's tokenizer is used."""
        import os

        from core.errors import ModelUnavailable, OutOfMemory

        cancel = cancel or CancelToken()
        name = name or Path(folder).name
        compute_type = compute_type or cls.compute_type_for(device)
        yield Progress("Loading model", 0, None, name)
        cancel.raise_if_cancelled()
        if not (Path(folder) / "model.bin").is_file():
            raise ModelUnavailable(f"'{name}' is not a CTranslate2 Whisper model folder (no "
                                   "model.bin).", hint="faster-whisper needs a CTranslate2 "
                                   "folder such as the bundled whisper-tiny.en.")
        started = time.perf_counter()
        from core.imports import import_heavy

        import_heavy("ctranslate2", "faster_whisper")
        from faster_whisper import WhisperModel

        from core.transcribe.ahead import handed_over

        threads = (os.cpu_count() or 0) if cpu_threads is None else cpu_threads
        key, parsed = tokenizers.lookup(folder) if tokenizers is not None else (None, None)
        try:
            with handed_over(parsed, folder):
                model = WhisperModel(folder, device=device, compute_type=compute_type,
                                     cpu_threads=threads)
            if key is not None and parsed is None:  # parsed by faster-whisper: kept for later
                tokenizers.keep(key, model.hf_tokenizer)
        except (MemoryError, RuntimeError, ValueError, OSError) as exc:
            if is_oom(exc):
                raise OutOfMemory(f"Not enough memory to load '{name}'.",
                                  hint=MEMORY_HINT) from exc
            raise ModelUnavailable(f"faster-whisper cannot load '{name}': {exc}") from exc
        cancel.raise_if_cancelled()
        yield Progress("Loading model", 1, 1, name)
        yield Done(result=cls(model, folder, device, compute_type),
                   summary=f"Loaded {name} in {time.perf_counter() - started:.1f} s on "
                           f"{device.upper()}.")

    @property
    def alive(self) -> bool:
        return True

    def close(self, wait: bool = True) -> None:
        self._runner.close(10.0 if wait else 0.0)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the last transcription has stopped on the runner thread (after a cancel
        it finishes the 30 s window in flight). True when idle."""
        return self._runner.wait_idle(timeout)

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]:
        """Segment and Progress events as windows are decoded, then Done(result=language).

        The windows run on the model's runner thread; ``core.relay`` carries their events to
        this generator from a job thread that waits for them and stops waiting at once on a
        cancel (the runner then stops at the start of the next window)."""
        import threading
        from concurrent.futures import TimeoutError as FutureTimeout

        from core.errors import Cancelled
        from core.relay import relay

        duration = len(audio) / SAMPLE_RATE
        stop = threading.Event()
        batched = options.batched if options.batched is not None else \
            duration >= BATCH_MIN_SECONDS
        kwargs = dict(language=options.language, task=options.task, beam_size=options.beam_size,
                      word_timestamps=options.word_timestamps, vad_filter=options.vad_filter,
                      initial_prompt=options.initial_prompt or None,
                      hotwords=options.hotwords or None)
        if batched:  # cut at pauses (Silero VAD), windows decoded BATCH_SIZE at a time
            kwargs.update(vad_filter=True, batch_size=BATCH_SIZE.get(self.device, 4))

        def windows(emit):  # on the runner thread
            if stop.is_set():  # cancelled before this job reached the runner
                return None
            self._job_stop = stop
            try:
                model = self._pipeline() if batched else self.model
                segments, info = model.transcribe(audio, **kwargs)
                for raw in segments:
                    redo = batched and failed_chunk(raw)
                    for seg in (self._again(audio, raw, kwargs, info.language) if redo
                                else [_segment_from_faster(raw)]):
                        emit(seg)
                        emit(Progress("Transcribing", min(seg.end, duration), duration))
                    if stop.is_set():  # the next window is never started
                        segments.close()
                        break
                return info.language, float(info.language_probability)
            except _StopWindow:
                return None
            finally:
                self._job_stop = None

        def work(emit):  # on the relay's thread: waits for the runner
            future = self._runner.submit(lambda: windows(emit))
            while True:
                try:
                    return future.result(timeout=0.1)
                except FutureTimeout:
                    if cancel.cancelled:
                        raise Cancelled() from None
                except Exception as exc:
                    raise typed_engine_error(exc, self.name) from exc

        try:
            found = yield from relay(work, cancel, name="faster-whisper job")
        finally:  # cancelled, failed, finished, or the consumer left: the runner stops
            stop.set()
        cancel.raise_if_cancelled()
        yield Done(result=found or (options.language, None))

    def _again(self, audio, chunk, kwargs: dict, language: str | None) -> list[Segment]:
        """A failed batched chunk decoded again by the sequential pipeline, which falls back to
        higher temperatures as it does for any window (times stay those of the file)."""
        again = {k: v for k, v in kwargs.items() if k != "batch_size"}
        again.update(vad_filter=False, language=again.get("language") or language,
                     clip_timestamps=[float(chunk.start), float(chunk.end)])
        segments, _info = self.model.transcribe(audio, **again)
        return [_segment_from_faster(s) for s in segments]

    def _pipeline(self):
        """faster-whisper's batched pipeline over this model (made once, on the runner)."""
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self.model)
        return self._batched
