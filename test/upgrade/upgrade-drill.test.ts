// The upgrade drill (scripts/drill-upgrade.ts, `npm run drill:upgrade`) as a test: a run
// started by the previous release and killed mid-transcription is finished by the current
// code with the same exports, one diarization job and no finished chunk sent again. It builds
// the previous release from git, so it needs the commit in the history (a full clone).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DEFAULT_FROM, resolveCommit } from '../../scripts/drill-upgrade';

const ROOT = path.resolve(__dirname, '..', '..');

/** Every check the drill makes; each must be reported `ok`. */
const CHECKS = [
  'run completed',
  'exports, one per format',
  'exports byte-identical (sha256) to an uninterrupted run by the previous release',
  'exports byte-identical (sha256) to an uninterrupted run by the current code',
  'exactly one diarization job',
  'the kill landed mid-transcription',
  'no chunk completed before the kill was sent again',
  'every chunk transcribed',
  'no workflow task failure in the history',
  "workflow tasks completed by both releases' workers",
];

function runDrill(from: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(ROOT, 'scripts', 'drill-upgrade.ts'), '--from', from], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // SIGTERM lets the drill clean up (worktree, dev servers, workers) before it exits.
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('upgrade drill: a run started by the previous release is finished by the current code', function () {
  this.timeout(180_000);

  it(`${DEFAULT_FROM} → current: killed mid-transcription, finished with identical exports and no repeated paid work`, async () => {
    try {
      resolveCommit(DEFAULT_FROM);
    } catch (err) {
      assert.fail(`the upgrade drill cannot run: ${(err as Error).message}`);
    }
    const r = await runDrill(DEFAULT_FROM);
    const output = `${r.stdout}\n${r.stderr}`;
    assert.doesNotMatch(r.stdout, /^ {2}FAIL/m, output);
    for (const c of CHECKS) {
      assert.ok(r.stdout.split('\n').some((l) => l.startsWith('  ok  ') && l.includes(c)), `check not reported ok: ${c}\n${output}`);
    }
    assert.match(r.stdout, /^result: PASS/m, output);
    assert.equal(r.code, 0, output);
    console.log(`\n${r.stdout.replace(/^/gm, '      ')}`);
  });
});
