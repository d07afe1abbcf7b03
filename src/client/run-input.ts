// The workflow input of one `speech run` file: its identity, folders under DATA_DIR, the run's
// settings, and what the Web UI shows for it.
import path from 'node:path';
import { dataPaths, type Config } from '../config';
import type { PipelineOptions } from '../domain/options';
import type { SpeechPipelineInput } from '../domain/pipeline';
import type { ExportFormat } from '../domain/stages';
import { formatClock } from '../domain/timecode';
import { InputFileAttribute } from '../workflows/messages';
import { plainBaseName } from './output-names';
import { identifyInput, type InputIdentity } from './pipeline-id';

/** The workflow input for one file: identity, folders under DATA_DIR, run settings. */
export async function preparePipelineInput(
  config: Config,
  file: string,
  opts: {
    options: PipelineOptions;
    formats: ExportFormat[];
    outDir?: string | undefined;
    searchAttributes: boolean;
    outputBaseName?: string;
    render?: SpeechPipelineInput['render'];
    overwrite?: boolean;
    identify?: SpeechPipelineInput['identify'];
  },
): Promise<{ input: SpeechPipelineInput; ident: InputIdentity }> {
  const ident = await identifyInput(file, opts.options);
  const paths = dataPaths(config.dataDir, ident.pipelineId);
  const input: SpeechPipelineInput = {
    pipelineId: ident.pipelineId,
    inputFile: path.resolve(file),
    inputSha256: ident.sha256,
    inputBytes: ident.bytes,
    options: opts.options,
    formats: opts.formats,
    interimDir: paths.interimDir,
    outputDir: opts.outDir ? path.resolve(opts.outDir) : paths.outputDir,
    stateRecordPath: paths.stateRecord,
    settings: {
      chunkMaxSeconds: config.chunkMaxSeconds,
      transcribeConcurrency: config.transcribeConcurrency,
      heartbeatTimeoutSeconds: config.heartbeatTimeoutSeconds,
      heartbeatTimeouts: config.heartbeatTimeouts,
      previousTextPrompt: config.previousTextPrompt,
    },
    searchAttributes: opts.searchAttributes,
    outputBaseName: opts.outputBaseName ?? plainBaseName(file),
    render: opts.render ?? {},
    overwrite: opts.overwrite ?? false,
    ...(opts.identify ? { identify: opts.identify } : {}),
  };
  return { input, ident };
}

function speakerHint(o: PipelineOptions): string {
  if (o.numSpeakers !== null) return String(o.numSpeakers);
  if (o.minSpeakers === null && o.maxSpeakers === null) return 'detected';
  return `${o.minSpeakers ?? 1}–${o.maxSpeakers ?? 'any'}`;
}

/** What the Web UI shows for a run: a one-line summary, details, and the searchable file name. */
export function webUiMetadata(input: SpeechPipelineInput, audioSeconds: number | null) {
  const name = path.basename(input.inputFile);
  const o = input.options;
  return {
    staticSummary: `${name} — ${audioSeconds !== null ? formatClock(audioSeconds) : 'unknown length'}`,
    staticDetails: [
      `**Input**: ${input.inputFile}`,
      `**sha256**: ${input.inputSha256}`,
      `**Options**: language ${o.language ?? 'detected'}, speakers ${speakerHint(o)}, model ${o.transcribeModel}`,
      `**Formats**: ${input.formats.join(', ')}`,
      `**Outputs**: ${input.outputDir}`,
      input.resumedFrom ? `**Resumes** run ${input.resumedFrom}` : '',
    ]
      .filter(Boolean)
      .join('\n\n'),
    ...(input.searchAttributes ? { typedSearchAttributes: [{ key: InputFileAttribute, value: name }] } : {}),
  };
}
