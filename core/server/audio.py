"""POST /v1/audio/transcriptions: a multipart upload transcribed by a speech model (the Transcriber
the Transcribe page and the CLI use), answered as json, text, srt, vtt or verbose_json (segments
with their times; words too when ``timestamp_granularities[]`` asks for them)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.datastructures import UploadFile

from core.models.entry import Task
from core.server import jobs
from core.server.errors import ApiError

router = APIRouter()
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
CHUNK = 1024 * 1024


def _field(form, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return str(value).strip() or None


def upload_name(filename: str | None) -> str:
    """A safe local name for an uploaded file that keeps the client's name (messages name it):
    no folders, no leading dot or dash, at most 100 characters, its suffix kept."""
    name = Path((filename or "").replace("\\", "/")).name
    stem, suffix = Path(name).stem, Path(name).suffix.lower()[:8]
    suffix = "." + "".join(c for c in suffix if c.isalnum()) if suffix else ""
    stem = "".join(c if c.isalnum() or c in " ._-" else "_" for c in stem).strip(" .-")
    return f"{stem[:100] or 'upload'}{suffix}"


async def _save(upload: UploadFile, folder: Path) -> Path:
    path = folder / upload_name(upload.filename)
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            out.write(chunk)
    if path.stat().st_size == 0:
        raise ApiError(400, "The uploaded file is empty.", param="file")
    return path


def verbose(transcript, words: bool) -> dict:
    data = {"task": "transcribe", "language": transcript.language,
            "duration": round(transcript.duration, 3), "text": transcript.text,
            "segments": [{"id": i, "start": round(s.start, 3), "end": round(s.end, 3),
                          "text": s.text.strip()}
                         for i, s in enumerate(transcript.segments)]}
    if words:
        data["words"] = [{"word": w.word.strip(), "start": round(w.start, 3),
                          "end": round(w.end, 3)}
                         for s in transcript.segments for w in s.words]
    return data


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request):
    from core.transcribe import TranscribeOptions, export

    state = request.app.state.server
    until = jobs.deadline(state)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "Send the audio as multipart/form-data with a 'file' field.",
                       param="file")
    folder = Path(tempfile.mkdtemp(prefix="workbench-serve-"))
    handed = False
    try:
        async with request.form(max_files=1, max_fields=16) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "'file' is required: the audio to transcribe.", param="file")
            fmt = _field(form, "response_format") or "json"
            if fmt not in RESPONSE_FORMATS:
                raise ApiError(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}.",
                               param="response_format")
            grains = [str(v) for v in form.getlist("timestamp_granularities[]")]
            model = _field(form, "model") or ""
            language = _field(form, "language")
            prompt = _field(form, "prompt")
            path = await _save(upload, folder)
        entry = await state.resolve(model, Task.SPEECH_RECOGNITION)
        from core.models.entry import Format

        engine_name = "openai-whisper" if entry.format is Format.WHISPER_PT else "faster-whisper"
        options = TranscribeOptions(engine=engine_name, model=entry.id, language=language,
                                    initial_prompt=prompt, word_timestamps="word" in grains,
                                    device=state.config.device).validate()

        def work(engine, cancel):
            try:
                yield from engine.transcribe(path, options, cancel)
            finally:  # on the worker thread, once the audio is no longer read
                shutil.rmtree(folder, ignore_errors=True)

        job = await jobs.start(state, entry, work, until)
        handed = True
        transcript = await jobs.result(job)
    finally:
        if not handed:
            shutil.rmtree(folder, ignore_errors=True)
    if fmt == "json":
        return {"text": transcript.text}
    if fmt == "verbose_json":
        return verbose(transcript, "word" in grains)
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    return PlainTextResponse(export(transcript, fmt),
                             media_type="text/vtt" if fmt == "vtt" else "text/plain")
