// Never pay twice: each stage's result is keyed by what it depends on, so a later run with
// other speaker hints, another language or a renamed copy of the file takes what it can from
// the stage cache; bad options are refused before any request; --estimate spends nothing.
// The emulators' request logs are the evidence.
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEmulators, workRequests, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { assertCliJson } from '../helpers/cli-schema';
import { speech } from '../helpers/cli';
import { assertSpeakersMatchTurns, embeddedCliEnv, readMergedJson } from '../helpers/pipeline';

interface RunJson {
  ok: boolean;
  runs: {
    pipeline_id: string;
    status: string;
    mode: string;
    outputs: string[];
    error: { type: string; message: string } | null;
    usage?: { diarization: { reused_from: string | null; jobs: number }; transcription: { requests: number; reused_chunks: number; chunks: number; usage_seconds: number; audio_seconds_sent: number }; conversion: { reused_from: string | null }; summary: string } | null;
  }[];
}

describe('stage cache: never pay twice (emulators, embedded server)', function () {
  this.timeout(300_000);
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let recording: Recording;
  let cleanUp = async () => {};
  let first: RunJson['runs'][number];
  const steps: string[] = [];

  const counts = () => ({
    transcriptions: emus.openai.requests.filter((q) => q.method === 'POST' && q.path === '/v1/audio/transcriptions').length,
    diarizations: emus.pyannote.requests.filter((q) => q.method === 'POST' && (q.path === '/v1/diarize' || q.path === '/v1/identify')).length,
    uploads: emus.pyannote.requests.filter((q) => q.method === 'PUT').length,
    work: workRequests(emus).length,
    all: emus.openai.requests.length + emus.pyannote.requests.length,
  });
  const delta = (before: ReturnType<typeof counts>) => {
    const now = counts();
    return { transcriptions: now.transcriptions - before.transcriptions, diarizations: now.diarizations - before.diarizations, uploads: now.uploads - before.uploads, work: now.work - before.work, all: now.all - before.all };
  };
  const runJson = async (args: string[]) => {
    const r = await speech(['run', ...args, '--json'], { env, cwd: dir });
    const doc = JSON.parse(r.stdout || '{}') as RunJson;
    return { r, doc };
  };
  const note = (what: string, d: ReturnType<typeof delta>) =>
    steps.push(`${what.padEnd(34)} transcription requests ${d.transcriptions}, diarization jobs ${d.diarizations}, uploads ${d.uploads}, requests of any kind ${d.all}`);

  before(async () => {
    emus = await startEmulators();
    ({ dir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-cache-'));
    // Short chunks: the recording is sent as several requests, each prompted with the one before.
    env = { ...env, CHUNK_MAX_SECONDS: '8', TRANSCRIBE_CONCURRENCY: '2' };
    recording = await makeTwoSpeakerRecording({ dir, name: 'meeting' });
  });

  after(async () => {
    if (steps.length > 0) console.log(`      requests per step (emulator logs):\n${steps.map((s) => `        ${s}`).join('\n')}`);
    await cleanUp();
    await emus?.close();
  });

  it('a first run pays for diarization and every chunk', async () => {
    const before = counts();
    const { r, doc } = await runJson([recording.path, '--language', 'en']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assertCliJson('run', doc);
    first = doc.runs[0]!;
    const d = delta(before);
    note('run', d);
    assert.equal(d.diarizations, 1);
    assert.ok(d.transcriptions >= 2, `${d.transcriptions} chunk requests`);
    assert.equal(first.usage?.transcription.requests, d.transcriptions, 'the run counts the requests it made');
    assert.equal(first.usage?.diarization.jobs, 1);
    // whisper-1 bills whole seconds per request, as the service's `usage` says.
    const t = first.usage!.transcription;
    assert.ok(t.usage_seconds >= t.audio_seconds_sent && t.usage_seconds <= Math.ceil(t.audio_seconds_sent) + t.requests, JSON.stringify(t));
    assert.match(first.usage!.summary, /pyannote\.ai: 1 job .*OpenAI: \d+ requests .*estimated \$\d/);
    assert.equal(first.usage?.conversion.reused_from, null);
    assertSpeakersMatchTurns(await readMergedJson(first.outputs.find((f) => f.endsWith('.json'))!), recording.turns);
  });

  it('other speaker hints diarize again but send no audio for transcription', async () => {
    const before = counts();
    const { r, doc } = await runJson([recording.path, '--language', 'en', '--speakers', '2', '--out', path.join(dir, 'out-speakers')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = delta(before);
    note('run --speakers 2', d);
    assert.equal(d.transcriptions, 0, 'transcription does not depend on speaker hints');
    assert.equal(d.diarizations, 1);
    const run = doc.runs[0]!;
    assert.notEqual(run.pipeline_id, first.pipeline_id, 'another pipeline: the options differ');
    assert.equal(run.usage?.transcription.requests, 0);
    assert.equal(run.usage?.transcription.reused_chunks, run.usage?.transcription.chunks);
    assert.equal(run.usage?.conversion.reused_from, first.pipeline_id);
  });

  it('another language transcribes again but does not diarize again', async () => {
    const before = counts();
    const { r, doc } = await runJson([recording.path, '--language', 'de', '--out', path.join(dir, 'out-de')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = delta(before);
    note('run --language de', d);
    assert.equal(d.diarizations, 0, 'diarization does not depend on the language');
    assert.equal(d.uploads, 0, 'no audio is uploaded to pyannote.ai either');
    assert.ok(d.transcriptions >= 2);
    assert.equal(doc.runs[0]!.usage?.diarization.reused_from, first.pipeline_id);
  });

  it('a renamed copy of the recording makes no provider request at all', async () => {
    const copy = path.join(dir, 'copy of the meeting.wav');
    await copyFile(recording.path, copy);
    const before = counts();
    const { r, doc } = await runJson([copy, '--language', 'en']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = delta(before);
    note('renamed copy', d);
    assert.equal(d.all, 0, JSON.stringify(d));
    const run = doc.runs[0]!;
    assert.equal(run.mode, 'started');
    assert.equal(run.usage?.diarization.reused_from, first.pipeline_id);
    assert.match(run.usage?.summary ?? '', /diarization reused.*chunks reused.*conversion reused/);
    // The transcript is the same as the first run's, under the copy's own name.
    const a = await readMergedJson(first.outputs.find((f) => f.endsWith('.json'))!);
    const b = await readMergedJson(run.outputs.find((f) => f.endsWith('.json'))!);
    assert.deepEqual(b.utterances, a.utterances);
    assert.match(path.basename(run.outputs[0]!), /^copy of the meeting\./);

    const show = await speech(['show', run.pipeline_id], { env, cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`audio_conversion\\s+completed \\(reused from ${first.pipeline_id}\\)`));
    assert.match(show.stdout, /Usage:[\s\S]*diarization\s+reused from[\s\S]*estimated cost\s+\$0\.00/);
  });

  it('refuses an unknown language or model with exit 1 before any paid request', async () => {
    const before = counts();
    const lang = await speech(['run', recording.path, '--language', 'xx'], { env, cwd: dir });
    assert.equal(lang.code, 1, lang.stderr);
    assert.match(lang.stderr, /--language: "xx" is not a language/);
    assert.doesNotMatch(lang.stdout + lang.stderr, /run the same command again/);
    assert.equal(delta(before).all, 0);

    const model = await speech(['run', recording.path, '--model', 'whisper-2'], { env, cwd: dir });
    assert.equal(model.code, 1, model.stderr);
    assert.match(model.stderr, /--model whisper-2: .* does not offer this model; nothing was started/);
    assert.match(model.stderr, /whisper-1/);
    const d = delta(before);
    note('--language xx, then --model whisper-2', d);
    assert.equal(d.work, 0, 'only the free model list was asked');
  });

  it('--estimate says what would be reused and paid, and spends nothing', async () => {
    const fresh = await makeTwoSpeakerRecording({ dir, name: 'new-call', turns: [{ speaker: 'B', text: 'A new call about the budget for next year.' }, { speaker: 'A', text: 'We will need more time for it.' }] });
    const before = counts();
    const r = await speech(['run', '--estimate', fresh.path, recording.path, '--language', 'en', '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const doc = JSON.parse(r.stdout) as { files: { file: string; completed_earlier: boolean; reused: { conversion: boolean; diarization: boolean }; to_pay: { diarization_seconds: number; transcription_requests: number }; cost: { amount: number } }[] };
    const [n, old] = doc.files;
    assert.equal(n!.reused.conversion, false);
    assert.ok(n!.to_pay.diarization_seconds > 0 && n!.to_pay.transcription_requests >= 1);
    assert.ok(n!.cost.amount > 0);
    assert.equal(old!.completed_earlier, true);
    const text = await speech(['run', '--estimate', fresh.path, '--speakers', '2', '--language', 'fr'], { env, cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /new-call\.wav/);
    assert.match(text.stdout, /Estimated total: \$\d+\.\d+.*prices of \d{4}-\d{2}-\d{2}.*Nothing was sent or started\./);
    const d = delta(before);
    note('--estimate of a new file', d);
    assert.equal(d.all, 0);
  });

  it('never takes a cached result whose file was damaged: it is computed again', async () => {
    // The first run's diarization result, corrupted in place (every run holding it shares the file).
    const interim = path.join(env.DATA_DIR!, 'interim', first.pipeline_id);
    const file = path.join(interim, 'diarization.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/"SPEAKER_00"/g, '"SPEAKER_09"'));
    const before = counts();
    const { r, doc } = await runJson([recording.path, '--language', 'fr', '--out', path.join(dir, 'out-fr')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = delta(before);
    assert.equal(d.diarizations, 1, 'the damaged diarization was not reused');
    assert.equal(doc.runs[0]!.usage?.diarization.reused_from, null);
    assertSpeakersMatchTurns(await readMergedJson(doc.runs[0]!.outputs.find((f) => f.endsWith('.json'))!), recording.turns);
  });

  it('`speech list --detailed` says what each run cost', async () => {
    const r = await speech(['list', '--detailed'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Cost: pyannote\.ai: 1 job .*OpenAI: \d+ requests .*estimated \$\d+\.\d+ \(prices of \d{4}-\d{2}-\d{2}\)/);
    assert.match(r.stdout, /Cost: diarization reused, \d+\/\d+ chunks reused, conversion reused; estimated \$0\.00/);
  });

  it('--force-restart takes nothing from the cache', async () => {
    const before = counts();
    const { r } = await runJson([recording.path, '--language', 'en', '--force-restart', '--overwrite']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = delta(before);
    assert.equal(d.diarizations, 1);
    assert.ok(d.transcriptions >= 2);
  });

  it('`speech cleanup` removes the cache entries no state record refers to any more', async () => {
    const dry = await speech(['cleanup', '--older-than', '0s', '--dry-run', '--json'], { env, cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout) as { cache: { entries: number; would_remove: unknown[] } };
    assert.ok(planned.cache.entries > 0);
    assert.equal(planned.cache.would_remove.length, planned.cache.entries, 'every run goes, so every entry would');
    const done = await speech(['cleanup', '--older-than', '0s'], { env, cwd: dir });
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /Removed \d+ of \d+ stage-cache entries that no state record refers to/);
    const after = JSON.parse((await speech(['cleanup', '--dry-run', '--json'], { env, cwd: dir })).stdout) as { cache: { entries: number } };
    assert.equal(after.cache.entries, 0);
  });
});
