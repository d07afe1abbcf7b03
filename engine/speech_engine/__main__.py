"""Entry point: python -m speech_engine serve|check|transcribe …"""
from __future__ import annotations

import json
import logging
import os
import sys
import time


def _setup_logging() -> None:
    level = os.environ.get("SPEECH_ENGINE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level, logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("faster_whisper", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _limit_threads() -> None:
    # numpy's BLAS reads these when it is first imported. The speaker encoder's matrix products
    # are small (batch x 256 x 1024 per LSTM step): one BLAS thread runs them fastest, and idle
    # BLAS threads spinning beside CTranslate2's would only take its cores. CTranslate2 gets
    # its thread count explicitly (--threads).
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError, build_parser, resolve

    args = build_parser().parse_args(argv)
    _setup_logging()
    if args.command == "check":
        from .models import ModelCheckError, verify

        try:
            found = verify(include_asr=True)
        except ModelCheckError as e:
            print(f"speech-engine: {e}", file=sys.stderr)
            return 1
        if os.environ.get("SPEECH_ENGINE_CHECK_VERBOSE"):
            for rel, p in found.items():
                print(f"ok {rel} {p}")
        return 0
    try:
        cfg = resolve(args)
    except ConfigError as e:
        print(f"speech-engine: {e}", file=sys.stderr)
        return 2
    _limit_threads()
    if args.command == "serve":
        from .server import serve

        return serve(cfg)
    if args.command == "transcribe":
        return _transcribe(cfg, args)
    return 2


def _transcribe(cfg, args) -> int:
    """Transcribes files with faster-whisper called directly (no HTTP, no VAD corrections, no
    post-processing): a baseline for benchmarks. With a batch size above 1, faster-whisper's own
    batched pipeline (its VAD, its windows); with 1, its sequential `transcribe`."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from . import audio, models

    found = models.verify(include_asr=cfg.bundled_asr)
    path = str(models.bundled_asr_dir(found)) if cfg.bundled_asr else cfg.asr_model
    t0 = time.monotonic()
    model = WhisperModel(path, device=cfg.device, compute_type=cfg.compute_type, cpu_threads=cfg.threads, num_workers=1)
    batched = BatchedInferencePipeline(model=model) if cfg.batch_size > 1 else None
    load_s = time.monotonic() - t0
    results = []
    for f in args.files:
        t1 = time.monotonic()
        cpu1 = time.process_time()
        samples = audio.decode_file(f)
        if batched is not None:
            segments, _ = batched.transcribe(samples, beam_size=cfg.beam_size, word_timestamps=True, batch_size=cfg.batch_size)
        else:
            segments, _ = model.transcribe(samples, beam_size=cfg.beam_size, word_timestamps=True)
        text = "".join(s.text for s in segments).strip()  # segments is a generator: decoding happens here
        wall = time.monotonic() - t1
        cpu = time.process_time() - cpu1
        dur = len(samples) / audio.SAMPLE_RATE
        results.append({"file": f, "audio_seconds": round(dur, 3), "wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "audio_seconds_per_wall_second": round(dur / wall, 2) if wall else None, "text": text})
    doc = {"asr_model": "tiny.en" if cfg.bundled_asr else cfg.asr_model, "device": cfg.device, "compute_type": cfg.compute_type, "threads": cfg.threads, "beam_size": cfg.beam_size, "batch_size": cfg.batch_size, "load_seconds": round(load_s, 3), "files": results}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        for r in results:
            print(f"{r['file']}: {r['audio_seconds']} s audio in {r['wall_seconds']} s wall ({r['audio_seconds_per_wall_second']}x real time, {r['cpu_seconds']} s CPU)\n  {r['text']}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Worker threads may be inside native code (CTranslate2, onnxruntime): leave without
    # interpreter finalisation, which could otherwise wait on or crash in them.
    os._exit(code)
