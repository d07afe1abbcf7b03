"""Speech recognition with faster-whisper, and the OpenAI response formats built from it."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("speech_engine.asr")

# Whisper's language table: ISO-639-1 code → the lowercase name verbose_json reports.
LANGUAGES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean", "fr": "french",
    "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic",
    "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese", "he": "hebrew",
    "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian",
    "ta": "tamil", "no": "norwegian", "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili", "gl": "galician",
    "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali",
    "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi",
    "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese", "ht": "haitian creole",
    "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish",
    "my": "myanmar", "bo": "tibetan", "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese", "haw": "hawaiian",
}

# OpenAI: temperature 0 means "start at 0 and raise it on failure"; faster-whisper does that
# with a list of fallback temperatures.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class Word:
    word: str
    start: float
    end: float


@dataclass
class Segment:
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[Word] = field(default_factory=list)


@dataclass
class Result:
    language: str  # code
    duration: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


# Speech the first pass left without words, at least this long, gets a pass of its own.
GAP_MIN_SECONDS = 0.8
# Words closer than this to speech count as covering it.
COVER_MARGIN = 0.25
GAP_PAD = 0.25


class Recognizer:
    """faster-whisper with two corrections taken from voice activity (Silero VAD):

    - coverage: Whisper sometimes ends early or skips a sentence (tiny.en does so readily
      after a prompt). Speech that no word covers, GAP_MIN_SECONDS or longer, is transcribed
      again on its own (no prompt) and its segments are put in place.
    - timing: Whisper's word times stretch over the pauses around words. Each word is
      clipped to the speech regions it overlaps, and each segment to its words.
    Word timestamps are always computed (their cost is within the noise on tiny.en).
    """

    def __init__(self, model: str, device: str, compute_type: str, threads: int, workers: int, beam_size: int, batch_size: int = 1):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_name = model
        self.beam_size = beam_size
        self.batch_size = batch_size
        self.model = WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers)
        self.batched = BatchedInferencePipeline(model=self.model) if batch_size > 1 else None

    def _batched(self, audio: np.ndarray, speech: list[tuple[float, float]], *, language: str | None, prompt: str | None, temperature: float) -> tuple[list[Segment], str]:
        """The speech windows decoded `batch_size` at a time; a prompt conditions the first window only.

        Each window is decoded on its own (no window is conditioned on the text of the one before),
        so a request's prompt, the words before this chunk, belongs to its first window: given to
        every window it made tiny.en skip speech that resembled it (WER 0.090 against 0.069).
        """
        assert self.batched is not None
        clips = [{"start": a, "end": b} for a, b in speech_windows(speech)]
        groups = [(clips[:1], prompt), (clips[1:], None)] if prompt else [(clips, None)]
        out: list[Segment] = []
        lang = language
        for group, group_prompt in groups:
            if not group:
                continue
            segments, info = self.batched.transcribe(
                audio,
                language=lang,
                initial_prompt=group_prompt or None,
                temperature=temperature,
                beam_size=self.beam_size,
                word_timestamps=True,
                clip_timestamps=group,
                batch_size=self.batch_size,
            )
            for s in segments:
                out.extend(self._sentences(s))
            lang = lang or info.language
        return out, lang or "en"

    def _sentences(self, s: Any) -> list[Segment]:
        """A batched window's one segment, cut into segments at sentence ends and long pauses, as
        OpenAI's segments are (the hallucination filter and subtitles judge them one by one). The
        window's confidence figures stay on each piece; text, tokens and compression are the piece's own."""
        from faster_whisper.transcribe import get_compression_ratio

        raw = [w for w in (s.words or []) if w.word.strip()]
        pieces: list[list[Any]] = []
        for i, w in enumerate(raw):
            if not pieces or _ends_sentence(raw[i - 1].word) or float(w.start) - float(raw[i - 1].end) >= PAUSE_SPLIT_SECONDS:
                pieces.append([])
            pieces[-1].append(w)
        if not pieces:
            return []
        out = []
        for piece in pieces:
            text = "".join(w.word for w in piece)
            text = text if text.startswith(" ") else f" {text}"
            out.append(
                Segment(
                    id=0,
                    seek=int(round(float(s.start) * 100)),
                    start=float(piece[0].start),
                    end=float(piece[-1].end),
                    text=text,
                    tokens=self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids,
                    temperature=float(s.temperature if s.temperature is not None else 0.0),
                    avg_logprob=float(s.avg_logprob),
                    compression_ratio=float(get_compression_ratio(text.strip())),
                    no_speech_prob=float(s.no_speech_prob),
                    words=[Word(w.word.strip(), float(w.start), float(w.end)) for w in piece],
                )
            )
        return out

    def _pass(self, audio: np.ndarray, *, language: str | None, prompt: str | None, temperature: float, offset: float, first_id: int) -> tuple[list[Segment], Any]:
        temps: Any = FALLBACK_TEMPERATURES if temperature == 0 else temperature
        segments, info = self.model.transcribe(
            audio,
            language=language,
            initial_prompt=prompt or None,
            temperature=temps,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=False,
        )
        out: list[Segment] = []
        for s in segments:
            words = [Word(w.word.strip(), float(w.start) + offset, float(w.end) + offset) for w in (s.words or []) if w.word.strip()]
            out.append(
                Segment(
                    id=first_id + len(out),
                    seek=int(s.seek) + int(round(offset * 100)),
                    start=float(s.start) + offset,
                    end=float(s.end) + offset,
                    text=s.text if s.text.startswith(" ") else f" {s.text}",
                    tokens=[int(t) for t in s.tokens],
                    temperature=float(s.temperature if s.temperature is not None else 0.0),
                    avg_logprob=float(s.avg_logprob),
                    compression_ratio=float(s.compression_ratio),
                    no_speech_prob=float(s.no_speech_prob),
                    words=words,
                )
            )
        return out, info

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str | None, temperature: float, speech: list[tuple[float, float]] | None = None) -> Result:
        """`speech`: speech regions in seconds (from VAD); None skips both corrections (and batching, which decodes the speech only)."""
        duration = len(audio) / 16000
        if self.batched is not None and speech:
            segments, detected = self._batched(audio, speech, language=language, prompt=prompt, temperature=temperature)
        elif self.batched is not None and speech is not None:
            segments, detected = [], language or "en"  # no speech at all: nothing to decode
        else:
            segments, info = self._pass(audio, language=language, prompt=prompt, temperature=temperature, offset=0.0, first_id=0)
            detected, duration = info.language, float(info.duration)
        if speech:
            gaps = uncovered(speech, segments)
            for g0, g1 in gaps:
                a0 = max(0.0, g0 - GAP_PAD)
                a1 = min(len(audio) / 16000, g1 + GAP_PAD)
                extra, _ = self._pass(audio[int(a0 * 16000) : int(a1 * 16000)], language=detected, prompt=None, temperature=temperature, offset=a0, first_id=0)
                extra = [x for x in extra if x.text.strip()]
                if extra:
                    log.info("speech at %.2f-%.2f s had no words after the first pass; a second pass found %d segment(s)", g0, g1, len(extra))
                segments.extend(extra)
            segments.sort(key=lambda x: x.start)
            snap(segments, speech)
        for i, s in enumerate(segments):
            s.id = i
            s.start, s.end = round(s.start, 2), round(s.end, 2)
            for w in s.words:
                w.start, w.end = round(w.start, 2), round(w.end, 2)
        return Result(language=detected, duration=duration, segments=segments)


# Whisper decodes 30-second windows.
WINDOW_SECONDS = 30.0
# A batched window's text is cut into segments after a sentence end or before a pause this long.
PAUSE_SPLIT_SECONDS = 1.0


def _ends_sentence(word: str) -> bool:
    return word.strip().endswith((".", "?", "!", "。", "？", "！"))


def speech_windows(speech: list[tuple[float, float]], limit: float = WINDOW_SECONDS) -> list[tuple[float, float]]:
    """Consecutive speech regions grouped into windows of at most `limit` seconds, the pauses
    between them kept (the model hears the audio as it was). A region longer than `limit` (the
    VAD splits speech at its quietest moment before that, so only unbroken speech) is cut evenly."""
    windows: list[tuple[float, float]] = []
    for a, b in speech:
        if b <= a:
            continue
        if windows and b - windows[-1][0] <= limit:
            windows[-1] = (windows[-1][0], b)
            continue
        pieces = max(1, math.ceil((b - a) / limit - 1e-9))
        step = (b - a) / pieces
        windows.extend((a + k * step, a + (k + 1) * step if k < pieces - 1 else b) for k in range(pieces))
    return windows


def _spans(segments: list[Segment]) -> list[tuple[float, float]]:
    spans = []
    for s in segments:
        if s.words:
            spans.extend((w.start, w.end) for w in s.words)
        elif s.text.strip():
            spans.append((s.start, s.end))
    return sorted(spans)


def uncovered(speech: list[tuple[float, float]], segments: list[Segment]) -> list[tuple[float, float]]:
    """Speech spans of at least GAP_MIN_SECONDS that no word comes within COVER_MARGIN of."""
    covered = [(a - COVER_MARGIN, b + COVER_MARGIN) for a, b in _spans(segments)]
    gaps: list[tuple[float, float]] = []
    for r0, r1 in speech:
        pieces = [(r0, r1)]
        for c0, c1 in covered:
            nxt = []
            for p0, p1 in pieces:
                if c1 <= p0 or c0 >= p1:
                    nxt.append((p0, p1))
                    continue
                if c0 > p0:
                    nxt.append((p0, c0))
                if c1 < p1:
                    nxt.append((c1, p1))
            pieces = nxt
        gaps.extend(pieces)
    merged: list[list[float]] = []
    for g0, g1 in sorted(gaps):
        if merged and g0 - merged[-1][1] < 0.5:
            merged[-1][1] = max(merged[-1][1], g1)
        else:
            merged.append([g0, g1])
    return [(a, b) for a, b in merged if b - a >= GAP_MIN_SECONDS]


def snap(segments: list[Segment], speech: list[tuple[float, float]]) -> None:
    """Clips each word to the speech regions it overlaps, then each segment to its words."""
    for s in segments:
        for w in s.words:
            over = [(a, b) for a, b in speech if a < w.end and b > w.start]
            if not over:
                continue
            start, end = max(w.start, over[0][0]), min(w.end, over[-1][1])
            if end > start:
                w.start, w.end = start, end
        if s.words:
            s.start, s.end = s.words[0].start, max(w.end for w in s.words)
        else:
            over = [(a, b) for a, b in speech if a < s.end and b > s.start]
            if over:
                start, end = max(s.start, over[0][0]), min(s.end, over[-1][1])
                if end > start:
                    s.start, s.end = start, end


def _timestamp(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(result: Result, response_format: str, granularities: set[str]) -> tuple[str, Any]:
    """('json', body) or ('text', body) for one of the OpenAI response formats."""
    usage = {"type": "duration", "seconds": int(math.ceil(result.duration))}
    if response_format == "text":
        return "text", f"{result.text}\n"
    if response_format == "srt":
        return "text", "".join(f"{i + 1}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n\n" for i, s in enumerate(result.segments))
    if response_format == "vtt":
        return "text", "WEBVTT\n\n" + "".join(f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n\n" for s in result.segments)
    if response_format == "verbose_json":
        grans = granularities or {"segment"}
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": LANGUAGES.get(result.language, result.language),
            "duration": round(result.duration, 2),
            "text": result.text,
        }
        if "segment" in grans:
            body["segments"] = [
                {
                    "id": s.id,
                    "seek": s.seek,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "tokens": s.tokens,
                    "temperature": s.temperature,
                    "avg_logprob": round(s.avg_logprob, 6),
                    "compression_ratio": round(s.compression_ratio, 6),
                    "no_speech_prob": round(s.no_speech_prob, 6),
                }
                for s in result.segments
            ]
        if "word" in grans:
            body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in result.words]
        body["usage"] = usage
        return "json", body
    return "json", {"text": result.text, "usage": usage}
