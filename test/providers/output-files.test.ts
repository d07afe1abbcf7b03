import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createFsArtifactStore } from '../../src/providers/artifact-store';
import { ProviderError } from '../../src/providers/errors';
import { readOutputLedger, recordOutputs, writeOutput } from '../../src/providers/output-files';
import { testTmpDir } from '../helpers/temporal';

describe('output files are never silently replaced', () => {
  const store = createFsArtifactStore();
  let dir: string;
  before(async () => {
    dir = await testTmpDir('speech-outputs-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const refused = (err: unknown) => err instanceof ProviderError && err.type === 'OutputExists';

  it('writes a new file, and leaves a file with the same bytes alone', async () => {
    const file = path.join(dir, 'new', 'a.txt');
    const ref = await writeOutput(store, file, 'hello\n', { owned: new Map(), overwrite: false });
    assert.equal(await readFile(file, 'utf8'), 'hello\n');
    assert.equal(ref.bytes, 6);
    assert.deepEqual(await writeOutput(store, file, 'hello\n', { owned: new Map(), overwrite: false }), ref);
  });

  it('refuses a file it did not write, or one changed since, unless told to overwrite', async () => {
    const file = path.join(dir, 'b.txt');
    await writeFile(file, 'somebody else\n');
    await assert.rejects(writeOutput(store, file, 'ours\n', { owned: new Map(), overwrite: false }), (e) => refused(e) && /not written by this run.*--overwrite/.test((e as Error).message));
    assert.equal(await readFile(file, 'utf8'), 'somebody else\n');

    const interim = path.join(dir, 'interim');
    const ref = await writeOutput(store, file, 'ours\n', { owned: new Map(), overwrite: true });
    await recordOutputs(store, interim, [ref]);
    const owned = await readOutputLedger(interim);
    assert.equal(owned.get(file), ref.sha256);
    // Ours and unchanged: replaced when the run renders it again.
    await writeOutput(store, file, 'ours, renamed\n', { owned, overwrite: false });
    assert.equal(await readFile(file, 'utf8'), 'ours, renamed\n');
    // Edited by the user since: refused.
    await writeFile(file, 'ours, renamed, and corrected by hand\n');
    await assert.rejects(writeOutput(store, file, 'ours again\n', { owned: new Map([[file, ref.sha256]]), overwrite: false }), (e) => refused(e) && /changed after this run wrote it/.test((e as Error).message));
    assert.equal(await readFile(file, 'utf8'), 'ours, renamed, and corrected by hand\n');
  });

  it('leaves no temporary file behind', async () => {
    const sub = path.join(dir, 'clean');
    await writeOutput(store, path.join(sub, 'c.txt'), 'x', { owned: new Map(), overwrite: false });
    await writeFile(path.join(sub, 'd.txt'), 'theirs');
    await writeOutput(store, path.join(sub, 'd.txt'), 'x', { owned: new Map(), overwrite: false }).catch(() => undefined);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(sub)).sort(), ['c.txt', 'd.txt']);
  });
});
