"""Jobs (diarize, voiceprint, identify) and uploaded media, kept on disk so they outlive the process.

Layout under the data directory:
    jobs/<jobId>.json     one job, rewritten atomically (temp file, fsync, rename)
    media/<sha256(key)>.media  uploaded bytes (renamed into place once complete)
    media/<sha256(key)>.json   {key, bytes, uploadedAt}
    secret                signing key for upload URLs

A job is written as `created` before its id is returned, so an engine killed at any point
still answers for every id it gave out. At start every job not yet `succeeded`/`failed` is
queued again. `attempts` counts starts of the computation, `computations` counts finished
ones; a job's output, its `succeeded` status and `computations + 1` land in one atomic
write, so a succeeded job is never computed again and never twice recorded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import secrets
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("speech_engine.jobs")

TERMINAL = ("succeeded", "failed", "canceled")
FAILED_MESSAGE = "An error occurred while processing the audio."
MEDIA_KEY = re.compile(r"^[a-zA-Z0-9\-_./]+$")
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class JobFailure(Exception):
    """A job refused for a reason its client should read: the message becomes `output.error`
    (any other exception gives pyannote's generic FAILED_MESSAGE)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def atomic_write_json(path: Path, obj: Any) -> None:
    data = json.dumps(obj, indent=1).encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


class MediaStore:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob("*.part"):
            stale.unlink(missing_ok=True)

    def _base(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path | None:
        p = self._base(key).with_suffix(".media")
        return p if p.is_file() else None

    def has(self, key: str) -> bool:
        return self.path(key) is not None

    def receive(self, key: str, read: Callable[[int], bytes], length: int | None, limit: int) -> int:
        """Streams a body to disk; renamed into place only once complete. Returns the byte count."""
        base = self._base(key)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=base.name + ".", suffix=".part")
        total = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while length is None or total < length:
                    chunk = read(1 << 20 if length is None else min(1 << 20, length - total))
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limit:
                        raise ValueError("EntityTooLarge")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if length is not None and total < length:
                raise ConnectionError(f"upload ended after {total} of {length} bytes")
            os.replace(tmp, base.with_suffix(".media"))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        atomic_write_json(base.with_suffix(".json"), {"key": key, "bytes": total, "uploadedAt": now_iso()})
        return total


class JobStore:
    """Job records on disk plus a queue of ids for the worker threads."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.queue: "queue.Queue[str | None]" = queue.Queue()

    def _path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def get(self, job_id: str) -> dict | None:
        if not JOB_ID.match(job_id):
            return None
        try:
            return json.loads(self._path(job_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def create(self, request: dict, media_path: str | None) -> dict:
        ts = now_iso()
        job = {
            "jobId": str(uuid.uuid4()),
            "status": "created",
            "createdAt": ts,
            "updatedAt": ts,
            "request": request,
            "mediaPath": media_path,
            "attempts": 0,
            "computations": 0,
        }
        with self._lock:
            atomic_write_json(self._path(job["jobId"]), job)
        self.queue.put(job["jobId"])
        return job

    def update(self, job_id: str, change: Callable[[dict], None]) -> dict:
        with self._lock:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            change(job)
            job["updatedAt"] = now_iso()
            atomic_write_json(self._path(job_id), job)
            return job

    def recover(self) -> list[str]:
        """Queues every unfinished job found on disk (oldest first); returns their ids."""
        pending = []
        for p in self.root.glob("*.json"):
            try:
                job = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                log.error("unreadable job file %s: %s", p, e)
                continue
            if job.get("status") not in TERMINAL:
                pending.append((job.get("createdAt", ""), job["jobId"]))
        for _, job_id in sorted(pending):
            self.queue.put(job_id)
        for stale in self.root.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        return [j for _, j in sorted(pending)]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.root.glob("*.json"):
            try:
                status = json.loads(p.read_text(encoding="utf-8")).get("status", "?")
            except (OSError, ValueError):
                status = "unreadable"
            out[status] = out.get(status, 0) + 1
        return out


def public_view(job: dict) -> dict:
    view = {k: job[k] for k in ("jobId", "status", "createdAt", "updatedAt")}
    if job.get("output") is not None:
        view["output"] = job["output"]
    return view


class Worker:
    """Threads that take job ids off the store's queue and run them, at most `threads` at once.

    Jobs run at the same priority as transcriptions. They used to run at nice 19 so that a
    file's one transcription request, the longest stage, would not wait for them; now that
    the worker cuts a file into one chunk per transcription slot, transcription takes both
    cores and a job at nice 19 got CPU only after it, becoming the longest stage itself
    (a 258.6 s conversation in two chunks on 2 cores, 3 runs each: both stages done 10.3-11.8 s
    after conversion with jobs at nice 19, 9.3-10.3 s at nice 10, 8.9-9.9 s at normal priority)."""

    def __init__(self, store: JobStore, media: MediaStore, compute: threading.Semaphore, run: Callable[[str, dict], dict], threads: int, scratch: Path):
        self.store = store
        self.media = media
        self.compute = compute
        self.run = run  # (audio path, request) → output dict; raises on failure
        self.scratch = scratch
        self.computations_total = 0
        self._stop = threading.Event()
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, name=f"diarize-{i}", daemon=True) for i in range(threads)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for _ in self._threads:
            self.store.queue.put(None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job_id = self.store.queue.get()
            if job_id is None:
                return
            with self._active_lock:
                if job_id in self._active:
                    continue  # queued twice; the other thread has it
                self._active.add(job_id)
            try:
                self._process(job_id)
            except Exception:  # never let one job kill the worker
                log.exception("job %s: unexpected failure", job_id)
            finally:
                with self._active_lock:
                    self._active.discard(job_id)

    def _source(self, job: dict) -> tuple[Path, Path | None]:
        url = job["request"]["url"]
        if url.startswith("media://"):
            p = self.media.path(url[len("media://") :])
            if p is None:
                raise FileNotFoundError(f"media {url} is no longer available")
            return p, None
        fd, tmp = tempfile.mkstemp(dir=self.scratch, prefix="download-")
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as res:  # noqa: S310 - http(s) checked at submit
            while chunk := res.read(1 << 20):
                f.write(chunk)
        return Path(tmp), Path(tmp)

    def _process(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job["status"] in TERMINAL:
            return
        with self.compute:
            if self._stop.is_set():
                return
            job = self.store.get(job_id)
            if job is None or job["status"] in TERMINAL:
                return

            def start(j: dict) -> None:
                j["status"] = "running"
                j["attempts"] = j.get("attempts", 0) + 1
                j["lastAttemptPid"] = os.getpid()

            job = self.store.update(job_id, start)
            log.info("job %s: running (attempt %d)", job_id, job["attempts"])
            started = time.monotonic()
            downloaded = None
            try:
                path, downloaded = self._source(job)
                output = self.run(str(path), job["request"])
            except Exception as e:  # the job fails, the engine goes on
                detail = f"{type(e).__name__}: {e}"
                public = str(e) if isinstance(e, JobFailure) else FAILED_MESSAGE
                log.warning("job %s: failed: %s", job_id, detail)

                def fail(j: dict) -> None:
                    j["status"] = "failed"
                    j["output"] = {"error": public}
                    j["errorDetail"] = detail

                self.store.update(job_id, fail)
                return
            finally:
                if downloaded:
                    downloaded.unlink(missing_ok=True)
            elapsed = time.monotonic() - started
            stats = output.pop("_stats", {})

            def succeed(j: dict) -> None:
                j["status"] = "succeeded"
                j["output"] = output
                j["computations"] = j.get("computations", 0) + 1
                j["computeSeconds"] = round(elapsed, 3)
                j["stats"] = stats

            self.store.update(job_id, succeed)
            self.computations_total += 1
            log.info("job %s: succeeded in %.2f s (%s)", job_id, elapsed, stats)


def load_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return data
