// Many and long recordings through the CLI: a folder with one corrupt file, a second pass
// that skips what is done, and a recording whose converted audio is over the 25 MiB request cap.
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readWavInfo } from '../../src/providers/wav';
import { startEmulators, type Emulators, workRequests } from '../emulators';
import { makeLongRecording, makeTwoSpeakerRecording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { embeddedCliEnv } from '../helpers/pipeline';

interface RunJson {
  ok: boolean;
  runs: { file: string; mode: string; status: string; outputs: string[]; error: { type: string; message: string } | null; pipeline_id: string | null }[];
}

describe('batches and long recordings (CLI)', function () {
  this.timeout(240_000);
  let dir: string;
  let dataDir: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let cleanUp = async () => {};

  before(async () => {
    emus = await startEmulators();
    ({ dir, dataDir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-batch-'));
  });

  after(async () => {
    await cleanUp();
    await emus?.close();
  });

  it('runs a folder with one corrupt file: the others complete, the failure is reported, and a second pass skips what is done', async () => {
    const folder = path.join(dir, 'interviews');
    await mkdir(folder);
    await makeTwoSpeakerRecording({ dir: folder, name: 'alice', turns: [{ speaker: 'A', text: 'Alice speaking about the garden project.' }, { speaker: 'B', text: 'And I answer about the budget.' }] });
    await makeTwoSpeakerRecording({ dir: folder, name: 'bob', turns: [{ speaker: 'B', text: 'Bob here with the weekly report.' }, { speaker: 'A', text: 'Thank you Bob, that was quick.' }] });
    await writeFile(path.join(folder, 'broken.mp3'), Buffer.alloc(40_000, 7));
    await writeFile(path.join(folder, 'notes.txt'), 'not a media file: skipped when a folder is expanded\n');

    const first = await speech(['run', folder, '--json'], { env, cwd: dir });
    // A refused file is an input error (exit 1), as for a single file; 2 is for a run that failed.
    assert.equal(first.code, 1, first.stdout + first.stderr);
    const out = JSON.parse(first.stdout) as RunJson;
    assert.equal(out.ok, false);
    const byName = Object.fromEntries(out.runs.map((r) => [path.basename(r.file), r]));
    assert.deepEqual(Object.keys(byName).sort(), ['alice.wav', 'bob.wav', 'broken.mp3']);
    assert.equal(byName['alice.wav']!.status, 'completed');
    assert.equal(byName['bob.wav']!.status, 'completed');
    assert.equal(byName['alice.wav']!.outputs.length, 6);
    assert.equal(byName['broken.mp3']!.status, 'invalid');
    assert.equal(byName['broken.mp3']!.error!.type, 'InvalidMedia');

    const requests = workRequests(emus).length;
    const second = await speech(['run', folder], { env, cwd: dir });
    assert.equal(second.code, 1);
    assert.match(second.stdout, /alice\.wav\s+completed \(earlier\)/);
    assert.match(second.stdout, /bob\.wav\s+completed \(earlier\)/);
    assert.match(second.stdout, /broken\.mp3\s+invalid/);
    assert.match(second.stdout, /2 of 3 files done; 1 failed\./);
    assert.equal(workRequests(emus).length, requests, 'finished files cost nothing the second time');
  });

  it('transcribes a recording whose converted audio exceeds 25 MiB without a 413', async () => {
    const long = await makeLongRecording({ dir, seconds: 900, name: 'fifteen-minutes' });
    const before = emus.openai.requests.length;
    const r = await speech(['run', long.path, '--formats', 'json', '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = (JSON.parse(r.stdout) as RunJson).runs[0]!;
    const converted = path.join(dataDir, 'interim', run.pipeline_id!, 'converted.wav');
    assert.ok((await stat(converted)).size > 26_214_400, 'the converted audio is over the request cap');
    const sent = emus.openai.requests.slice(before).filter((q) => q.path === '/v1/audio/transcriptions' && q.filename?.startsWith('chunk-'));
    assert.ok(sent.length >= 2, `${sent.length} requests`);
    assert.ok(sent.every((q) => q.status === 200 && q.bytes < 26_214_400), JSON.stringify(sent.map((q) => [q.status, q.bytes])));
    const total = sent.reduce((a, q) => a + (q.audioSeconds ?? 0), 0);
    const info = await readWavInfo(converted);
    assert.ok(Math.abs(total - info.durationSeconds) < 2, `chunks cover ${total} s of ${info.durationSeconds} s`);
  });
});
