"""Audio decoding to 16 kHz mono float32.

16-bit PCM WAV at 16 kHz (what the pipeline sends) is read directly; anything else goes
through ffmpeg when it is on PATH (or FFMPEG_PATH), else through PyAV, faster-whisper's own
decoder, which bundles the FFmpeg libraries.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


class DecodeError(Exception):
    pass


def _wav_pcm16(data: bytes) -> np.ndarray | None:
    """Samples of a 16 kHz 16-bit PCM WAV (channels averaged), or None for any other WAV/format."""
    if len(data) < 12 or data[0:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    fmt = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                return None
            tag, channels, rate, _br, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat's first two bytes
                (tag,) = struct.unpack_from("<H", data, body + 24)
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                return None
            tag, channels, rate, bits = fmt
            if tag != 1 or bits != 16 or rate != SAMPLE_RATE or channels < 1:
                return None
            # Streaming writers leave 0 or 0xFFFFFFFF as the size: read to the end then.
            end = len(data) if size in (0, 0xFFFFFFFF) or body + size > len(data) else body + size
            n = (end - body) // (2 * channels)
            pcm = np.frombuffer(data, dtype="<i2", count=n * channels, offset=body).astype(np.float32) / 32768.0
            if channels > 1:
                pcm = pcm.reshape(n, channels).mean(axis=1)
            return pcm
        pos = body + size + (size % 2)
    return None


def _ffmpeg() -> str | None:
    env = os.environ.get("FFMPEG_PATH")
    if env and Path(env).is_file():
        return env
    return shutil.which("ffmpeg")


def decode_file(path: str | Path) -> np.ndarray:
    """16 kHz mono float32 samples of any audio or video file; DecodeError when it has none."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:4] == b"RIFF":
        pcm = _wav_pcm16(path.read_bytes())
        if pcm is not None:
            return pcm
    ffmpeg = _ffmpeg()
    if ffmpeg:
        proc = subprocess.run(
            [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DecodeError(lines[-1] if lines else f"ffmpeg exited with {proc.returncode}")
        return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0
    try:
        from faster_whisper.audio import decode_audio

        return decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as e:  # PyAV raises many kinds
        raise DecodeError(str(e)) from e
