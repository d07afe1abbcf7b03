// HTTP with bodies streamed from disk. Node 20's built-in fetch holds a request body in
// memory while it sends it; a worker uploading a three-hour WAV (345 MB) or eight chunks at
// once must not. These send through node:http(s) with backpressure instead.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

function transport(url: URL) {
  return url.protocol === 'https:' ? https : http;
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const status = res.statusCode ?? 502;
  const empty = status === 204 || status === 304;
  if (empty) res.resume();
  return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers });
}

/**
 * A `fetch` for SDKs (the `openai` package takes one) whose request body is piped to the
 * socket as it is produced, never collected first. Responses are ordinary `Response`s.
 */
export const streamingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => (headers[k] = v));
  return new Promise<Response>((resolve, reject) => {
    const req = transport(url).request(url, { method: request.method, headers, signal: request.signal }, (res) => resolve(toResponse(res)));
    req.on('error', reject);
    if (!request.body) {
      req.end();
      return;
    }
    pipeline(Readable.fromWeb(request.body as WebReadableStream<Uint8Array>), req).catch((err: unknown) => {
      req.destroy(err instanceof Error ? err : new Error(String(err)));
      reject(err);
    });
  });
};

/** PUT a file to a URL (a presigned upload) with its exact Content-Length, streamed from disk. */
export async function putFile(url: string, file: string, opts: { signal?: AbortSignal; contentType?: string; onProgress?: (bytes: number) => void } = {}): Promise<Response> {
  const target = new URL(url);
  const { size } = await stat(file);
  return new Promise<Response>((resolve, reject) => {
    const req = transport(target).request(
      target,
      { method: 'PUT', headers: { 'content-length': String(size), 'content-type': opts.contentType ?? 'application/octet-stream' }, signal: opts.signal },
      (res) => resolve(toResponse(res)),
    );
    req.on('error', reject);
    const source = createReadStream(file, { highWaterMark: 1 << 20 });
    if (opts.onProgress) {
      let sent = 0;
      const report = opts.onProgress;
      source.on('data', (piece) => report((sent += piece.length)));
    }
    pipeline(source, req).catch((err: unknown) => {
      req.destroy(err instanceof Error ? err : new Error(String(err)));
      reject(err);
    });
  });
}
