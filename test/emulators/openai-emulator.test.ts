/**
 * The OpenAI emulator driven by the real `openai` package (and raw HTTP where the
 * package cannot produce the request shape), against espeak-ng speech.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { type OpenAIEmulator, startOpenAIEmulator } from './openai-emulator';
import { type Recording, makeTone, makeTwoSpeakerRecording, transcode } from '../helpers/audio';

interface VerboseJson {
  task: string;
  language: string;
  duration: number;
  text: string;
  segments?: { id: number; seek: number; start: number; end: number; text: string; tokens: number[]; temperature: number; avg_logprob: number; compression_ratio: number; no_speech_prob: number }[];
  words?: { word: string; start: number; end: number }[];
  usage: { type: string; seconds: number };
}

describe('OpenAI transcription emulator', function () {
  let dir: string;
  let rec: Recording;
  let wav: Buffer;
  let emu: OpenAIEmulator;
  let client: OpenAI;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'openai-emu-test-'));
    rec = await makeTwoSpeakerRecording({ dir });
    wav = await fsp.readFile(rec.path);
    emu = await startOpenAIEmulator({ logFile: join(dir, 'requests.jsonl') });
    client = new OpenAI({ apiKey: 'test-openai-key', baseURL: emu.url, maxRetries: 0 });
  });
  beforeEach(() => emu.reset());
  after(async function () {
    await emu?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const verbose = async (file: Buffer, name = 'speech.wav') =>
    (await client.audio.transcriptions.create({
      file: await toFile(file, name),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    })) as unknown as VerboseJson;

  it('returns whisper-1 verbose_json whose words and segments follow the speech', async function () {
    const r = await verbose(wav);
    assert.equal(r.task, 'transcribe');
    assert.equal(r.language, 'english');
    assert.equal(r.duration, Math.round(rec.duration * 100) / 100);
    assert.deepEqual(r.usage, { type: 'duration', seconds: Math.ceil(rec.duration) });
    assert.ok(r.words && r.segments);

    for (const w of r.words) {
      assert.ok(!w.word.startsWith(' ') && w.word.length > 0);
      assert.ok(rec.turns.some((t) => w.start >= t.start - 0.08 && w.end <= t.end + 0.08), `word ${w.word} ${w.start}-${w.end} outside every turn`);
    }
    for (const t of rec.turns) {
      const n = r.words.filter((w) => w.start < t.end && w.end > t.start).length;
      const expected = t.text.split(/\s+/).length;
      assert.ok(n >= expected * 0.6 && n <= expected * 1.4, `${n} words for a ${expected}-word turn`);
    }
    for (const s of r.segments) {
      assert.match(s.text, /^ \S/);
      assert.ok(rec.turns.some((t) => s.start >= t.start - 0.08 && s.end <= t.end + 0.08), 'a segment spans two turns');
      for (const k of ['id', 'seek', 'start', 'end', 'temperature', 'avg_logprob', 'compression_ratio', 'no_speech_prob'] as const) assert.equal(typeof s[k], 'number');
      assert.ok(Array.isArray(s.tokens) && s.tokens.every(Number.isInteger));
    }
    assert.equal(r.text, r.segments.map((s) => s.text).join('').trim());

    const entry = emu.requests.at(-1)!;
    assert.equal(entry.status, 200);
    assert.equal(entry.model, 'whisper-1');
    assert.equal(entry.filename, 'speech.wav');
    assert.ok(Math.abs(entry.audioSeconds! - rec.duration) < 0.01);
    assert.match(entry.requestId, /^req_[0-9a-f]{32}$/);
  });

  it('derives the words from the audio: same audio same text, other audio other text', async function () {
    const again = await verbose(wav);
    assert.equal(again.text, (await verbose(wav)).text);
    const other = await makeTwoSpeakerRecording({ dir, name: 'other', turns: [{ speaker: 'B', text: 'Completely different words are spoken in this file.' }] });
    const r = await verbose(await fsp.readFile(other.path));
    assert.notEqual(r.text, again.text);
    assert.ok(r.words!.length >= 5 && r.words!.length <= 12);
  });

  it('decodes compressed uploads through ffmpeg', async function () {
    const mp3 = await fsp.readFile(await transcode(rec.path, join(dir, 'speech.mp3')));
    const r = await verbose(mp3, 'speech.mp3');
    assert.ok(Math.abs(r.duration - rec.duration) < 0.1);
    for (const w of r.words!) assert.ok(rec.turns.some((t) => w.start >= t.start - 0.1 && w.end <= t.end + 0.1));
  });

  it('omits segments when only word timestamps are asked for', async function () {
    const r = (await client.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word'],
    })) as unknown as VerboseJson;
    assert.equal(r.segments, undefined);
    assert.ok(r.words!.length > 0);
  });

  it('answers json, text, srt and vtt like the service', async function () {
    const json = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1', language: 'de' });
    assert.ok(json.text.length > 0);
    const text = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1', response_format: 'text' });
    assert.equal(typeof text, 'string');
    assert.equal((text as unknown as string).trim(), json.text);
    const srt = (await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1', response_format: 'srt' })) as unknown as string;
    assert.match(srt, /^1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\n\S/);
    const vtt = (await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1', response_format: 'vtt' })) as unknown as string;
    assert.match(vtt, /^WEBVTT\n\n00:00:00\.\d{3} --> /);
    const de = (await client.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: 'whisper-1',
      language: 'de',
      response_format: 'verbose_json',
    })) as unknown as VerboseJson;
    assert.equal(de.language, 'german');
  });

  it('rejects a bad key with an AuthenticationError and a masked key', async function () {
    const bad = new OpenAI({ apiKey: 'sk-test-wrong-key', baseURL: emu.url, maxRetries: 0 });
    const err = await bad.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError);
    assert.equal(err.status, 401);
    assert.match(err.message, /Incorrect API key provided: sk-te\*\*\*\*key\./);
    assert.ok(!err.message.includes('wrong'));
    assert.equal(err.code, 'invalid_api_key');
  });

  it('answers 413 with the service message for bodies over 25 MiB', async function () {
    const big = await makeTone({ dir, seconds: 830, name: 'big' }); // 26.56 MB
    const err = await client.audio.transcriptions.create({ file: await toFile(await fsp.readFile(big.path), 'big.wav'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 413);
    assert.match(err.message, /Maximum content size limit \(26214400\) exceeded \(\d+ bytes read\)/);
    assert.equal((err.error as { type?: string }).type, 'server_error');
    assert.ok(emu.requests.at(-1)!.bytes > 26_214_400);
  });

  it('rejects unknown extensions, corrupt audio and too-short audio with 400', async function () {
    const ext = await client.audio.transcriptions.create({ file: await toFile(wav, 'speech.txt'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(ext instanceof OpenAI.BadRequestError);
    assert.equal(ext.code, 'unsupported_value');
    assert.equal(ext.param, 'file');
    assert.match(ext.message, /Invalid file format. Supported formats: \['flac', 'm4a', 'mp3'/);

    const corrupt = await client.audio.transcriptions.create({ file: await toFile(Buffer.alloc(4000, 3), 'speech.mp3'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(corrupt instanceof OpenAI.BadRequestError);
    assert.equal((corrupt.error as { type?: string }).type, 'invalid_request_error');
    assert.match(corrupt.message, /Audio file might be corrupted or unsupported/);

    const tone = await makeTone({ dir, seconds: 0.05, name: 'short' });
    const short = await client.audio.transcriptions.create({ file: await toFile(await fsp.readFile(tone.path), 'short.wav'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(short instanceof OpenAI.BadRequestError);
    assert.match(short.message, /too short/);
  });

  it('applies the model rules: formats, unknown models, gpt-4o token usage, diarize', async function () {
    const v = await client.audio.transcriptions
      .create({ file: await toFile(wav, 'a.wav'), model: 'gpt-4o-transcribe', response_format: 'verbose_json' })
      .catch((e: unknown) => e);
    assert.ok(v instanceof OpenAI.BadRequestError);
    assert.equal(v.param, 'response_format');

    const unknown = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-9' }).catch((e: unknown) => e);
    assert.ok(unknown instanceof OpenAI.NotFoundError);
    assert.equal(unknown.code, 'model_not_found');

    const json = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'gpt-4o-mini-transcribe' });
    assert.equal(json.usage?.type, 'tokens');

    const prompt = await client.audio.transcriptions
      .create({ file: await toFile(wav, 'a.wav'), model: 'gpt-4o-transcribe-diarize', prompt: 'previous text' })
      .catch((e: unknown) => e);
    assert.ok(prompt instanceof OpenAI.BadRequestError);
    assert.equal(prompt.param, 'prompt');

    const d = (await client.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: 'gpt-4o-transcribe-diarize',
      response_format: 'diarized_json',
      chunking_strategy: 'auto',
    })) as unknown as { segments: { type: string; id: string; start: number; end: number; speaker: string; text: string }[] };
    const speakerOfTurn = rec.turns.map((t) => new Set(d.segments.filter((s) => s.start < t.end && s.end > t.start).map((s) => s.speaker)));
    assert.deepEqual(speakerOfTurn.map((s) => [...s].join()), ['A', 'B', 'A', 'B']);
    assert.equal(d.segments[0]!.type, 'transcript.text.segment');
  });

  it('requires chunking_strategy for diarization above 30 s and caps gpt-4o duration', async function () {
    const long = await makeTone({ dir, seconds: 31, name: 'thirty-one' });
    const file = await fsp.readFile(long.path);
    const e = await client.audio.transcriptions.create({ file: await toFile(file, 'a.wav'), model: 'gpt-4o-transcribe-diarize' }).catch((x: unknown) => x);
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'chunking_strategy');
    const ok = await client.audio.transcriptions.create({
      file: await toFile(file, 'a.wav'),
      model: 'gpt-4o-transcribe-diarize',
      chunking_strategy: { type: 'server_vad', threshold: 0.5 },
    });
    assert.equal(typeof ok.text, 'string');

    const over = await makeTone({ dir, seconds: 1401, name: 'over-cap', sampleRate: 8000 });
    const cap = await client.audio.transcriptions.create({ file: await toFile(await fsp.readFile(over.path), 'a.wav'), model: 'gpt-4o-transcribe' }).catch((x: unknown) => x);
    assert.ok(cap instanceof OpenAI.BadRequestError);
    assert.equal(cap.code, 'invalid_value');
    assert.match(cap.message, /1400 seconds/);
  });

  it('injects 429 with Retry-After, then answers normally', async function () {
    emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, retryAfterSeconds: 7 });
    const err = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.headers?.get('retry-after'), '7');
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.ok(err.headers?.get('x-request-id'));
    const ok = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' });
    assert.ok(ok.text.length > 0);
    assert.deepEqual(
      emu.requests.map((r) => [r.status, r.fault]),
      [
        [429, 'status'],
        [200, undefined],
      ],
    );
  });

  it('hangs until the client aborts, and resets connections', async function () {
    emu.faults.add({ endpoint: 'transcriptions', kind: 'hang' });
    const t0 = Date.now();
    const err = await client.audio.transcriptions
      .create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' }, { signal: AbortSignal.timeout(300) })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIUserAbortError, String(err));
    assert.ok(Date.now() - t0 >= 250);

    emu.faults.add({ endpoint: 'transcriptions', kind: 'reset' });
    const reset = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' }).catch((e: unknown) => e);
    assert.ok(reset instanceof OpenAI.APIConnectionError, String(reset));
  });

  it('adds latency per audio second', async function () {
    const slow = await startOpenAIEmulator({ latency: { fixedMs: 100, perAudioSecondMs: 20 } });
    try {
      const c = new OpenAI({ apiKey: 'test-openai-key', baseURL: slow.url, maxRetries: 0 });
      const t0 = Date.now();
      await c.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' });
      assert.ok(Date.now() - t0 >= 100 + 20 * rec.duration - 5);
    } finally {
      await slow.close();
    }
  });

  it('parses chunked multipart in any order with bracketed fields', async function () {
    const boundary = '----emulator-test-boundary';
    const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const body = Buffer.concat([
      Buffer.from(field('response_format', 'verbose_json')),
      Buffer.from(field('timestamp_granularities[]', 'word')),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="take 1.wav"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      wav,
      Buffer.from('\r\n'),
      Buffer.from(field('timestamp_granularities[]', 'segment')),
      Buffer.from(field('prompt', 'earlier words')),
      Buffer.from(field('model', 'whisper-1')),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${emu.url}/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-openai-key', 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (r) => {
        let s = '';
        r.setEncoding('utf8').on('data', (d: string) => (s += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: s }));
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
      req.end();
    });
    assert.equal(res.status, 200, res.body);
    const r = JSON.parse(res.body) as VerboseJson;
    assert.ok(r.words!.length > 0 && r.segments!.length > 0);
    assert.equal(emu.requests.at(-1)!.prompt, 'earlier words');
    assert.equal(emu.requests.at(-1)!.filename, 'take 1.wav');
  });

  it('exposes the admin API and the JSON-lines log', async function () {
    const admin = `${emu.origin}/__emulator`;
    const post = await fetch(`${admin}/faults`, { method: 'POST', body: JSON.stringify({ endpoint: 'transcriptions', kind: 'status', status: 503, times: 2 }) });
    assert.equal(post.status, 201);
    const bad = await fetch(`${admin}/faults`, { method: 'POST', body: JSON.stringify({ endpoint: 'transcriptions', kind: 'explode' }) });
    assert.equal(bad.status, 400);
    const e = await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' }).catch((x: unknown) => x);
    assert.ok(e instanceof OpenAI.InternalServerError);
    assert.equal(e.status, 503);
    assert.equal((await fetch(`${admin}/faults`, { method: 'DELETE' })).status, 204);
    await client.audio.transcriptions.create({ file: await toFile(wav, 'a.wav'), model: 'whisper-1' });
    const log = (await (await fetch(`${admin}/requests`)).json()) as { status: number }[];
    assert.deepEqual(
      log.map((r) => r.status),
      [503, 200],
    );
    assert.equal((await fetch(`${admin}/reset`, { method: 'POST' })).status, 204);
    assert.equal(emu.requests.length, 0);
    const lines = (await fsp.readFile(join(dir, 'requests.jsonl'), 'utf8')).trim().split('\n');
    assert.ok(lines.length >= 2);
    assert.equal((JSON.parse(lines.at(-1)!) as { status: number }).status, 200);
  });
});
