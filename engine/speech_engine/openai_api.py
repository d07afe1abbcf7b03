"""OpenAI `POST /v1/audio/transcriptions` on the local recognizer: parameters, validation in
the service's order (model, options, file), its error envelope and status codes."""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import asr, audio, multipart, vad

log = logging.getLogger("speech_engine.openai")

MAX_BODY_BYTES = 26_214_400
SUPPORTED_EXTENSIONS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
FORMATS = ["json", "text", "srt", "verbose_json", "vtt"]
MIN_SECONDS = 0.1


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def envelope(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def missing_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The local engine accepts any key.",
    )


def too_large(limit: int, read: int) -> ApiError:
    return ApiError(413, f"Maximum content size limit ({limit}) exceeded ({read} bytes read)", "server_error")


@dataclass
class Params:
    model: str
    response_format: str
    granularities: set[str]
    language: str | None
    prompt: str | None
    temperature: float
    file: multipart.Part
    extension: str
    extra: dict = field(default_factory=dict)


def parse_params(parts: list[multipart.Part]) -> Params:
    fields: dict[str, list[str]] = {}
    for p in parts:
        if p.filename is None:
            fields.setdefault(p.name, []).append(p.data.decode("utf-8", "replace"))

    def first(name: str) -> str | None:
        v = fields.get(name)
        return v[0] if v else None

    model = first("model")
    if not model:
        raise bad_request("you must provide a model parameter", "model", None)
    response_format = first("response_format") or "json"
    if response_format not in FORMATS:
        if response_format == "diarized_json":
            raise bad_request(
                f"response_format 'diarized_json' is not compatible with model '{model}'. Use {' or '.join(repr(f) for f in FORMATS)} instead.",
                "response_format",
                "unsupported_value",
            )
        raise bad_request(f"Invalid value: '{response_format}'. Supported values are: {', '.join(repr(f) for f in FORMATS + ['diarized_json'])}.", "response_format")
    granularities = set(fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", []))
    for g in granularities:
        if g not in ("word", "segment"):
            raise bad_request(f"Invalid value: '{g}'. Supported values are: 'word' and 'segment'.", "timestamp_granularities")
    if granularities and response_format != "verbose_json":
        raise bad_request("timestamp_granularities is only supported with response_format 'verbose_json'.", "timestamp_granularities", "unsupported_value")
    language = first("language")
    if language is not None:
        language = language.strip().lower()
        if language not in asr.LANGUAGES:
            raise bad_request(f"Invalid language '{language}'. Language parameter must be specified in ISO-639-1 format.", "language")
    raw_t = first("temperature")
    try:
        temperature = 0.0 if raw_t is None or raw_t.strip() == "" else float(raw_t)
    except ValueError:
        temperature = float("nan")
    if not (0.0 <= temperature <= 1.0):
        raise bad_request(f"Invalid 'temperature': expected a number between 0 and 1, got '{raw_t}'.", "temperature")
    prompt = first("prompt")
    file = next((p for p in parts if p.name == "file"), None)
    if file is None:
        raise bad_request("Missing required parameter: 'file'.", "file", "missing_required_parameter")
    ext = os.path.splitext(file.filename or "")[1][1:].lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise bad_request(f"Invalid file format. Supported formats: [{', '.join(repr(e) for e in SUPPORTED_EXTENSIONS)}]", "file", "unsupported_value")
    return Params(model, response_format, granularities, language, prompt, temperature, file, ext)


class TranscriptionService:
    def __init__(self, recognizer: asr.Recognizer, compute: threading.Semaphore, scratch: Path, model_label: str):
        self.recognizer = recognizer
        self.compute = compute
        self.scratch = scratch
        self.model_label = model_label
        self.requests_total = 0

    def handle(self, content_type: str | None, body: bytes) -> tuple[str, Any, dict]:
        """Returns (kind, body, info) with kind 'json' or 'text'; raises ApiError."""
        boundary = multipart.boundary_of(content_type)
        if not boundary:
            raise bad_request(f"Invalid Content-Type header ({content_type or 'none'}), expected multipart/form-data.", None, None)
        try:
            parts = multipart.parse(body, boundary)
        except multipart.MultipartError as e:
            raise bad_request(f"Could not parse multipart form: {e}", None, None) from None
        params = parse_params(parts)
        fd, tmp = tempfile.mkstemp(dir=self.scratch, prefix="upload-", suffix=f".{params.extension}")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(params.file.data)
            try:
                samples = audio.decode_file(tmp)
            except audio.DecodeError as e:
                log.info("undecodable upload %r: %s", params.file.filename, e)
                raise bad_request("Audio file might be corrupted or unsupported", "file", "invalid_value") from None
        finally:
            os.unlink(tmp)
        duration = len(samples) / audio.SAMPLE_RATE
        if duration < MIN_SECONDS:
            raise bad_request(f"Audio file is too short. Minimum audio length is {MIN_SECONDS} seconds.", "file", "audio_too_short")
        with self.compute:
            speech = [(a / audio.SAMPLE_RATE, b / audio.SAMPLE_RATE) for a, b in vad.speech_regions(samples, min_silence_ms=200, pad_ms=80, min_speech_ms=100, max_speech_s=asr.WINDOW_SECONDS - 1)]
            result = self.recognizer.transcribe(samples, language=params.language, prompt=params.prompt, temperature=params.temperature, speech=speech)
        self.requests_total += 1
        kind, out = asr.render(result, params.response_format, params.granularities)
        return kind, out, {"model": params.model, "format": params.response_format, "audio_seconds": round(duration, 3)}
