/**
 * Turns an audio analysis into a deterministic pseudo-transcript: one pseudo-word per
 * word-like unit (chosen by the unit's energy fingerprint), segments per speech region,
 * speakers from pitch clusters. The text means nothing, but its timing, word count and
 * speaker changes follow the audio, and the same audio always gives the same words.
 */
import { type AudioAnalysis, type SpeakerHints, clusterSpeakers, speechRegions, words } from './audio-analysis';

const VOCABULARY = [
  'the', 'meeting', 'today', 'we', 'will', 'review', 'results', 'and', 'budget', 'for', 'next', 'quarter',
  'sales', 'grew', 'while', 'costs', 'stayed', 'flat', 'thank', 'you', 'joining', 'happy', 'here', 'plan',
  'team', 'project', 'report', 'should', 'share', 'notes', 'with', 'everyone', 'agree', 'market', 'growth',
  'customer', 'feedback', 'product', 'launch', 'schedule', 'morning', 'question', 'answer', 'number', 'time',
  'people', 'work', 'week', 'month', 'year', 'good', 'great', 'small', 'large', 'early', 'late', 'right',
  'left', 'open', 'close', 'start', 'finish', 'again', 'always', 'never', 'maybe', 'really', 'simple',
  'clear', 'strong', 'quick', 'slow', 'data', 'model', 'system', 'service', 'support', 'office', 'travel',
  'contract', 'partner', 'revenue', 'target', 'update', 'decision', 'priority', 'risk', 'issue', 'option',
  'design', 'test', 'release', 'version', 'change', 'problem', 'solution', 'idea', 'point', 'detail',
  'summary', 'context', 'process', 'quality', 'value', 'price', 'order', 'delivery', 'region', 'country',
  'city', 'house', 'water', 'light', 'music', 'story', 'letter', 'paper', 'table', 'window', 'garden',
  'river', 'mountain', 'coffee', 'lunch', 'dinner', 'family', 'friend', 'school', 'teacher', 'student',
];

export interface PseudoWord {
  word: string;
  start: number;
  end: number;
  /** SPEAKER_xx of the region the word belongs to. */
  speaker: string;
  meanDb: number;
  fingerprint: number;
}

export interface PseudoSegment {
  start: number;
  end: number;
  /** Leading space, like Whisper segment text. */
  text: string;
  speaker: string;
  words: PseudoWord[];
}

export interface PseudoTranscript {
  text: string;
  words: PseudoWord[];
  segments: PseudoSegment[];
  /** Speech seconds; used for no-speech probabilities. */
  speechSeconds: number;
}

export interface PseudoTranscriptOptions {
  hints?: SpeakerHints;
  /** Whisper decodes 30 s windows, so its segments never exceed that. */
  maxSegmentSeconds?: number;
  maxSegmentWords?: number;
}

export function pseudoTranscript(a: AudioAnalysis, opts: PseudoTranscriptOptions = {}): PseudoTranscript {
  const maxSeconds = opts.maxSegmentSeconds ?? 30;
  const maxWords = opts.maxSegmentWords ?? 30;
  const regions = clusterSpeakers(speechRegions(a), opts.hints);
  const units = words(a, regions);
  const all: PseudoWord[] = units.map((u) => ({
    word: VOCABULARY[u.fingerprint % VOCABULARY.length]!,
    start: u.start,
    end: u.end,
    speaker: regions[u.region]!.speaker,
    meanDb: u.meanDb,
    fingerprint: u.fingerprint,
  }));

  const segments: PseudoSegment[] = [];
  let current: PseudoWord[] = [];
  let currentRegion = -1;
  const flush = () => {
    if (current.length === 0) return;
    const first = current[0]!;
    const last = current[current.length - 1]!;
    // Sentence-like casing and a full stop, attached to the words as Whisper does.
    first.word = first.word.charAt(0).toUpperCase() + first.word.slice(1);
    last.word = `${last.word}.`;
    segments.push({ start: first.start, end: last.end, text: ` ${current.map((w) => w.word).join(' ')}`, speaker: first.speaker, words: current });
    current = [];
  };
  all.forEach((w, i) => {
    const region = units[i]!.region;
    const first = current[0];
    if (region !== currentRegion || (first && (w.end - first.start > maxSeconds || current.length >= maxWords))) flush();
    currentRegion = region;
    current.push(w);
  });
  flush();

  return {
    text: segments.map((s) => s.text).join('').trim(),
    words: all,
    segments,
    speechSeconds: regions.reduce((sum, r) => sum + (r.end - r.start), 0),
  };
}
