// `speech run` in a terminal, as a person sees it: it runs in tmux (a real pseudo-terminal:
// live progress bars, and Ctrl-C becomes SIGINT through the line discipline), keys are sent
// with send-keys, and the screen is read with capture-pane.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEmulators, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording } from '../helpers/audio';
import { SPEECH_BIN, speech } from '../helpers/cli';
import { embeddedCliEnv } from '../helpers/pipeline';

const tmux = (socket: string, ...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

async function screenUntil(socket: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux(socket, 'capture-pane', '-p', '-J', '-S', '-200', '-t', 'run');
    if (pattern.test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${pattern} on the screen:\n${screen}`);
}

describe('`speech run` in a terminal: live progress and Ctrl-C (tmux)', function () {
  this.timeout(180_000);
  let dir: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let cleanUp = async () => {};
  const sockets: string[] = [];

  before(async () => {
    // Slow providers, so that the run is still going when the key is pressed.
    emus = await startEmulators({ openai: { latency: { fixedMs: 6000 } }, pyannote: { latency: { fixedMs: 6000 } } });
    ({ dir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-ctrlc-'));
    const up = await speech(['server', 'start', '--headless'], { env, cwd: dir });
    assert.equal(up.code, 0, up.stderr);
  });

  after(async () => {
    for (const s of sockets) {
      try {
        tmux(s, 'kill-server');
      } catch {
        // already gone
      }
    }
    await cleanUp();
    await emus?.close();
  });

  /** Starts `speech run FILE` in a fresh tmux server; the pane ends with EXIT=<code>. */
  async function runInTerminal(name: string, file: string): Promise<string> {
    const socket = `speech-${process.pid}-${name}`;
    sockets.push(socket);
    const script = path.join(dir, `${name}.sh`);
    const exports = Object.entries(env)
      .filter(([k, v]) => v !== undefined && /^[A-Z_][A-Z0-9_]*$/.test(k))
      .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, `'\\''`)}'`);
    await writeFile(script, [...exports, `cd '${dir}'`, `node '${SPEECH_BIN}' run '${file}'`, 'echo "EXIT=$?"', 'sleep 600'].join('\n'));
    tmux(socket, 'new-session', '-d', '-s', 'run', '-x', '220', '-y', '60', `bash ${script}`);
    return socket;
  }

  it('detaches at once on the first Ctrl-C and says what happens to the run; the in-process worker hands its work back and the process exits', async () => {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'interrupted' });
    const socket = await runInTerminal('once', rec.path);
    const started = await screenUntil(socket, /speech-interrupted-[0-9a-f]{12}: started/, 60_000);
    const id = /(speech-interrupted-[0-9a-f]{12})/.exec(started)![1]!;
    await new Promise((r) => setTimeout(r, 1500));
    const pressed = Date.now();
    tmux(socket, 'send-keys', '-t', 'run', 'C-c');
    const screen = await screenUntil(socket, /Follow: speech watch/, 5000);
    const saidAfter = Date.now() - pressed;
    assert.ok(saidAfter < 5000, `said after ${saidAfter} ms`);
    assert.match(screen, new RegExp(`Detached \\(Ctrl-C\\)\\. ${id} keeps running on the Temporal server`));
    assert.match(screen, /This process's worker hands back its current activities \(within 5 s\) and stops\./);
    assert.match(screen, /No other worker polls task queue speech-test: it waits until one does/);
    assert.match(screen, new RegExp(`Follow: speech watch ${id}\\s+Stop: speech cancel ${id}`));
    const done = await screenUntil(socket, /EXIT=\d+/, 20_000);
    assert.match(done, /EXIT=130/);
    assert.doesNotMatch(done, /temporalio_sdk_core|WARN|Error:/, 'no SDK lines or stack traces on the screen');

    // The run is still there, waiting for a worker; `speech run` again picks it up and finishes it.
    const status = await speech(['status', id, '--json'], { env, cwd: dir });
    const st = JSON.parse(status.stdout) as { temporal_status: string; problem: { kind: string } | null };
    assert.equal(st.temporal_status, 'RUNNING', status.stdout);
    const again = await speech(['run', rec.path], { env, cwd: dir, timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /attached to the running pipeline/);
    assert.equal(emus.pyannote.jobs.size, 1, 'the diarization job was not paid for again');
  });

  it('exits at once on a second Ctrl-C, with the same guidance', async () => {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'twice', turns: [{ speaker: 'A', text: 'Pressed twice this time.' }, { speaker: 'B', text: 'Then it should leave at once.' }] });
    const socket = await runInTerminal('twice', rec.path);
    await screenUntil(socket, /speech-twice-[0-9a-f]{12}: started/, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    tmux(socket, 'send-keys', '-t', 'run', 'C-c');
    await screenUntil(socket, /Follow: speech watch/, 5000);
    const second = Date.now();
    tmux(socket, 'send-keys', '-t', 'run', 'C-c');
    const screen = await screenUntil(socket, /EXIT=\d+/, 5000);
    assert.ok(Date.now() - second < 3000, `exited ${Date.now() - second} ms after the second Ctrl-C`);
    assert.match(screen, /Exiting now\./);
    assert.equal(screen.match(/Follow: speech watch/g)?.length, 2, 'the guidance is said again');
    assert.match(screen, /EXIT=130/);
  });

  it('shows a live bar with percent, stage, elapsed time and ETA, and says every stage\'s completion', async () => {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'progress', turns: [{ speaker: 'A', text: 'Progress you can see while it runs.' }, { speaker: 'B', text: 'And every stage said when it is done.' }] });
    const socket = await runInTerminal('progress', rec.path);
    const live = await screenUntil(socket, /progress\.wav \[[█░]+\] +\d+% · (diarization|transcription)[^·]* · \d+s · ETA /, 60_000);
    assert.doesNotMatch(live, /EXIT=/);
    const done = await screenUntil(socket, /EXIT=\d+/, 90_000);
    assert.match(done, /EXIT=0/);
    assert.match(done, /progress\.wav \[█+\] 100% · done/);
    for (const stage of ['audio_conversion', 'diarization', 'transcription', 'merge', 'export']) assert.match(done, new RegExp(`${stage} +completed in `), stage);
  });

  it('shows no SDK log lines when the run is cancelled from elsewhere while attached', async () => {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'cancelled', turns: [{ speaker: 'A', text: 'This run is cancelled from another terminal.' }, { speaker: 'B', text: 'The attached one should say so plainly.' }] });
    const socket = await runInTerminal('cancelled', rec.path);
    const started = await screenUntil(socket, /speech-cancelled-[0-9a-f]{12}: started/, 60_000);
    const id = /(speech-cancelled-[0-9a-f]{12})/.exec(started)![1]!;
    await screenUntil(socket, /transcription +running/, 30_000);
    const cancel = await speech(['cancel', id], { env, cwd: dir });
    assert.equal(cancel.code, 0, cancel.stdout + cancel.stderr);
    const screen = await screenUntil(socket, /EXIT=\d+/, 30_000);
    assert.match(screen, new RegExp(`${id}: cancelled`));
    assert.match(screen, /EXIT=2/);
    await new Promise((r) => setTimeout(r, 2000));
    const after = tmux(socket, 'capture-pane', '-p', '-J', '-S', '-200', '-t', 'run');
    assert.doesNotMatch(after, /temporalio_sdk_core|Activity not found on completion|WARN/, after);
  });
});
