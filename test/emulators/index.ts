/**
 * Entry point of the provider emulators: starts both, and gives the environment a
 * process needs to point the real provider clients at them.
 */
import { createBandwidth } from './bandwidth';
import { type OpenAIEmulator, type OpenAIEmulatorOptions, startOpenAIEmulator } from './openai-emulator';
import { type PyannoteEmulator, type PyannoteEmulatorOptions, startPyannoteEmulator } from './pyannote-emulator';

export * from './audio-analysis';
export * from './bandwidth';
export * from './faults';
export * from './openai-emulator';
export * from './pyannote-emulator';

export interface EmulatorsOptions {
  openai?: OpenAIEmulatorOptions;
  pyannote?: PyannoteEmulatorOptions;
  /**
   * One upload link both emulators share, in bytes per second (20 Mbit/s is 2_500_000):
   * transcription uploads and media PUTs then compete for it as on a real uplink. An
   * emulator's own uploadBandwidth option wins over it.
   */
  uploadBytesPerSecond?: number;
}

export interface Emulators {
  openai: OpenAIEmulator;
  pyannote: PyannoteEmulator;
  /** OPENAI_BASE_URL, OPENAI_API_KEY, PYANNOTE_BASE_URL, PYANNOTE_API_KEY. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startEmulators(opts: EmulatorsOptions = {}): Promise<Emulators> {
  const link = opts.uploadBytesPerSecond !== undefined ? createBandwidth(opts.uploadBytesPerSecond) : undefined;
  const openai = await startOpenAIEmulator({ uploadBandwidth: link, ...opts.openai });
  let pyannote: PyannoteEmulator;
  try {
    pyannote = await startPyannoteEmulator({ uploadBandwidth: link, ...opts.pyannote });
  } catch (err) {
    await openai.close();
    throw err;
  }
  return {
    openai,
    pyannote,
    env: {
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: opts.openai?.apiKeys?.[0] ?? 'test-openai-key',
      PYANNOTE_BASE_URL: pyannote.url,
      PYANNOTE_API_KEY: opts.pyannote?.apiKeys?.[0] ?? 'test-pyannote-key',
    },
    async close() {
      await Promise.all([openai.close(), pyannote.close()]);
    },
  };
}

/**
 * Requests that carry audio or start billed work: transcriptions, media uploads, and
 * diarization, voiceprint and identification jobs. Left out: the free checks a client makes
 * before paying (`GET /v1/models`, `GET /v1/test`) and polling a job it already has.
 */
export function workRequests(emus: Pick<Emulators, 'openai' | 'pyannote'>): { method: string; path: string }[] {
  const paid = (q: { method: string; path: string }) =>
    q.method !== 'GET' && !q.path.startsWith('/__emulator');
  return [...emus.openai.requests.filter(paid), ...emus.pyannote.requests.filter(paid)];
}
