"""Speaker diarization: voice activity → windows → speaker embeddings → clustering → turns.

1. Silero VAD (faster-whisper's ONNX copy) finds speech regions, split at pauses of
   MIN_SILENCE_MS or more.
2. Each region is cut into windows of WINDOW seconds every HOP seconds (the last one aligned
   to the region's end; a region shorter than a window is one window).
3. Resemblyzer's encoder embeds each window (speech level raised to -30 dBFS first).
4. Average-linkage agglomerative clustering on cosine distance, on windows of at least
   MIN_RELIABLE seconds: cut at THRESHOLD, or at the number of speakers asked for
   (numSpeakers, or the threshold's count clamped to minSpeakers/maxSpeakers). Every window
   then takes its nearest centroid and the centroids are re-estimated (a few k-means steps).
   Without numSpeakers, a cluster that is a mixture of two others (windows straddling a
   change of speaker) is dissolved, and clusters holding almost nothing are folded away.
5. A lone window flipped between two of the same speaker is smoothed away. A region whose
   windows all agree is one turn; a region holding a change of speaker is re-scored with
   dense DENSE_WINDOW windows every DENSE_HOP against the centroids and cut where the best
   speaker changes (runs shorter than MIN_RUN join a neighbour). Same-speaker turns less
   than BRIDGE seconds apart join. Turns never overlap.
6. diarize_with_centroids also gives each speaker's centroid, which identification compares
   with voiceprints made the same way (voiceprint.py).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from . import vad
from .embedding import VoiceEncoder, gain_for_rms

log = logging.getLogger("speech_engine.diarize")

SR = 16000
WINDOW = 1.5
HOP = 0.75
MIN_RELIABLE = 1.0
# Average cosine distance above which two clusters are different speakers. Measured between
# 1.5 s windows of espeak-ng voices: the last merges within one voice come at 0.20-0.28,
# en-us with en-us+f3 at 0.41-0.54, en-us with en-us+m7 at 0.30. LOCAL_DIARIZE_THRESHOLD overrides.
THRESHOLD = float(os.environ.get("LOCAL_DIARIZE_THRESHOLD") or 0.30)
BRIDGE = 0.5
MIXTURE_COS = 0.9
# Regions holding more than one speaker are re-scored with short dense windows against the
# speakers' centroids, for boundaries at this resolution.
DENSE_WINDOW = 1.0
DENSE_HOP = 0.25
MIN_RUN = 0.5
MAX_CLUSTERED = 800
MIN_REGION = 0.2
# Pauses this long split speech regions: turn-taking gaps of 0.25 s are still seen.
MIN_SILENCE_MS = 150


@dataclass
class Hints:
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


@dataclass
class Turn:
    speaker: str
    start: float
    end: float

    def as_json(self) -> dict:
        return {"speaker": self.speaker, "start": round(self.start, 3), "end": round(self.end, 3)}


def speech_regions(audio: np.ndarray) -> list[tuple[int, int]]:
    return vad.speech_regions(audio, min_silence_ms=MIN_SILENCE_MS, pad_ms=40, min_speech_ms=150, min_region_s=MIN_REGION)


def make_windows(regions: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, region index) sample windows covering every region."""
    win, hop = int(WINDOW * SR), int(HOP * SR)
    out = []
    for r, (s, e) in enumerate(regions):
        if e - s <= win:
            out.append((s, e, r))
            continue
        starts = list(range(s, e - win + 1, hop))
        if starts[-1] + win < e:
            starts.append(e - win)
        out.extend((st, st + win, r) for st in starts)
    return out


def _merge_history(emb: np.ndarray) -> list[tuple[int, int, float]]:
    """Average-linkage merges (kept, absorbed, distance), in order, down to one cluster."""
    n = len(emb)
    d = 1.0 - (emb @ emb.T).astype(np.float64)
    np.fill_diagonal(d, np.inf)
    sizes = np.ones(n)
    merges = []
    for _ in range(n - 1):
        idx = int(np.argmin(d))
        i, j = divmod(idx, n)
        dist = float(d[i, j])
        if not np.isfinite(dist):
            break
        row = (sizes[i] * d[i] + sizes[j] * d[j]) / (sizes[i] + sizes[j])
        d[i, :] = row
        d[:, i] = row
        d[i, i] = np.inf
        d[j, :] = np.inf
        d[:, j] = np.inf
        sizes[i] += sizes[j]
        merges.append((i, j, dist))
    return merges


def _labels_after(n: int, merges: list[tuple[int, int, float]], k: int) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in merges[: max(0, n - k)]:
        parent[find(j)] = find(i)
    roots = np.array([find(x) for x in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def cluster(emb: np.ndarray, hints: Hints) -> np.ndarray:
    """A cluster label per embedding (rows L2-normalised)."""
    n = len(emb)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    merges = _merge_history(emb)
    if hints.num_speakers:
        k = hints.num_speakers
    else:
        k = n - sum(1 for _, _, dist in merges if dist <= THRESHOLD)
        if hints.min_speakers:
            k = max(k, hints.min_speakers)
        if hints.max_speakers:
            k = min(k, hints.max_speakers)
    k = max(1, min(k, n))
    return _labels_after(n, merges, k)


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    c = np.stack([emb[labels == i].mean(axis=0) if np.any(labels == i) else np.zeros(emb.shape[1]) for i in range(k)])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def assign(emb: np.ndarray, reliable: np.ndarray, hints: Hints) -> np.ndarray:
    """Clusters the reliable windows (a spread subsample of them when there are many), then labels all."""
    pool = np.flatnonzero(reliable) if reliable.any() else np.arange(len(emb))
    if len(pool) > MAX_CLUSTERED:
        pool = pool[np.linspace(0, len(pool) - 1, MAX_CLUSTERED).round().astype(int)]
    sub = cluster(emb[pool], hints)
    k = int(sub.max()) + 1 if len(sub) else 1
    cent = _centroids(emb[pool], sub, k)
    labels = np.argmax(emb @ cent.T, axis=1)
    for _ in range(5):
        w = reliable if reliable.any() else np.ones(len(emb), bool)
        cent = _centroids(emb[w], labels[w], k)
        new = np.argmax(emb @ cent.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    if not hints.num_speakers:
        labels = _dissolve_mixtures(emb, labels, max(hints.min_speakers or 1, 2))
    # Without a fixed count, fold clusters that hold almost nothing into their nearest neighbour.
    if not hints.num_speakers:
        floor = max(hints.min_speakers or 1, 1)
        while True:
            ids, counts = np.unique(labels, return_counts=True)
            if len(ids) <= floor:
                break
            small = ids[counts < max(2, 0.03 * len(labels))]
            if len(small) == 0:
                break
            s = small[np.argmin(counts[np.isin(ids, small)])]
            others = [i for i in ids if i != s]
            cent = _centroids(emb, labels, int(labels.max()) + 1)
            target = others[int(np.argmax([cent[s] @ cent[o] for o in others]))]
            labels[labels == s] = target
    return labels


def _dissolve_mixtures(emb: np.ndarray, labels: np.ndarray, floor: int) -> np.ndarray:
    """Windows straddling a change of speaker inside one speech region embed between the two
    voices and can gather into a cluster of their own. A cluster whose centroid is closer to
    the midpoint of two larger clusters than to either of them (and close to it: MIXTURE_COS)
    is such a mixture: its windows go to the nearer of the two."""
    labels = labels.copy()
    while True:
        ids = [int(i) for i in np.unique(labels)]
        if len(ids) <= floor:
            return labels
        cent = _centroids(emb, labels, int(labels.max()) + 1)
        counts = np.bincount(labels, minlength=len(cent))
        found = None
        for c in sorted(ids, key=lambda i: counts[i]):
            for x in ids:
                for y in ids:
                    if y <= x or c in (x, y) or counts[c] >= min(counts[x], counts[y]):
                        continue
                    mid = cent[x] + cent[y]
                    mid /= max(float(np.linalg.norm(mid)), 1e-12)
                    to_mid = float(cent[c] @ mid)
                    if to_mid >= MIXTURE_COS and to_mid > max(float(cent[c] @ cent[x]), float(cent[c] @ cent[y])) + 0.02:
                        found = (c, x, y)
                        break
                if found:
                    break
            if found:
                break
        if not found:
            return labels
        c, x, y = found
        members = np.flatnonzero(labels == c)
        labels[members] = np.where(emb[members] @ cent[x] >= emb[members] @ cent[y], x, y)


def _smooth(labels: np.ndarray, windows: list[tuple[int, int, int]]) -> np.ndarray:
    out = labels.copy()
    for i in range(1, len(windows) - 1):
        same_region = windows[i - 1][2] == windows[i][2] == windows[i + 1][2]
        if same_region and out[i - 1] == out[i + 1] != out[i]:
            out[i] = out[i - 1]
    return out


def region_spans(audio: np.ndarray, encoder: VoiceEncoder, gain: float, windows: list[tuple[int, int, int]], regions: list[tuple[int, int]], labels: np.ndarray, cent: np.ndarray) -> list[tuple[int, float, float]]:
    """(label, start s, end s) spans: a one-speaker region is one span; a region whose windows
    disagree is re-scored with dense windows and cut where the best speaker changes."""
    by_region: dict[int, list[int]] = {}
    for idx, (_, _, r) in enumerate(windows):
        by_region.setdefault(r, []).append(idx)
    spans: list[tuple[int, float, float]] = []
    dense_win, dense_hop = int(DENSE_WINDOW * SR), int(DENSE_HOP * SR)
    for r, (rs, re) in enumerate(regions):
        idxs = by_region.get(r, [])
        labs = {int(labels[i]) for i in idxs}
        if len(labs) <= 1:
            spans.append((labs.pop() if labs else 0, rs / SR, re / SR))
            continue
        starts = list(range(rs, max(rs + 1, re - dense_win + 1), dense_hop))
        dw = [(st, min(re, st + dense_win)) for st in starts]
        demb = encoder.embed_windows(audio, dw, gain=gain)
        cand = sorted(labs)
        scores = demb @ cent[cand].T
        dl = [cand[int(i)] for i in np.argmax(scores, axis=1)]
        # Each dense window owns the span around its centre; runs shorter than MIN_RUN join a neighbour.
        centres = [(a + b) / 2 for a, b in dw]
        bounds = [rs] + [(centres[i] + centres[i + 1]) / 2 for i in range(len(centres) - 1)] + [re]
        runs: list[list] = []
        for i, lab in enumerate(dl):
            if runs and runs[-1][0] == lab:
                runs[-1][2] = bounds[i + 1]
            else:
                runs.append([lab, bounds[i], bounds[i + 1]])
        changed = True
        while changed and len(runs) > 1:
            changed = False
            for i, run in enumerate(runs):
                if (run[2] - run[1]) / SR < MIN_RUN:
                    left = runs[i - 1] if i > 0 else None
                    right = runs[i + 1] if i + 1 < len(runs) else None
                    target = left if (right is None or (left is not None and left[2] - left[1] >= right[2] - right[1])) else right
                    if target is left:
                        left[2] = run[2]
                    else:
                        right[1] = run[1]
                    runs.pop(i)
                    merged: list[list] = []
                    for x in runs:
                        if merged and merged[-1][0] == x[0]:
                            merged[-1][2] = x[2]
                        else:
                            merged.append(x)
                    runs = merged
                    changed = True
                    break
        spans.extend((int(lab), a / SR, b / SR) for lab, a, b in runs)
    return spans


def join_spans(spans: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    turns: list[list] = []
    for lab, s, e in sorted(spans, key=lambda x: x[1]):
        if turns and turns[-1][0] == lab and s - turns[-1][2] < BRIDGE:
            turns[-1][2] = max(turns[-1][2], e)
        else:
            turns.append([lab, s, e])
    return [(t[0], t[1], t[2]) for t in turns if t[2] > t[1]]


def speech_gain(audio: np.ndarray, regions: list[tuple[int, int]]) -> float:
    """The gain that raises the speech (not the silence between it) to -30 dBFS."""
    sq = sum(float(np.dot(audio[s:e].astype(np.float64), audio[s:e].astype(np.float64))) for s, e in regions)
    n = sum(e - s for s, e in regions)
    return gain_for_rms(float(np.sqrt(sq / max(n, 1))))


def diarize(audio: np.ndarray, encoder: VoiceEncoder, hints: Hints) -> tuple[list[Turn], dict]:
    """Turns (speakers SPEAKER_00… in order of first appearance) and some statistics."""
    turns, stats, _ = diarize_with_centroids(audio, encoder, hints)
    return turns, stats


def diarize_with_centroids(audio: np.ndarray, encoder: VoiceEncoder, hints: Hints) -> tuple[list[Turn], dict, dict[str, np.ndarray]]:
    """diarize(), plus each speaker's centroid: the L2-normalised mean embedding of the
    speaker's clustered windows (the long ones when there are any), keyed by its label."""
    regions = speech_regions(audio)
    stats = {"audioSeconds": round(len(audio) / SR, 3), "speechSeconds": round(sum(e - s for s, e in regions) / SR, 3), "windows": 0, "speakers": 0}
    if not regions:
        return [], stats, {}
    # Level measured on speech only (silence would make quiet speech look quieter still).
    gain = speech_gain(audio, regions)
    windows = make_windows(regions)
    emb = encoder.embed_windows(audio, [(s, e) for s, e, _ in windows], gain=gain)
    reliable = np.array([(e - s) >= MIN_RELIABLE * SR for s, e, _ in windows])
    labels = _smooth(assign(emb, reliable, hints), windows)
    k = int(labels.max()) + 1
    weight = reliable if reliable.any() else np.ones(len(emb), bool)
    cent = _centroids(emb[weight], labels[weight], k)
    raw = join_spans(region_spans(audio, encoder, gain, windows, regions, labels, cent))
    order: dict[int, int] = {}
    for lab, _, _ in raw:
        order.setdefault(lab, len(order))
    turns = [Turn(f"SPEAKER_{order[lab]:02d}", s, e) for lab, s, e in raw]
    stats.update(windows=len(windows), speakers=len(order))
    # A label whose long windows all went elsewhere still has short ones.
    full = _centroids(emb, labels, k)
    centroids = {f"SPEAKER_{i:02d}": (cent[lab] if np.any(cent[lab]) else full[lab]) for lab, i in order.items()}
    return turns, stats, centroids
