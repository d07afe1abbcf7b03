// `npm run bench:uploads`: bytes on the wire and wall time of a 2-hour recording sent to the
// cloud providers as WAV (the product before compact uploads, UPLOAD_CODEC=wav) and in the
// default compact formats, over a modelled 20 Mbit/s upload link that both providers share.
// Real: `speech run` with its embedded Temporal server and in-process worker, ffmpeg, the
// emulators (in this process, with the shared bandwidth model). Target (issue 12): ≤ 30 MB per
// audio hour per provider at the default codec.
import path from 'node:path';
import { startEmulators, type Emulators } from '../test/emulators';
import { makeLongRecording } from '../test/helpers/audio';
import { speech } from '../test/helpers/cli';
import { embeddedCliEnv } from '../test/helpers/pipeline';

const SECONDS = Number(process.env.BENCH_UPLOAD_SECONDS ?? 7200);
const LINK_MBIT = Number(process.env.BENCH_UPLOAD_MBIT ?? 20);

interface Figures {
  label: string;
  wallS: number;
  openaiMB: number;
  pyannoteMB: number;
}

async function runOnce(emus: Emulators, env: NodeJS.ProcessEnv, cwd: string, file: string, label: string, extra: Record<string, string>): Promise<Figures> {
  const o0 = emus.openai.requests.length;
  const p0 = emus.pyannote.requests.length;
  const t0 = Date.now();
  // --force-restart: every stage computed, nothing taken from the other run's results.
  const r = await speech(['run', file, '--json', '--force-restart', '--formats', 'json'], { env: { ...env, ...extra }, cwd, timeoutMs: 1_800_000 });
  const wallS = (Date.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`${label}: speech run failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  const openai = emus.openai.requests.slice(o0).filter((q) => q.path === '/v1/audio/transcriptions' && q.status === 200);
  const put = emus.pyannote.requests.slice(p0).filter((q) => q.method === 'PUT' && q.status === 200);
  return { label, wallS, openaiMB: openai.reduce((a, q) => a + q.bytes, 0) / 1e6, pyannoteMB: put.reduce((a, q) => a + q.bytes, 0) / 1e6 };
}

async function main(): Promise<void> {
  const emus = await startEmulators({ uploadBytesPerSecond: (LINK_MBIT * 1e6) / 8, openai: { maxBodyBytes: 26_214_400 } });
  const cli = await embeddedCliEnv(emus, 'bench-uploads-');
  try {
    const rec = await makeLongRecording({ dir: cli.dir, seconds: SECONDS, name: 'two-hours' });
    const hours = rec.duration / 3600;
    console.log(`recording: ${(rec.duration / 3600).toFixed(2)} h; upload link ${LINK_MBIT} Mbit/s shared by both providers; whisper-1, pyannote.ai precision-2 (emulators)`);
    const file = path.join(cli.dir, path.basename(rec.path));
    const before = await runOnce(emus, cli.env, cli.dir, file, 'WAV (UPLOAD_CODEC=wav)', { UPLOAD_CODEC: 'wav' });
    const after = await runOnce(emus, cli.env, cli.dir, file, 'compact (default)', {});
    console.log('');
    console.log('uploads              wall time   OpenAI MB/audio h   pyannote.ai MB/audio h');
    for (const f of [before, after]) {
      console.log(`${f.label.padEnd(22)} ${f.wallS.toFixed(1).padStart(7)} s   ${(f.openaiMB / hours).toFixed(1).padStart(10)}          ${(f.pyannoteMB / hours).toFixed(1).padStart(10)}`);
    }
    console.log(`ratio (compact / WAV): wall ${(after.wallS / before.wallS).toFixed(2)}×, bytes to OpenAI ${(after.openaiMB / before.openaiMB).toFixed(3)}×, to pyannote.ai ${(after.pyannoteMB / before.pyannoteMB).toFixed(3)}×`);
    const worst = Math.max(after.openaiMB, after.pyannoteMB) / hours;
    console.log(`target ≤ 30 MB per audio hour per provider at the default codec: ${worst.toFixed(1)} MB (${worst <= 30 ? 'met' : 'NOT met'})`);
  } finally {
    await cli.cleanUp();
    await emus.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
