// audio_conversion: probe the source, convert its first audio stream to 16 kHz mono WAV.
import { Context } from '@temporalio/activity';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Failure } from '../domain/failures';
import type { ArtifactRef } from '../domain/types';
import { sha256File, type ArtifactStore } from '../providers/artifact-store';
import type { MediaProcessor } from '../providers/interfaces';
import { readWavInfo } from '../providers/wav';
import { atBoundary, failure } from './boundary';

export interface ConvertAudioInput {
  inputFile: string;
  inputSha256: string;
  interimDir: string;
}

export function makeConvertAudio(deps: { media: MediaProcessor; store: ArtifactStore }) {
  return async function convertAudio(input: ConvertAudioInput): Promise<ArtifactRef> {
    return atBoundary(async (beat) => {
      const { inputFile } = input;
      const signal = Context.current().cancellationSignal;
      let size: number;
      try {
        size = (await stat(inputFile)).size;
      } catch (err) {
        throw failure(Failure.InputMissing, `The input file ${inputFile} cannot be read on the worker: ${(err as Error).message}`);
      }
      if (size === 0) throw failure(Failure.InvalidMedia, `${inputFile} is empty (0 bytes): nothing to transcribe.`);
      beat({ phase: 'hashing' });
      const { sha256 } = await sha256File(inputFile, signal);
      if (sha256 !== input.inputSha256) {
        throw failure(Failure.InputMissing, `${inputFile} changed since the run started (sha256 differs); start a new run for the new content.`);
      }

      const probe = await deps.media.probe(inputFile, signal);
      if (probe.audioStreams === 0) {
        const what = probe.videoStreams > 0 ? 'a video with no audio track' : 'a file with no audio stream';
        throw failure(Failure.InvalidMedia, `${inputFile} is ${what} (${probe.formatName}): there is nothing to transcribe.`);
      }

      await rejectTruncatedWav(inputFile, probe.formatName);

      await mkdir(input.interimDir, { recursive: true });
      const output = path.join(input.interimDir, 'converted.wav');
      const tmp = deps.store.tempPathFor(output);
      await removeStaleTemporaryFiles(input.interimDir, 'converted.wav');
      try {
        beat({ phase: 'converting', seconds: 0, total: probe.durationSeconds });
        await deps.media.toWav16kMono(inputFile, tmp, {
          signal,
          onProgress: (p) => beat({ phase: 'converting', seconds: p.seconds, total: probe.durationSeconds }),
        });
        const wav = await readWavInfo(tmp);
        if (wav.durationSeconds < 0.1) {
          throw failure(Failure.InvalidMedia, `${inputFile} decodes to ${wav.durationSeconds.toFixed(2)} s of audio: too short to transcribe.`);
        }
        if (probe.durationSeconds !== null && probe.durationSeconds > 2 && wav.durationSeconds < probe.durationSeconds * 0.5) {
          throw failure(
            Failure.InvalidMedia,
            `${inputFile} looks truncated: its header says ${probe.durationSeconds.toFixed(1)} s but only ${wav.durationSeconds.toFixed(1)} s decode.`,
          );
        }
        await deps.store.commit(tmp, output);
        return await deps.store.describe(output, {
          duration_s: Math.round(wav.durationSeconds * 1000) / 1000,
          sample_rate: wav.sampleRate,
          channels: wav.channels,
          source_format: probe.formatName,
          source_codec: probe.codec,
          source_sample_rate: probe.sampleRate,
          source_channels: probe.channels,
          source_duration_s: probe.durationSeconds,
        });
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
    });
  };
}

/**
 * A WAV file states its data size up front; ffmpeg decodes whatever is there and only warns.
 * A file cut short (a copy that stopped, a recorder that crashed) is reported, not half-transcribed.
 */
async function rejectTruncatedWav(file: string, formatName: string): Promise<void> {
  if (!/^wav$/i.test(formatName)) return;
  let info;
  try {
    info = await readWavInfo(file);
  } catch {
    return; // Not a plain RIFF layout (e.g. RF64); ffmpeg's own checks apply.
  }
  if (info.declaredDataBytes !== null && info.declaredDataBytes > info.dataBytes + info.bytesPerSecond * 0.05) {
    const said = info.declaredDataBytes / info.bytesPerSecond;
    throw failure(
      Failure.InvalidMedia,
      `${file} is truncated: its header promises ${said.toFixed(1)} s of audio but the file holds ${info.durationSeconds.toFixed(1)} s. Copy the complete file again.`,
    );
  }
}

/** A worker killed mid-conversion leaves its temporary file behind; the next attempt clears it. */
async function removeStaleTemporaryFiles(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  for (const f of await readdir(dir)) {
    if (f.startsWith(prefix) && f.endsWith('.tmp')) await unlink(path.join(dir, f)).catch(() => undefined);
  }
}
