"""Voiceprints and speaker identification on the local speaker encoder (pyannote.ai's
/v1/voiceprint and /v1/identify, see pyannote_api.py).

A voiceprint is the L2-normalised mean Resemblyzer embedding of a clip's speech: the same
1.5 s windows over Silero VAD regions, at the same speech level, that diarization clusters,
so a voiceprint and a diarized speaker's centroid are directly comparable. It travels as
base64 of a small binary record — magic, format version, model tag, 256 float32 — so a
voiceprint made by another model (pyannote.ai's own, or a future encoder here) is refused
instead of compared.

Scores are on pyannote's 0–100 confidence scale: a logistic function of the cosine
similarity, 50 at MIDPOINT_COSINE (the decision point measured on espeak-ng voices, see
engine/README.md "Voiceprints and identification"), ~95 at cosine 0.95, ~1 at 0.77.
"""
from __future__ import annotations

import base64
import binascii
import math
import struct

import numpy as np

from . import diarize
from .embedding import HIDDEN, VoiceEncoder

MAGIC = b"SEVP"
FORMAT_VERSION = 1
MODEL_TAG = b"resemblyzer-ge2e-256"
_HEADER = MAGIC + bytes([FORMAT_VERSION, len(MODEL_TAG)]) + MODEL_TAG
_SIZE = len(_HEADER) + 4 * HIDDEN

# pyannote.ai's limits for voiceprint clips (docs FAQ) and for identify requests (OpenAPI).
MAX_SECONDS = 30.0
MAX_BYTES = 100 * 1024**2
MAX_VOICEPRINTS = 50
MAX_LABEL_CHARS = 100
MAX_VOICEPRINT_CHARS = 20000

# Cosine similarity that scores 50, and the logistic's width. Measured between voiceprints of
# 8-9 s espeak-ng clips and the diarized speakers of conversations made of other sentences:
# same voice 0.939-0.974, different voices 0.633-0.761 (en-us, en-us+f3, en-us+steph) and up
# to 0.837 (en-us+m8 against en-us).
MIDPOINT_COSINE = 0.88
WIDTH = 0.025
# The score a client should ask for (matching.threshold) to name only speakers this engine is
# sure of; pyannote's default threshold, 0, matches every speaker it can.
RECOMMENDED_THRESHOLD = 50


class InvalidVoiceprint(ValueError):
    """Not a voiceprint this engine made with this model."""


class NoSpeech(ValueError):
    """The clip holds no speech to make a voiceprint of."""


def encode(vector: np.ndarray) -> str:
    v = np.asarray(vector, dtype="<f4").reshape(-1)
    if v.shape != (HIDDEN,):
        raise ValueError(f"a voiceprint has {HIDDEN} values, got {v.shape}")
    return base64.b64encode(_HEADER + v.tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The unit vector of a voiceprint; InvalidVoiceprint for anything else (the reason says why)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidVoiceprint("not base64") from None
    if raw[: len(MAGIC)] != MAGIC:
        raise InvalidVoiceprint("not a voiceprint of this engine (made by another service or model?)")
    if len(raw) < len(MAGIC) + 2 or raw[len(MAGIC)] != FORMAT_VERSION:
        raise InvalidVoiceprint(f"voiceprint format {raw[len(MAGIC)] if len(raw) > len(MAGIC) else '?'} is not {FORMAT_VERSION}")
    tag_len = raw[len(MAGIC) + 1]
    tag = raw[len(MAGIC) + 2 : len(MAGIC) + 2 + tag_len]
    if tag != MODEL_TAG:
        raise InvalidVoiceprint(f"made by model {tag.decode('ascii', 'replace')!r}, this engine uses {MODEL_TAG.decode()!r}")
    if len(raw) != _SIZE:
        raise InvalidVoiceprint("truncated voiceprint")
    v = np.frombuffer(raw, dtype="<f4", offset=len(_HEADER)).astype(np.float32)
    norm = float(np.linalg.norm(v))
    if not np.all(np.isfinite(v)) or not math.isclose(norm, 1.0, abs_tol=1e-3):
        raise InvalidVoiceprint("damaged voiceprint")
    return v


def embed_speech(audio: np.ndarray, encoder: VoiceEncoder) -> np.ndarray:
    """L2-normalised mean embedding of the speech in `audio` (long windows when there are any)."""
    regions = diarize.speech_regions(audio)
    if not regions:
        raise NoSpeech("no speech found in the clip")
    windows = diarize.make_windows(regions)
    emb = encoder.embed_windows(audio, [(s, e) for s, e, _ in windows], gain=diarize.speech_gain(audio, regions))
    reliable = np.array([(e - s) >= diarize.MIN_RELIABLE * diarize.SR for s, e, _ in windows])
    mean = (emb[reliable] if reliable.any() else emb).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise NoSpeech("the clip's speech is too short to embed")
    return (mean / norm).astype(np.float32)


def score(cosine: float) -> int:
    """pyannote's 0–100 scale: 50 at MIDPOINT_COSINE."""
    return int(round(100.0 / (1.0 + math.exp(-(cosine - MIDPOINT_COSINE) / WIDTH))))


def identify(centroids: dict[str, np.ndarray], voiceprints: list[tuple[str, np.ndarray]], exclusive: bool, threshold: float) -> list[dict]:
    """pyannote's `voiceprints` output: per diarization speaker its scores against every label
    and the label it matched (or None). A speaker takes its best label scoring at least
    `threshold`; with `exclusive`, a label goes to one speaker at most, best pairs first."""
    confidence = {spk: {label: score(float(c @ v)) for label, v in voiceprints} for spk, c in centroids.items()}
    cosines = [(float(c @ v), spk, label) for spk, c in centroids.items() for label, v in voiceprints]
    match: dict[str, str | None] = {spk: None for spk in centroids}
    taken: set[str] = set()
    # Ordered by the exact cosine (scores are rounded), then speaker and label order for ties.
    for _, spk, label in sorted(cosines, key=lambda x: -x[0]):
        if match[spk] is not None or (exclusive and label in taken) or confidence[spk][label] < threshold:
            continue
        match[spk] = label
        taken.add(label)
    return [{"speaker": spk, "match": match[spk], "confidence": confidence[spk]} for spk in centroids]
