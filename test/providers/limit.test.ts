// Per-provider request limits: never more than N in flight, slots handed on in arrival
// order, and a caller that gives up while waiting neither blocks nor leaks a slot.
import assert from 'node:assert/strict';
import { Semaphore, limitDiarizer, limitTranscriber } from '../../src/providers/limit';
import type { Diarizer, TranscribeRequest, Transcriber } from '../../src/providers/interfaces';
import type { Transcript } from '../../src/domain/types';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** A Transcriber whose calls finish only when the test says so; it counts concurrency. */
function fakeTranscriber() {
  const calls: { req: TranscribeRequest; signal: AbortSignal | undefined; done: Deferred<Transcript> }[] = [];
  let active = 0;
  let maxActive = 0;
  const transcriber: Transcriber = {
    async transcribe(req, signal) {
      const done = deferred<Transcript>();
      calls.push({ req, signal, done });
      active += 1;
      maxActive = Math.max(maxActive, active);
      try {
        return await done.promise;
      } finally {
        active -= 1;
      }
    },
  };
  return {
    transcriber,
    calls,
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
  };
}

const req = (n: number): TranscribeRequest => ({ file: `/audio/${n}.wav`, fileName: `chunk-${n}.wav`, model: 'whisper-1', language: null, prompt: null });
const transcript = (n: number): Transcript => ({ language: 'english', duration: n, text: `chunk ${n}`, words: [], segments: [] });
const nameOf = (r: TranscribeRequest) => r.fileName;

describe('limitTranscriber / Semaphore', () => {
  it('never has more than the limit in flight, and every caller gets its own answer', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 3);
    const results = Array.from({ length: 10 }, (_, i) => limited.transcribe(req(i)));
    await settle();
    assert.equal(fake.active, 3);
    // Finish calls in an order unrelated to their start (latest first), one at a time.
    const finished = new Set<number>();
    while (finished.size < 10) {
      const i = fake.calls.map((_, k) => k).filter((k) => !finished.has(k)).pop()!;
      finished.add(i);
      const c = fake.calls[i]!;
      c.done.resolve(transcript(Number(/\d+/.exec(c.req.fileName)![0])));
      await settle();
      assert.ok(fake.active <= 3, `${fake.active} in flight`);
      assert.equal(fake.active, Math.min(3, 10 - finished.size), 'a free slot was left unused');
    }
    const out = await Promise.all(results);
    assert.equal(fake.maxActive, 3);
    assert.equal(fake.calls.length, 10);
    out.forEach((t, i) => assert.equal(t.text, `chunk ${i}`));
  });

  it('hands freed slots to waiters in the order they arrived', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 1);
    const results = [0, 1, 2, 3, 4].map((i) => limited.transcribe(req(i)));
    for (let i = 0; i < 5; i++) {
      await settle();
      assert.equal(fake.calls.length, i + 1, `after ${i} finished`);
      fake.calls[i]!.done.resolve(transcript(i));
    }
    await Promise.all(results);
    assert.deepEqual(fake.calls.map((c) => nameOf(c.req)), ['chunk-0.wav', 'chunk-1.wav', 'chunk-2.wav', 'chunk-3.wav', 'chunk-4.wav']);
  });

  it('passes the request and the caller’s signal through unchanged', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 2);
    const ac = new AbortController();
    const r = { ...req(7), range: { startByte: 44, endByte: 3244 }, language: 'en', prompt: 'Budget meeting.' };
    const p = limited.transcribe(r, ac.signal);
    await settle();
    assert.deepEqual(fake.calls[0]!.req, r);
    assert.equal(fake.calls[0]!.signal, ac.signal);
    fake.calls[0]!.done.resolve(transcript(7));
    assert.equal((await p).text, 'chunk 7');
  });

  it('frees the slot when a call fails', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 1);
    const first = limited.transcribe(req(0));
    const second = limited.transcribe(req(1));
    await settle();
    fake.calls[0]!.done.reject(new Error('503 from the provider'));
    await assert.rejects(first, /503 from the provider/);
    await settle();
    assert.equal(fake.calls.length, 2);
    fake.calls[1]!.done.resolve(transcript(1));
    assert.equal((await second).text, 'chunk 1');
  });

  it('a waiter that is aborted leaves the queue at once, without ever taking a slot', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 1);
    const holder = limited.transcribe(req(0));
    const ac = new AbortController();
    const quitter = limited.transcribe(req(1), ac.signal);
    const next = limited.transcribe(req(2));
    await settle();
    const reason = new Error('activity cancelled');
    ac.abort(reason);
    // Rejected while the slot is still held: it did not wait for a slot to give up.
    await assert.rejects(quitter, (err) => err === reason);
    assert.equal(fake.calls.length, 1);
    fake.calls[0]!.done.resolve(transcript(0));
    await holder;
    await settle();
    // The slot went to the next waiter; the aborted one never reached the provider.
    assert.deepEqual(fake.calls.map((c) => nameOf(c.req)), ['chunk-0.wav', 'chunk-2.wav']);
    fake.calls[1]!.done.resolve(transcript(2));
    await next;
    // No slot leaked or doubled: with the gate idle, two new calls run one at a time.
    const a = limited.transcribe(req(3));
    const b = limited.transcribe(req(4));
    await settle();
    assert.equal(fake.active, 1);
    fake.calls[2]!.done.resolve(transcript(3));
    await a;
    await settle();
    assert.equal(fake.active, 1);
    fake.calls[3]!.done.resolve(transcript(4));
    await b;
    assert.equal(fake.maxActive, 1);
  });

  it('a caller whose signal is already aborted is refused at once instead of queueing', async () => {
    const fake = fakeTranscriber();
    const limited = limitTranscriber(fake.transcriber, 1);
    const holder = limited.transcribe(req(0));
    const ac = new AbortController();
    const reason = new Error('activity cancelled before the request');
    ac.abort(reason);
    const late = limited.transcribe(req(1), ac.signal);
    const outcome = await Promise.race([late.then(() => 'resolved', (e: unknown) => (e === reason ? 'refused' : `rejected: ${String(e)}`)), settle().then(() => settle()).then(() => 'still waiting')]);
    fake.calls[0]!.done.resolve(transcript(0));
    await holder;
    await settle();
    // Clean up a call that (wrongly) got through, so the test ends either way.
    fake.calls[1]?.done.resolve(transcript(1));
    await late.catch(() => undefined);
    assert.equal(outcome, 'refused');
    assert.equal(fake.calls.length, 1, 'the aborted caller reached the provider');
  });

  it('Semaphore rejects with the abort reason and keeps other waiters in order', async () => {
    const gate = new Semaphore(1);
    const order: string[] = [];
    const release = deferred();
    const first = gate.run(async () => {
      order.push('first');
      await release.promise;
    });
    const acs = [new AbortController(), new AbortController(), new AbortController()];
    const waiters = acs.map((ac, i) =>
      gate.run(async () => {
        order.push(`w${i}`);
      }, ac.signal),
    );
    acs[1]!.abort(new Error('gone'));
    await assert.rejects(waiters[1]!, /gone/);
    release.resolve();
    await first;
    await Promise.all([waiters[0], waiters[2]]);
    assert.deepEqual(order, ['first', 'w0', 'w2']);
  });

  it('limitDiarizer counts upload, submit and poll against one limit', async () => {
    let active = 0;
    let maxActive = 0;
    const gates: Deferred<void>[] = [];
    const busy = async <T>(v: T): Promise<T> => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      const d = deferred();
      gates.push(d);
      await d.promise;
      active -= 1;
      return v;
    };
    const inner: Diarizer = {
      upload: (_f, key) => busy(key),
      submit: () => busy({ jobId: 'j1' }),
      submitVoiceprint: () => busy({ jobId: 'v1' }),
      poll: (jobId) => busy({ jobId, status: 'running' as const }),
    };
    const limited = limitDiarizer(inner, 2);
    const all = Promise.all([
      limited.upload('/a.wav', 'media://a'),
      limited.submit('media://a', { numSpeakers: null, minSpeakers: null, maxSpeakers: null }),
      limited.poll('j1'),
      limited.poll('j2'),
    ]);
    await settle();
    assert.equal(active, 2);
    for (let i = 0; i < 4; i++) {
      gates[i]!.resolve();
      await settle();
      assert.ok(active <= 2);
    }
    const [url, job, p1, p2] = await all;
    assert.equal(url, 'media://a');
    assert.equal(job.jobId, 'j1');
    assert.equal(p1.jobId, 'j1');
    assert.equal(p2.jobId, 'j2');
    assert.equal(maxActive, 2);
  });
});
