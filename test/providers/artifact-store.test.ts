// Temporary files of the artifact store: a killed writer's are removed by the next writer of the
// same target and by a worker starting on the same machine; a live writer's, or another
// machine's on a shared folder, never are.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFsArtifactStore, finalNameOf, HOST_TAG, removeDeadWritersTemporaries } from '../../src/providers/artifact-store';

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid!;
  await once(child, 'exit');
  return pid;
}

describe('artifact store temporaries', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'artifact-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names a temporary after its target, the writer and this machine', () => {
    const tmp = createFsArtifactStore().tempPathFor(path.join(dir, 'chunk_0003.json'));
    assert.match(path.basename(tmp), new RegExp(`^\\.chunk_0003\\.json\\.${process.pid}-${HOST_TAG}\\.[0-9a-f]{8}\\.tmp$`));
    assert.equal(finalNameOf(tmp), 'chunk_0003.json');
    assert.equal(finalNameOf('.converted.wav.12.ab12cd34.tmp'), 'converted.wav', 'the name an earlier release used');
  });

  it("removes a dead writer's temporaries on this machine, and nothing of a live writer, of this process or of another machine", async () => {
    const dead = await deadPid();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const sub = path.join(dir, 'interim', 'p1');
      await mkdir(sub, { recursive: true });
      const files = {
        deadHere: path.join(sub, `.state.json.${dead}-${HOST_TAG}.0badc0de.tmp`),
        deadHereTop: path.join(dir, `.a.wav.${dead}-${HOST_TAG}.12345678.tmp`),
        liveHere: path.join(sub, `.state.json.${sleeper.pid}-${HOST_TAG}.0badc0de.tmp`),
        mine: path.join(sub, `.state.json.${process.pid}-${HOST_TAG}.0badc0de.tmp`),
        otherMachine: path.join(sub, `.state.json.${dead}-${HOST_TAG === 'abcdef' ? 'fedcba' : 'abcdef'}.0badc0de.tmp`),
        untaggedRecent: path.join(sub, `.old.json.${dead}.0badc0de.tmp`),
        untaggedOld: path.join(sub, `.older.json.${dead}.0badc0de.tmp`),
        notOurs: path.join(sub, `.state.json.tmp`),
        target: path.join(sub, 'state.json'),
      };
      for (const f of Object.values(files)) await writeFile(f, 'x');
      const hoursAgo = new Date(Date.now() - 2 * 3600_000);
      await utimes(files.untaggedOld, hoursAgo, hoursAgo);

      const removed = await removeDeadWritersTemporaries(dir, { recursive: true });
      assert.deepEqual(removed.sort(), [files.deadHere, files.deadHereTop, files.untaggedOld].sort());
      for (const [what, f] of Object.entries(files)) assert.equal(existsSync(f), ![files.deadHere, files.deadHereTop, files.untaggedOld].includes(f), what);

      assert.deepEqual(await removeDeadWritersTemporaries(dir, { recursive: false }), [], 'not recursive: the top folder only, already clean');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it("a write of a target removes a dead writer's temporaries of that target, not of its neighbours", async () => {
    const dead = await deadPid();
    const store = createFsArtifactStore();
    const ofTarget = path.join(dir, `.chunk_0001.json.${dead}-${HOST_TAG}.aaaaaaaa.tmp`);
    const ofNeighbour = path.join(dir, `.chunk_0002.json.${dead}-${HOST_TAG}.bbbbbbbb.tmp`);
    await writeFile(ofTarget, '{"half":');
    await writeFile(ofNeighbour, '{"half":');
    await store.writeJson(path.join(dir, 'chunk_0001.json'), { text: 'whole' });
    assert.deepEqual((await readdir(dir)).sort(), [path.basename(ofNeighbour), 'chunk_0001.json'].sort());

    // commit (a temporary the caller wrote itself, e.g. ffmpeg's output) sweeps the same way.
    const tmp = store.tempPathFor(path.join(dir, 'chunk_0002.json'));
    await writeFile(tmp, '{}');
    await store.commit(tmp, path.join(dir, 'chunk_0002.json'));
    assert.deepEqual((await readdir(dir)).sort(), ['chunk_0001.json', 'chunk_0002.json']);
  });
});
