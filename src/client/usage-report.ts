// What a run cost, as `speech run`, `show` and `list --detailed` say it: from the metadata the
// stages recorded, priced with the shipped table or the user's PRICES_FILE.
import { readFile } from 'node:fs/promises';
import type { Config } from '../config';
import type { StateRecord } from '../domain/state-record';
import { formatClock } from '../domain/timecode';
import type { ArtifactRef } from '../domain/types';
import { DEFAULT_PRICES, estimateCost, formatMoney, mergePrices, providerName, summarizeUsage, type CostEstimate, type PriceTable, type UsageSummary } from '../domain/usage';
import { UsageError } from './errors';

export async function loadPrices(config: Pick<Config, 'pricesFile'>): Promise<PriceTable> {
  if (!config.pricesFile) return DEFAULT_PRICES;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(config.pricesFile, 'utf8'));
  } catch (err) {
    throw new UsageError(`PRICES_FILE ${config.pricesFile} cannot be read as JSON: ${(err as Error).message}`, 'See README, "What a run costs", for the format.');
  }
  try {
    return mergePrices(DEFAULT_PRICES, raw, `PRICES_FILE ${config.pricesFile}`);
  } catch (err) {
    throw new UsageError((err as Error).message, 'See README, "What a run costs", for the format.');
  }
}

export function usageOfRecord(record: StateRecord): UsageSummary {
  const meta = (stage: string) => record.checkpoints.find((c) => c.stage === stage)?.metadata;
  return summarizeUsage({ conversion: meta('audio_conversion'), diarization: meta('diarization'), transcription: meta('transcription') });
}

export function usageOfArtifacts(a: { audio_conversion?: ArtifactRef; diarization?: ArtifactRef; transcription?: ArtifactRef }): UsageSummary {
  return summarizeUsage({ conversion: a.audio_conversion?.metadata, diarization: a.diarization?.metadata, transcription: a.transcription?.metadata });
}

/** What `run` and `list --detailed` report of a run's usage: the JSON, priced, with its one-line summary. */
export function usageReport(u: UsageSummary, prices: PriceTable): ReturnType<typeof usageJson> & { summary: string } {
  const cost = estimateCost(prices, u);
  return { ...usageJson(u, cost), summary: usageSentence(u, cost) };
}

/** The usage as JSON for --json outputs (snake_case like the rest). */
export function usageJson(u: UsageSummary, cost: CostEstimate) {
  return {
    conversion: { reused_from: u.conversion.reusedFrom },
    diarization: {
      provider: u.diarization.provider,
      model: u.diarization.model,
      jobs: u.diarization.jobs,
      requests: u.diarization.requests,
      audio_seconds: u.diarization.audioSeconds,
      reused_from: u.diarization.reusedFrom,
      warning: u.diarization.warning,
      paid_again: u.diarization.paidAgain,
    },
    transcription: {
      provider: u.transcription.provider,
      model: u.transcription.model,
      requests: u.transcription.requests,
      audio_seconds_sent: u.transcription.audioSecondsSent,
      usage_seconds: u.transcription.usageSeconds,
      input_tokens: u.transcription.inputTokens,
      output_tokens: u.transcription.outputTokens,
      chunks: u.transcription.chunks,
      reused_chunks: u.transcription.reusedChunks,
    },
    estimated_cost: { total: round(cost.total), currency: cost.currency, price_date: cost.priceDate, incomplete: cost.incomplete, lines: cost.lines.map((l) => ({ ...l, amount: l.amount === null ? null : round(l.amount) })) },
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** Per stage: "computed" or "reused from <pipeline>", and what it sent. */
export function usageLines(u: UsageSummary, cost: CostEstimate): string[] {
  const lines: string[] = [];
  const d = u.diarization;
  if (d.reusedFrom) lines.push(`diarization     reused from ${d.reusedFrom} (no request)`);
  else if (d.provider === 'openai') lines.push(`diarization     computed: OpenAI ${d.model ?? ''}, ${d.requests} request${d.requests === 1 ? '' : 's'} on ${formatClock(d.audioSeconds)} of audio`);
  else if (d.provider) lines.push(`diarization     computed: ${providerName(d.provider)}, ${d.jobs} job${d.jobs === 1 ? '' : 's'} on ${formatClock(d.audioSeconds)} of audio${d.jobs > 1 ? ' (paid more than once)' : ''}`);
  if (d.paidAgain) lines.push(`                paid again: ${d.paidAgain}`);
  if (d.warning) lines.push(`                warning from ${providerName(d.provider)}: ${d.warning}`);
  const t = u.transcription;
  if (t.provider || t.reusedChunks > 0) {
    const computed = t.chunks - t.reusedChunks;
    const parts = [
      computed > 0 ? `${t.requests} request${t.requests === 1 ? '' : 's'} to ${providerName(t.provider)} with ${formatClock(t.audioSecondsSent)} of audio` : null,
      t.usageSeconds > 0 ? `${t.usageSeconds} s billed` : null,
      t.inputTokens + t.outputTokens > 0 ? `${t.inputTokens}+${t.outputTokens} tokens` : null,
      t.reusedChunks > 0 ? `${t.reusedChunks} of ${t.chunks} chunk${t.chunks === 1 ? '' : 's'} reused from earlier results` : null,
    ].filter(Boolean);
    lines.push(`transcription   ${computed === 0 && t.chunks > 0 ? 'reused' : 'computed'}: ${parts.join(', ')}`);
  }
  if (u.conversion.reusedFrom) lines.push(`conversion      reused from ${u.conversion.reusedFrom}`);
  lines.push(`estimated cost  ${costPhrase(cost)}`);
  return lines;
}

export function costPhrase(cost: CostEstimate): string {
  const unknown = cost.lines.filter((l) => l.amount === null).map((l) => `${providerName(l.provider)} ${l.model ?? ''}`.trim());
  return `${formatMoney(cost.total, cost.currency)} (prices of ${cost.priceDate}${unknown.length > 0 ? `; no price for ${unknown.join(', ')}` : ''})`;
}

/** One line for the end of `speech run`. */
export function usageSentence(u: UsageSummary, cost: CostEstimate): string {
  const parts: string[] = [];
  const d = u.diarization;
  if (d.reusedFrom) parts.push('diarization reused');
  else if (d.jobs > 0) parts.push(`${providerName(d.provider)}: ${d.jobs} job${d.jobs === 1 ? '' : 's'} (${formatClock(d.audioSeconds)})${d.jobs > 1 ? ' — paid again' : ''}`);
  else if (d.requests > 0) parts.push(`${providerName(d.provider)} diarization: ${d.requests} request${d.requests === 1 ? '' : 's'} (${formatClock(d.audioSeconds)})`);
  const t = u.transcription;
  if (t.requests > 0) parts.push(`${providerName(t.provider)}: ${t.requests} request${t.requests === 1 ? '' : 's'} (${formatClock(t.audioSecondsSent)})`);
  if (t.reusedChunks > 0) parts.push(`${t.reusedChunks}/${t.chunks} chunks reused`);
  if (u.conversion.reusedFrom) parts.push('conversion reused');
  return `Cost: ${parts.length > 0 ? parts.join(', ') : 'nothing sent to a provider'}; estimated ${costPhrase(cost)}`;
}

