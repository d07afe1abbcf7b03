// What a run's transcript cost: the audio sent to each provider, the requests and jobs, what
// was taken from earlier results instead, and an estimate in money from a price table the user
// can replace (PRICES_FILE). Pure: reads stage metadata, knows nothing of files or Temporal.
import { z } from 'zod';

/** Metadata of a stage's artifact, as the activities write it (flat scalars). */
type Meta = Record<string, unknown> | undefined;

export interface StageUsage {
  /** `openai`, `pyannote` or `local`; null when the stage has not run (or ran on a release that did not say). */
  provider: string | null;
  model: string | null;
  /** Taken from another pipeline's result at no cost: that pipeline's id. */
  reusedFrom: string | null;
}

export interface TranscriptionUsageSummary extends StageUsage {
  requests: number;
  /** Seconds of audio sent in requests made for this transcript. */
  audioSecondsSent: number;
  /** Billed usage the service reported: seconds (whisper-1) or tokens (gpt-4o models). */
  usageSeconds: number;
  inputTokens: number;
  outputTokens: number;
  reusedChunks: number;
  chunks: number;
}

export interface DiarizationUsageSummary extends StageUsage {
  /** Jobs submitted (each is billed; more than one means it was paid again, e.g. after its result expired). */
  jobs: number;
  /** Seconds of audio per job. */
  audioSeconds: number;
  /** Request-based diarization (OpenAI's diarize model): requests and the tokens they billed. */
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** What the service warned about the result. */
  warning: string | null;
  /** Why the audio was diarized (and paid) more than once. */
  paidAgain: string | null;
}

export interface UsageSummary {
  conversion: StageUsage;
  diarization: DiarizationUsageSummary;
  transcription: TranscriptionUsageSummary;
}

const str = (m: Meta, k: string): string | null => (typeof m?.[k] === 'string' ? (m[k] as string) : null);
const num = (m: Meta, k: string): number => (typeof m?.[k] === 'number' ? (m[k] as number) : 0);

/** The usage of one run, from the metadata of its conversion, diarization and transcription artifacts. */
export function summarizeUsage(meta: { conversion?: Meta; diarization?: Meta; transcription?: Meta }): UsageSummary {
  const d = meta.diarization;
  const t = meta.transcription;
  const dReused = str(d, 'reused_from');
  return {
    conversion: { provider: 'ffmpeg', model: null, reusedFrom: str(meta.conversion, 'reused_from') },
    diarization: {
      provider: str(d, 'provider'),
      model: str(d, 'model'),
      reusedFrom: dReused,
      jobs: d && !dReused && str(d, 'provider') !== 'openai' ? (typeof d.jobs === 'number' ? d.jobs : 1) : 0,
      audioSeconds: num(d, 'audio_seconds'),
      requests: dReused ? 0 : num(d, 'requests'),
      inputTokens: dReused ? 0 : num(d, 'input_tokens'),
      outputTokens: dReused ? 0 : num(d, 'output_tokens'),
      warning: str(d, 'warning'),
      paidAgain: str(d, 'paid_again'),
    },
    transcription: {
      provider: str(t, 'provider'),
      model: str(t, 'model'),
      reusedFrom: null,
      requests: num(t, 'requests'),
      audioSecondsSent: num(t, 'audio_seconds_sent'),
      usageSeconds: num(t, 'usage_seconds'),
      inputTokens: num(t, 'input_tokens'),
      outputTokens: num(t, 'output_tokens'),
      reusedChunks: num(t, 'reused_chunks'),
      chunks: num(t, 'chunks'),
    },
  };
}

const PerModel = z.object({
  /** Billed per minute of audio (OpenAI's whisper-1; the gpt-4o models' published per-minute estimate). */
  per_minute: z.number().nonnegative().optional(),
  /** Billed per million tokens, when the service reports tokens. */
  audio_input_per_million: z.number().nonnegative().optional(),
  text_input_per_million: z.number().nonnegative().optional(),
  output_per_million: z.number().nonnegative().optional(),
  /** Billed per hour of audio, with a minimum per job (pyannote.ai). */
  per_hour: z.number().nonnegative().optional(),
  minimum_seconds: z.number().nonnegative().optional(),
  /** Where the figure comes from. */
  source: z.string().optional(),
});

export const PriceTableSchema = z.object({
  /** The day these prices were read; shown with every estimate. */
  date: z.string().min(1),
  currency: z.string().min(1).default('USD'),
  openai: z.record(z.string(), PerModel).default({}),
  pyannote: z.record(z.string(), PerModel).default({}),
});
export type PriceTable = z.infer<typeof PriceTableSchema>;

/**
 * Prices the product ships with. OpenAI's are its published API prices; pyannote.ai's are an
 * assumption (its pricing depends on the plan) and say so: put your own in PRICES_FILE.
 */
export const DEFAULT_PRICES: PriceTable = {
  date: '2026-12-01',
  currency: 'USD',
  openai: {
    'whisper-1': { per_minute: 0.006, source: 'openai.com/api/pricing' },
    'gpt-4o-transcribe': { per_minute: 0.006, audio_input_per_million: 6, text_input_per_million: 2.5, output_per_million: 10, source: 'openai.com/api/pricing' },
    'gpt-4o-transcribe-diarize': { per_minute: 0.006, audio_input_per_million: 6, text_input_per_million: 2.5, output_per_million: 10, source: 'openai.com/api/pricing' },
    'gpt-4o-mini-transcribe': { per_minute: 0.003, audio_input_per_million: 3, text_input_per_million: 1.25, output_per_million: 5, source: 'openai.com/api/pricing' },
  },
  pyannote: {
    'precision-2': { per_hour: 0.3, minimum_seconds: 20, source: 'assumed: pay-as-you-go plan; check pyannote.ai pricing and set PRICES_FILE' },
    'community-1': { per_hour: 0.15, minimum_seconds: 20, source: 'assumed: pay-as-you-go plan; check pyannote.ai pricing and set PRICES_FILE' },
  },
};

/** The shipped prices with a user's file laid over them (per model; the date is the file's). */
export function mergePrices(base: PriceTable, override: unknown, where: string): PriceTable {
  const parsed = PriceTableSchema.partial({ date: true }).safeParse(override);
  if (!parsed.success) {
    throw new Error(`${where}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  }
  const o = parsed.data;
  return {
    date: o.date ?? base.date,
    currency: o.currency ?? base.currency,
    openai: { ...base.openai, ...(o.openai ?? {}) },
    pyannote: { ...base.pyannote, ...(o.pyannote ?? {}) },
  };
}

/** A model's price: its own, or that of the model it is a dated snapshot of (gpt-4o-mini-transcribe-2025-12-15). */
function priceOf(table: Record<string, z.infer<typeof PerModel>>, model: string | null): z.infer<typeof PerModel> | null {
  if (!model) return null;
  if (table[model]) return table[model]!;
  const base = Object.keys(table)
    .filter((k) => model.startsWith(`${k}-`))
    .sort((a, b) => b.length - a.length)[0];
  return base ? table[base]! : null;
}

export interface CostLine {
  stage: 'diarization' | 'transcription';
  provider: string;
  model: string | null;
  /** null: no price is known for this provider and model. */
  amount: number | null;
  /** How it was computed, for people: "2 × 20 s min, 0.30/h". */
  basis: string;
}

export interface CostEstimate {
  total: number;
  currency: string;
  priceDate: string;
  lines: CostLine[];
  /** Some paid work has no price in the table: the total leaves it out. */
  incomplete: boolean;
}

/** What a diarization of `seconds` costs, `jobs` times. */
export function diarizationCost(prices: PriceTable, provider: string | null, model: string | null, seconds: number, jobs: number): CostLine | null {
  if (!provider || jobs === 0) return null;
  if (provider === 'local') return { stage: 'diarization', provider, model, amount: 0, basis: 'local engine' };
  const p = provider === 'pyannote' ? priceOf(prices.pyannote, model) : null;
  if (!p || p.per_hour === undefined) return { stage: 'diarization', provider, model, amount: null, basis: 'no price known' };
  const billed = Math.max(p.minimum_seconds ?? 0, Math.ceil(seconds));
  return { stage: 'diarization', provider, model, amount: (jobs * billed * p.per_hour) / 3600, basis: `${jobs} job${jobs === 1 ? '' : 's'} × ${billed} s at ${p.per_hour}/h` };
}

/** What transcription requests cost: by the tokens they reported, else by billed seconds, else by the audio sent. */
export function transcriptionCost(
  prices: PriceTable,
  u: Pick<TranscriptionUsageSummary, 'provider' | 'model' | 'requests' | 'audioSecondsSent' | 'usageSeconds' | 'inputTokens' | 'outputTokens'>,
): CostLine | null {
  if (!u.provider || u.requests === 0) return null;
  const base = { stage: 'transcription' as const, provider: u.provider, model: u.model };
  if (u.provider === 'local') return { ...base, amount: 0, basis: 'local engine' };
  const p = u.provider === 'openai' ? priceOf(prices.openai, u.model) : null;
  if (!p) return { ...base, amount: null, basis: 'no price known' };
  if ((u.inputTokens > 0 || u.outputTokens > 0) && p.audio_input_per_million !== undefined && p.output_per_million !== undefined) {
    const amount = (u.inputTokens * p.audio_input_per_million + u.outputTokens * p.output_per_million) / 1e6;
    return { ...base, amount, basis: `${u.inputTokens} input + ${u.outputTokens} output tokens` };
  }
  if (p.per_minute === undefined) return { ...base, amount: null, basis: 'no per-minute price known' };
  const secs = u.usageSeconds > 0 ? u.usageSeconds : u.audioSecondsSent;
  return { ...base, amount: (secs / 60) * p.per_minute, basis: `${Math.round(secs)} s at ${p.per_minute}/min` };
}

export function estimateCost(prices: PriceTable, u: UsageSummary): CostEstimate {
  const d = u.diarization;
  const diarization =
    d.provider === 'openai'
      ? transcriptionCost(prices, { provider: 'openai', model: d.model, requests: d.requests, audioSecondsSent: d.audioSeconds, usageSeconds: 0, inputTokens: d.inputTokens, outputTokens: d.outputTokens })
      : diarizationCost(prices, d.provider, d.model, d.audioSeconds, d.jobs);
  const lines = [diarization ? { ...diarization, stage: 'diarization' as const } : null, transcriptionCost(prices, u.transcription)].filter(
    (l): l is CostLine => l !== null,
  );
  return {
    total: lines.reduce((a, l) => a + (l.amount ?? 0), 0),
    currency: prices.currency,
    priceDate: prices.date,
    lines,
    incomplete: lines.some((l) => l.amount === null),
  };
}

/** "$0.0123" style, with enough digits to tell small amounts apart. */
export function formatMoney(amount: number, currency: string): string {
  const digits = amount !== 0 && amount < 0.1 ? 4 : 2;
  return currency === 'USD' ? `$${amount.toFixed(digits)}` : `${amount.toFixed(digits)} ${currency}`;
}

const PROVIDER_NAMES: Record<string, string> = { openai: 'OpenAI', pyannote: 'pyannote.ai', local: 'the local engine' };
export function providerName(p: string | null): string {
  return p ? (PROVIDER_NAMES[p] ?? p) : 'unknown';
}
