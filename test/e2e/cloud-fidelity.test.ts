// The cloud providers as they really are, through `speech run` against emulators that enforce
// the services' limits: compact uploads (bytes on the wire, pyannote.ai's per-file limit),
// gpt-4o-transcribe-diarize as the diarizer with only an OpenAI key, exclusive turns, the
// user's vocabulary prompt, and warnings carried to `speech show`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startEmulators, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording, MEETING_SENTENCES, type Recording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { assertSpeakersMatchTurns, embeddedCliEnv, readMergedJson } from '../helpers/pipeline';

interface RunJson {
  ok: boolean;
  runs: { pipeline_id: string; status: string; outputs: string[]; error: { type: string; message: string } | null }[];
}

describe('cloud providers as they really are (emulators, embedded server)', function () {
  this.timeout(300_000);
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let rec: Recording;
  let cleanUp = async () => {};

  before(async () => {
    // The media store takes at most 300 kB per file here (1 GiB at pyannote.ai): the recording's
    // WAV is over it, its compact encoding well under.
    emus = await startEmulators({ pyannote: { maxMediaBytes: 300_000 } });
    ({ dir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-cloud-'));
    env = { ...env, CHUNK_MAX_SECONDS: '10', TRANSCRIBE_CONCURRENCY: '2' };
    rec = await makeTwoSpeakerRecording({ dir, name: 'review' });
  });
  after(async () => {
    await cleanUp();
    await emus?.close();
  });

  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await speech(['run', ...args, '--json'], { env: { ...env, ...extra }, cwd: dir });
    return { r, doc: JSON.parse(r.stdout || '{}') as RunJson };
  };

  it('sends compact uploads: Opus chunks to OpenAI, MP3 to pyannote.ai, each a fraction of the WAV, within the per-file limit', async () => {
    const o0 = emus.openai.requests.length;
    const p0 = emus.pyannote.requests.length;
    const { r, doc } = await run([rec.path]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertSpeakersMatchTurns(await readMergedJson(doc.runs[0]!.outputs.find((f) => f.endsWith('.json'))!), rec.turns);
    const chunks = emus.openai.requests.slice(o0).filter((q) => q.path === '/v1/audio/transcriptions');
    assert.ok(chunks.length >= 2);
    for (const q of chunks) assert.match(q.filename ?? '', /^chunk-\d{4}\.ogg$/);
    const sentToOpenAI = chunks.reduce((a, q) => a + q.bytes, 0);
    const put = emus.pyannote.requests.slice(p0).find((q) => q.method === 'PUT')!;
    const wavBytes = rec.duration * 32_000;
    console.log(`      ${rec.duration.toFixed(1)} s of audio: WAV ${(wavBytes / 1e3).toFixed(0)} kB; sent to OpenAI ${(sentToOpenAI / 1e3).toFixed(0)} kB, to pyannote.ai ${(put.bytes / 1e3).toFixed(0)} kB`);
    assert.ok(sentToOpenAI < wavBytes / 4, `${sentToOpenAI} bytes to OpenAI`);
    assert.ok(put.bytes < wavBytes / 4, `${put.bytes} bytes to pyannote.ai`);
    const show = await speech(['show', doc.runs[0]!.pipeline_id, '--json'], { env, cwd: dir });
    const checkpoints = (JSON.parse(show.stdout) as { record: { checkpoints: { stage: string; metadata: Record<string, unknown> }[] } }).record.checkpoints;
    assert.equal(checkpoints.find((c) => c.stage === 'diarization')?.metadata.upload, 'mp3-48k');
  });

  it('the same file as WAV (UPLOAD_CODEC=wav) is over the media limit: refused, and said so', async () => {
    const { r, doc } = await run([rec.path, '--speakers', '2'], { UPLOAD_CODEC: 'wav' });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(doc.runs[0]!.error?.message ?? '', /EntityTooLarge|too large|exceeds/i);
  });

  it('diarizes with gpt-4o-transcribe-diarize when only an OpenAI key is set (DIARIZE_PROVIDER=openai)', async () => {
    const long = await makeTwoSpeakerRecording({
      dir,
      name: 'long-review',
      turns: MEETING_SENTENCES.slice(0, 8).map((text, i) => ({ speaker: i % 2 === 0 ? 'A' : 'B', text })),
    });
    const o0 = emus.openai.requests.length;
    const p0 = emus.pyannote.requests.length;
    const { PYANNOTE_API_KEY: _k, PYANNOTE_BASE_URL: _u, ...openaiOnly } = env;
    const r = await speech(['run', long.path, '--json'], { env: { ...openaiOnly, DIARIZE_PROVIDER: 'openai' }, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout) as RunJson;
    assertSpeakersMatchTurns(await readMergedJson(doc.runs[0]!.outputs.find((f) => f.endsWith('.json'))!), long.turns);
    assert.equal(emus.pyannote.requests.length, p0, 'pyannote.ai is not asked');
    const diarize = emus.openai.requests.slice(o0).filter((q) => q.model === 'gpt-4o-transcribe-diarize');
    assert.ok(diarize.length >= 1);
    for (const q of diarize) {
      assert.equal(q.responseFormat, 'diarized_json');
      if ((q.audioSeconds ?? 0) > 30) assert.ok(q.chunkingStrategy !== undefined, 'chunking_strategy above 30 s');
    }
  });

  it('names enrolled voices with DIARIZE_PROVIDER=openai: their clips go along as known speakers', async () => {
    const { PYANNOTE_API_KEY: _k, PYANNOTE_BASE_URL: _u, ...openaiOnly } = env;
    const openaiEnv = { ...openaiOnly, DIARIZE_PROVIDER: 'openai' };
    const clip = await makeTwoSpeakerRecording({ dir, name: 'alice-clip', turns: [{ speaker: 'A', text: 'My name is Alice, and this is how my voice sounds on an ordinary day.' }] });
    const add = await speech(['voices', 'add', 'Alice', clip.path], { env: openaiEnv, cwd: dir });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const o0 = emus.openai.requests.length;
    const r = await speech(['run', rec.path, '--identify', '--json', '--out', path.join(dir, 'identified')], { env: openaiEnv, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout) as RunJson;
    const merged = await readMergedJson(doc.runs[0]!.outputs.find((f) => f.endsWith('.json'))!);
    const alice = merged.identification?.find((m) => m.match === 'Alice');
    assert.ok(alice, JSON.stringify(merged.identification));
    // Voice A speaks the first turn: its label is the one named Alice.
    const first = merged.utterances.find((u) => u.start >= rec.turns[0]!.start - 0.5)!;
    assert.equal(first.speaker, alice.speaker);
    const sent = emus.openai.requests.slice(o0).filter((q) => q.model === 'gpt-4o-transcribe-diarize');
    assert.ok(sent.every((q) => (q.knownSpeakerNames ?? []).includes('Alice')), 'every diarize request carries Alice as a known speaker');
  });

  it('sends the user prompt with every chunk, before the previous chunk’s words, and refuses one too long', async () => {
    const o0 = emus.openai.requests.length;
    const { r } = await run([rec.path, '--prompt', 'Quarterly, Kubernetes, Siobhan', '--out', path.join(dir, 'prompted')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const chunks = emus.openai.requests.slice(o0).filter((q) => q.path === '/v1/audio/transcriptions').sort((a, b) => (a.filename ?? '').localeCompare(b.filename ?? ''));
    assert.ok(chunks.length >= 2);
    for (const q of chunks) assert.match(q.prompt ?? '', /^Quarterly, Kubernetes, Siobhan/);
    assert.ok(chunks.some((q) => (q.prompt ?? '').length > 'Quarterly, Kubernetes, Siobhan'.length), 'later chunks also carry the previous words');
    const tooLong = await speech(['run', rec.path, '--prompt', 'word '.repeat(120)], { env, cwd: dir });
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /the prompt is \d+ characters; at most 500/);
  });

  it("shows pyannote.ai's warning in `speech show` when a speaker count cannot be honoured", async () => {
    const { r, doc } = await run([rec.path, '--speakers', '30', '--out', path.join(dir, 'thirty')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const show = await speech(['show', doc.runs[0]!.pipeline_id], { env, cwd: dir });
    assert.match(show.stdout, /warning from pyannote\.ai: The detected number of speakers \(\d+\) is outside the given bounds/);
  });
});
