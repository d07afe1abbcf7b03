// The offline demo: the bundled two-speaker sample through the real pipeline (embedded
// Temporal dev server, real worker, real ffmpeg) with both stages on the local speech engine
// (faster-whisper for the words, voice activity + speaker embeddings for who spoke): no key,
// no network. The engine keeps running beside the dev server; `speech engine stop` stops it.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..');
  const sample = path.join(root, 'samples', 'two-speakers.flac');
  const args = process.argv.slice(2);
  console.log('Offline demo: transcription and diarization on the local speech engine (no key, nothing leaves this machine).');
  console.log('  For OpenAI and pyannote.ai see README, "Real providers".\n');
  // The demo is offline whatever keys the shell holds.
  const env = { ...process.env, TRANSCRIBE_PROVIDER: 'local', DIARIZE_PROVIDER: 'local' };
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'speech.js'), 'run', sample, ...args], { env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 2));
  });
  if (code === 0 && !args.includes('--json')) {
    const dataDir = path.resolve(process.env.DATA_DIR ?? 'data');
    const txt = findTxt(dataDir);
    if (txt) {
      console.log(`\n${path.relative(process.cwd(), txt)}:\n`);
      console.log(readFileSync(txt, 'utf8'));
    }
    console.log('The embedded Temporal server and the local engine keep running (Web UI, next runs); stop them with `npm run speech -- server stop` and `npm run speech -- engine stop`.');
  }
  return code;
}

function findTxt(dataDir: string): string | null {
  const out = path.join(dataDir, 'output');
  let best: { file: string; mtime: number } | null = null;
  for (const dir of safeList(out)) {
    const file = path.join(out, dir, 'two-speakers.txt');
    try {
      const m = statSync(file).mtimeMs;
      if (!best || m > best.mtime) best = { file, mtime: m };
    } catch {
      // No transcript in this run folder.
    }
  }
  return best?.file ?? null;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
