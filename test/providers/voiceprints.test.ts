/**
 * The pyannote.ai client's voiceprints and identification: through the emulator on espeak-ng
 * speech (enrol two voices, identify a conversation, the limiter in front), and against a
 * stub that answers exactly what a test says, for the request bodies and the parsing of
 * outputs the documentation leaves open.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PyannoteEmulator, startPyannoteEmulator } from '../emulators/pyannote-emulator';
import { type Recording, makeTone, makeTwoSpeakerRecording } from '../helpers/audio';
import { ProviderError } from '../../src/providers/errors';
import type { DiarizationJob, Diarizer } from '../../src/providers/interfaces';
import { limitDiarizer } from '../../src/providers/limit';
import { createPyannoteDiarizer } from '../../src/providers/pyannote-diarizer';

const KEY = 'test-pyannote-key';
const NO_HINTS = { numSpeakers: null, minSpeakers: null, maxSpeakers: null };

async function finished(diarizer: Diarizer, jobId: string): Promise<DiarizationJob> {
  for (let i = 0; i < 400; i++) {
    const job = await diarizer.poll(jobId);
    if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`job ${jobId} did not finish`);
}

describe('pyannote.ai voiceprints and identification (client)', function () {
  let dir: string;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'voiceprints-test-'));
  });
  after(async function () {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  describe('through the emulator', function () {
    let emu: PyannoteEmulator;
    let conversation: Recording;
    let clipA: string;
    let clipB: string;

    before(async function () {
      emu = await startPyannoteEmulator();
      const [conv, a, b] = await Promise.all([
        makeTwoSpeakerRecording({ dir, name: 'conversation' }),
        makeTwoSpeakerRecording({ dir, name: 'alice', turns: [{ speaker: 'A', text: 'The weather was pleasant yesterday, so we walked along the river.' }] }),
        makeTwoSpeakerRecording({ dir, name: 'bob', turns: [{ speaker: 'B', text: 'My favourite book tells the story of a lighthouse keeper.' }] }),
      ]);
      conversation = conv;
      clipA = a.path;
      clipB = b.path;
    });
    after(async function () {
      await emu?.close();
    });

    async function enrol(diarizer: Diarizer, file: string, key: string): Promise<string> {
      const url = await diarizer.upload(file, `media://${key}`);
      const { jobId } = await diarizer.submitVoiceprint(url);
      const job = await finished(diarizer, jobId);
      assert.equal(job.status, 'succeeded', job.error);
      assert.equal(job.turns, undefined);
      assert.equal(job.matches, undefined);
      return job.voiceprint!;
    }

    it('enrols two voices and names them in a conversation: turns keep SPEAKER_xx, the names are in matches', async function () {
      // Configured for community-1: voiceprint and identify jobs still ask for precision-2, the only model they take.
      const diarizer = limitDiarizer(createPyannoteDiarizer({ apiKey: KEY, baseUrl: emu.url, model: 'community-1' }), 2);
      const alice = await enrol(diarizer, clipA, 'enrol/alice');
      const bob = await enrol(diarizer, clipB, 'enrol/bob');
      assert.ok(alice && bob && alice !== bob);

      const url = await diarizer.upload(conversation.path, 'media://meetings/conversation');
      const { jobId } = await diarizer.submit(url, { numSpeakers: 2, minSpeakers: null, maxSpeakers: null }, undefined, {
        voiceprints: [
          { label: 'Alice', voiceprint: alice },
          { label: 'Bob', voiceprint: bob },
        ],
        threshold: 50,
      });
      const sent = emu.jobs.get(jobId)!;
      assert.equal(sent.kind, 'identify');
      assert.equal(sent.request.model, 'precision-2');
      assert.equal(sent.request.numSpeakers, 2);
      assert.deepEqual(sent.request.matching, { exclusive: true, threshold: 50 });

      const job = await finished(diarizer, jobId);
      assert.equal(job.status, 'succeeded', job.error);
      assert.deepEqual([...new Set(job.turns!.map((t) => t.speaker))], ['SPEAKER_00', 'SPEAKER_01']);
      assert.equal(job.turns!.length, conversation.turns.length);
      const bySpeaker = new Map(job.matches!.map((m) => [m.speaker, m]));
      conversation.turns.forEach((truth, i) => {
        const m = bySpeaker.get(job.turns![i]!.speaker)!;
        assert.equal(m.match, truth.speaker === 'A' ? 'Alice' : 'Bob');
      });
      for (const m of job.matches!) {
        assert.deepEqual(Object.keys(m.scores).sort(), ['Alice', 'Bob']);
        assert.equal(m.score, m.scores[m.match!]);
        assert.ok(m.score! >= 80, JSON.stringify(job.matches));
      }

      // A plain diarization job is still a diarization job, with the configured model.
      const plain = await diarizer.submit(url, NO_HINTS);
      assert.equal(emu.jobs.get(plain.jobId)!.kind, 'diarize');
      assert.equal(emu.jobs.get(plain.jobId)!.request.model, 'community-1');
      assert.equal((await finished(diarizer, plain.jobId)).matches, undefined);
    });

    it('reports a failed voiceprint job and a refused identify request in the shared failure vocabulary', async function () {
      const diarizer = createPyannoteDiarizer({ apiKey: KEY, baseUrl: emu.url, model: 'precision-2' });
      const long = await makeTone({ dir, seconds: 31, name: 'long', amplitude: 0.3 });
      const { jobId } = await diarizer.submitVoiceprint(await diarizer.upload(long.path, 'media://enrol/long'));
      const job = await finished(diarizer, jobId);
      assert.equal(job.status, 'failed');
      assert.match(job.error!, /at most 30 seconds/);
      assert.equal(job.voiceprint, undefined);

      const url = await diarizer.upload(conversation.path, 'media://meetings/refused');
      const refused = await diarizer.submit(url, NO_HINTS, undefined, { voiceprints: [{ label: 'SPEAKER_07', voiceprint: 'aGVsbG8=' }], threshold: null }).catch((e: unknown) => e);
      assert.ok(refused instanceof ProviderError);
      assert.equal(refused.type, 'ProviderBadRequest');
      assert.equal(refused.details.status, 400);
      assert.match(refused.message, /voiceprints\[0\]\.label/);
      assert.match(refused.message, /voiceprints\[0\]\.voiceprint/);
    });
  });

  describe('request bodies and output parsing (stub server)', function () {
    let server: Server;
    let base: string;
    const posted: { path: string; body: Record<string, unknown> }[] = [];
    let jobOutput: unknown = {};

    before(async function () {
      server = createServer((req: IncomingMessage, res) => {
        let raw = '';
        req.setEncoding('utf8').on('data', (d: string) => (raw += d));
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.method === 'POST') {
            posted.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
            res.end(JSON.stringify({ jobId: 'job-1', status: 'created' }));
          } else res.end(JSON.stringify({ jobId: 'job-1', status: 'succeeded', createdAt: 'x', updatedAt: 'x', output: jobOutput }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(function () {
      server?.close();
    });

    const client = () => createPyannoteDiarizer({ apiKey: KEY, baseUrl: base, model: 'community-1' });

    it('posts voiceprint and identify bodies as the OpenAPI document describes them', async function () {
      posted.length = 0;
      await client().submitVoiceprint('media://clip');
      await client().submit('media://talk', { numSpeakers: null, minSpeakers: 2, maxSpeakers: 4 }, undefined, { voiceprints: [{ label: 'Ana', voiceprint: 'vp1' }], threshold: null });
      await client().submit('media://talk', { numSpeakers: 3, minSpeakers: null, maxSpeakers: null }, undefined, { voiceprints: [{ label: 'Ana', voiceprint: 'vp1' }], threshold: 62.5 });
      await client().submit('media://talk', NO_HINTS);
      assert.deepEqual(posted, [
        { path: '/v1/voiceprint', body: { url: 'media://clip', model: 'precision-2' } },
        // No threshold asked: the service's default applies.
        // exclusive: the one-speaker-at-a-time turns too, for lining up with words.
        { path: '/v1/identify', body: { url: 'media://talk', model: 'precision-2', exclusive: true, minSpeakers: 2, maxSpeakers: 4, voiceprints: [{ label: 'Ana', voiceprint: 'vp1' }], matching: { exclusive: true } } },
        { path: '/v1/identify', body: { url: 'media://talk', model: 'precision-2', exclusive: true, numSpeakers: 3, voiceprints: [{ label: 'Ana', voiceprint: 'vp1' }], matching: { exclusive: true, threshold: 62.5 } } },
        { path: '/v1/diarize', body: { url: 'media://talk', model: 'community-1', exclusive: true } },
      ]);
    });

    it('reads matches from voiceprints, falls back to identification, and keeps turns on diarization labels', async function () {
      const identification = [
        { speaker: 'Ana', start: 0, end: 1, diarizationSpeaker: 'SPEAKER_00', match: 'Ana' },
        { speaker: 'SPEAKER_01', start: 1, end: 2, diarizationSpeaker: 'SPEAKER_01', match: null },
      ];
      jobOutput = {
        diarization: [
          { speaker: 'SPEAKER_00', start: 0, end: 1 },
          { speaker: 'SPEAKER_01', start: 1, end: 2 },
        ],
        identification,
        voiceprints: [
          { speaker: 'SPEAKER_00', match: 'Ana', confidence: { Ana: 88, Ben: 12 } },
          { speaker: 'SPEAKER_01', confidence: { Ana: 10, Ben: 20 } },
          { speaker: 'SPEAKER_02', match: null },
        ],
      };
      const job = await client().poll('job-1');
      assert.deepEqual(job.turns!.map((t) => t.speaker), ['SPEAKER_00', 'SPEAKER_01']);
      assert.deepEqual(job.matches, [
        { speaker: 'SPEAKER_00', match: 'Ana', score: 88, scores: { Ana: 88, Ben: 12 } },
        { speaker: 'SPEAKER_01', match: null, score: null, scores: { Ana: 10, Ben: 20 } },
        { speaker: 'SPEAKER_02', match: null, score: null, scores: {} },
      ]);

      // Names in `diarization` (should the service label turns by name): turns come from identification's diarizationSpeaker.
      jobOutput = { diarization: identification.map(({ speaker, start, end }) => ({ speaker, start, end })), identification };
      const named = await client().poll('job-1');
      assert.deepEqual(named.turns, [
        { speaker: 'SPEAKER_00', start: 0, end: 1 },
        { speaker: 'SPEAKER_01', start: 1, end: 2 },
      ]);
      // No voiceprints list: one match per diarization speaker from identification, without scores.
      assert.deepEqual(named.matches, [
        { speaker: 'SPEAKER_00', match: 'Ana', score: null, scores: {} },
        { speaker: 'SPEAKER_01', match: null, score: null, scores: {} },
      ]);

      // An unreadable identification list is ignored; an unreadable voiceprints list is a protocol error.
      jobOutput = { diarization: [{ speaker: 'SPEAKER_00', start: 0, end: 1 }], identification: [{ start: 'soon' }] };
      const partial = await client().poll('job-1');
      assert.equal(partial.turns!.length, 1);
      assert.equal(partial.matches, undefined);
      jobOutput = { diarization: [], voiceprints: [{ speaker: 'SPEAKER_00', match: 'Ana', confidence: { Ana: 'high' } }] };
      const bad = await client().poll('job-1').catch((e: unknown) => e);
      assert.ok(bad instanceof ProviderError);
      assert.equal(bad.type, 'ProviderProtocol');
      assert.match(bad.message, /voiceprints/);

      jobOutput = { voiceprint: 'b3BhcXVl' };
      assert.deepEqual(await client().poll('job-1'), { jobId: 'job-1', status: 'succeeded', voiceprint: 'b3BhcXVl' });
    });
  });
});
