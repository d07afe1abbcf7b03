// Which results of an earlier run this run takes instead of computing them again: each one
// only after its artifact was checked on disk, and only when everything it was computed from
// is reused too.
import type { log } from '@temporalio/workflow';
import type { ChunkSpan, SpeechPipelineInput } from '../domain/pipeline';
import type { ArtifactRef } from '../domain/types';
import { numberMeta } from './util';

export type ReusableStage = 'audio_conversion' | 'diarization' | 'transcription' | 'merge';
export type VerifyArtifacts = (refs: Record<string, ArtifactRef>) => Promise<Record<string, { ok: boolean; detail?: string }>>;

/** What each reusable stage was computed from, in the order they are decided. */
export const REUSE_DEPENDS_ON: Record<ReusableStage, ReusableStage[]> = {
  audio_conversion: [],
  diarization: ['audio_conversion'],
  transcription: ['audio_conversion'],
  merge: ['diarization', 'transcription'],
};
const ORDER = Object.keys(REUSE_DEPENDS_ON) as ReusableStage[];

/** The earlier stage results that are intact, with the stages they depend on. */
export async function verifiedPrior(input: SpeechPipelineInput, verify: VerifyArtifacts, logger: typeof log): Promise<Partial<Record<ReusableStage, ArtifactRef>>> {
  const p = input.priorResults;
  if (!p) return {};
  const refs: Record<string, ArtifactRef> = {};
  for (const k of ORDER) if (p[k]) refs[k] = p[k]!;
  if (Object.keys(refs).length === 0) return {};
  const checks = await verify(refs);
  const out: Partial<Record<ReusableStage, ArtifactRef>> = {};
  for (const k of ORDER) {
    const ok = refs[k] !== undefined && checks[k]?.ok === true && REUSE_DEPENDS_ON[k].every((d) => out[d] !== undefined);
    if (ok) out[k] = refs[k];
    else if (refs[k]) logger.warn('Earlier result not reused', { stage: k, detail: checks[k]?.detail ?? 'depends on a stage that is redone' });
  }
  return out;
}

/**
 * Chunks an earlier run finished, matched by their exact span and checked on disk. With
 * `sameAudio` false (the audio was converted again and came out different) none is reused:
 * they were cut from other audio.
 */
export async function reusableChunks(input: SpeechPipelineInput, chunks: ChunkSpan[], verify: VerifyArtifacts, sameAudio = true): Promise<Map<number, ArtifactRef>> {
  const earlier = (sameAudio ? input.priorResults?.transcriptionChunks : undefined) ?? {};
  const candidates: Record<string, ArtifactRef> = {};
  for (const c of chunks) {
    const ref = earlier[c.index];
    if (ref && numberMeta(ref, 'start') === c.start && numberMeta(ref, 'end') === c.end) candidates[String(c.index)] = ref;
  }
  const out = new Map<number, ArtifactRef>();
  if (Object.keys(candidates).length === 0) return out;
  const checks = await verify(candidates);
  for (const [k, ref] of Object.entries(candidates)) if (checks[k]?.ok) out.set(Number(k), ref);
  return out;
}
