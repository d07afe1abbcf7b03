"""Resemblyzer's voice encoder, run in numpy.

Resemblyzer (Apache-2.0) ships a GE2E speaker encoder: a 3-layer LSTM over 40-channel mel
power spectra (16 kHz, 25 ms Hann window, 10 ms hop), a 256→256 linear layer with ReLU,
L2-normalised. Its package needs torch (and librosa) only to run that network; this module
reads the same weights (``resemblyzer/pretrained.pt``) with a restricted unpickler and runs
the same computation: librosa's Slaney mel filterbank and centred, zero-padded STFT,
PyTorch's LSTM gate order (input, forget, cell, output).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .torchload import load_checkpoint

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
LAYERS = 3
# Resemblyzer's "partial utterance": 160 frames (1.6 s).
PARTIAL_FRAMES = 160
# Volume normalisation applied before embedding (increase only), as resemblyzer does.
NORM_TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney scale and norm)."""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


_MEL = mel_filterbank()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram, as librosa.feature.melspectrogram (centred, zero padded)."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, (N_FFT // 2, N_FFT // 2))
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    if n_frames <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0]), writeable=False
    )
    spec = np.fft.rfft(frames * _WINDOW, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return power @ _MEL.T


def gain_for_rms(rms: float) -> float:
    """The factor that raises a signal of this RMS (full scale 1.0) to -30 dBFS; 1 if it is louder."""
    if rms <= 0:
        return 1.0
    change = NORM_TARGET_DBFS - 20 * np.log10(rms)
    return 1.0 if change < 0 else float(10 ** (change / 20))


def volume_gain(reference: np.ndarray) -> float:
    if reference.size == 0:
        return 1.0
    return gain_for_rms(float(np.sqrt(np.mean(reference.astype(np.float64) ** 2))))


def normalise_volume(wav: np.ndarray) -> np.ndarray:
    """resemblyzer's normalize_volume(wav, -30, increase_only=True)."""
    g = volume_gain(wav)
    return wav if g == 1.0 else (wav * g).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class VoiceEncoder:
    """Embeds mel spectrogram windows into 256-d unit vectors (same speaker → cosine near 1)."""

    def __init__(self, weights_path: str | Path):
        ckpt = load_checkpoint(weights_path)
        state = ckpt["model_state"] if isinstance(ckpt, dict) and "model_state" in ckpt else ckpt
        self.layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for layer in range(LAYERS):
            w_ih = np.ascontiguousarray(state[f"lstm.weight_ih_l{layer}"].T, dtype=np.float32)
            w_hh = np.ascontiguousarray(state[f"lstm.weight_hh_l{layer}"].T, dtype=np.float32)
            bias = (state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]).astype(np.float32)
            self.layers.append((w_ih, w_hh, bias))
        self.linear_w = np.ascontiguousarray(state["linear.weight"].T, dtype=np.float32)
        self.linear_b = state["linear.bias"].astype(np.float32)
        if self.layers[0][0].shape != (N_MELS, 4 * HIDDEN) or self.linear_w.shape != (HIDDEN, HIDDEN):
            raise ValueError(f"{weights_path}: unexpected encoder shapes")
        self._lock = threading.Lock()

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """mels (batch, frames, 40) → (batch, 256) L2-normalised embeddings."""
        x = np.asarray(mels, dtype=np.float32)
        batch, steps, _ = x.shape
        h = np.zeros((batch, HIDDEN), dtype=np.float32)
        for w_ih, w_hh, bias in self.layers:
            proj = x @ w_ih + bias  # (B, T, 4H): the input part of every step at once
            h = np.zeros((batch, HIDDEN), dtype=np.float32)
            c = np.zeros((batch, HIDDEN), dtype=np.float32)
            out = np.empty((batch, steps, HIDDEN), dtype=np.float32)
            for t in range(steps):
                g = proj[:, t] + h @ w_hh
                i = _sigmoid(g[:, :HIDDEN])
                f = _sigmoid(g[:, HIDDEN : 2 * HIDDEN])
                cell = np.tanh(g[:, 2 * HIDDEN : 3 * HIDDEN])
                o = _sigmoid(g[:, 3 * HIDDEN :])
                c = f * c + i * cell
                h = o * np.tanh(c)
                out[:, t] = h
            x = out
        raw = np.maximum(h @ self.linear_w + self.linear_b, 0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norm, 1e-12)

    def embed_windows(self, audio: np.ndarray, windows: list[tuple[int, int]], gain: float = 1.0, batch_size: int = 64) -> np.ndarray:
        """Embeds gain × audio[start:end] for each (start, end) sample window. Windows of one
        length are batched together; spectrograms are made per batch, not all at once."""
        out = np.zeros((len(windows), HIDDEN), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for idx, (s, e) in enumerate(windows):
            by_len.setdefault(max(0, e - s), []).append(idx)
        for n, idxs in by_len.items():
            if n < N_FFT // 2:
                continue  # too short for one frame of its own: stays a zero vector
            for k in range(0, len(idxs), batch_size):
                chunk = idxs[k : k + batch_size]
                mels = np.stack([mel_spectrogram(audio[windows[i][0] : windows[i][1]] * np.float32(gain)) for i in chunk])
                out[chunk] = self.embed_mels(mels)
        return out

    def embed_utterance(self, wav: np.ndarray) -> np.ndarray:
        """One embedding for a whole utterance: mean of 1.6 s partials (50 % overlap), re-normalised."""
        wav = normalise_volume(np.asarray(wav, dtype=np.float32))
        win = PARTIAL_FRAMES * HOP
        if len(wav) <= win:
            windows = [(0, len(wav))]
        else:
            starts = list(range(0, len(wav) - win + 1, win // 2))
            if starts[-1] + win < len(wav):
                starts.append(len(wav) - win)
            windows = [(s, s + win) for s in starts]
        e = self.embed_windows(wav, windows).mean(axis=0)
        return e / max(float(np.linalg.norm(e)), 1e-12)
