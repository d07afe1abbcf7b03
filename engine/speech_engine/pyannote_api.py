"""The pyannote.ai job API subset the product uses, on the local models: /v1/test, the media
store with its presigned PUT, /v1/diarize, /v1/voiceprint, /v1/identify and /v1/jobs/{id};
pyannote's 400/404 shapes. Request fields and limits follow pyannote.ai's OpenAPI document
(DiarizeRequest, VoiceprintRequest, IdentifyRequest); see engine/README.md."""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
import urllib.parse
from typing import Any, Callable

from . import audio, diarize, voiceprint
from .embedding import VoiceEncoder
from .jobs import MEDIA_KEY, JobFailure, JobStore, MediaStore, public_view

log = logging.getLogger("speech_engine.pyannote")

MAX_MEDIA_BYTES = 1024**3
PRESIGN_TTL = 3600


class HttpFailure(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(str(body.get("message")))
        self.status, self.body = status, body


def validation(errors: list[dict]) -> HttpFailure:
    return HttpFailure(400, {"message": "Validation failed", "errors": errors})


def _body(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise HttpFailure(400, {"message": "Request body must be a JSON object", "errors": []})
    return raw


def _check_url(raw: dict, media: MediaStore, errors: list[dict]) -> str | None:
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
    return url if isinstance(url, str) else None


def _check_model(raw: dict, allowed: tuple[str, ...], errors: list[dict]) -> str:
    model = raw.get("model")
    if model is None:
        model = allowed[0]
    if model not in allowed:
        errors.append({"field": "model", "message": "model must be one of " + ", ".join(f"'{m}'" for m in allowed)})
    return model


def _check_counts(raw: dict, errors: list[dict]) -> dict:
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
    return {"numSpeakers": num, "minSpeakers": lo, "maxSpeakers": hi}


def _check_booleans(raw: dict, names: tuple[str, ...], errors: list[dict]) -> None:
    for name in names:
        if raw.get(name) is not None and not isinstance(raw.get(name), bool):
            errors.append({"field": name, "message": f"{name} must be a boolean"})


def _check_webhook(raw: dict, errors: list[dict]) -> dict:
    webhook = raw.get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))):
        errors.append({"field": "webhook", "message": "webhook must be an http(s) URL"})
    return {"webhook": webhook} if isinstance(webhook, str) and webhook else {}


def validate_diarize(raw: Any, media: MediaStore) -> dict:
    raw = _body(raw)
    errors: list[dict] = []
    url = _check_url(raw, media, errors)
    model = _check_model(raw, ("precision-2", "community-1"), errors)
    counts = _check_counts(raw, errors)
    _check_booleans(raw, ("exclusive", "turnLevelConfidence", "confidence", "transcription", "webhookStatusOnly"), errors)
    hook = _check_webhook(raw, errors)
    if raw.get("transcription") is True and model != "precision-2":
        errors.append({"field": "transcription", "message": "transcription is only available with the precision-2 model"})
    if errors:
        raise validation(errors)
    return {
        "kind": "diarize",
        "url": url,
        "model": model,
        **counts,
        "exclusive": raw.get("exclusive") is True,
        **hook,
        **({"transcription": True} if raw.get("transcription") is True else {}),
    }


def validate_voiceprint(raw: Any, media: MediaStore) -> dict:
    raw = _body(raw)
    errors: list[dict] = []
    url = _check_url(raw, media, errors)
    model = _check_model(raw, ("precision-2",), errors)
    _check_booleans(raw, ("webhookStatusOnly",), errors)
    hook = _check_webhook(raw, errors)
    if errors:
        raise validation(errors)
    return {"kind": "voiceprint", "url": url, "model": model, **hook}


def validate_identify(raw: Any, media: MediaStore) -> dict:
    raw = _body(raw)
    errors: list[dict] = []
    url = _check_url(raw, media, errors)
    model = _check_model(raw, ("precision-2",), errors)
    counts = _check_counts(raw, errors)
    _check_booleans(raw, ("exclusive", "turnLevelConfidence", "confidence", "webhookStatusOnly"), errors)
    hook = _check_webhook(raw, errors)

    entries = raw.get("voiceprints")
    voiceprints: list[dict] = []
    if not isinstance(entries, list) or not 1 <= len(entries) <= voiceprint.MAX_VOICEPRINTS:
        errors.append({"field": "voiceprints", "message": f"voiceprints must be an array of 1 to {voiceprint.MAX_VOICEPRINTS} voiceprints"})
    else:
        seen: set[str] = set()
        for i, e in enumerate(entries):
            field = f"voiceprints[{i}]"
            e = e if isinstance(e, dict) else {}
            label, vp = e.get("label"), e.get("voiceprint")
            if not isinstance(label, str) or not 1 <= len(label) <= voiceprint.MAX_LABEL_CHARS:
                errors.append({"field": f"{field}.label", "message": f"label must be a string of 1 to {voiceprint.MAX_LABEL_CHARS} characters"})
            elif label.lower().startswith("speaker_"):
                errors.append({"field": f"{field}.label", "message": 'label can\'t start with "SPEAKER_"'})
            elif label in seen:
                errors.append({"field": f"{field}.label", "message": f'label "{label}" is used by more than one voiceprint'})
            else:
                seen.add(label)
            if not isinstance(vp, str) or not 1 <= len(vp) <= voiceprint.MAX_VOICEPRINT_CHARS:
                errors.append({"field": f"{field}.voiceprint", "message": f"voiceprint must be a string of at most {voiceprint.MAX_VOICEPRINT_CHARS} characters"})
            else:
                try:
                    voiceprint.decode(vp)
                except voiceprint.InvalidVoiceprint as err:
                    errors.append({"field": f"{field}.voiceprint", "message": f"voiceprint is not valid here: {err}"})
            if isinstance(label, str) and isinstance(vp, str):
                voiceprints.append({"label": label, "voiceprint": vp})

    matching = {"exclusive": True, "threshold": 0}
    m = raw.get("matching")
    if m is not None:
        if not isinstance(m, dict):
            errors.append({"field": "matching", "message": "matching must be an object"})
        else:
            if m.get("exclusive") is not None and not isinstance(m.get("exclusive"), bool):
                errors.append({"field": "matching.exclusive", "message": "matching.exclusive must be a boolean"})
            t = m.get("threshold")
            if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 100):
                errors.append({"field": "matching.threshold", "message": "matching.threshold must be a number between 0 and 100"})
            matching = {"exclusive": m.get("exclusive") is not False, "threshold": t if isinstance(t, (int, float)) and not isinstance(t, bool) else 0}
    if errors:
        raise validation(errors)
    return {
        "kind": "identify",
        "url": url,
        "model": model,
        **counts,
        "exclusive": raw.get("exclusive") is True,
        **hook,
        "voiceprints": voiceprints,
        "matching": matching,
    }


VALIDATORS = {"diarize": validate_diarize, "voiceprint": validate_voiceprint, "identify": validate_identify}


def _warnings(request: dict) -> list[str]:
    warnings = []
    if request.get("webhook"):
        warnings.append("webhooks are not sent by the local engine; poll GET /v1/jobs/{jobId}")
    if request.get("transcription"):
        warnings.append("transcription is not part of the local diarizer; use /v1/audio/transcriptions")
    return warnings


def make_runner(encoder: VoiceEncoder) -> Callable[[str, dict], dict]:
    """(audio path, request) → job output, for each kind of job; raises to fail the job."""

    def run_voiceprint(path: str, request: dict) -> dict:
        if os.path.getsize(path) > voiceprint.MAX_BYTES:
            raise JobFailure("Audio for a voiceprint must be at most 100 MiB.")
        samples = audio.decode_file(path)
        seconds = len(samples) / audio.SAMPLE_RATE
        if seconds > voiceprint.MAX_SECONDS + 0.001:
            raise JobFailure(f"Audio for a voiceprint must be at most {voiceprint.MAX_SECONDS:.0f} seconds long (this one is {seconds:.1f} s).")
        try:
            vector = voiceprint.embed_speech(samples, encoder)
        except voiceprint.NoSpeech as e:
            raise JobFailure(f"No speech to make a voiceprint of: {e}.") from None
        out: dict[str, Any] = {"voiceprint": voiceprint.encode(vector)}
        if warnings := _warnings(request):
            out["warning"] = " ".join(warnings)
        out["_stats"] = {"audioSeconds": round(seconds, 3)}
        return out

    def run_diarize(path: str, request: dict) -> dict:
        samples = audio.decode_file(path)
        hints = diarize.Hints(request.get("numSpeakers"), request.get("minSpeakers"), request.get("maxSpeakers"))
        turns, stats, centroids = diarize.diarize_with_centroids(samples, encoder, hints)
        rows = [t.as_json() for t in turns]
        out: dict[str, Any] = {"diarization": rows}
        if request.get("exclusive"):
            out["exclusiveDiarization"] = [dict(r) for r in rows]  # turns never overlap here
        if request.get("kind") == "identify":
            enrolled = [(v["label"], voiceprint.decode(v["voiceprint"])) for v in request["voiceprints"]]
            matching = request.get("matching") or {}
            verdicts = voiceprint.identify(centroids, enrolled, matching.get("exclusive", True), matching.get("threshold", 0))
            match = {v["speaker"]: v["match"] for v in verdicts}
            # speaker is the name when there is one (pyannote's IdentificationSegment), the label otherwise.
            out["identification"] = [
                {"speaker": match.get(r["speaker"]) or r["speaker"], "start": r["start"], "end": r["end"], "diarizationSpeaker": r["speaker"], "match": match.get(r["speaker"])}
                for r in rows
            ]
            out["voiceprints"] = verdicts
        if warnings := _warnings(request):
            out["warning"] = " ".join(warnings)
        out["_stats"] = stats
        return out

    def run(path: str, request: dict) -> dict:
        # Jobs written before voiceprints existed have no kind: they are diarize jobs.
        return run_voiceprint(path, request) if request.get("kind") == "voiceprint" else run_diarize(path, request)

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

    def submit(self, kind: str, body: Any) -> tuple[int, dict]:
        """POST /v1/diarize, /v1/voiceprint or /v1/identify: validated, then written as a job."""
        request = VALIDATORS[kind](body, self.media)
        media_path = None
        if request["url"].startswith("media://"):
            p = self.media.path(request["url"][len("media://") :])
            media_path = str(p) if p else None
        job = self.jobs.create(request, media_path)
        log.info("job %s: %s created for %s", job["jobId"], kind, request["url"])
        return 200, {"jobId": job["jobId"], "status": job["status"]}

    def job(self, job_id: str, request_id: str) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            raise HttpFailure(404, {"message": f"Job {job_id} not found", "requestId": request_id})
        return 200, public_view(job)
