// The multipart encoder behind transcription uploads, read back by the emulator's
// independent parser: fields in order, repeated array fields, the file part's bytes exactly
// the requested ranges, a Content-Length equal to what is sent, and a file that shrinks
// mid-send failing instead of leaving a short body.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { multipartBody } from '../../src/providers/multipart';
import { multipartBoundary, parseMultipart } from '../emulators/multipart';
import { testTmpDir } from '../helpers/temporal';

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of body) parts.push(b);
  return Buffer.concat(parts);
}

describe('multipart upload bodies', () => {
  let dir: string;
  let file: string;
  let bytes: Buffer;

  before(async () => {
    dir = await testTmpDir('speech-multipart-');
    file = path.join(dir, 'data.bin');
    // Larger than one 1 MiB read, not a multiple of it.
    bytes = randomBytes(3 * (1 << 20) + 12345);
    await writeFile(file, bytes);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('encodes fields and a file part (header + byte range) that a multipart parser reads back exactly', async () => {
    const header = Buffer.from('RIFF-HEADER');
    const range = { path: file, start: 1000, end: 2 * (1 << 20) + 777 };
    const mp = multipartBody(
      [
        ['model', 'whisper-1'],
        ['timestamp_granularities[]', 'word'],
        ['timestamp_granularities[]', 'segment'],
        ['prompt', 'Ünïcode "quoted" text'],
      ],
      { name: 'file', fileName: 'chunk "7".wav', contentType: 'audio/wav', content: [header, range] },
    );
    const body = await collect(mp.body);
    assert.equal(body.length, mp.length, 'Content-Length is the exact body length');
    const boundary = multipartBoundary(mp.contentType);
    assert.ok(boundary);
    const parts = parseMultipart(body, boundary);
    assert.deepEqual(
      parts.filter((p) => p.filename === undefined).map((p) => [p.name, p.data.toString('utf8')]),
      [
        ['model', 'whisper-1'],
        ['timestamp_granularities[]', 'word'],
        ['timestamp_granularities[]', 'segment'],
        ['prompt', 'Ünïcode "quoted" text'],
      ],
    );
    const f = parts.find((p) => p.name === 'file')!;
    assert.equal(f.filename, 'chunk "7".wav');
    assert.equal(f.contentType, 'audio/wav');
    assert.ok(f.data.equals(Buffer.concat([header, bytes.subarray(range.start, range.end)])));
  });

  it('sends a whole file, and an empty range as nothing', async () => {
    const mp = multipartBody([], { name: 'file', fileName: 'a.bin', contentType: 'application/octet-stream', content: [{ path: file, start: 0, end: bytes.length }, { path: file, start: 5, end: 5 }] });
    const body = await collect(mp.body);
    assert.equal(body.length, mp.length);
    const [f] = parseMultipart(body, multipartBoundary(mp.contentType)!);
    assert.ok(f!.data.equals(bytes));
  });

  it('fails when the file is shorter than the range promised', async () => {
    const short = path.join(dir, 'short.bin');
    await writeFile(short, bytes);
    const mp = multipartBody([], { name: 'file', fileName: 's.bin', contentType: 'application/octet-stream', content: [{ path: short, start: 0, end: bytes.length }] });
    await truncate(short, 1000);
    await assert.rejects(collect(mp.body), /changed while it was being sent \(1000 of \d+ bytes read\)/);
  });
});
