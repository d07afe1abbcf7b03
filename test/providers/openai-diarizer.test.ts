/**
 * Diarization with OpenAI's gpt-4o-transcribe-diarize (src/providers/openai-diarizer.ts)
 * through the OpenAI emulator, on espeak-ng speech: one request for a short recording, pieces
 * for a long one whose speakers stay the same across pieces through known-speaker
 * references, user-named voices, and errors. Also the emulator's side of known speakers: a
 * reference names the speaker whose voice it matches, whatever the order.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { type OpenAIEmulator, startOpenAIEmulator } from '../emulators/openai-emulator';
import { type LongRecording, type Recording, type Turn, makeLongRecording, makeTwoSpeakerRecording } from '../helpers/audio';
import { Failure } from '../../src/domain/failures';
import { ProviderError } from '../../src/providers/errors';
import { type OpenAIDiarization, createOpenAIDiarizer, maxPieceSecondsFor } from '../../src/providers/openai-diarizer';

const KEY = 'test-openai-key';

/**
 * For each recording turn, the label covering most of it; asserts it covers at least 80 %
 * of the turn, that each voice keeps one label and that the two voices' labels differ.
 */
function labelsOfVoices(d: OpenAIDiarization, turns: Turn[]): Record<'A' | 'B', string> {
  const labelOf: Partial<Record<'A' | 'B', string>> = {};
  for (const t of turns) {
    const overlap = new Map<string, number>();
    for (const x of d.turns) {
      const o = Math.min(x.end, t.end) - Math.max(x.start, t.start);
      if (o > 0) overlap.set(x.speaker, (overlap.get(x.speaker) ?? 0) + o);
    }
    const [label, seconds] = [...overlap].sort((a, b) => b[1] - a[1])[0] ?? ['none', 0];
    const where = `turn ${t.speaker} ${t.start.toFixed(2)}–${t.end.toFixed(2)}`;
    assert.ok(seconds >= 0.8 * (t.end - t.start), `${where}: ${label} covers only ${seconds.toFixed(2)} s`);
    labelOf[t.speaker] ??= label;
    assert.equal(label, labelOf[t.speaker], `${where}: voice ${t.speaker} got two labels`);
  }
  assert.ok(labelOf.A && labelOf.B);
  assert.notEqual(labelOf.A, labelOf.B, 'the two voices got the same label');
  return labelOf as Record<'A' | 'B', string>;
}

function assertWellFormed(d: OpenAIDiarization, duration: number): void {
  for (const [i, t] of d.turns.entries()) {
    assert.ok(t.end > t.start, `turn ${i} has no length`);
    assert.ok(t.start >= 0 && t.end <= duration + 1e-6, `turn ${i} lies outside the recording`);
    if (i > 0) assert.ok(t.start >= d.turns[i - 1]!.start, 'turns are sorted');
  }
  const firstAppearance: string[] = [];
  for (const t of d.turns) if (!firstAppearance.includes(t.speaker)) firstAppearance.push(t.speaker);
  assert.deepEqual(d.speakers, firstAppearance);
}

describe('OpenAI diarizer (gpt-4o-transcribe-diarize)', function () {
  this.timeout(120_000);
  let dir: string;
  let emu: OpenAIEmulator;
  let conversation: Recording;
  let long: LongRecording;
  let aliceClip: Buffer;
  let bobClip: Buffer;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'openai-diarizer-test-'));
    emu = await startOpenAIEmulator();
    const [conv, lng, alice, bob] = await Promise.all([
      makeTwoSpeakerRecording({ dir, name: 'conversation', sampleRate: 16000 }),
      makeLongRecording({ dir, name: 'long', seconds: 75 }),
      makeTwoSpeakerRecording({ dir, name: 'alice', sampleRate: 16000, edgeSeconds: 0.2, turns: [{ speaker: 'A', text: 'The weather was pleasant yesterday, so we walked along the river.' }] }),
      makeTwoSpeakerRecording({ dir, name: 'bob', sampleRate: 16000, edgeSeconds: 0.2, turns: [{ speaker: 'B', text: 'My favourite book tells the story of a lighthouse keeper.' }] }),
    ]);
    conversation = conv;
    long = lng;
    for (const clip of [alice, bob]) assert.ok(clip.duration >= 2 && clip.duration <= 10, `clip of ${clip.duration} s`);
    aliceClip = await fsp.readFile(alice.path);
    bobClip = await fsp.readFile(bob.path);
  });
  beforeEach(() => emu.reset());
  after(async function () {
    await emu?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const posts = () => emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/audio/transcriptions');

  it('diarizes a two-speaker recording in one request into SPEAKER_00 and SPEAKER_01 following the turns', async function () {
    const progress: [number, number][] = [];
    const d = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url }).diarize(conversation.path, { onProgress: (done, total) => progress.push([done, total]) });
    assertWellFormed(d, conversation.duration);
    assert.deepEqual(labelsOfVoices(d, conversation.turns), { A: 'SPEAKER_00', B: 'SPEAKER_01' });
    assert.deepEqual(d.speakers, ['SPEAKER_00', 'SPEAKER_01']);
    assert.equal(d.requests, 1);
    assert.ok(Math.abs(d.audioSecondsSent - conversation.duration) < 0.01);
    assert.ok(d.usage.inputTokens > 0 && d.usage.outputTokens > 0, JSON.stringify(d.usage));
    assert.deepEqual(progress, [
      [0, 1],
      [1, 1],
    ]);

    const [req] = posts();
    assert.equal(posts().length, 1);
    assert.equal(req!.status, 200);
    assert.equal(req!.model, 'gpt-4o-transcribe-diarize');
    assert.equal(req!.responseFormat, 'diarized_json');
    assert.equal(req!.chunkingStrategy, 'auto');
    assert.equal(req!.knownSpeakerNames, undefined, 'nothing is known before the first piece');
  });

  it('sends a long recording as pieces and keeps each voice under one label, sending the speakers heard so far as references', async function () {
    const progress: [number, number][] = [];
    const d = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url, maxPieceSeconds: 20 }).diarize(long.path, { onProgress: (done, total) => progress.push([done, total]) });
    assertWellFormed(d, long.duration);
    assert.deepEqual(labelsOfVoices(d, long.turns), { A: 'SPEAKER_00', B: 'SPEAKER_01' });
    assert.deepEqual(d.speakers, ['SPEAKER_00', 'SPEAKER_01']);

    const reqs = posts();
    assert.ok(reqs.length >= 4, `${reqs.length} requests`);
    assert.equal(d.requests, reqs.length);
    assert.deepEqual(
      progress,
      Array.from({ length: reqs.length + 1 }, (_, i) => [i, reqs.length]),
    );
    let sent = 0;
    for (const [i, r] of reqs.entries()) {
      assert.equal(r.status, 200, r.error);
      assert.ok(r.audioSeconds! <= 20 + 1e-3, `piece ${i} is ${r.audioSeconds} s`);
      sent += r.audioSeconds!;
      if (i === 0) {
        assert.equal(r.knownSpeakerNames, undefined);
        continue;
      }
      // Every later piece names both voices already heard, each with a 2–10 s clip.
      assert.deepEqual([...r.knownSpeakerNames!].sort(), ['SPEAKER_00', 'SPEAKER_01'], `piece ${i}`);
      assert.equal(r.knownSpeakerReferenceSeconds!.length, 2);
      for (const s of r.knownSpeakerReferenceSeconds!) assert.ok(s >= 2 && s <= 10, `reference of ${s} s`);
    }
    assert.ok(Math.abs(sent - long.duration) < 0.01, 'the pieces cover the recording once');
    assert.ok(Math.abs(d.audioSecondsSent - long.duration) < 0.01);
  });

  it('sends chunking_strategy=auto with pieces longer than 30 s (the service requires it)', async function () {
    const d = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url, maxPieceSeconds: 45 }).diarize(long.path);
    assert.deepEqual(labelsOfVoices(d, long.turns), { A: 'SPEAKER_00', B: 'SPEAKER_01' });
    const reqs = posts();
    assert.ok(reqs.length >= 2);
    assert.ok(reqs.some((r) => r.audioSeconds! > 30), `pieces of ${reqs.map((r) => r.audioSeconds).join(', ')} s`);
    for (const r of reqs) {
      assert.equal(r.status, 200, r.error);
      assert.equal(r.chunkingStrategy, 'auto');
    }
  });

  it('names a voice the user knows, in one request and across pieces', async function () {
    const one = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url }).diarize(conversation.path, { knownSpeakers: [{ name: 'Bob', clip: bobClip }] });
    assert.deepEqual(labelsOfVoices(one, conversation.turns), { A: 'SPEAKER_00', B: 'Bob' });
    assert.deepEqual(one.speakers, ['SPEAKER_00', 'Bob']);
    assert.deepEqual(posts()[0]!.knownSpeakerNames, ['Bob']);

    emu.reset();
    const both = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url, maxPieceSeconds: 20 }).diarize(long.path, {
      knownSpeakers: [
        { name: 'Bob', clip: bobClip },
        { name: 'Alice', clip: aliceClip },
      ],
    });
    assert.deepEqual(labelsOfVoices(both, long.turns), { A: 'Alice', B: 'Bob' });
    assert.deepEqual(both.speakers, ['Alice', 'Bob']);
    // Both voices are known from the start, so nothing else is ever sent.
    for (const r of posts()) assert.deepEqual(r.knownSpeakerNames, ['Bob', 'Alice']);

    emu.reset();
    const mixed = await createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url, maxPieceSeconds: 20 }).diarize(long.path, { knownSpeakers: [{ name: 'Bob', clip: bobClip }] });
    assert.deepEqual(labelsOfVoices(mixed, long.turns), { A: 'SPEAKER_00', B: 'Bob' });
    const reqs = posts();
    assert.deepEqual(reqs[0]!.knownSpeakerNames, ['Bob']);
    // The user's voice first, then the speaker the service found.
    for (const r of reqs.slice(1)) assert.deepEqual(r.knownSpeakerNames, ['Bob', 'SPEAKER_00']);
  });

  it('refuses bad known speakers before sending anything', async function () {
    const diarizer = createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url });
    const header = bobClip.subarray(0, 44);
    const short = Buffer.concat([header, bobClip.subarray(44, 44 + 16000 * 2)]); // 1 s (the header's size is taken from the file)
    await assert.rejects(diarizer.diarize(conversation.path, { knownSpeakers: [{ name: 'Bob', clip: short }] }), /1\.00 s long/);
    await assert.rejects(diarizer.diarize(conversation.path, { knownSpeakers: [{ name: 'SPEAKER_03', clip: bobClip }] }), /looks like a diarization label/);
    await assert.rejects(diarizer.diarize(conversation.path, { knownSpeakers: [{ name: 'Bob', clip: Buffer.from('not audio') }] }), /not a 16-bit PCM WAV/);
    assert.equal(posts().length, 0);
  });

  it('turns service errors into ProviderError with the right type, without the key', async function () {
    const wrongKey = 'sk-wrong-0123456789abcdef';
    const auth = await createOpenAIDiarizer({ apiKey: wrongKey, baseUrl: emu.url })
      .diarize(conversation.path)
      .catch((e: unknown) => e);
    assert.ok(auth instanceof ProviderError, String(auth));
    assert.equal(auth.type, Failure.ProviderAuth);
    assert.equal(auth.details.status, 401);
    assert.ok(!auth.message.includes(wrongKey) && !JSON.stringify(auth.details).includes(wrongKey), auth.message);

    const diarizer = createOpenAIDiarizer({ apiKey: KEY, baseUrl: emu.url, maxPieceSeconds: 20 });
    emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 503 });
    const down = await diarizer.diarize(conversation.path).catch((e: unknown) => e);
    assert.ok(down instanceof ProviderError);
    assert.equal(down.type, Failure.ProviderUnavailable);

    // A failure on a later piece fails the whole diarization (Temporal retries the activity).
    emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, code: 'insufficient_quota', afterRequests: 1 });
    const quota = await diarizer.diarize(long.path).catch((e: unknown) => e);
    assert.ok(quota instanceof ProviderError);
    assert.equal(quota.type, Failure.ProviderQuotaExceeded);

    emu.reset();
    const aborted = new AbortController();
    aborted.abort(new Error('stopped'));
    await assert.rejects(diarizer.diarize(conversation.path, { signal: aborted.signal }), /stopped/);
    assert.equal(posts().length, 0);
  });

  it('keeps pieces of 16 kHz WAV under the 25 MiB request limit whatever maxPieceSeconds says', function () {
    const bytesPerSecond = 32000;
    const limit = maxPieceSecondsFor({ bytesPerSecond }, 1200);
    assert.ok(limit < 1200 && limit > 700, `${limit}`);
    // The piece, four 10 s references in base64 and the envelope fit in 25 MiB.
    assert.ok(limit * bytesPerSecond + 4 * ((10 * bytesPerSecond * 4) / 3) < 26_214_400);
    assert.equal(maxPieceSecondsFor({ bytesPerSecond: 8000 }, 1200), 1200);
    assert.equal(maxPieceSecondsFor({ bytesPerSecond: 1000 }, 5000), 1400);
  });

  describe('the emulator honours known_speaker_references', function () {
    let client: OpenAI;
    before(() => {
      client = new OpenAI({ apiKey: KEY, baseURL: emu.url, maxRetries: 0 });
    });
    const dataUrl = (wav: Buffer) => `data:audio/wav;base64,${wav.toString('base64')}`;
    type Diarized = { segments: { start: number; end: number; speaker: string }[] };
    const diarize = async (file: Buffer, names: string[], refs: string[]) =>
      (await client.audio.transcriptions.create({
        file: await toFile(file, 'a.wav'),
        model: 'gpt-4o-transcribe-diarize',
        response_format: 'diarized_json',
        chunking_strategy: 'auto',
        known_speaker_names: names,
        known_speaker_references: refs,
      })) as unknown as Diarized;
    const speakerPerTurn = (d: Diarized, turns: Turn[]) => turns.map((t) => [...new Set(d.segments.filter((s) => s.start < t.end && s.end > t.start).map((s) => s.speaker))].join());

    it('names the speaker whose voice a reference matches, not the one that speaks first', async function () {
      const wav = await fsp.readFile(conversation.path);
      const named = await diarize(wav, ['Bob', 'Alice'], [dataUrl(bobClip), dataUrl(aliceClip)]);
      assert.deepEqual(speakerPerTurn(named, conversation.turns), ['Alice', 'Bob', 'Alice', 'Bob']);
      // A reference heard nowhere names no one; the unmatched voices are lettered from A.
      const onlyBob = await diarize(wav, ['Bob'], [dataUrl(bobClip)]);
      assert.deepEqual(speakerPerTurn(onlyBob, conversation.turns), ['A', 'Bob', 'A', 'Bob']);
      const aliceWav = await fsp.readFile(join(dir, 'alice.wav'));
      const nobody = await diarize(aliceWav, ['Bob'], [dataUrl(bobClip)]);
      assert.deepEqual([...new Set(nobody.segments.map((s) => s.speaker))], ['A']);
      assert.deepEqual(emu.requests.at(-1)!.knownSpeakerNames, ['Bob']);
    });

    it('refuses references that are not 2–10 s audio data URLs', async function () {
      const wav = await fsp.readFile(conversation.path);
      const notUrl = await diarize(wav, ['Bob'], ['https://example.com/bob.wav']).catch((e: unknown) => e);
      assert.ok(notUrl instanceof OpenAI.BadRequestError);
      assert.equal(notUrl.param, 'known_speaker_references[0]');
      const tooLong = await diarize(wav, ['Both'], [dataUrl(wav)]).catch((e: unknown) => e);
      assert.ok(tooLong instanceof OpenAI.BadRequestError);
      assert.match(tooLong.message, /2 to 10 seconds/);
      const garbage = await diarize(wav, ['Bob'], [`data:audio/wav;base64,${Buffer.alloc(3000, 7).toString('base64')}`]).catch((e: unknown) => e);
      assert.ok(garbage instanceof OpenAI.BadRequestError);
      assert.match(garbage.message, /could not be decoded/);
    });
  });
});
