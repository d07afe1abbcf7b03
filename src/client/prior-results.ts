// Reading an earlier run's Temporal history for the stage results it completed, so a new
// run of the same pipeline id resumes after them instead of paying for them again.
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import type { PriorResults, SpeechPipelineInput } from '../domain/pipeline';
import type { ArtifactRef } from '../domain/types';

const STAGE_OF_ACTIVITY: Record<string, keyof Omit<PriorResults, 'transcriptionChunks'> | 'chunk'> = {
  convertAudio: 'audio_conversion',
  diarizeAudio: 'diarization',
  assembleTranscript: 'transcription',
  transcribeChunk: 'chunk',
  planTranscription: 'chunkPlan',
  mergeTranscript: 'merge',
};

function decode<T>(payloads: Payload[] | null | undefined): T | undefined {
  const p = payloads?.[0];
  return p ? defaultPayloadConverter.fromPayload<T>(p) : undefined;
}

/** `handle` should name the run (getHandle(id, runId)) whose results are wanted. */
export async function priorResultsFromHistory(handle: WorkflowHandle): Promise<{ results: PriorResults; runId: string | null }> {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const results: PriorResults = {};
  let startedRunId: string | null = null;
  for (const e of history.events ?? []) {
    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      startedRunId = a.originalExecutionRunId ?? null;
      // Stages this run itself reused came in through its own input.
      const input = decode<SpeechPipelineInput>(a.input?.payloads);
      if (input?.priorResults) Object.assign(results, structuredClone(input.priorResults));
    } else if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const type = scheduled.get(String(a.scheduledEventId));
      const stage = type ? STAGE_OF_ACTIVITY[type] : undefined;
      if (!stage) continue;
      const value = decode<unknown>(a.result?.payloads);
      if (stage === 'chunk') {
        const ref = value as ArtifactRef;
        const idx = ref.metadata?.chunk;
        if (typeof idx === 'number') (results.transcriptionChunks ??= {})[idx] = ref;
      } else if (stage === 'chunkPlan') {
        results.chunkPlan = (value as { ref: ArtifactRef }).ref;
      } else {
        results[stage] = value as ArtifactRef;
      }
    }
  }
  return { results, runId: startedRunId };
}
