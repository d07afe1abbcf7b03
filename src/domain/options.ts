// The options that change what a run produces, and the two strings derived from
// a run's identity: the canonical options text hashed into the pipeline id and
// the readable slug of the file name that prefixes it.

/** Options that affect the result; changing any of them must change the pipeline id. */
export interface PipelineOptions {
  language: string | null;
  numSpeakers: number | null;
  minSpeakers: number | null;
  maxSpeakers: number | null;
  transcribeModel: string;
  /**
   * With --identify: a digest of the enrolled voices compared against and the threshold. Voices
   * enrolled or removed later give another result, so another id. Absent for runs that do not
   * identify, whose ids stay what they were before identification existed.
   */
  identify?: { voices: string; threshold: number | null } | null;
  /**
   * Vocabulary and names to spell right (`--prompt`, `--prompt-file`, PROMPT_FILE), sent with
   * every transcription request before the previous chunk's closing words. Absent when not
   * given, so ids of runs without one stay what they were.
   */
  prompt?: string | null;
}

/** Longest user prompt: whisper reads the last ~224 tokens of a prompt, and the previous chunk's words need room too. */
export const MAX_USER_PROMPT_CHARS = 500;

/**
 * JSON of the result-affecting options with keys in sorted order, so the same
 * options give the same bytes on any machine and in any construction order.
 * Only the known fields are included: extra runtime properties on the object
 * (from a spread of CLI flags, say) must not change the pipeline id.
 */
export function canonicalOptionsString(o: PipelineOptions): string {
  const known: Record<Exclude<keyof PipelineOptions, 'identify' | 'prompt'>, string | number | null> & { identify?: string; prompt?: string } = {
    language: o.language,
    maxSpeakers: o.maxSpeakers,
    minSpeakers: o.minSpeakers,
    numSpeakers: o.numSpeakers,
    transcribeModel: o.transcribeModel,
    ...(o.identify ? { identify: `${o.identify.voices}@${o.identify.threshold ?? 'default'}` } : {}),
    ...(o.prompt ? { prompt: o.prompt } : {}),
  };
  const sorted = Object.keys(known)
    .sort()
    .map((key) => [key, known[key as keyof typeof known] ?? null] as const);
  return JSON.stringify(Object.fromEntries(sorted));
}

const MAX_SLUG_LENGTH = 40;

/**
 * A readable, id-safe slug of a file name: folders and the last extension
 * dropped, accents folded (`Réunion` → `reunion`), lower-case, every run of
 * other characters turned into one `-`, at most 40 characters, `audio` if
 * nothing is left. A leading dot (`.hidden`) is not taken for an extension.
 */
export function slugifyFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  const stem = dot > 0 ? base.slice(0, dot) : base;
  const slug = stem
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG_LENGTH)
    .replace(/-+$/, '');
  return slug === '' ? 'audio' : slug;
}
