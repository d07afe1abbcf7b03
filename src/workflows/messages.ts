// Messages the pipeline workflow answers, and the search attributes it maintains.
// Shared by the workflow and the client; nothing here does I/O.
import { defineQuery } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ProgressSnapshot } from '../domain/pipeline';

/** Progress of a run: per-stage status and timings, percent, chunks, last error. */
export const progressQuery = defineQuery<ProgressSnapshot>('progress');

/** Registered on the embedded dev server; on a cluster, only used when registered there. */
export const PipelineStageAttribute = defineSearchAttributeKey('PipelineStage', SearchAttributeType.KEYWORD);
export const InputFileAttribute = defineSearchAttributeKey('InputFile', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  { name: PipelineStageAttribute.name, type: 'Keyword' },
  { name: InputFileAttribute.name, type: 'Keyword' },
] as const;
