/**
 * HTTP plumbing shared by the emulators: body reading with a size cap that still drains
 * (so clients see the error answer instead of a broken pipe), the request log with its
 * optional JSON-lines file, the per-key request window behind rate-limit headers, and the
 * `/__emulator/` admin API that lets another process drive an emulator.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Bandwidth } from './bandwidth';
import { type FaultAction, type FaultPlan, parseFaultRule, parseRandomFaults } from './faults';

export interface LogEntryBase {
  /** ISO time the request arrived. */
  at: string;
  method: string;
  path: string;
  /** 0 when no answer was sent (hang, reset, client gone). */
  status: number;
  /** Request body bytes read. */
  bytes: number;
  requestId: string;
  durationMs: number;
  /** Kind of injected fault, when one applied. */
  fault?: string;
  /** The client's port: tells apart the processes a test started (each holds its own connections). */
  remotePort?: number;
}

/**
 * A log entry for one request, added to `log` once when the answer is sent or the client goes
 * away (status 0 then), whichever comes first.
 */
export function trackRequest<E extends LogEntryBase>(log: RequestLog<E>, req: IncomingMessage, res: ServerResponse, path: string, requestId: string, started: number): E {
  const entry = { at: new Date(started).toISOString(), method: req.method ?? '', path, status: 0, bytes: 0, requestId, durationMs: 0, remotePort: req.socket.remotePort } as E;
  let logged = false;
  const record = () => {
    if (logged) return;
    logged = true;
    entry.status = res.headersSent ? res.statusCode : 0;
    entry.durationMs = Date.now() - started;
    log.add(entry);
  };
  res.once('finish', record);
  res.once('close', record);
  return entry;
}

export class RequestLog<E extends LogEntryBase> {
  readonly entries: E[] = [];
  private readonly file: WriteStream | undefined;

  constructor(logFile?: string) {
    this.file = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  }

  add(entry: E): void {
    this.entries.push(entry);
    this.file?.write(`${JSON.stringify(entry)}\n`);
  }

  clear(): void {
    this.entries.length = 0;
  }

  async close(): Promise<void> {
    if (!this.file) return;
    this.file.end();
    await once(this.file, 'close');
  }
}

export interface BodyResult {
  /** Null when the body exceeded the limit; it was drained, not kept. */
  body: Buffer | null;
  bytes: number;
}

/**
 * Reads the whole body, keeping at most `limit` bytes; beyond that it keeps counting and
 * discarding. With a `bandwidth`, the body is read no faster than that link carries it.
 */
export function readBody(req: IncomingMessage, limit = Infinity, bandwidth?: Bandwidth): Promise<BodyResult> {
  // Already consumed (an earlier read): 'end' will not fire again.
  if (req.readableEnded) return Promise.resolve({ body: Buffer.alloc(0), bytes: 0 });
  const source: Readable = bandwidth ? bandwidth.pace(req) : req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let over = false;
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (over) return;
      if (bytes > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    source.on('end', () => resolve({ body: over ? null : Buffer.concat(chunks), bytes }));
    source.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the request'));
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(data.length) });
  res.end(data);
}

export function sendText(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const data = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(data.length) });
  res.end(data);
}

/** Waits `ms`, resolving false early if the client goes away. */
export function waitUnlessClosed(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.once('close', onClose);
  });
}

/** The injected faults that act on the connection rather than on an answer. */
export type ConnectionFault = Extract<FaultAction, { kind: 'hang' | 'reset' | 'delay' }>;

export function isConnectionFault(fault: FaultAction): fault is ConnectionFault {
  return fault.kind === 'hang' || fault.kind === 'reset' || fault.kind === 'delay';
}

/**
 * Applies a connection fault, the same for every emulated service: `hang` reads the upload
 * and never answers (so the client waits for an answer, not for the send), `reset` drops
 * the connection, `delay` waits unless the client leaves. Returns true when the request is
 * finished, false when it goes on after the delay.
 */
export async function applyConnectionFault(
  fault: ConnectionFault,
  req: IncomingMessage,
  res: ServerResponse,
  onBodyRead?: (bytes: number) => void,
  bandwidth?: Bandwidth,
): Promise<boolean> {
  switch (fault.kind) {
    case 'hang':
      readBody(req, 0, bandwidth).then(
        (r) => onBodyRead?.(r.bytes),
        () => undefined,
      );
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'delay':
      return !(await waitUnlessClosed(res, fault.ms));
  }
}

/**
 * Requests per key in a sliding window (a minute by default), for rate-limit headers and
 * optional enforcement. A refused request is not counted: a client that waits the
 * Retry-After it was given then gets through.
 */
export class RequestWindow {
  private readonly hits = new Map<string, number[]>();
  constructor(
    readonly limit: number,
    readonly windowMs = 60_000,
  ) {}

  /**
   * Counts a request at `now`, unless `enforce` and the window is full (then `limited`).
   * `used` is the count in the window with this request if it was counted; `resetMs` is
   * the time until the oldest request leaves the window, making room for one more.
   */
  hit(key: string, now = Date.now(), enforce = false): { used: number; remaining: number; resetMs: number; limited: boolean } {
    const list = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    const limited = enforce && list.length >= this.limit;
    if (!limited) list.push(now);
    this.hits.set(key, list);
    return { used: list.length, remaining: Math.max(0, this.limit - list.length), resetMs: Math.max(0, list[0]! + this.windowMs - now), limited };
  }

  clear(): void {
    this.hits.clear();
  }
}

export interface AdminContext {
  requests: () => unknown[];
  faults: FaultPlan;
  reset: () => void;
  /** Extra state for GET /__emulator/state (e.g. pyannote jobs). */
  state?: () => unknown;
  /** The emulator's clock, for GET /__emulator/clock and POST /__emulator/clock {"advanceMs": n}. */
  clock?: { now(): number; advance(ms: number): void };
}

/**
 * Handles `/__emulator/*`; returns false for other paths. No auth: the emulators are
 * local test doubles, and tests in other processes must reach this without keys.
 */
export async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, ctx: AdminContext): Promise<boolean> {
  if (!path.startsWith('/__emulator/')) return false;
  const route = `${req.method} ${path.slice('/__emulator'.length)}`;
  const { body } = await readBody(req, 1 << 20);
  switch (route) {
    case 'GET /requests':
      sendJson(res, 200, ctx.requests());
      return true;
    case 'GET /faults':
      sendJson(res, 200, ctx.faults.list());
      return true;
    case 'POST /faults': {
      try {
        const parsed: unknown = JSON.parse(body?.toString('utf8') || 'null');
        const rules = (Array.isArray(parsed) ? parsed : [parsed]).map(parseFaultRule);
        for (const r of rules) ctx.faults.add(r);
        sendJson(res, 201, { added: rules.length });
      } catch (err) {
        sendJson(res, 400, { error: (err as Error).message });
      }
      return true;
    }
    case 'GET /faults/random':
      sendJson(res, 200, ctx.faults.randomFaults());
      return true;
    case 'POST /faults/random': {
      // A settings object turns random faults on; `null` turns them off.
      try {
        const parsed: unknown = JSON.parse(body?.toString('utf8') || 'null');
        ctx.faults.random(parsed === null ? null : parseRandomFaults(parsed));
        sendJson(res, 200, ctx.faults.randomFaults());
      } catch (err) {
        sendJson(res, 400, { error: (err as Error).message });
      }
      return true;
    }
    case 'DELETE /faults':
      ctx.faults.clear();
      res.writeHead(204).end();
      return true;
    case 'POST /reset':
      ctx.reset();
      res.writeHead(204).end();
      return true;
    case 'GET /state':
      sendJson(res, 200, ctx.state ? ctx.state() : {});
      return true;
    case 'GET /clock':
    case 'POST /clock': {
      const clock = ctx.clock;
      if (!clock) {
        sendJson(res, 404, { error: 'this emulator has no clock' });
        return true;
      }
      if (route === 'POST /clock') {
        let advanceMs: unknown;
        try {
          advanceMs = (JSON.parse(body?.toString('utf8') || 'null') as { advanceMs?: unknown } | null)?.advanceMs;
        } catch {
          advanceMs = undefined;
        }
        if (typeof advanceMs !== 'number' || !Number.isFinite(advanceMs)) {
          sendJson(res, 400, { error: 'expected {"advanceMs": <number>}' });
          return true;
        }
        clock.advance(advanceMs);
      }
      sendJson(res, 200, { now: new Date(clock.now()).toISOString() });
      return true;
    }
    default:
      sendJson(res, 404, { error: `no admin route ${route}` });
      return true;
  }
}

/** Listens and returns the base origin (http://host:port), IPv6 hosts bracketed. */
export async function listen(server: Server, port: number, host: string): Promise<string> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' || host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${addr.port}`;
}

/** Closes the server, cutting hung and keep-alive connections so close() never waits on a client. */
export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

/** Bearer token from an Authorization header, or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1]!.trim() : null;
}
