"""The engine's HTTP server (stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive).

Routes:
    GET  /health                         engine status (not part of either contract)
    POST /v1/audio/transcriptions        OpenAI transcription (openai_api.py)
    GET  /v1/test                        pyannote.ai key check
    POST /v1/media/input                 pyannote.ai media store: presigned PUT URL
    PUT  /storage/media/<key>?…          the presigned upload itself
    POST /v1/diarize                     pyannote.ai diarization job
    POST /v1/voiceprint                  pyannote.ai voiceprint job (a single-speaker clip ≤ 30 s)
    POST /v1/identify                    pyannote.ai identification job (diarization + voiceprint matching)
    GET  /v1/jobs/<jobId>                pyannote.ai job status and output
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config

log = logging.getLogger("speech_engine.server")


class BodyReader:
    """Reads a request body: Content-Length, chunked transfer encoding, or none."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        te = (headers.get("Transfer-Encoding") or "").lower()
        self.chunked = "chunked" in te
        cl = headers.get("Content-Length")
        self.length = int(cl) if (cl and not self.chunked and cl.strip().isdigit()) else (None if self.chunked else 0)
        self.remaining = self.length if self.length is not None else 0
        self.chunk_left = 0
        self.done = False
        self.read_bytes = 0

    def read(self, n: int) -> bytes:
        if self.done or n <= 0:
            return b""
        if not self.chunked:
            if self.remaining <= 0:
                self.done = True
                return b""
            data = self.rfile.read(min(n, self.remaining))
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            self.remaining -= len(data)
            self.read_bytes += len(data)
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers
                    t = self.rfile.readline(65537)
                    if t in (b"\r\n", b"\n", b""):
                        break
                self.done = True
                return b""
            self.chunk_left = size
        data = self.rfile.read(min(n, self.chunk_left))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self.chunk_left -= len(data)
        self.read_bytes += len(data)
        if self.chunk_left == 0:
            self.rfile.readline(3)  # CRLF after the chunk
        return data

    def read_all(self, limit: int) -> bytes | None:
        """The whole body, or None if it exceeded `limit` (it is still drained, and counted)."""
        chunks, total, over = [], 0, False
        while True:
            data = self.read(1 << 20)
            if not data:
                break
            total += len(data)
            if over:
                continue
            if total > limit:
                over = True
                chunks.clear()
                continue
            chunks.append(data)
        return None if over else b"".join(chunks)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class Engine:
    """Everything a request handler needs, built once at start."""

    def __init__(self, cfg: Config):
        from . import models
        from .embedding import VoiceEncoder
        from .jobs import JobStore, MediaStore, Worker, load_secret
        from .openai_api import TranscriptionService
        from .pyannote_api import PyannoteService, make_runner
        from .asr import Recognizer

        self.cfg = cfg
        self.started = time.time()
        t0 = time.monotonic()
        found = models.verify(include_asr=cfg.bundled_asr)
        log.info("model files verified against MODELS.md in %.2f s", time.monotonic() - t0)
        for d in ("jobs", "media", "tmp"):
            (cfg.data_dir / d).mkdir(parents=True, exist_ok=True)
        scratch = cfg.data_dir / "tmp"
        for stale in scratch.glob("*"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
        self.asr_label = "tiny.en" if cfg.bundled_asr else cfg.asr_model
        asr_path = str(models.bundled_asr_dir(found)) if cfg.bundled_asr else cfg.asr_model
        t0 = time.monotonic()
        self.recognizer = Recognizer(asr_path, cfg.device, cfg.compute_type, cfg.threads, cfg.concurrency, cfg.beam_size, cfg.batch_size)
        log.info("ASR model %s loaded from %s in %.2f s", self.asr_label, asr_path, time.monotonic() - t0)
        self.encoder = VoiceEncoder(models.encoder_path(found))
        # Load the VAD session now, not on the first job.
        from faster_whisper.vad import get_vad_model

        get_vad_model()
        self.compute = threading.BoundedSemaphore(cfg.concurrency)
        self.transcriptions = TranscriptionService(self.recognizer, self.compute, scratch, self.asr_label)
        self.media = MediaStore(cfg.data_dir / "media")
        self.jobs = JobStore(cfg.data_dir / "jobs")
        self.pyannote = PyannoteService(self.jobs, self.media, load_secret(cfg.data_dir / "secret"))
        # Diarization jobs do not wait for a transcription slot: they run beside transcriptions, at
        # the same priority (jobs.py, Worker), and at most `concurrency` of them at once.
        self.worker = Worker(self.jobs, self.media, threading.BoundedSemaphore(cfg.concurrency), make_runner(self.encoder), cfg.concurrency, scratch)

    def start_jobs(self) -> None:
        resumed = self.jobs.recover()
        if resumed:
            log.info("resuming %d unfinished job(s): %s", len(resumed), ", ".join(resumed))
        self.worker.start()

    def health(self) -> dict:
        return {
            "status": "ok",
            "asr_model": self.asr_label,
            "device": self.cfg.device,
            "compute_type": self.cfg.compute_type,
            "threads": self.cfg.threads,
            "concurrency": self.cfg.concurrency,
            "beam_size": self.cfg.beam_size,
            "batch_size": self.cfg.batch_size,
            "pid": os.getpid(),
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "transcriptions": self.transcriptions.requests_total,
            "diarization_computations": self.worker.computations_total,
            "jobs": self.jobs.counts(),
        }


JOB_PATH = re.compile(r"^/v1/jobs/([^/]+)$")


def make_handler(engine: Engine):
    from .openai_api import MAX_BODY_BYTES, ApiError, missing_key, too_large
    from .pyannote_api import MAX_MEDIA_BYTES, HttpFailure

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Socket timeout: a client silent this long mid-request (or idle on keep-alive) is dropped.
        timeout = 600
        server_version = f"speech-engine/{__version__}"
        sys_version = ""

        # -- plumbing -------------------------------------------------------------------------
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self._status = status

        def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

        def send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)

        def _bearer(self) -> str | None:
            h = self.headers.get("Authorization")
            if not h:
                return None
            m = re.match(r"^Bearer\s+(.+)$", h.strip(), re.I)
            return m.group(1).strip() if m else None

        def _origin(self) -> str:
            host = self.headers.get("Host") or f"{engine.cfg.host}:{self.server.server_address[1]}"
            return f"http://{host}"

        def _dispatch(self) -> None:
            started = time.monotonic()
            self._status = 0
            self.body = BodyReader(self.rfile, self.headers)
            url = self.path.split("?", 1)
            path, query = url[0], (url[1] if len(url) > 1 else "")
            try:
                self._route(path, query)
            except (ConnectionError, BrokenPipeError, ConnectionResetError) as e:
                log.info("%s %s: client went away (%s)", self.command, path, e)
                self.close_connection = True
                return
            except Exception:
                log.exception("%s %s: unexpected error", self.command, path)
                self.close_connection = True
                try:
                    if path.startswith("/v1/audio/"):
                        self.send_json(500, ApiError(500, "The server had an error while processing your request. Sorry about that!", "server_error").envelope())
                    else:
                        self.send_json(500, {"message": "Internal server error"})
                except OSError:
                    pass
            finally:
                if not self.body.done and not self.close_connection:
                    # A body left unread would be parsed as the next request: drop the connection.
                    self.close_connection = True
            if path != "/health":
                log.info("%s %s %s %.0f ms", self.command, path, self._status or "-", (time.monotonic() - started) * 1000)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

        # -- routes ---------------------------------------------------------------------------
        def _route(self, path: str, query: str) -> None:
            m = self.command
            if path == "/health" and m == "GET":
                self.body.drain()
                return self.send_json(200, engine.health())
            if path.startswith("/v1/audio/"):
                return self._openai(path)
            if path.startswith("/storage/media/"):
                return self._upload(path, query)
            return self._pyannote(path)

        def _openai(self, path: str) -> None:
            request_id = f"req_{uuid.uuid4().hex}"
            headers = {"x-request-id": request_id, "openai-version": "2020-10-01", "openai-model": engine.asr_label}

            def fail(e: ApiError) -> None:
                self.send_json(e.status, e.envelope(), headers)

            if not (m := self.command) == "POST" or path != "/v1/audio/transcriptions":
                self.body.drain()
                return fail(ApiError(404, f"Invalid URL ({m} {path})"))
            if not self._bearer():
                self.body.drain()
                return fail(missing_key())
            started = time.monotonic()
            body = self.body.read_all(MAX_BODY_BYTES)
            if body is None:
                return fail(too_large(MAX_BODY_BYTES, self.body.read_bytes))
            try:
                kind, out, info = engine.transcriptions.handle(self.headers.get("Content-Type"), body)
            except ApiError as e:
                log.info("transcription refused (%d): %s", e.status, e.message)
                return fail(e)
            headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
            log.info("transcribed %.2f s of audio (model asked: %s, format %s) in %s ms", info["audio_seconds"], info["model"], info["format"], headers["openai-processing-ms"])
            if kind == "json":
                self.send_json(200, out, headers)
            else:
                self.send_text(200, out, headers)

        def _upload(self, path: str, query: str) -> None:
            def s3_error(status: int, code: str, message: str) -> None:
                xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
                self._send(status, xml.encode("utf-8"), "application/xml")

            if self.command != "PUT":
                self.body.drain()
                return s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
            key, err = engine.pyannote.check_upload(path, query)
            if err:
                self.body.drain()
                return s3_error(*err)
            length = self.body.length if not self.body.chunked else None
            try:
                n = engine.media.receive(key, self.body.read, length, MAX_MEDIA_BYTES)
            except ValueError:
                self.close_connection = True
                return s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
            self.body.done = True
            log.info("media %s: %d bytes stored", key, n)
            self._send(200, b"", "application/octet-stream", {"ETag": f'"{n:x}"'})

        def _pyannote(self, path: str) -> None:
            request_id = str(uuid.uuid4())
            headers = {"x-request-id": request_id}
            m = self.command
            endpoint = None
            if m == "GET" and path == "/v1/test":
                endpoint = "test"
            elif m == "POST" and path == "/v1/media/input":
                endpoint = "media"
            elif m == "POST" and path in ("/v1/diarize", "/v1/voiceprint", "/v1/identify"):
                endpoint = path[len("/v1/") :]
            elif m == "GET" and JOB_PATH.match(path):
                endpoint = "job"
            if endpoint is None:
                self.body.drain()
                return self.send_json(404, {"message": f"Cannot {m} {path}", "requestId": request_id}, headers)
            if not self._bearer():
                self.body.drain()
                return self.send_json(401, {"message": "Unauthorized", "requestId": request_id}, headers)
            try:
                if endpoint == "test":
                    self.body.drain()
                    return self.send_json(200, {"status": "OK", "message": "API key is valid"}, headers)
                if endpoint == "job":
                    self.body.drain()
                    import urllib.parse

                    job_id = urllib.parse.unquote(JOB_PATH.match(path).group(1))
                    status, out = engine.pyannote.job(job_id, request_id)
                    return self.send_json(status, out, headers)
                raw = self.body.read_all(1 << 20)
                if raw is None:
                    raise HttpFailure(413, {"message": "Request body too large"})
                try:
                    data = json.loads(raw.decode("utf-8")) if raw.strip() else None
                except ValueError:
                    raise HttpFailure(400, {"message": "Request body is not valid JSON", "errors": []}) from None
                if endpoint == "media":
                    status, out = engine.pyannote.media_input(data, self._origin())
                else:
                    status, out = engine.pyannote.submit(endpoint, data)
                return self.send_json(status, out, headers)
            except HttpFailure as e:
                self.body.drain()
                return self.send_json(e.status, e.body, headers)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(cfg: Config) -> int:
    from .models import ModelCheckError

    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        httpd = Server((cfg.host, cfg.port), lambda *a: None)  # handler set once models are loaded
    except OSError as e:
        print(f"speech-engine: cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        engine = Engine(cfg)
    except ModelCheckError as e:
        print(f"speech-engine: refusing to start: {e}", file=sys.stderr)
        httpd.server_close()
        return 1
    except Exception as e:
        log.exception("engine failed to start")
        print(f"speech-engine: failed to start: {e}", file=sys.stderr)
        httpd.server_close()
        return 1
    if stop.is_set():
        httpd.server_close()
        return 0
    httpd.RequestHandlerClass = make_handler(engine)
    engine.start_jobs()
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    thread.start()
    sys.stdout.write(f"speech-engine ready on http://{cfg.host}:{port} (asr: {engine.asr_label}, {cfg.device}/{cfg.compute_type}, {cfg.threads} threads)\n")
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    httpd.shutdown()
    httpd.server_close()
    engine.worker.stop()
    log.info("stopped")
    return 0
