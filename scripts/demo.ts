// The offline demo: the bundled two-speaker sample through the real pipeline (embedded
// Temporal dev server, real worker, real ffmpeg), with OpenAI and pyannote.ai replaced by the
// local emulators in test/emulators, which derive their answers from the audio they receive.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startEmulators } from '../test/emulators';

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..');
  const sample = path.join(root, 'samples', 'two-speakers.flac');
  const args = process.argv.slice(2);
  const emus = await startEmulators({
    // A little latency so the stages can be watched in the Web UI.
    openai: { latency: { fixedMs: 300, perAudioSecondMs: 40 } },
    pyannote: { latency: { fixedMs: 1500 } },
  });
  console.log('Offline demo: OpenAI and pyannote.ai are stood in for by local emulators');
  console.log(`  (${emus.openai.url}, ${emus.pyannote.url}); their words are pseudo-words timed from the audio,`);
  console.log('  their speakers told apart by pitch. Temporal, ffmpeg and the files are real.');
  console.log(`  For real providers see README, "Real providers".\n`);
  try {
    const env = { ...process.env, ...emus.env, PYANNOTE_POLL_SECONDS: '0.5' };
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
      console.log('The embedded Temporal server keeps running for the Web UI; stop it with `npm run speech -- server stop`.');
    }
    return code;
  } finally {
    await emus.close();
  }
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
