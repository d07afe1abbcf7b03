import assert from 'node:assert/strict';
import { formatLogEntry } from '../../src/worker-log';

const at = BigInt(Date.UTC(2026, 11, 7, 1, 2, 3)) * 1_000_000n;

describe('worker log lines', () => {
  it('says one event on one readable line, details as key=value', () => {
    const line = formatLogEntry({ level: 'INFO', message: 'speech-a-1: transcribeChunk completed in 2.1 s', meta: { run: 'speech-a-1', attempt: 2, note: 'two words', err: new Error('boom\nstack') }, timestampNanos: at }, 'text');
    assert.equal(line, '2026-12-07T01:02:03.000Z INFO  speech-a-1: transcribeChunk completed in 2.1 s  run=speech-a-1 attempt=2 note="two words" err="boom\\nstack"');
    assert.equal(line!.split('\n').length, 1);
  });

  it('writes one JSON object per line with LOG_FORMAT=json', () => {
    const line = formatLogEntry({ level: 'WARN', message: 'x: ended', meta: { run: 'x', attempt: 1 }, timestampNanos: at }, 'json')!;
    assert.deepEqual(JSON.parse(line), { time: '2026-12-07T01:02:03.000Z', level: 'warn', message: 'x: ended', run: 'x', attempt: 1 });
  });

  it('leaves out SDK lines an operator cannot act on', () => {
    assert.equal(formatLogEntry({ level: 'INFO', message: 'No Nexus services registered, not polling for Nexus tasks', meta: {}, timestampNanos: at }, 'text'), null);
  });
});
