"""Voice activity with Silero VAD v6 (the ONNX copy faster-whisper ships; see MODELS.md)."""
from __future__ import annotations

import numpy as np

SR = 16000


def speech_regions(audio: np.ndarray, *, min_silence_ms: int = 250, pad_ms: int = 40, min_speech_ms: int = 150, min_region_s: float = 0.0, max_speech_s: float = float("inf")) -> list[tuple[int, int]]:
    """(start, end) sample spans of speech, padded by pad_ms, split at silences ≥ min_silence_ms
    and, in speech longer than max_speech_s, at its quietest moment before that."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(audio) == 0:
        return []
    opts = VadOptions(threshold=0.5, min_speech_duration_ms=min_speech_ms, min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms, max_speech_duration_s=max_speech_s)
    stamps = get_speech_timestamps(audio, opts, sampling_rate=SR)
    return [(int(s["start"]), int(s["end"])) for s in stamps if s["end"] - s["start"] >= min_region_s * SR]
