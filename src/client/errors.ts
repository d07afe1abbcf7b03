// The CLI's error vocabulary and its one sink: one readable line per problem, a hint,
// and the exit code (1 usage or input, 2 the run failed). Stack traces only with --verbose.
import { ZodError } from 'zod';
import { ConfigError } from '../config';
import { DevServerError } from './dev-server';

/** Bad flags, a missing or unreadable input, an unknown id: exit code 1. */
export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A run ended failed, cancelled or timed out: exit code 2. */
export class RunFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFailedError';
  }
}

/** 130: stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT = { ok: 0, usage: 1, failed: 2, interrupted: 130 } as const;

export function zodProblems(err: ZodError): string[] {
  return err.issues.map((i) => {
    const flag = i.path.length > 0 ? `--${String(i.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options';
    // A message that names its flag already reads on its own ("--speakers must be at least 1").
    return i.message.startsWith(`${flag} `) ? i.message : `${flag}: ${i.message}`;
  });
}

export function reportError(err: unknown, opts: { json: boolean; verbose: boolean }): number {
  let code: number = EXIT.failed;
  let lines: string[];
  let hint: string | undefined;
  if (err instanceof ZodError) {
    code = EXIT.usage;
    lines = zodProblems(err);
  } else if (err instanceof ConfigError) {
    code = EXIT.usage;
    lines = err.problems;
    hint = 'Fix the environment variables above (see README, "Configuration").';
  } else if (err instanceof UsageError) {
    code = EXIT.usage;
    lines = [err.message];
    hint = err.hint;
  } else if (err instanceof DevServerError) {
    code = EXIT.usage;
    lines = [err.message];
  } else if (err instanceof RunFailedError) {
    lines = [err.message];
  } else if (isConnectionError(err)) {
    code = EXIT.usage;
    lines = [`Cannot reach the Temporal server: ${(err as Error).message}`];
    hint = 'Start one with `speech server start`, or set TEMPORAL_ADDRESS to a running server.';
  } else {
    lines = [err instanceof Error ? err.message : String(err)];
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: { message: lines.join('; '), problems: lines, ...(hint ? { hint } : {}) }, exit_code: code })}\n`);
  } else {
    for (const l of lines) process.stderr.write(`error: ${l}\n`);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    if (opts.verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
  return code;
}

function isConnectionError(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : '';
  return /Failed to connect|ECONNREFUSED|UNAVAILABLE|connect ETIMEDOUT|transport error/i.test(msg);
}
