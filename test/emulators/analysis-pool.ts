// Audio analysis off the emulator's request thread. A real provider analyses an upload on
// machines of its own; an emulator that analysed each upload on the thread that also reads
// the other uploads' bodies would make concurrent clients wait for each other (eight 14 MB
// chunks arriving together were received one analysis after another). Large uploads are
// analysed in a small pool of worker threads, so bodies keep streaming in meanwhile. The
// analysis is the same function either way, so answers do not depend on where it ran.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type AnalyzeOptions, type AudioAnalysis, DecodeError, analyzeAudio } from './audio-analysis';

/** Uploads at least this big (about 30 s of 16 kHz mono PCM) go to the pool. */
export const OFF_THREAD_BYTES = 1 << 20;

interface Job {
  id: number;
  resolve: (a: AudioAnalysis) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
}

export interface AnalysisReply {
  id: number;
  analysis?: AudioAnalysis;
  error?: { name: string; message: string; detail?: string };
}

/** Worker threads that run `analyzeAudio` on buffers; created on first use, closed by `close`. */
export class AnalysisPool {
  private workers: PoolWorker[] = [];
  private next = 0;
  private closed = false;

  /**
   * One thread by default: the analysis of an upload fits well inside the modelled latency
   * even when uploads queue for it, and an emulator sharing a small machine with the system
   * under test should not take more than a core from it.
   */
  constructor(private readonly size = 1) {}

  /** Analyses `data` in a worker thread when it is large, on this thread otherwise. */
  async analyze(data: Buffer, opts: Omit<AnalyzeOptions, 'signal'> = {}): Promise<AudioAnalysis> {
    if (data.length < OFF_THREAD_BYTES || this.closed) return analyzeAudio(data, opts);
    const w = this.pick();
    const id = this.next++;
    // A copy the worker owns: the request body stays valid for the caller.
    const copy = new Uint8Array(data.length);
    copy.set(data);
    return new Promise<AudioAnalysis>((resolve, reject) => {
      w.jobs.set(id, { id, resolve, reject });
      w.worker.postMessage({ id, data: copy, opts }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.workers;
    this.workers = [];
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  private pick(): PoolWorker {
    if (this.workers.length < this.size) {
      const w = this.spawn();
      this.workers.push(w);
      return w;
    }
    // The least busy worker.
    return this.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private spawn(): PoolWorker {
    const file = path.join(__dirname, `analysis-worker${path.extname(__filename)}`);
    // The emulators run from TypeScript sources (mocha and scripts load them through tsx);
    // a worker thread does not inherit a loader registered with `-r`, so it is given one.
    const execArgv = file.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
    const worker = new Worker(file, { execArgv });
    worker.unref();
    const pw: PoolWorker = { worker, jobs: new Map() };
    worker.on('message', (m: AnalysisReply) => {
      const job = pw.jobs.get(m.id);
      if (!job) return;
      pw.jobs.delete(m.id);
      if (m.analysis) job.resolve(m.analysis);
      else if (m.error?.name === 'DecodeError') job.reject(new DecodeError(m.error.message, m.error.detail));
      else job.reject(new Error(m.error?.message ?? 'analysis failed'));
    });
    const failAll = (err: Error) => {
      for (const job of pw.jobs.values()) job.reject(err);
      pw.jobs.clear();
      this.workers = this.workers.filter((x) => x !== pw);
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`analysis worker exited (${code})`)));
    return pw;
  }
}
