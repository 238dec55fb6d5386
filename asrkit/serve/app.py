"""The HTTP service of ``asrkit serve``: a FastAPI app around one loaded model and its dynamic batcher.

Endpoints:

- ``GET /``: a small page to upload a file or record from the microphone.
- ``GET /health``: ``{"status": "ok", ...}`` with the model and batching counts.
- ``POST /transcribe``: an audio upload (multipart field ``file``, or the raw
  body with an ``audio/*`` or ``application/octet-stream`` content type) →
  the JSON of ``asrkit transcribe --json``. Query parameters: ``segment``
  (``vad`` or ``fixed``), ``nbest``.
- ``WS /stream``: 16 kHz 16-bit PCM in, one JSON message per completed speech
  segment out (see :mod:`asrkit.serve.stream`).

Every refused request gets a 4xx status and ``{"error": "<one line>"}``: a
wrong content type (415), an upload that is too large or too long (413),
bytes that are not decodable audio (415), bad parameters (422). Nothing a
client sends can stop the server: request handling never runs the model
outside the batcher, and a failing batch fails only its own requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import torch
import torchaudio
from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from asrkit.audio import audio_duration, load_audio
from asrkit.engine.segment import VAD_SAMPLE_RATE, VadConfig, load_vad_model
from asrkit.engine.transcribe import Chunk, collect, has_sound, plan_chunks
from asrkit.errors import AudioError
from asrkit.interfaces import Hypothesis
from asrkit.serve.batcher import DynamicBatcher, RunBatch
from asrkit.serve.stream import StreamTranscriber

AUDIO_TYPES = ("audio/", "application/octet-stream")


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for."""

    max_upload_bytes: int = 50 * 2**20
    max_audio_seconds: float = 3600.0
    chunk_seconds: float = 30.0
    max_nbest: int = 1


class VadPool:
    """silero-vad models, one per concurrent user (a model keeps per-stream state), loaded on demand."""

    def __init__(self) -> None:
        self._free: list[Any] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def model(self) -> Iterator[Any]:
        with self._lock:
            model = self._free.pop() if self._free else None
        model = model or load_vad_model()
        try:
            yield model
        finally:
            with self._lock:
                self._free.append(model)


def create_app(sample_rate: int, name: str, limits: ServeLimits, batcher: DynamicBatcher) -> FastAPI:
    """The app, decoding through ``batcher`` (waveforms at ``sample_rate``); ``name`` is shown by /health."""
    vad_pool = VadPool()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="asrkit", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files("asrkit.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/health")
    async def health() -> dict[str, object]:
        stats = batcher.stats
        return {
            "status": "ok",
            "model": name,
            "sample_rate": sample_rate,
            "batches": stats.batches,
            "waveforms": stats.waveforms,
            "mean_batch_size": round(stats.waveforms / stats.batches, 2) if stats.batches else None,
        }

    @app.post("/transcribe")
    async def transcribe(
        request: Request,
        segment: Literal["vad", "fixed"] = Query("vad"),
        nbest: int = Query(1, ge=1),
    ) -> dict[str, object]:
        if nbest > limits.max_nbest:
            raise HTTPException(422, f"nbest: this server keeps at most {limits.max_nbest} (asrkit serve --nbest)")
        filename, data = await read_upload(request, limits.max_upload_bytes)
        record = await transcribe_bytes(data, segment)
        record["path"] = filename
        for piece in record.get("segments", []):
            if "nbest" in piece:
                piece["nbest"] = piece["nbest"][:nbest]
                if nbest == 1:
                    del piece["nbest"]
        return record

    async def transcribe_bytes(data: bytes, segment: Literal["vad", "fixed"]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="asrkit-serve-") as folder:
            path = os.path.join(folder, "upload")
            with open(path, "wb") as out:
                out.write(data)
            try:
                duration = audio_duration(path)
            except AudioError as exc:
                raise HTTPException(415, f"not audio that asrkit can read: {_reason(exc)}") from None
            if duration > limits.max_audio_seconds:
                raise HTTPException(413, f"audio is {duration:.0f} s long, the limit is {limits.max_audio_seconds:g} s")
            transcripts, chunks, waves = await asyncio.to_thread(plan_and_load, path, segment)
        if transcripts[0].error is not None:
            raise HTTPException(415, "not audio that asrkit can read: its samples cannot be decoded")
        sounding = [(chunk, wave) for chunk, wave in zip(chunks, waves, strict=True) if has_sound(wave)]
        hypotheses = await asyncio.gather(*(batcher.submit(wave) for _, wave in sounding))
        pieces = dict(zip((chunk for chunk, _ in sounding), hypotheses, strict=True))
        collect(transcripts, chunks, pieces, timestamps=True)
        return transcripts[0].as_json(timestamps=True)

    def plan_and_load(path: str, segment: Literal["vad", "fixed"]) -> tuple[list, list[Chunk], list[torch.Tensor]]:
        with contextlib.ExitStack() as stack:
            vad_model = stack.enter_context(vad_pool.model()) if segment == "vad" else None
            transcripts, chunks = plan_chunks([path], limits.chunk_seconds, segment, vad_model=vad_model)
        if transcripts[0].error is not None:
            return transcripts, [], []
        try:
            waves = [load_audio(path, sample_rate, c.offset, c.duration) for c in chunks]
        except AudioError as exc:
            transcripts[0].error = str(exc)
            return transcripts, [], []
        return transcripts, chunks, waves

    @app.websocket("/stream")
    async def stream(socket: WebSocket) -> None:
        await socket.accept()

        async def transcribe_wave(wave: torch.Tensor) -> Hypothesis:
            if sample_rate != VAD_SAMPLE_RATE:
                wave = torchaudio.functional.resample(wave, VAD_SAMPLE_RATE, sample_rate)
            return await batcher.submit(wave)

        with vad_pool.model() as vad_model:
            vad = VadConfig(max_segment_seconds=limits.chunk_seconds)
            transcriber = StreamTranscriber(vad_model, vad, transcribe_wave)
            try:
                while True:
                    message = await socket.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    if message.get("bytes") is not None:
                        try:
                            segments = await transcriber.feed(message["bytes"])
                        except ValueError as exc:
                            await socket.send_json({"error": str(exc)})
                            await socket.close(code=1003)
                            return
                    elif (message.get("text") or "").strip() == "end":
                        for segment in await transcriber.finish():
                            await socket.send_json(segment)
                        await socket.send_json({"event": "done"})
                        await socket.close()
                        return
                    else:
                        segments = []
                    for segment in segments:
                        await socket.send_json(segment)
            except WebSocketDisconnect:
                return

    return app


async def read_upload(request: Request, limit: int) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, from a multipart form (field ``file``) or the raw body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload is {int(declared)} bytes, the limit is {limit} bytes")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        if declared is None:
            raise HTTPException(411, "a multipart upload needs a Content-Length header")
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "file: the form has no file field named 'file'")
        kind = upload.content_type or "application/octet-stream"
        if not kind.startswith(AUDIO_TYPES):
            raise HTTPException(415, f"content type {kind} is not audio (send WAV, FLAC, OGG or MP3)")
        return upload.filename or "upload", await upload.read()
    if not content_type.startswith(AUDIO_TYPES):
        shown = content_type or "none"
        raise HTTPException(415, f"content type {shown} is not audio: send audio/* or a multipart form with 'file'")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise HTTPException(413, f"upload is over the limit of {limit} bytes")
    return "upload", bytes(body)


def _reason(error: AudioError) -> str:
    """Why the upload is unreadable, without the temporary file's name."""
    return error.reason


def batch_runner(model: torch.nn.Module, decoder: Any, device: torch.device) -> RunBatch:
    """The batcher's ``run``: :func:`asrkit.engine.transcribe.decode_waves` with word times and confidences."""
    from asrkit.engine.transcribe import decode_waves

    def run(waves: Sequence[torch.Tensor]) -> list[Hypothesis]:
        return decode_waves(model, decoder, waves, device, timestamps=True)

    return run
