/**
 * Fault-plan counting rules, the multipart parser's edge cases, and the standalone
 * emulator process (env lines, preset faults, clean stop on SIGTERM).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { FaultPlan, parseFaultSpec, parseRandomFaultSpec } from './faults';
import { startEmulators } from './index';
import { multipartBoundary, parseMultipart } from './multipart';

describe('fault plan', function () {
  it('skips afterRequests, fires `times` times, and lets other endpoints through', function () {
    const plan = new FaultPlan();
    plan.add({ endpoint: 'jobs', kind: 'status', status: 503, times: 2, afterRequests: 1 });
    assert.equal(plan.next('jobs'), undefined);
    assert.equal(plan.next('diarize'), undefined);
    assert.deepEqual(plan.next('jobs'), { kind: 'status', status: 503 });
    assert.deepEqual(plan.next('jobs'), { kind: 'status', status: 503 });
    assert.equal(plan.next('jobs'), undefined);
  });

  it('parses CLI fault specs', function () {
    assert.deepEqual(parseFaultSpec('transcriptions:429:2:3'), { endpoint: 'transcriptions', kind: 'status', status: 429, times: 2, retryAfterSeconds: 3 });
    assert.deepEqual(parseFaultSpec('diarize:hang'), { endpoint: 'diarize', kind: 'hang' });
    assert.deepEqual(parseFaultSpec('jobs:delay=250:-1'), { endpoint: 'jobs', kind: 'delay', ms: 250, times: -1 });
    assert.throws(() => parseFaultSpec('jobs:explode'));
  });
});

describe('random faults', function () {
  const kinds = [{ kind: 'status', status: 429, retryAfterSeconds: 1 }, { kind: 'status', status: 503 }, { kind: 'reset' }, { kind: 'hang' }] as const;
  const decisions = (seed: number, n: number) => {
    const plan = new FaultPlan().random({ probability: 0.05, kinds: [...kinds], seed });
    return Array.from({ length: n }, () => plan.next('transcriptions')?.kind ?? '-');
  };

  it('misbehaves at about the rate asked, with every kind, the same way for the same seed', function () {
    const a = decisions(7, 4000);
    const hits = a.filter((d) => d !== '-').length;
    // 5 % of 4000 is 200; a binomial's standard deviation here is about 14.
    assert.ok(hits > 150 && hits < 250, `${hits} faults in 4000 requests`);
    assert.deepEqual(new Set(a.filter((d) => d !== '-')), new Set(['status', 'reset', 'hang']));
    assert.deepEqual(decisions(7, 4000), a);
    assert.notDeepEqual(decisions(8, 4000), a);
  });

  it('counts what it injected, leaves other endpoints alone, and yields to counted rules', function () {
    const plan = new FaultPlan().random({ probability: 1, kinds: [{ kind: 'status', status: 500 }, { kind: 'reset', weight: 3 }], endpoints: ['jobs'], seed: 1 });
    plan.add({ endpoint: 'jobs', kind: 'delay', ms: 5, times: 1 });
    assert.deepEqual(plan.next('jobs'), { kind: 'delay', ms: 5 });
    assert.equal(plan.next('diarize'), undefined);
    for (let i = 0; i < 399; i++) assert.ok(plan.next('jobs'));
    const r = plan.randomFaults()!;
    assert.equal(r.spec.seed, 1);
    assert.equal(r.considered, 399);
    assert.equal((r.injected['status 500'] ?? 0) + (r.injected.reset ?? 0), 399);
    assert.ok(r.injected.reset! > 2 * r.injected['status 500']!, JSON.stringify(r.injected));
    plan.clear();
    assert.equal(plan.randomFaults(), null);
    assert.equal(plan.next('jobs'), undefined);
  });

  it('parses the CLI form and refuses kinds that are not faults', function () {
    const r = parseRandomFaultSpec('0.05:429|503|reset|hang:42');
    assert.equal(r.probability, 0.05);
    assert.equal(r.seed, 42);
    assert.deepEqual(r.kinds, [{ kind: 'status', status: 429, retryAfterSeconds: 1 }, { kind: 'status', status: 503 }, { kind: 'reset' }, { kind: 'hang' }]);
    assert.equal(parseRandomFaultSpec('0.1').kinds.length, 4);
    assert.throws(() => parseRandomFaultSpec('0.1:explode'), /kinds\.0/);
    assert.throws(() => parseRandomFaultSpec('2'), /probability/);
  });

  it('is set through the admin API and applied by the emulator', async function () {
    const emus = await startEmulators();
    try {
      const admin = (p: string, init?: RequestInit) => fetch(`${emus.pyannote.url}/__emulator${p}`, init);
      const set = await admin('/faults/random', { method: 'POST', body: JSON.stringify({ probability: 1, kinds: [{ kind: 'status', status: 503 }], endpoints: ['test'], seed: 3 }) });
      assert.equal(set.status, 200);
      const test = () => fetch(`${emus.pyannote.url}/v1/test`, { headers: { authorization: 'Bearer test-pyannote-key' } });
      assert.equal((await test()).status, 503);
      assert.deepEqual(((await (await admin('/faults/random')).json()) as { injected: unknown }).injected, { 'status 503': 1 });
      assert.equal(emus.pyannote.requests.at(-1)!.fault, 'status');
      assert.equal((await admin('/faults/random', { method: 'POST', body: JSON.stringify({ probability: 1, kinds: [{ kind: 'nope' }] }) })).status, 400);
      await admin('/faults/random', { method: 'POST', body: 'null' });
      assert.equal((await test()).status, 200);
    } finally {
      await emus.close();
    }
  });
});

describe('multipart parser', function () {
  it('reads quoted boundaries, RFC 5987 names and binary content containing CRLF', function () {
    assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), 'a b');
    assert.equal(multipartBoundary('application/json'), null);
    const bin = Buffer.from([0, 13, 10, 45, 45, 255]);
    const body = Buffer.concat([
      Buffer.from('--a b\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8\'\'r%C3%A9union.wav\r\n\r\n'),
      bin,
      Buffer.from('\r\n--a b\r\nContent-Disposition: form-data; name=model\r\n\r\nwhisper-1\r\n--a b--\r\n'),
    ]);
    const parts = parseMultipart(body, 'a b');
    assert.equal(parts[0]!.filename, 'réunion.wav');
    assert.deepEqual(parts[0]!.data, bin);
    assert.equal(parts[1]!.name, 'model');
    assert.equal(parts[1]!.data.toString(), 'whisper-1');
  });
});

describe('emulator CLI', function () {
  it('prints the env lines, applies preset faults and stops on SIGTERM', async function () {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'test/emulators/cli.ts', '--openai-port', '0', '--pyannote-port', '0', '--fault', 'test:503:1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      while (!out.includes('PYANNOTE_API_KEY=')) {
        const [chunk] = (await once(child.stdout, 'data')) as [string];
        out += chunk;
      }
      const env = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => {
            // Each line is a shell statement: `export KEY=value`.
            assert.match(l, /^export [A-Z_]+=\S+$/);
            return l.slice('export '.length).split(/=(.*)/s).slice(0, 2) as [string, string];
          }),
      );
      assert.match(env.OPENAI_BASE_URL!, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      assert.equal(env.OPENAI_API_KEY, 'test-openai-key');
      assert.equal(env.PYANNOTE_API_KEY, 'test-pyannote-key');
      const test = () => fetch(`${env.PYANNOTE_BASE_URL}/v1/test`, { headers: { authorization: 'Bearer test-pyannote-key' } });
      assert.equal((await test()).status, 503);
      assert.equal((await test()).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
