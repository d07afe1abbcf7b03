// Outputs people can ship, through the CLI against the emulators: a batch whose files would
// write the same names, no file another run wrote ever replaced without --overwrite, named
// speakers (speakers, rename, later exports), DOCX, and every export checked by a reader that
// is not ours (ffmpeg for subtitles, a JSON Schema validator, RTTM's field rules).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv2020 from 'ajv/dist/2020';
import { strFromU8, unzipSync } from 'fflate';
import { startEmulators, type Emulators, workRequests } from '../emulators';
import { makeTwoSpeakerRecording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { assertCliJson } from '../helpers/cli-schema';
import { embeddedCliEnv } from '../helpers/pipeline';

const run = promisify(execFile);

interface RunJson {
  ok: boolean;
  runs: { file: string; status: string; mode: string; outputs: string[]; error: { type: string; message: string } | null; pipeline_id: string | null }[];
}

const providerRequests = (emus: Emulators) => workRequests(emus).length;

/** Cues ffmpeg reads from a subtitle file: each becomes one packet. */
async function ffmpegCueCount(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts', '-of', 'csv=p=0', file]);
  return stdout.split('\n').filter((l) => l.trim() !== '').length;
}

describe('outputs people can ship (CLI)', function () {
  this.timeout(300_000);
  let dir: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let cleanUp = async () => {};

  before(async () => {
    emus = await startEmulators();
    ({ dir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-outputs-'));
  });

  after(async () => {
    await cleanUp();
    await emus?.close();
  });

  it('gives two recordings that would write the same names distinct names, says so, and never replaces a file it did not write', async () => {
    const folder = path.join(dir, 'folder');
    await mkdir(folder);
    const wav = await makeTwoSpeakerRecording({ dir: folder, name: 'conv', turns: [{ speaker: 'A', text: 'The first conversation is about the garden.' }, { speaker: 'B', text: 'Yes, the roses need water.' }] });
    const other = await makeTwoSpeakerRecording({ dir, name: 'conv-src', turns: [{ speaker: 'B', text: 'A second recording about the budget.' }, { speaker: 'A', text: 'We are under budget this month.' }] });
    await run('ffmpeg', ['-v', 'error', '-y', '-i', other.path, '-c:a', 'aac', '-b:a', '64k', path.join(folder, 'conv.m4a')]);
    const subs = path.join(dir, 'subs');

    const r = await speech(['run', folder, '--out', subs, '--formats', 'txt,srt'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /named apart/);
    assert.match(r.stdout, /conv\.m4a → conv-m4a\.\*/);
    assert.match(r.stdout, /conv\.wav → conv-wav\.\*/);
    assert.deepEqual((await readdir(subs)).sort(), ['conv-m4a.srt', 'conv-m4a.txt', 'conv-wav.srt', 'conv-wav.txt']);
    const [a, b] = await Promise.all([readFile(path.join(subs, 'conv-wav.txt'), 'utf8'), readFile(path.join(subs, 'conv-m4a.txt'), 'utf8')]);
    assert.notEqual(a, b, 'two recordings, two transcripts');

    // A file of the same name written by someone else: refused before anything is paid for.
    const foreign = path.join(subs, 'conv.txt');
    await writeFile(foreign, 'my own notes, not a transcript\n');
    const before = providerRequests(emus);
    const refused = await speech(['run', wav.path, '--out', subs, '--formats', 'txt'], { env, cwd: dir });
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /conv\.txt already exists and was not written by this run; nothing was started\. Add --overwrite/);
    assert.equal(await readFile(foreign, 'utf8'), 'my own notes, not a transcript\n');
    assert.equal(providerRequests(emus), before, 'nothing was sent to a provider');

    // Asked for: replaced. Run again: its own file, unchanged, is no conflict.
    const replaced = await speech(['run', wav.path, '--out', subs, '--formats', 'txt', '--overwrite'], { env, cwd: dir });
    assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
    assert.equal(await readFile(foreign, 'utf8'), a);
    const again = await speech(['run', wav.path, '--out', subs, '--formats', 'txt'], { env, cwd: dir });
    assert.equal(again.code, 0, again.stdout + again.stderr);

    // Edited by the user after the run wrote it: a re-render does not replace the edit.
    await writeFile(foreign, `${a}my correction\n`);
    const edited = await speech(['run', wav.path, '--out', subs, '--formats', 'txt', '--max-line-chars', '30'], { env, cwd: dir });
    assert.equal(edited.code, 1, edited.stdout + edited.stderr);
    assert.match(edited.stdout, /was changed after this run wrote it/);
    assert.equal(await readFile(foreign, 'utf8'), `${a}my correction\n`);
  });

  it('re-renders the outputs of a run of an earlier release (no ledger, only its state record) without calling them foreign', async () => {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'older', turns: [{ speaker: 'A', text: 'A run finished by the previous release.' }, { speaker: 'B', text: 'Its outputs are in the state record only.' }] });
    const first = await speech(['run', rec.path, '--formats', 'srt', '--json'], { env, cwd: dir });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const run1 = (JSON.parse(first.stdout) as RunJson).runs[0]!;
    const { rm } = await import('node:fs/promises');
    await rm(path.join(dir, 'data', 'interim', run1.pipeline_id!, 'outputs.json'));
    const before = await readFile(run1.outputs[0]!, 'utf8');
    const again = await speech(['run', rec.path, '--formats', 'srt', '--max-lines', '1', '--max-line-chars', '20'], { env, cwd: dir });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const after = await readFile(run1.outputs[0]!, 'utf8');
    assert.notEqual(after, before, 'rendered again in the new layout');
    assert.ok(after.split('\n').every((l) => l.length <= 20 || l.includes('-->')), after);
  });

  it('names speakers: speakers lists them, rename re-renders every export without a provider, later exports keep the names', async () => {
    const rec = await makeTwoSpeakerRecording({
      dir,
      name: 'names',
      turns: [
        { speaker: 'A', text: 'Good morning, and thank you for joining the project review today.' },
        { speaker: 'B', text: 'Thanks for having me. I brought the latest numbers from the field team.' },
        { speaker: 'A', text: 'Great, let us start with the delivery schedule and the budget.' },
      ],
    });
    const first = await speech(['run', rec.path, '--formats', 'json,srt,vtt,txt,md,rttm,docx', '--speakers', '2', '--json'], { env, cwd: dir });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assertCliJson('run', JSON.parse(first.stdout));
    const id = (JSON.parse(first.stdout) as RunJson).runs[0]!.pipeline_id!;
    const outputs = (JSON.parse(first.stdout) as RunJson).runs[0]!.outputs;
    assert.equal(outputs.length, 7);

    // The run can be named by its input file, by `last`, or by a unique start of its id.
    for (const ref of [rec.path, 'last', id.slice(0, id.length - 6)]) {
      const st = await speech(['status', ref, '--json'], { env, cwd: dir });
      assert.equal(st.code, 0, `${ref}: ${st.stdout}${st.stderr}`);
      assertCliJson('status', JSON.parse(st.stdout));
      assert.ok(st.stdout.includes(id), ref);
    }
    // One JSON style: snake_case keys in every document; watch --json gives one line per event.
    const camel = (v: unknown): string[] =>
      Array.isArray(v) ? v.flatMap(camel) : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [...(/^[a-z]+[A-Z]/.test(k) ? [k] : []), ...camel(x)]) : [];
    for (const args of [['status', id, '--json'], ['show', id, '--json'], ['list', '--json'], ['validate', id, '--json'], ['server', 'status', '--json']]) {
      const doc = JSON.parse((await speech(args, { env, cwd: dir })).stdout) as unknown;
      assert.deepEqual(camel(doc), [], args.join(' '));
      if (args[0] !== 'server') assertCliJson(args[0]!, doc);
    }
    const watched = await speech(['watch', id, '--json'], { env, cwd: dir });
    assert.equal(watched.code, 0, watched.stderr);
    const events = watched.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; temporal_status?: string });
    for (const e of events) assertCliJson('watch-event', e);
    assert.deepEqual(events.map((e) => [e.event, e.temporal_status]), [['ended', 'COMPLETED']]);
    const listed = await speech(['speakers', id], { env, cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /SPEAKER_00\s+-\s+\d\d:\d\d:\d\d\s+\d+ %/);
    assert.match(listed.stdout, /SPEAKER_01/);
    const speakersJson = JSON.parse((await speech(['speakers', id, '--json'], { env, cwd: dir })).stdout) as { speakers: { label: string; talk_seconds: number; listen_at: number[]; first_words: string }[] };
    assertCliJson('speakers', speakersJson);
    assert.equal(speakersJson.speakers.length, 2);
    assert.ok(speakersJson.speakers.every((s) => s.talk_seconds > 0 && s.listen_at.length > 0 && s.first_words.length > 0));

    const bad = await speech(['rename', id, 'SPEAKER_07=Zed', 'SPEAKER_00'], { env, cwd: dir });
    assert.equal(bad.code, 1);
    const badJson = await speech(['rename', id, 'SPEAKER_07=Zed', '--json'], { env, cwd: dir });
    assertCliJson('error', JSON.parse(badJson.stdout));
    assert.match(bad.stderr, /"SPEAKER_07" is not a speaker of this run/);
    assert.match(bad.stderr, /"SPEAKER_00" is not LABEL=Name/);

    const before = providerRequests(emus);
    const renamed = await speech(['rename', id, 'SPEAKER_00=Alice', 'SPEAKER_01=Bob Smith'], { env, cwd: dir });
    assert.equal(renamed.code, 0, renamed.stdout + renamed.stderr);
    assert.match(renamed.stdout, /Rendered 7 file\(s\) again/);
    assert.equal(providerRequests(emus), before, 'no provider was called');
    const byExt = (ext: string) => outputs.find((o) => o.endsWith(`.${ext}`))!;
    const txt = await readFile(byExt('txt'), 'utf8');
    assert.match(txt, /\] Alice: /);
    assert.match(txt, /\] Bob Smith: /);
    assert.doesNotMatch(txt, /SPEAKER_0/);
    assert.match(await readFile(byExt('vtt'), 'utf8'), /<v Bob Smith>/);
    assert.match(await readFile(byExt('rttm'), 'utf8'), / Bob_Smith <NA> <NA>/);
    const json = JSON.parse(await readFile(byExt('json'), 'utf8')) as { speakers: string[]; speaker_names: Record<string, string> };
    assert.deepEqual(json.speakers, ['SPEAKER_00', 'SPEAKER_01'], 'the JSON keeps the labels');
    assert.deepEqual(json.speaker_names, { SPEAKER_00: 'Alice', SPEAKER_01: 'Bob Smith' });

    // DOCX: its paragraphs read as the TXT export.
    const doc = strFromU8(unzipSync(new Uint8Array(await readFile(byExt('docx'))))['word/document.xml']!);
    const paragraphs = [...doc.matchAll(/<w:p[ >][\s\S]*?<\/w:p>/g)].map((p) => [...p[0].matchAll(/<w:t(?: [^>]*)?>([^<]*)<\/w:t>/g)].map((t) => t[1]).join(''));
    const txtLines = txt.split('\n').filter(Boolean);
    assert.deepEqual(paragraphs.slice(-txtLines.length), txtLines.map((l) => l.replace(/&/g, '&amp;')));

    // The record still vouches for every output as it is now.
    const validated = await speech(['validate', id], { env, cwd: dir });
    assert.equal(validated.code, 0, validated.stdout + validated.stderr);

    // A later export (other layout, other folder) keeps the names.
    const out = path.join(dir, 'names-export');
    const exported = await speech(['export', id, '--formats', 'srt', '--out', out, '--speaker-labels', 'prefix', '--max-line-chars', '32', '--json'], { env, cwd: dir });
    assert.equal(exported.code, 0, exported.stdout + exported.stderr);
    assertCliJson('export-formats', JSON.parse(exported.stdout));
    const srt = await readFile(path.join(out, 'names.srt'), 'utf8');
    assert.match(srt, /^Alice: /m);
    assert.ok(srt.split('\n').every((l) => l.length <= 32 || l.includes('-->')), srt);
    assert.equal(await ffmpegCueCount(path.join(out, 'names.srt')), srt.split(/\n\n/).filter((c) => c.trim()).length);

    // The shipped JSON validates against the published schema.
    const schema = JSON.parse(await readFile(path.join(__dirname, '..', '..', 'schema', 'transcript.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
    assert.ok(validate(json), JSON.stringify(validate.errors));

    // RTTM: ten fields per line, start and duration as in the JSON.
    const merged = JSON.parse(await readFile(byExt('json'), 'utf8')) as { utterances: { start: number; end: number }[] };
    const lines = (await readFile(byExt('rttm'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, merged.utterances.length);
    lines.forEach((line, i) => {
      const f = line.split(' ');
      assert.equal(f.length, 10, line);
      assert.equal(f[0], 'SPEAKER');
      assert.ok(Math.abs(Number(f[3]) - merged.utterances[i]!.start) < 0.0015, line);
      assert.ok(Math.abs(Number(f[3]) + Number(f[4]) - merged.utterances[i]!.end) < 0.0015, line);
    });

    // Taking a name back shows the label again.
    const back = await speech(['rename', id, 'SPEAKER_01=', '--json'], { env, cwd: dir });
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assertCliJson('rename', JSON.parse(back.stdout));
    assert.match(await readFile(byExt('txt'), 'utf8'), /\] SPEAKER_01: /);
  });

  it('enrols a voice with pyannote.ai\'s voiceprint job and names it with an identify job (--identify), voiceprints never in the history', async () => {
    const clip = await makeTwoSpeakerRecording({ dir, name: 'voice-a', turns: [{ speaker: 'A', text: 'This is my voice, read slowly for the enrolment of a known speaker.' }] });
    const long = path.join(dir, 'too-long.wav');
    await run('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '8', '-i', clip.path, long]);
    const tooLong = await speech(['voices', 'add', 'Ann', long], { env, cwd: dir });
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /a voice clip must be 2–30 s of that voice alone/);

    const before = emus.pyannote.requests.length;
    const added = await speech(['voices', 'add', 'Ann', clip.path], { env, cwd: dir });
    assert.equal(added.code, 0, added.stdout + added.stderr);
    assert.ok(emus.pyannote.requests.slice(before).some((r) => r.method === 'POST' && r.path === '/v1/voiceprint'));
    const again = await speech(['voices', 'add', 'Ann', clip.path], { env, cwd: dir });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a voice named "Ann" is enrolled already/);

    const rec = await makeTwoSpeakerRecording({ dir, name: 'identify', turns: [{ speaker: 'A', text: 'Good morning, I am the person you enrolled.' }, { speaker: 'B', text: 'And I am somebody nobody has enrolled yet.' }] });
    const r = await speech(['run', rec.path, '--identify', '--speakers', '2', '--formats', 'json,txt', '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(emus.pyannote.requests.some((q) => q.method === 'POST' && q.path === '/v1/identify'));
    const out = (JSON.parse(r.stdout) as RunJson).runs[0]!;
    const json = JSON.parse(await readFile(out.outputs.find((o) => o.endsWith('.json'))!, 'utf8')) as { identification: { speaker: string; match: string | null; score: number | null }[]; utterances: { speaker: string }[] };
    const first = json.utterances[0]!.speaker;
    assert.equal(json.identification.find((m) => m.speaker === first)!.match, 'Ann', JSON.stringify(json.identification));
    assert.equal(json.identification.filter((m) => m.match !== null).length, 1, JSON.stringify(json.identification));
    assert.match(await readFile(out.outputs.find((o) => o.endsWith('.txt'))!, 'utf8'), /^\[00:00:0\d\] Ann: /);

    // The history carries the voices' folder, never a voiceprint.
    const voice = JSON.parse(await readFile((await readdir(path.join(dir, 'data', 'voices'))).map((f) => path.join(dir, 'data', 'voices', f))[0]!, 'utf8')) as { voiceprint: string };
    const history = await speech(['export', out.pipeline_id!, path.join(dir, 'record.json')], { env, cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    const { stdout: shown } = await run('temporal', ['workflow', 'show', '--workflow-id', out.pipeline_id!, '--address', env.TEMPORAL_ADDRESS!, '--output', 'json'], { maxBuffer: 64 << 20 });
    // Payloads are base64 in the JSON history: decode every one to search what they carry.
    const events = [...shown.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).join('\n');
    assert.ok(events.includes(path.join(dir, 'data', 'voices')), 'the history names the voices folder');
    assert.ok(!events.includes(voice.voiceprint.slice(0, 40)), 'no voiceprint in the history');
    assert.ok(!(await readFile(path.join(dir, 'record.json'), 'utf8')).includes(voice.voiceprint.slice(0, 40)));

    assertCliJson('voices-list', JSON.parse((await speech(['voices', 'list', '--json'], { env, cwd: dir })).stdout));
    const removed = await speech(['voices', 'remove', 'Ann'], { env, cwd: dir });
    assert.equal(removed.code, 0, removed.stderr);
    assert.match((await speech(['voices', 'list'], { env, cwd: dir })).stdout, /No voice is enrolled/);
    const unknown = await speech(['voices', 'remove', 'Ann'], { env, cwd: dir });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no voice named "Ann" is enrolled/);
  });
});
