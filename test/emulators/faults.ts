/**
 * Fault injection and latency shared by the emulators. A FaultPlan holds rules keyed by
 * endpoint name; each request to an endpoint asks the plan once whether to misbehave.
 * Rules are plain JSON so tests in another process can post them to the admin API.
 */
import { z } from 'zod';

export type FaultAction =
  | {
      kind: 'status';
      status: number;
      /** Sent as Retry-After (integer seconds). */
      retryAfterSeconds?: number;
      /**
       * Sent as `retry-after-ms` (milliseconds), which the `openai` package prefers to
       * Retry-After when deciding how long to wait before its own retry.
       */
      retryAfterMs?: number;
      /**
       * Sent as `x-should-retry: true|false`: the `openai` package obeys it over the status
       * (false: no retry of a 429/5xx; true: a retry even of a 4xx).
       */
      shouldRetry?: boolean;
      /** Provider error code, e.g. `rate_limit_exceeded` or `insufficient_quota`. */
      code?: string;
      message?: string;
    }
  /** Never answers; the request stays open until the client gives up or the emulator closes. */
  | { kind: 'hang' }
  /** Destroys the socket without a response. */
  | { kind: 'reset' }
  /** Answers normally after an extra delay. */
  | { kind: 'delay'; ms: number }
  /** pyannote only (endpoint `diarize`): accepts the job, which then ends `failed`. */
  | { kind: 'fail-job' };

export type FaultRule = FaultAction & {
  /**
   * Endpoint name: openai `transcriptions`; pyannote `test`, `media`, `upload`, `diarize`,
   * `jobs`; `*` matches every endpoint of the emulator.
   */
  endpoint: string;
  /** How many matching requests misbehave; default 1, -1 for every one. */
  times?: number;
  /** Matching requests let through before the fault starts. */
  afterRequests?: number;
};

const common = {
  endpoint: z.string().min(1),
  times: z.number().int().min(-1).optional(),
  afterRequests: z.number().int().min(0).optional(),
};

export const faultRuleSchema = z.discriminatedUnion('kind', [
  z.object({
    ...common,
    kind: z.literal('status'),
    status: z.number().int().min(100).max(599),
    retryAfterSeconds: z.number().min(0).optional(),
    retryAfterMs: z.number().min(0).optional(),
    shouldRetry: z.boolean().optional(),
    code: z.string().optional(),
    message: z.string().optional(),
  }),
  z.object({ ...common, kind: z.literal('hang') }),
  z.object({ ...common, kind: z.literal('reset') }),
  z.object({ ...common, kind: z.literal('delay'), ms: z.number().min(0) }),
  z.object({ ...common, kind: z.literal('fail-job') }),
]);

/** Validates a rule from JSON (admin API); throws a readable Error. */
export function parseFaultRule(input: unknown): FaultRule {
  const r = faultRuleSchema.safeParse(input);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || 'rule'}: ${i.message}`).join('; '));
  return r.data as FaultRule;
}

/** Status-fault fields the CLI form sets by name (`name=value`), with how each value is read. */
const NAMED_FIELDS: Record<string, (v: string) => unknown> = {
  retryAfterSeconds: Number,
  retryAfterMs: Number,
  shouldRetry: (v) => (v === 'true' ? true : v === 'false' ? false : v),
  code: String,
  message: String,
};

/**
 * Parses the CLI form `endpoint:what[:times[:retryAfterSeconds]][:name=value…]`, where `what`
 * is a status code, `hang`, `reset`, `fail-job` or `delay=<ms>`, and the named fields of a
 * status fault are retryAfterSeconds, retryAfterMs, shouldRetry, code and message. Examples:
 * `transcriptions:429:2:3`, `jobs:503`, `diarize:hang`, `transcriptions:delay=500:3`,
 * `transcriptions:429:1:retryAfterMs=1500`, `transcriptions:503:-1:shouldRetry=false`.
 */
export function parseFaultSpec(spec: string): FaultRule {
  const [endpoint, what, ...rest] = spec.split(':');
  if (!endpoint || !what) throw new Error(`bad fault "${spec}": expected endpoint:what[:times[:retryAfterSeconds]][:name=value…]`);
  const named: Record<string, unknown> = {};
  const positional: string[] = [];
  for (const field of rest) {
    const eq = field.indexOf('=');
    if (eq < 0) {
      positional.push(field);
      continue;
    }
    const name = field.slice(0, eq);
    const read = NAMED_FIELDS[name];
    if (!read) throw new Error(`bad fault "${spec}": unknown field "${name}" (known: ${Object.keys(NAMED_FIELDS).join(', ')})`);
    named[name] = read(field.slice(eq + 1));
  }
  const [times, retry] = positional;
  const extra = { endpoint, ...(times !== undefined ? { times: Number(times) } : {}) };
  let rule: unknown;
  if (/^\d{3}$/.test(what)) rule = { ...extra, kind: 'status', status: Number(what), ...(retry !== undefined ? { retryAfterSeconds: Number(retry) } : {}), ...named };
  else if (Object.keys(named).length > 0) throw new Error(`bad fault "${spec}": named fields apply to status faults only`);
  else if (what.startsWith('delay=')) rule = { ...extra, kind: 'delay', ms: Number(what.slice(6)) };
  else rule = { ...extra, kind: what };
  return parseFaultRule(rule);
}

/**
 * Faults at random, at a rate: each request to a matching endpoint that no counted rule
 * claims misbehaves with `probability`, doing one of `kinds` (by `weight`, equal by default).
 * A seeded generator makes the n-th decision of a plan the same on every run with that seed;
 * which request is the n-th depends on the order requests arrive in.
 */
export interface RandomFaults {
  /** Chance that one request misbehaves, 0..1. */
  probability: number;
  /** What a misbehaving request does; `weight` (default 1) sets how often, relative to the others. */
  kinds: (FaultAction & { weight?: number })[];
  /** Endpoints it applies to (see FaultRule.endpoint); every endpoint by default. */
  endpoints?: string[];
  /** Seed of the generator (32-bit integer); a random one, readable from randomFaults(), by default. */
  seed?: number;
}

export const randomFaultsSchema = z.object({
  probability: z.number().min(0).max(1),
  kinds: z.array(z.object({ kind: z.string(), weight: z.number().positive().optional() }).passthrough()).min(1),
  endpoints: z.array(z.string().min(1)).min(1).optional(),
  seed: z.number().int().optional(),
});

/** Validates random-fault settings from JSON (admin API), each kind as a fault rule is; throws a readable Error. */
export function parseRandomFaults(input: unknown): RandomFaults {
  const r = randomFaultsSchema.safeParse(input);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || 'random faults'}: ${i.message}`).join('; '));
  const kinds = r.data.kinds.map(({ weight, ...k }, i) => {
    try {
      const { endpoint: _e, times: _t, afterRequests: _a, ...action } = parseFaultRule({ ...k, endpoint: '*' });
      return { ...(action as FaultAction), ...(weight !== undefined ? { weight } : {}) };
    } catch (err) {
      throw new Error(`kinds.${i}: ${(err as Error).message}`);
    }
  });
  return { ...r.data, kinds };
}

/**
 * Parses the CLI form `probability[:kind|kind…[:seed]]`, kinds as in parseFaultSpec's `what`
 * (a status code, `hang`, `reset`, `delay=<ms>`); a 429 says Retry-After: 1. Example:
 * `0.05:429|500|503|reset|hang:42`. The default kinds are 429, 500, 503 and reset.
 */
export function parseRandomFaultSpec(spec: string): RandomFaults {
  const [p, kinds, seed, ...rest] = spec.split(':');
  if (p === undefined || p === '' || rest.length > 0) throw new Error(`bad random faults "${spec}": expected probability[:kind|kind…[:seed]]`);
  const action = (what: string): unknown => {
    if (/^\d{3}$/.test(what)) return { kind: 'status', status: Number(what), ...(what === '429' ? { retryAfterSeconds: 1 } : {}) };
    if (what.startsWith('delay=')) return { kind: 'delay', ms: Number(what.slice(6)) };
    return { kind: what };
  };
  return parseRandomFaults({
    probability: Number(p),
    kinds: (kinds ? kinds.split('|') : ['429', '500', '503', 'reset']).map(action),
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
  });
}

/** mulberry32: a small, fast, seedable generator of floats in [0, 1); enough for test faults and drills. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A short name for what a fault did: `status 429`, `hang`, `reset`, `delay`, `fail-job`. */
export function faultLabel(action: FaultAction): string {
  return action.kind === 'status' ? `status ${action.status}` : action.kind;
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
  fired: number;
}

export class FaultPlan {
  private active: ActiveRule[] = [];
  private chance: { spec: RandomFaults & { seed: number }; next: () => number; considered: number; injected: Map<string, number> } | null = null;

  add(rule: FaultRule): this {
    this.active.push({ rule: parseFaultRule(rule), seen: 0, fired: 0 });
    return this;
  }

  /** Turns random faults on (replacing earlier settings), or off with null. */
  random(spec: RandomFaults | null): this {
    if (spec === null) {
      this.chance = null;
      return this;
    }
    const parsed = parseRandomFaults(spec);
    const seed = parsed.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.chance = { spec: { ...parsed, seed }, next: seededRandom(seed), considered: 0, injected: new Map() };
    return this;
  }

  /** The random-fault settings (with the seed in use), requests considered and faults injected by label; null when off. */
  randomFaults(): { spec: RandomFaults & { seed: number }; considered: number; injected: Record<string, number> } | null {
    if (!this.chance) return null;
    return { spec: this.chance.spec, considered: this.chance.considered, injected: Object.fromEntries(this.chance.injected) };
  }

  /** Removes the rules and turns random faults off. */
  clear(): void {
    this.active = [];
    this.chance = null;
  }

  /** Rules with their counters, for the admin API and debugging. */
  list(): { rule: FaultRule; seen: number; fired: number }[] {
    return this.active.map((a) => ({ ...a }));
  }

  /**
   * Called exactly once per request. Every matching rule counts the request (so
   * `afterRequests` counts requests to the endpoint, not to the rule); the first rule
   * still due fires.
   */
  next(endpoint: string): FaultAction | undefined {
    let hit: ActiveRule | undefined;
    for (const a of this.active) {
      if (a.rule.endpoint !== endpoint && a.rule.endpoint !== '*') continue;
      a.seen++;
      const times = a.rule.times ?? 1;
      if (!hit && a.seen > (a.rule.afterRequests ?? 0) && (times < 0 || a.fired < times)) hit = a;
    }
    if (!hit) return this.draw(endpoint);
    hit.fired++;
    // Strip the rule bookkeeping so callers see only the action.
    const { endpoint: _e, times: _t, afterRequests: _a, ...action } = hit.rule;
    return action as FaultAction;
  }

  /** The random fault for one request no rule claimed, if it gets one. Two draws per request considered, so the sequence depends on the seed alone. */
  private draw(endpoint: string): FaultAction | undefined {
    const c = this.chance;
    if (!c || (c.spec.endpoints && !c.spec.endpoints.includes(endpoint))) return undefined;
    c.considered++;
    const hit = c.next() < c.spec.probability;
    const pick = c.next();
    if (!hit) return undefined;
    const total = c.spec.kinds.reduce((s, k) => s + (k.weight ?? 1), 0);
    let at = pick * total;
    let chosen = c.spec.kinds[c.spec.kinds.length - 1]!;
    for (const k of c.spec.kinds) {
      at -= k.weight ?? 1;
      if (at < 0) {
        chosen = k;
        break;
      }
    }
    const { weight: _w, ...action } = chosen;
    const label = faultLabel(action as FaultAction);
    c.injected.set(label, (c.injected.get(label) ?? 0) + 1);
    return action as FaultAction;
  }
}

export interface LatencyModel {
  fixedMs?: number;
  perAudioSecondMs?: number;
}

/** Milliseconds a response (OpenAI) or a job (pyannote) takes for this much audio. */
export function latencyMs(model: LatencyModel | undefined, audioSeconds: number): number {
  if (!model) return 0;
  return Math.max(0, (model.fixedMs ?? 0) + (model.perAudioSecondMs ?? 0) * audioSeconds);
}
