"""The pyannote.ai job API subset the product uses, on the local diarizer: /v1/test, the media
store with its presigned PUT, /v1/diarize and /v1/jobs/{id}; pyannote's 400/404 shapes."""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.parse
from typing import Any, Callable

from . import audio, diarize
from .embedding import VoiceEncoder
from .jobs import MEDIA_KEY, JobStore, MediaStore, public_view

log = logging.getLogger("speech_engine.pyannote")

MAX_MEDIA_BYTES = 1024**3
PRESIGN_TTL = 3600


class HttpFailure(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(str(body.get("message")))
        self.status, self.body = status, body


def validation(errors: list[dict]) -> HttpFailure:
    return HttpFailure(400, {"message": "Validation failed", "errors": errors})


def validate_diarize(raw: Any, media: MediaStore) -> dict:
    if not isinstance(raw, dict):
        raise HttpFailure(400, {"message": "Request body must be a JSON object", "errors": []})
    errors: list[dict] = []
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        errors.append({"field": "url", "message": "url is required and must be a string"})
    elif url.startswith("media://"):
        key = url[len("media://") :]
        if not MEDIA_KEY.match(key) or len(url) > 255:
            errors.append({"field": "url", "message": "url must match ^media://[a-zA-Z0-9\\-_./]+$ (at most 255 characters)"})
        elif not media.has(key):
            errors.append({"field": "url", "message": f"No media found for {url}; upload it first with POST /v1/media/input"})
    elif not (url.startswith("http://") or url.startswith("https://")):
        errors.append({"field": "url", "message": "url must be a public http(s) URL or a media:// URL"})
    model = raw.get("model", "precision-2")
    if model is None:
        model = "precision-2"
    if model not in ("precision-2", "community-1"):
        errors.append({"field": "model", "message": "model must be one of 'precision-2', 'community-1'"})

    def count(name: str) -> int | None:
        v = raw.get(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            errors.append({"field": name, "message": f"{name} must be a positive integer or null"})
            return None
        return v

    num, lo, hi = count("numSpeakers"), count("minSpeakers"), count("maxSpeakers")
    if num is not None and (lo is not None or hi is not None):
        errors.append({"field": "numSpeakers", "message": "numSpeakers cannot be used together with minSpeakers or maxSpeakers"})
    if lo is not None and hi is not None and lo > hi:
        errors.append({"field": "minSpeakers", "message": "minSpeakers must be less than or equal to maxSpeakers"})
    for name in ("exclusive", "turnLevelConfidence", "confidence", "transcription", "webhookStatusOnly"):
        if raw.get(name) is not None and not isinstance(raw.get(name), bool):
            errors.append({"field": name, "message": f"{name} must be a boolean"})
    webhook = raw.get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))):
        errors.append({"field": "webhook", "message": "webhook must be an http(s) URL"})
    if raw.get("transcription") is True and model != "precision-2":
        errors.append({"field": "transcription", "message": "transcription is only available with the precision-2 model"})
    if errors:
        raise validation(errors)
    return {
        "url": url,
        "model": model,
        "numSpeakers": num,
        "minSpeakers": lo,
        "maxSpeakers": hi,
        "exclusive": raw.get("exclusive") is True,
        **({"webhook": webhook} if webhook else {}),
        **({"transcription": True} if raw.get("transcription") is True else {}),
    }


def make_runner(encoder: VoiceEncoder) -> Callable[[str, dict], dict]:
    def run(path: str, request: dict) -> dict:
        samples = audio.decode_file(path)
        hints = diarize.Hints(request.get("numSpeakers"), request.get("minSpeakers"), request.get("maxSpeakers"))
        turns, stats = diarize.diarize(samples, encoder, hints)
        rows = [t.as_json() for t in turns]
        out: dict[str, Any] = {"diarization": rows}
        if request.get("exclusive"):
            out["exclusiveDiarization"] = [dict(r) for r in rows]  # turns never overlap here
        warnings = []
        if request.get("webhook"):
            warnings.append("webhooks are not sent by the local engine; poll GET /v1/jobs/{jobId}")
        if request.get("transcription"):
            warnings.append("transcription is not part of the local diarizer; use /v1/audio/transcriptions")
        if warnings:
            out["warning"] = " ".join(warnings)
        out["_stats"] = stats
        return out

    return run


class PyannoteService:
    def __init__(self, jobs: JobStore, media: MediaStore, secret: bytes):
        self.jobs = jobs
        self.media = media
        self.secret = secret

    def sign(self, key: str, expires: int) -> str:
        return hmac.new(self.secret, f"{key}\n{expires}".encode("utf-8"), hashlib.sha256).hexdigest()

    def media_input(self, body: Any, origin: str) -> tuple[int, dict]:
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or len(url) > 255 or not url.startswith("media://") or not MEDIA_KEY.match(url[len("media://") :]):
            raise validation([{"field": "url", "message": "url must match ^media://[a-zA-Z0-9\\-_./]+$ and be at most 255 characters"}])
        key = url[len("media://") :]
        expires = int(time.time()) + PRESIGN_TTL
        encoded = "/".join(urllib.parse.quote(p, safe="") for p in key.split("/"))
        return 201, {"url": f"{origin}/storage/media/{encoded}?expires={expires}&signature={self.sign(key, expires)}"}

    def check_upload(self, path: str, query: str) -> tuple[str | None, tuple[int, str, str] | None]:
        """(media key, None) when the presigned URL is valid, else (None, S3-style error)."""
        key = urllib.parse.unquote(path[len("/storage/media/") :])
        q = urllib.parse.parse_qs(query)
        try:
            expires = int((q.get("expires") or ["0"])[0])
        except ValueError:
            expires = 0
        signature = (q.get("signature") or [""])[0]
        if not hmac.compare_digest(signature, self.sign(key, expires)):
            return None, (403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        if expires < time.time():
            return None, (403, "AccessDenied", "Request has expired")
        return key, None

    def diarize(self, body: Any) -> tuple[int, dict]:
        request = validate_diarize(body, self.media)
        media_path = None
        if request["url"].startswith("media://"):
            p = self.media.path(request["url"][len("media://") :])
            media_path = str(p) if p else None
        job = self.jobs.create(request, media_path)
        log.info("job %s: created for %s", job["jobId"], request["url"])
        return 200, {"jobId": job["jobId"], "status": job["status"]}

    def job(self, job_id: str, request_id: str) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            raise HttpFailure(404, {"message": f"Job {job_id} not found", "requestId": request_id})
        return 200, public_view(job)
