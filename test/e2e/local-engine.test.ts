// The whole pipeline on real speech with no key: `speech run` starts the embedded Temporal
// server and the local engine (faster-whisper + speaker embeddings) by itself. Words are
// checked against the spoken text, speakers against the known turns, seams of a chunked run
// against the unchunked run, and a SIGKILL of the engine mid-run is survived.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readEngineInfo } from '../../src/local-engine';
import type { MergedTranscript } from '../../src/domain/types';
import { MEETING_SENTENCES, transcode, type Recording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { engineInstalled, makeVoiceConversation, normaliseWords, wordErrorRate } from '../helpers/engine';
import { embeddedCliEnvWith } from '../helpers/pipeline';
import { freePort, until } from '../helpers/temporal';

const TURNS = MEETING_SENTENCES.slice(0, 6).map((text, i) => ({ speaker: (i % 2 === 0 ? 'A' : 'B') as 'A' | 'B', text }));

/** Share of each turn's words carried by the label its voice got most often, over all turns. */
function speakerAccuracy(merged: MergedTranscript, rec: Recording): number {
  const words = merged.utterances.flatMap((u) => u.words);
  const votes: Record<string, Record<string, number>> = {};
  const inTurn = rec.turns.map((t) => words.filter((w) => (w.start + w.end) / 2 >= t.start - 0.2 && (w.start + w.end) / 2 <= t.end + 0.2));
  rec.turns.forEach((t, i) => {
    for (const w of inTurn[i]!) ((votes[t.speaker] ??= {})[w.speaker] = (votes[t.speaker]![w.speaker] ?? 0) + 1);
  });
  const labelOf = Object.fromEntries(Object.entries(votes).map(([v, c]) => [v, Object.entries(c).sort((a, b) => b[1] - a[1])[0]![0]]));
  assert.notEqual(labelOf.A, labelOf.B, `both voices got ${labelOf.A}`);
  let right = 0;
  let all = 0;
  rec.turns.forEach((t, i) => {
    for (const w of inTurn[i]!) {
      all += 1;
      if (w.speaker === labelOf[t.speaker]) right += 1;
    }
  });
  return right / all;
}

describe('local engine end to end (no key: `speech run` on real speech)', function () {
  this.timeout(300_000);
  let cli: Awaited<ReturnType<typeof embeddedCliEnvWith>>;
  let rec: Recording;

  before(async function () {
    assert.ok(engineInstalled(), 'the local engine is not installed: run bash scripts/setup.sh');
    cli = await embeddedCliEnvWith({ LOCAL_ENGINE_PORT: String(await freePort()), HEARTBEAT_TIMEOUT_SECONDS: '5' }, 'speech-local-');
    rec = await makeVoiceConversation({ dir: cli.dir, name: 'meeting', turns: TURNS });
  });

  after(async () => {
    await speech(['engine', 'stop'], { env: cli.env }).catch(() => undefined);
    await cli?.cleanUp();
  });

  const reference = TURNS.map((t) => t.text).join(' ');
  const run = async (file: string, extraEnv: Record<string, string> = {}, extraArgs: string[] = []) => {
    const r = await speech(['run', file, '--json', ...extraArgs], { env: { ...cli.env, ...extraEnv }, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = (JSON.parse(r.stdout) as { runs: { pipeline_id: string; outputs: string[] }[] }).runs[0]!;
    const json = out.outputs.find((o) => o.endsWith('.json'))!;
    return { id: out.pipeline_id, merged: JSON.parse(await readFile(json, 'utf8')) as MergedTranscript };
  };
  const textOf = (m: MergedTranscript) => m.utterances.map((u) => u.words.map((w) => w.word).join(' ')).join(' ');

  let whole: MergedTranscript;
  it('transcribes the words (WER ≤ 0.2) and attributes ≥ 90 % of each turn\'s words to the right speaker', async () => {
    const human = await speech(['run', rec.path, '--formats', 'txt'], { env: cli.env, timeoutMs: 240_000 });
    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /Running locally, no key needed: transcription: faster-whisper tiny\.en/);
    ({ merged: whole } = await run(rec.path));
    const wer = wordErrorRate(reference, textOf(whole));
    const acc = speakerAccuracy(whole, rec);
    console.log(`      WER ${wer.toFixed(3)}, speaker attribution ${(acc * 100).toFixed(1)} %`);
    assert.ok(wer <= 0.2, `WER ${wer}`);
    assert.ok(acc >= 0.9, `speaker attribution ${acc}`);
  });

  it('a chunked run loses and doubles no word at its seams', async () => {
    const copy = path.join(cli.dir, 'meeting-chunked.wav');
    await copyFile(rec.path, copy);
    const { merged } = await run(copy, { CHUNK_MAX_SECONDS: '6' });
    const chunked = normaliseWords(textOf(merged));
    const unchunked = normaliseWords(textOf(whole));
    const wer = wordErrorRate(unchunked.join(' '), chunked.join(' '));
    console.log(`      chunked vs whole-file transcript: WER ${wer.toFixed(3)} (${chunked.length} vs ${unchunked.length} words)`);
    assert.ok(Math.abs(chunked.length - unchunked.length) <= 2, `${chunked.length} words chunked, ${unchunked.length} whole`);
    assert.ok(wordErrorRate(reference, chunked.join(' ')) <= 0.2);
    for (let i = 1; i < chunked.length; i++) assert.ok(chunked[i] !== chunked[i - 1] || unchunked.includes(`${chunked[i]}`), `doubled word ${chunked[i]}`);
  });

  it('survives a SIGKILL of the engine mid-run: restarted, the run completes and diarization is one job', async () => {
    // Other bytes than the earlier files (half a second of silence more): a byte-identical
    // copy would take its diarization from the stage cache and never reach the engine.
    const copy = await transcode(rec.path, path.join(cli.dir, 'meeting-killed.wav'), ['-af', 'apad=pad_dur=0.5']);
    const running = run(copy);
    const dataDir = cli.dataDir;
    const jobsDir = path.join(dataDir, 'engine', 'jobs');
    // Killed once the product holds the job's id (diarization-job.json is written when the
    // engine's answer arrives): from then on a retry polls that job instead of paying again.
    // (An engine killed after taking a job but before answering leaves the client with no id
    // to poll; pyannote.ai has no idempotency key to close that window.)
    const interim = path.join(dataDir, 'interim');
    await until(() => {
      try {
        return readdirSync(interim).some((d) => d.startsWith('speech-meeting-killed-') && readdirSync(path.join(interim, d)).includes('diarization-job.json'));
      } catch {
        return false;
      }
    }, 120_000, 'the second diarization job to be accepted');
    const before = readEngineInfo(dataDir)!;
    process.kill(before.pid, 'SIGKILL');
    const { merged } = await running;
    const after = readEngineInfo(dataDir)!;
    assert.notEqual(after.pid, before.pid, 'the engine was started again');
    assert.ok(wordErrorRate(reference, textOf(merged)) <= 0.2);
    const jobs = (await readdir(jobsDir)).filter((f) => f.endsWith('.json'));
    // The chunked copy's audio was diarized before (same bytes): it took that result.
    assert.equal(jobs.length, 2, `one diarization job per distinct audio: ${jobs.join(', ')}`);
  });

  it('names an enrolled voice with --identify (speaker embeddings on the engine) and leaves a voice nobody enrolled unnamed', async () => {
    // Alice is the en-us voice, enrolled from sentences the conversation does not contain.
    const clip = await makeVoiceConversation({
      dir: cli.dir,
      name: 'alice-clip',
      turns: [
        { speaker: 'A', text: 'My name is Alice and this is how my voice sounds on an ordinary day.' },
        { speaker: 'A', text: 'I read a few sentences so that the system can learn it.' },
      ],
      gapSeconds: 0.4,
    });
    const noVoices = await speech(['run', rec.path, '--identify'], { env: cli.env });
    assert.equal(noVoices.code, 1);
    assert.match(noVoices.stderr, /--identify: no voice is enrolled for this diarizer \(local-engine\)/);

    const added = await speech(['voices', 'add', 'Alice', clip.path], { env: cli.env, timeoutMs: 120_000 });
    assert.equal(added.code, 0, added.stdout + added.stderr);
    assert.match((await speech(['voices', 'list'], { env: cli.env })).stdout, /Alice\s+alice-clip\.wav/);

    const { merged } = await run(rec.path, {}, ['--identify']);
    const voteOf = (voice: 'A' | 'B') => {
      const turn = rec.turns.find((t) => t.speaker === voice)!;
      return merged.utterances.find((u) => u.start >= turn.start - 0.3 && u.start <= turn.end)!.speaker;
    };
    const json = merged as MergedTranscript & { identification: { speaker: string; match: string | null; score: number | null }[]; speaker_names: Record<string, string> };
    const alice = json.identification.find((m) => m.speaker === voteOf('A'))!;
    const other = json.identification.find((m) => m.speaker === voteOf('B'))!;
    console.log(`      identify scores: enrolled voice ${alice.score} (${alice.match}), voice not enrolled ${other.score} (${other.match})`);
    assert.equal(alice.match, 'Alice');
    assert.ok(alice.score !== null && alice.score >= 50, `score ${alice.score}`);
    assert.equal(other.match, null);
    assert.ok(other.score !== null && other.score < 50, `score ${other.score}`);
    assert.deepEqual(json.speaker_names, { [alice.speaker]: 'Alice' });
  });
});
