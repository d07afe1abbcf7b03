// The workflow bundle's entry: every workflow the worker registers.
export { speechPipeline } from './speech-pipeline';
export type { SpeechPipelineResult } from './speech-pipeline';
