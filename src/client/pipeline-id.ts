// The pipeline id: the same bytes and result-affecting options give the same id on any machine.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { canonicalOptionsString, slugifyFileName, type PipelineOptions } from '../domain/options';

export interface InputIdentity {
  pipelineId: string;
  sha256: string;
  bytes: number;
}

export async function identifyInput(file: string, options: PipelineOptions): Promise<InputIdentity> {
  const fileHash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    fileHash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const sha256 = fileHash.digest('hex');
  const idHash = createHash('sha256').update(sha256).update('\n').update(canonicalOptionsString(options)).digest('hex');
  return { pipelineId: `speech-${slugifyFileName(path.basename(file))}-${idHash.slice(0, 12)}`, sha256, bytes };
}
