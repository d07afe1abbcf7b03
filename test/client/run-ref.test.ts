import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveRunRef } from '../../src/client/run-ref';
import { sha256File } from '../../src/providers/artifact-store';
import { testTmpDir } from '../helpers/temporal';

describe('naming a run: id, unique start, last, input file', () => {
  let dir: string;
  let dataDir: string;
  let talk: string;
  const record = (id: string, input: string, updated: string, sha = 'x') => ({
    input_file: input,
    pipeline_id: id,
    workflow_id: id,
    run_id: null,
    status: 'completed',
    created_at: updated,
    updated_at: updated,
    current_stage: null,
    completed_stages: [],
    checkpoints: [],
    options: {},
    error: null,
    input_sha256: sha,
  });

  before(async () => {
    dir = await testTmpDir('speech-ref-');
    dataDir = path.join(dir, 'data');
    await mkdir(path.join(dataDir, 'checkpoints'), { recursive: true });
    talk = path.join(dir, 'talk.wav');
    await writeFile(talk, 'talk bytes');
    const moved = path.join(dir, 'moved.wav');
    await writeFile(moved, 'moved bytes');
    const movedSha = (await sha256File(moved)).sha256;
    const records = [
      record('speech-talk-111111111111', talk, '2026-12-01T10:00:00.000Z'),
      record('speech-talk-222222222222', talk, '2026-12-03T10:00:00.000Z'),
      record('speech-interview-333333333333', '/elsewhere/interview.m4a', '2026-12-02T10:00:00.000Z'),
      record('speech-old-name-444444444444', '/gone/old-name.wav', '2026-11-01T10:00:00.000Z', movedSha),
    ];
    for (const r of records) await writeFile(path.join(dataDir, 'checkpoints', `${r.pipeline_id}_state.json`), JSON.stringify(r));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('takes a whole id as it is, and passes an unknown one on', async () => {
    assert.equal(await resolveRunRef(dataDir, 'speech-talk-111111111111'), 'speech-talk-111111111111');
    assert.equal(await resolveRunRef(dataDir, 'speech-unknown-999999999999'), 'speech-unknown-999999999999');
  });

  it('completes a unique start of an id, with or without speech-, and names the runs an ambiguous one fits', async () => {
    assert.equal(await resolveRunRef(dataDir, 'speech-inter'), 'speech-interview-333333333333');
    assert.equal(await resolveRunRef(dataDir, 'interview'), 'speech-interview-333333333333');
    await assert.rejects(resolveRunRef(dataDir, 'talk'), /"talk" names 2 runs: speech-talk-111111111111, speech-talk-222222222222/);
  });

  it('takes `last` for the run updated most recently', async () => {
    assert.equal(await resolveRunRef(dataDir, 'last'), 'speech-talk-222222222222');
    await assert.rejects(resolveRunRef(path.join(dir, 'empty'), 'last'), /no run yet/);
  });

  it('finds the newest run of an input file, by path or (moved) by content', async () => {
    assert.equal(await resolveRunRef(dataDir, talk), 'speech-talk-222222222222');
    assert.equal(await resolveRunRef(dataDir, path.join(dir, 'moved.wav')), 'speech-old-name-444444444444');
    const fresh = path.join(dir, 'fresh.wav');
    await writeFile(fresh, 'never run');
    await assert.rejects(resolveRunRef(dataDir, fresh), /no run of .*fresh\.wav yet/);
    await assert.rejects(resolveRunRef(dataDir, './nope/missing.wav'), /"\.\/nope\/missing\.wav" is not a pipeline id .*and no file has that path/);
  });
});
