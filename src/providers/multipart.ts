// multipart/form-data bodies whose file part is read from disk as the request is sent, in
// 1 MiB reads, with an exact Content-Length. Node's file-backed Blob (what a FormData
// upload would stream) is read in 64 KiB pieces through web streams: eight concurrent
// 14 MB chunk uploads took ~4× the CPU time of plain file streams on this machine.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A byte range of a file on disk: `end` is exclusive. */
export interface FileRange {
  path: string;
  start: number;
  end: number;
}

export interface MultipartFilePart {
  name: string;
  fileName: string;
  contentType: string;
  /** The part's bytes in order: literal buffers and ranges of files. */
  content: (Buffer | FileRange)[];
}

export interface MultipartBody {
  /** The Content-Type header value, with its boundary. */
  contentType: string;
  /** Exact length of the encoded body in bytes. */
  length: number;
  /** The encoded body; may be iterated once. */
  body: AsyncIterable<Buffer>;
}

const READ_SIZE = 1 << 20;

/** Quotes a name for Content-Disposition the way browsers and undici do. */
function quoted(name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * Encodes text fields (repeat a name for array fields) followed by one file part.
 * The field order is kept; servers read parts by name.
 */
export function multipartBody(fields: [name: string, value: string][], file: MultipartFilePart): MultipartBody {
  const boundary = `----speech-pipeline-${randomBytes(12).toString('hex')}`;
  const head: Buffer[] = fields.map(([name, value]) =>
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`, 'utf8'),
  );
  head.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(file.name)}"; filename="${quoted(file.fileName)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`,
      'utf8',
    ),
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  let length = tail.length;
  for (const b of head) length += b.length;
  for (const c of file.content) length += Buffer.isBuffer(c) ? c.length : c.end - c.start;

  async function* encode(): AsyncGenerator<Buffer> {
    for (const b of head) yield b;
    for (const c of file.content) {
      if (Buffer.isBuffer(c)) {
        yield c;
        continue;
      }
      if (c.end <= c.start) continue;
      let sent = 0;
      for await (const chunk of createReadStream(c.path, { start: c.start, end: c.end - 1, highWaterMark: READ_SIZE }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        yield chunk;
      }
      // A file that shrank since its length was taken would make the body shorter than
      // its Content-Length and leave the request hanging; fail it instead.
      if (sent !== c.end - c.start) throw new Error(`${c.path} changed while it was being sent (${sent} of ${c.end - c.start} bytes read)`);
    }
    yield tail;
  }
  return { contentType: `multipart/form-data; boundary=${boundary}`, length, body: encode() };
}
