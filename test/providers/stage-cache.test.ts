// The stage cache on a real file system: results are taken only when intact, linked into the
// taking run's folder, remembered per holder, and pruned when no record refers to them.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createFsArtifactStore } from '../../src/providers/artifact-store';
import { cacheKey, chunkKeyInputs, createStageCache, diarizationKeyInputs } from '../../src/providers/stage-cache';
import { testTmpDir } from '../helpers/temporal';

describe('stage cache', () => {
  const store = createFsArtifactStore();
  let dir: string;

  beforeEach(async () => {
    dir = await testTmpDir('stage-cache-');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const service = { provider: 'openai', endpoint: 'https://api.openai.com/v1' };
  const chunk = (over: Partial<Parameters<typeof chunkKeyInputs>[0]> = {}) =>
    chunkKeyInputs({ audioSha256: 'a'.repeat(64), start: 0, end: 600, service, model: 'whisper-1', language: 'en', prompt: null, ...over });

  it('keys change with every input a result depends on, and only with those', () => {
    const base = cacheKey('transcription_chunk', chunk());
    assert.equal(cacheKey('transcription_chunk', chunk()), base, 'stable');
    for (const other of [chunk({ language: 'de' }), chunk({ prompt: 'earlier words' }), chunk({ model: 'gpt-4o-transcribe' }), chunk({ end: 599.5 }), chunk({ service: { ...service, endpoint: 'http://localhost:8000/v1' } })]) {
      assert.notEqual(cacheKey('transcription_chunk', other), base);
    }
    const hints: { numSpeakers: number | null; minSpeakers: number | null; maxSpeakers: number | null } = { numSpeakers: null, minSpeakers: null, maxSpeakers: null };
    const d = (h = hints) => cacheKey('diarization', diarizationKeyInputs({ audioSha256: 'a'.repeat(64), service: { provider: 'pyannote', endpoint: 'x', model: 'precision-2' }, hints: h, identify: null }));
    assert.notEqual(d({ ...hints, numSpeakers: 3 }), d());
    assert.notEqual(cacheKey('diarization', {}), cacheKey('transcription_chunk', {}), 'the stage is part of the key');
  });

  it('takes an intact result into another run as a hard link, and adds that run as a holder', async () => {
    const cache = createStageCache(path.join(dir, 'cache'), store);
    const ref = await store.writeJson(path.join(dir, 'interim', 'run-a', 'diarization.json'), { turns: [1, 2, 3] });
    await cache.put('diarization', 'k1', { any: 'inputs' }, { pipelineId: 'run-a', files: { result: { ...ref, metadata: { speakers: 2 } } } });
    const target = path.join(dir, 'interim', 'run-b', 'diarization.json');
    const hit = await cache.take('diarization', 'k1', 'run-b', { result: target });
    assert.ok(hit);
    assert.equal(hit.computedBy, 'run-a');
    assert.equal(hit.files.result!.path, target);
    assert.equal(hit.files.result!.metadata?.speakers, 2);
    assert.equal((await stat(target)).ino, (await stat(ref.path)).ino, 'linked, not copied');
    await cache.put('diarization', 'k1', {}, { pipelineId: 'run-b', files: hit.files });
    const entry = JSON.parse(await readFile(path.join(dir, 'cache', 'diarization', 'k1.json'), 'utf8')) as { holders: { pipelineId: string }[]; computedBy: string };
    assert.deepEqual(entry.holders.map((h) => h.pipelineId), ['run-a', 'run-b']);
    assert.equal(entry.computedBy, 'run-a');
  });

  it('never takes a damaged result, and falls back to another holder that is intact', async () => {
    const cache = createStageCache(path.join(dir, 'cache'), store);
    const a = await store.writeJson(path.join(dir, 'interim', 'run-a', 'c.json'), { text: 'hello' });
    await cache.put('transcription_chunk', 'k', {}, { pipelineId: 'run-a', files: { transcript: a } });
    // run-b holds its own copy (a different file system would copy; here: write one).
    await mkdir(path.join(dir, 'interim', 'run-b'), { recursive: true });
    const b = await store.writeJson(path.join(dir, 'interim', 'run-b', 'c.json'), { text: 'hello' });
    await cache.put('transcription_chunk', 'k', {}, { pipelineId: 'run-b', files: { transcript: b } });
    await writeFile(b.path, JSON.stringify({ text: 'HELLO' }, null, 2) + '\n'); // same size, other bytes
    const hit = await cache.take('transcription_chunk', 'k', 'run-c', { transcript: path.join(dir, 'interim', 'run-c', 'c.json') });
    assert.ok(hit, 'run-a still holds it intact');
    assert.deepEqual(JSON.parse(await readFile(hit.files.transcript!.path, 'utf8')), { text: 'hello' });
    await writeFile(a.path, JSON.stringify({ text: 'HELLO' }, null, 2) + '\n');
    await rm(path.join(dir, 'interim', 'run-c'), { recursive: true });
    assert.equal(await cache.take('transcription_chunk', 'k', 'run-d', { transcript: path.join(dir, 'interim', 'run-d', 'c.json') }), null);
    assert.equal(await cache.peek('transcription_chunk', 'k'), null);
  });

  it('prune drops holders without a record and entries no record refers to', async () => {
    const cache = createStageCache(path.join(dir, 'cache'), store);
    const a = await store.writeJson(path.join(dir, 'interim', 'run-a', 'x.json'), { n: 1 });
    const b = await store.writeJson(path.join(dir, 'interim', 'run-b', 'x.json'), { n: 1 });
    await cache.put('audio_conversion', 'shared', {}, { pipelineId: 'run-a', files: { audio: a } });
    await cache.put('audio_conversion', 'shared', {}, { pipelineId: 'run-b', files: { audio: b } });
    const c = await store.writeJson(path.join(dir, 'interim', 'run-c', 'x.json'), { n: 2 });
    await cache.put('audio_conversion', 'orphan', {}, { pipelineId: 'run-c', files: { audio: c } });
    const records = new Set(['run-a']);
    const dry = await cache.prune((id) => records.has(id), { dryRun: true });
    assert.deepEqual(dry.removed.map((r) => [r.key, r.reason]), [['orphan', 'no state record refers to it']]);
    assert.equal((await cache.entries()).length, 2, 'a dry run removes nothing');
    const done = await cache.prune((id) => records.has(id), { dryRun: false });
    assert.equal(done.removed.length, 1);
    assert.equal(done.holdersDropped, 1);
    const left = await cache.entries();
    assert.deepEqual(left.map((e) => [path.basename(e.file), e.entry?.holders.map((h) => h.pipelineId)]), [['shared.json', ['run-a']]]);
  });
});
