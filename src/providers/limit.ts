// Per-provider request limits inside one worker: however many runs and chunks are active,
// at most N requests are in flight to one provider (its rate limits are per key, not per run).
import type { Diarizer, Transcriber } from './interfaces';

export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    if (this.active >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const ready = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(ready);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason ?? new Error('aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(ready);
      });
    } else {
      this.active += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter.
      if (next) next();
      else this.active -= 1;
    }
  }
}

export function limitTranscriber(inner: Transcriber, limit: number): Transcriber {
  const gate = new Semaphore(limit);
  return { transcribe: (req, signal, watch) => gate.run(() => inner.transcribe(req, signal, watch), signal) };
}

export function limitDiarizer(inner: Diarizer, limit: number): Diarizer {
  const gate = new Semaphore(limit);
  return {
    upload: (file, key, signal, watch) => gate.run(() => inner.upload(file, key, signal, watch), signal),
    submit: (url, hints, signal, identify) => gate.run(() => inner.submit(url, hints, signal, identify), signal),
    submitVoiceprint: (url, signal) => gate.run(() => inner.submitVoiceprint(url, signal), signal),
    poll: (jobId, signal) => gate.run(() => inner.poll(jobId, signal), signal),
  };
}
