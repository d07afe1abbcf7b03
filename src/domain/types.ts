// The data the pipeline passes around: speaker turns, words, utterances and the
// small file references that travel through Temporal instead of audio or transcripts.

/** One speaker turn from diarization, times in seconds from the start of the recording. */
export interface SpeakerTurn {
  speaker: string;
  start: number;
  end: number;
}

/** One recognised word with its time span in seconds. */
export interface Word {
  word: string;
  start: number;
  end: number;
}

/** One transcription segment (a phrase or sentence) as the provider returned it. */
export interface TranscriptSegment {
  start: number;
  end: number;
  text: string;
  /** Whisper's confidence signals, when the provider sends them (verbose_json). */
  noSpeechProb?: number;
  avgLogprob?: number;
  compressionRatio?: number;
}

/** The transcription stage's result for the whole recording. */
export interface Transcript {
  language: string | null;
  /** Duration of the audio in seconds as reported or measured. */
  duration: number;
  text: string;
  words: Word[];
  segments: TranscriptSegment[];
}

/** A word after merge: carries the speaker it was attributed to. */
export interface AttributedWord extends Word {
  speaker: string;
}

/** Consecutive words of one speaker, split on long pauses. */
export interface Utterance {
  speaker: string;
  start: number;
  end: number;
  text: string;
  words: AttributedWord[];
}

/**
 * How one diarization speaker compared with the enrolled voices (`speech run --identify`):
 * the voice it was matched to, if any, and the match score (0–100, the provider's scale).
 */
export interface SpeakerMatch {
  /** The diarization label, e.g. SPEAKER_00. */
  speaker: string;
  /** The enrolled voice's name, or null when no voice scored above the threshold. */
  match: string | null;
  /** Score of the chosen voice, or of the best one when none was chosen; null when unknown. */
  score: number | null;
}

/** The merge stage's result: what every export format renders. */
export interface MergedTranscript {
  /** Name of the source recording (file name without folders), used in RTTM and headings. */
  source: string;
  duration: number;
  language: string | null;
  /** Diarization labels (SPEAKER_00, …) in order of first appearance; utterances and words use them too. */
  speakers: string[];
  utterances: Utterance[];
  /** Display names by label: identified voices, overridden by names the user gave (`speech rename`). */
  speakerNames?: Record<string, string>;
  /** Per speaker, how it compared with the enrolled voices, when the run identified speakers. */
  identification?: SpeakerMatch[];
  /**
   * The diarization's turns with overlaps (two people talking at once), when the words were
   * lined up with its one-speaker-at-a-time turns: kept for readers who want the overlaps.
   */
  overlappingTurns?: SpeakerTurn[];
}

/**
 * A merge result as the exports and merged.json's writer read it: utterances in order, perhaps
 * made one at a time from columns (a whole day's words as objects would fill a worker's memory).
 * Every MergedTranscript is one. Each pass over `utterances` starts from the first again.
 */
export type MergedView = Omit<MergedTranscript, 'utterances'> & { utterances: Iterable<Utterance> };

/**
 * A reference to a file an activity produced. This, never the file's content,
 * is what crosses the Temporal boundary and lands in the history.
 */
export interface ArtifactRef {
  path: string;
  sha256: string;
  bytes: number;
  metadata?: Record<string, string | number | boolean | null>;
}
