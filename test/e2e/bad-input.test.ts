// Bad input to `speech run`, as a user meets it: each kind refused with its own line, exit
// code 1, before a server, a worker or a provider is asked anything and with nothing written
// under DATA_DIR; a folder with bad files among good ones runs the good ones; audio with no
// speech completes with an empty transcript and says so.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEmulators, type Emulators } from '../emulators';
import { makeTone, makeTwoSpeakerRecording, run, transcode, type Recording } from '../helpers/audio';
import { speech, SPEECH_BIN, type CliResult } from '../helpers/cli';
import { assertCliJson } from '../helpers/cli-schema';
import { embeddedCliEnv } from '../helpers/pipeline';
import type { StateRecord } from '../../src/domain/state-record';

interface RunJson {
  ok: boolean;
  runs: { file: string; mode: string; status: string; pipeline_id: string | null; outputs: string[]; error: { type: string; message: string } | null; warnings: string[] }[];
}

const FFMPEG = process.env.FFMPEG_PATH || 'ffmpeg';
/**
 * `speech ARGS…` without the power to ignore permission bits. Root reads every file, so when the
 * tests run as root the CLI runs as root with every capability dropped (no CAP_DAC_OVERRIDE or
 * CAP_DAC_READ_SEARCH): mode bits then apply to it as to any owner. Staying uid 0 keeps the
 * checkout readable wherever it lies (a clone under a 0700 temporary folder is not, to nobody).
 */
function speechUnprivileged(args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }): Promise<CliResult> {
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root ? ['setpriv', ['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', process.execPath, SPEECH_BIN, ...args]] : [process.execPath, [SPEECH_BIN, ...args]];
  return spawnCli(cmd, argv, opts);
}

/** `speech run` on a path given as bytes (printf's \xNN), which no JavaScript string can carry into argv. */
function speechRunRawPath(printfPath: string, extra: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }): Promise<CliResult> {
  return spawnCli('bash', ['-c', 'exec "$0" "$1" run "$(printf "%b" "$2")" "${@:3}"', process.execPath, SPEECH_BIN, printfPath, ...extra], opts);
}

function spawnCli(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bad input to speech run (child process)', function () {
  this.timeout(240_000);
  let dir: string;
  let dataDir: string;
  let input: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let speechWav: Recording;
  let cleanUp = async () => {};

  before(async () => {
    emus = await startEmulators();
    ({ dir, dataDir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-bad-input-'));
    input = path.join(dir, 'in');
    await mkdir(input);
    speechWav = await makeTwoSpeakerRecording({ dir: input, name: 'speech', turns: [{ speaker: 'A', text: 'Good morning, this is the first speaker.' }, { speaker: 'B', text: 'And this is the second one answering.' }] });
  });

  after(async () => {
    await cleanUp();
    await emus?.close();
  });

  /** Nothing at all under DATA_DIR: no record, interim folder, output, cache entry, server database or log. */
  function assertNothingWritten(what: string) {
    assert.ok(!existsSync(dataDir), `${what}: DATA_DIR was written: ${existsSync(dataDir) ? readdirSync(dataDir).join(', ') : ''}`);
    assert.equal(emus.openai.requests.length + emus.pyannote.requests.length, 0, `${what}: a provider was asked`);
  }

  /** One `error:` line on stderr, naming the problem and what to do; nothing on stdout; exit 1; and the same line in --json. */
  async function assertRefused(what: string, r: CliResult, line: RegExp, json: () => Promise<CliResult>) {
    assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line: ${r.stderr}`);
    assert.match(lines[0]!, /^error: /);
    assert.match(lines[0]!, line, what);
    assert.match(lines[0]!, /; nothing was started\. [A-Z]/, `${what}: says what to do`);
    assert.equal(r.stdout, '', `${what}: ${r.stdout}`);
    const j = await json();
    assert.equal(j.code, 1, `${what} --json: ${j.stdout}${j.stderr}`);
    assert.equal(j.stderr, '');
    const doc = JSON.parse(j.stdout) as RunJson;
    assertCliJson('run', doc);
    assert.equal(doc.ok, false);
    assert.equal(doc.runs.length, 1);
    assert.equal(doc.runs[0]!.status, 'invalid');
    assert.equal(doc.runs[0]!.mode, 'not-started');
    assert.equal(doc.runs[0]!.error!.message, lines[0]!.slice('error: '.length));
    assertNothingWritten(what);
  }

  const cases: { what: string; make: () => Promise<string>; line: RegExp }[] = [
    {
      what: 'an empty file',
      make: async () => {
        await writeFile(path.join(input, 'empty.wav'), '');
        return path.join(input, 'empty.wav');
      },
      line: /empty\.wav is empty \(0 bytes\): there is no audio in it/,
    },
    {
      what: 'a text file renamed .mp3',
      make: async () => {
        await writeFile(path.join(input, 'notes.mp3'), 'Meeting notes, not a recording.\n'.repeat(50));
        return path.join(input, 'notes.mp3');
      },
      line: /^error: Not a readable audio or video file: \S+notes\.mp3 \(ffmpeg recognises no audio or video format in it\)/,
    },
    {
      what: 'a truncated mp3',
      make: async () => {
        const full = await transcode(speechWav.path, path.join(dir, 'full.mp3'), ['-b:a', '64k']);
        const bytes = await readFile(full);
        await writeFile(path.join(input, 'truncated.mp3'), bytes.subarray(0, Math.floor(bytes.length * 0.3)));
        return path.join(input, 'truncated.mp3');
      },
      line: /truncated\.mp3 is cut short: its header says \d+\.\d s of audio, but the audio stops at \d+\.\d s/,
    },
    {
      what: 'a video without an audio stream',
      make: async () => {
        await run(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=5:d=3', '-c:v', 'libx264', '-preset', 'ultrafast', path.join(input, 'silent-film.mp4')]);
        return path.join(input, 'silent-film.mp4');
      },
      line: /silent-film\.mp4 has no audio stream \(mov,mp4,[^)]*, video only\): there is nothing to transcribe/,
    },
    { what: 'a missing path', make: async () => path.join(input, 'nope.wav'), line: /nope\.wav: no such file or folder/ },
    {
      what: 'a folder with no media in it',
      make: async () => {
        await mkdir(path.join(input, 'docs'));
        await writeFile(path.join(input, 'docs', 'agenda.txt'), 'agenda');
        return path.join(input, 'docs');
      },
      line: /docs: the folder holds no audio or video files \(wav, mp3, .*\)/,
    },
    {
      what: 'a FIFO (never opened: reading it would block)',
      make: async () => {
        await run('mkfifo', [path.join(input, 'stream.wav')]);
        return path.join(input, 'stream.wav');
      },
      line: /stream\.wav is a named pipe \(FIFO\), not a file: .* save the stream to a file first/,
    },
    { what: 'a device file', make: async () => '/dev/null', line: /\/dev\/null is a character device, not a file/ },
    {
      what: 'a symlink loop',
      make: async () => {
        await symlink('loop-b.wav', path.join(input, 'loop-a.wav'));
        await symlink('loop-a.wav', path.join(input, 'loop-b.wav'));
        return path.join(input, 'loop-a.wav');
      },
      line: /loop-a\.wav is a symbolic link that leads back to itself \(a link loop\)/,
    },
    {
      what: 'a 0.05 s file',
      make: async () => (await makeTone({ dir: input, name: 'blip', seconds: 0.05 })).path,
      line: /blip\.wav holds 0\.05 s of audio: too short to transcribe \(the minimum is 0\.1 s\)/,
    },
    {
      what: 'a WAV whose header claims hours but holds seconds',
      make: async () => {
        const { path: wav } = await makeTone({ dir: input, name: 'liar', seconds: 2 });
        const bytes = await readFile(wav);
        bytes.writeUInt32LE(3 * 3600 * 32_000, bytes.indexOf('data') + 4);
        await writeFile(wav, bytes);
        return wav;
      },
      line: /liar\.wav is cut short: its WAV header promises 03:00:00 of audio, but the file holds 00:00:02/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.what}: one line, exit 1, nothing written, no provider asked`, async () => {
      const file = await c.make();
      const started = Date.now();
      const r = await speech(['run', file], { env, cwd: dir, timeoutMs: 60_000 });
      await assertRefused(c.what, r, c.line, () => speech(['run', file, '--json'], { env, cwd: dir, timeoutMs: 60_000 }));
      assert.ok(Date.now() - started < 30_000, `${c.what}: refused in ${Date.now() - started} ms`);
    });
  }

  it('refuses a file name that is not valid UTF-8, suggesting a rename (a name the run could not carry intact)', async () => {
    const raw = Buffer.concat([Buffer.from(path.join(input, 'caf')), Buffer.from([0xff]), Buffer.from('.wav')]);
    await writeFile(raw, await readFile(speechWav.path));
    const shown = `${path.join(input, 'caf')}\\xff.wav`;
    const r = await speechRunRawPath(shown, [], { env, cwd: dir });
    const line = new RegExp(`caf\\\\xff\\.wav: the file name is not valid UTF-8 \\(byte 0xff\\), so it cannot be passed on intact .* Rename it, e\\.g\\. mv -- \\$'[^']*caf\\\\xff\\.wav' '[^']*caf_\\.wav'$`);
    await assertRefused('a name that is not UTF-8', r, line, () => speechRunRawPath(shown, ['--json'], { env, cwd: dir }));
  });

  it('refuses a file this user may not read, and one under a folder it may not search (with the power to override permission bits dropped)', async () => {
    // No permission bits at all: unreadable to its owner once the owner cannot override them.
    const locked = path.join(input, 'locked.wav');
    await writeFile(locked, await readFile(speechWav.path));
    await chmod(locked, 0o000);
    const r = await speechUnprivileged(['run', locked], { env, cwd: dir });
    await assertRefused('an unreadable file', r, /locked\.wav cannot be read: permission denied for this user; nothing was started\. Make it readable \(chmod a\+r\)/, () => speechUnprivileged(['run', locked, '--json'], { env, cwd: dir }));

    const privateDir = path.join(input, 'private');
    await mkdir(privateDir);
    await writeFile(path.join(privateDir, 'inside.wav'), await readFile(speechWav.path));
    await chmod(privateDir, 0o000);
    try {
      const under = await speechUnprivileged(['run', path.join(privateDir, 'inside.wav')], { env, cwd: dir });
      await assertRefused('a file under a folder that cannot be searched', under, /inside\.wav cannot be reached: permission denied on a folder in its path/, () =>
        speechUnprivileged(['run', path.join(privateDir, 'inside.wav'), '--json'], { env, cwd: dir }),
      );
    } finally {
      await chmod(privateDir, 0o700); // so that the clean-up can remove it
    }
  });

  it('in a folder with bad files among good ones: says each bad one, runs the good ones (a UTF-8 name kept intact), exits 1', async () => {
    const batch = path.join(dir, 'batch');
    await mkdir(batch);
    const unicodeName = 'Gespräch – café 日本 (1).wav';
    await writeFile(path.join(batch, unicodeName), await readFile(speechWav.path));
    await writeFile(path.join(batch, 'empty.wav'), '');
    await writeFile(path.join(batch, 'notes.mp3'), 'not audio\n'.repeat(100));
    await run('mkfifo', [path.join(batch, 'live.wav')]);
    await writeFile(Buffer.concat([Buffer.from(path.join(batch, 'na')), Buffer.from([0xef, 0xbb]), Buffer.from('ve.wav')]), await readFile(speechWav.path));

    const r = await speech(['run', batch, '--json'], { env, cwd: dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout) as RunJson;
    assertCliJson('run', doc);
    assert.equal(doc.ok, false);
    const byName = Object.fromEntries(doc.runs.map((o) => [path.basename(o.file), o]));
    assert.deepEqual(Object.keys(byName).sort(), ['Gespräch – café 日本 (1).wav', 'empty.wav', 'live.wav', 'na\\xef\\xbbve.wav', 'notes.mp3'].sort());
    const good = byName[unicodeName]!;
    assert.equal(good.status, 'completed', JSON.stringify(good));
    assert.equal(good.outputs.length, 6);
    for (const bad of ['empty.wav', 'live.wav', 'na\\xef\\xbbve.wav', 'notes.mp3']) {
      assert.equal(byName[bad]!.status, 'invalid', bad);
      assert.equal(byName[bad]!.pipeline_id, null, bad);
      assert.match(byName[bad]!.error!.message, /nothing was started/, bad);
    }
    // The name passed intact into the workflow input and the state record.
    const records = await readdir(path.join(dataDir, 'checkpoints'));
    const own = records.filter((f) => f.startsWith(good.pipeline_id!));
    assert.equal(own.length, 1, records.join(', '));
    const record = JSON.parse(await readFile(path.join(dataDir, 'checkpoints', own[0]!), 'utf8')) as StateRecord;
    assert.equal(record.input_file, path.join(batch, unicodeName));
    const show = await speech(['show', good.pipeline_id!, '--json'], { env, cwd: dir });
    assert.equal((JSON.parse(show.stdout) as { record: StateRecord }).record.input_file, path.join(batch, unicodeName));
    // Nothing was written for the refused files: no record, interim folder or output of theirs.
    const interim = await readdir(path.join(dataDir, 'interim'));
    assert.ok(interim.every((id) => !/^speech-(empty|live|notes|na)/.test(id)), interim.join(', '));
    assert.ok(records.every((f) => !/^speech-(empty|live|notes|na)/.test(f)), records.join(', '));

    // The same folder for people: one line per refused file first, then the summary; still exit 1.
    const human = await speech(['run', batch], { env, cwd: dir });
    assert.equal(human.code, 1, human.stdout + human.stderr);
    const errors = human.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 4, human.stderr);
    assert.match(human.stdout, /Gespräch – café 日本 \(1\)\.wav\s+completed \(earlier\)/);
    assert.match(human.stdout, /1 of 5 files done; 4 failed\./);
  });

  it('completes audio that holds no speech with an empty transcript and a warning, in run and show', async () => {
    const quiet = await makeTone({ dir: input, name: 'room-tone', seconds: 6, amplitude: 0 });
    const r = await speech(['run', quiet.path], { env, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /completed in .*\nwarning: no speech was found: the transcript is empty/);
    const again = await speech(['run', quiet.path, '--json'], { env, cwd: dir });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const doc = JSON.parse(again.stdout) as RunJson;
    assertCliJson('run', doc);
    const run0 = doc.runs[0]!;
    assert.equal(run0.status, 'completed');
    assert.deepEqual(run0.warnings, [run0.warnings[0]]);
    assert.match(run0.warnings[0]!, /^no speech was found/);
    const transcript = JSON.parse(await readFile(run0.outputs.find((f) => f.endsWith('.json'))!, 'utf8')) as { utterances: unknown[] };
    assert.deepEqual(transcript.utterances, []);
    assert.equal((await readFile(run0.outputs.find((f) => f.endsWith('.txt'))!, 'utf8')).trim(), '');

    const show = await speech(['show', run0.pipeline_id!], { env, cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Warning: no speech was found: the transcript is empty/);
    const showJson = JSON.parse((await speech(['show', run0.pipeline_id!, '--json'], { env, cwd: dir })).stdout) as { warnings: string[] };
    assertCliJson('show', showJson);
    assert.deepEqual(showJson.warnings, run0.warnings);

    // Speech gives no such warning.
    const spoken = JSON.parse((await speech(['run', speechWav.path, '--json'], { env, cwd: dir })).stdout) as RunJson;
    assert.equal(spoken.runs[0]!.status, 'completed');
    assert.deepEqual(spoken.runs[0]!.warnings, []);
  });
});
