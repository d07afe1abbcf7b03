// The worker thread of AnalysisPool: analyses the buffers it is sent, one at a time.
import { parentPort } from 'node:worker_threads';
import type { AnalysisReply } from './analysis-pool';
import { type AnalyzeOptions, DecodeError, analyzeAudio } from './audio-analysis';

const port = parentPort;
if (!port) throw new Error('analysis-worker runs only as a worker thread');

port.on('message', (m: { id: number; data: Uint8Array; opts: AnalyzeOptions }) => {
  const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  analyzeAudio(buf, m.opts).then(
    (analysis) => {
      const reply: AnalysisReply = { id: m.id, analysis };
      const transfer = [analysis.energyDb.buffer, analysis.pitchTime.buffer, analysis.pitchHz.buffer, analysis.pitchStrength.buffer];
      port.postMessage(reply, [...new Set(transfer)] as ArrayBuffer[]);
    },
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const reply: AnalysisReply = { id: m.id, error: { name: e.name, message: e.message, ...(e instanceof DecodeError && e.detail ? { detail: e.detail } : {}) } };
      port.postMessage(reply);
    },
  );
});
