// The `speech` command line: one module per command, options validated by zod in each,
// one error sink that maps failures to exit codes (0 ok, 1 usage or input, 2 run failed).
import { Command, CommanderError, Option } from 'commander';
import { cancelCommand, statusCommand, watchCommand } from './commands/status';
import { runCommand } from './commands/run';
import { serverCommand } from './commands/server';
import { workerCommand } from './commands/worker';
import { EXIT, reportError } from './errors';

function build(result: { code: number }, seen: { json: boolean; verbose: boolean }): Command {
  const program = new Command('speech')
    .description('Durable speech pipeline on Temporal: audio or video in, speaker-labelled transcripts out.')
    .option('--verbose', 'print stack traces with errors')
    .showHelpAfterError('(run `speech --help` for usage)')
    .exitOverride();

  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      const opts = args.find((a) => a && typeof a === 'object' && !Array.isArray(a) && !(a instanceof Command)) as { json?: boolean } | undefined;
      seen.json = Boolean(opts?.json);
      seen.verbose = Boolean(program.opts().verbose);
      result.code = await fn(...args);
    };

  program
    .command('run')
    .description('transcribe files: start, attach to or resume one pipeline per file and show progress')
    .argument('<files...>', 'audio or video files, or folders of them')
    .option('-o, --out <dir>', 'write outputs here instead of DATA_DIR/output/<pipeline id>')
    .option('-f, --formats <list>', 'comma-separated: json,srt,vtt,txt,md,rttm', 'json,srt,vtt,txt,md,rttm')
    .option('-l, --language <code>', 'ISO-639-1 language of the speech (default: detect)')
    .option('--speakers <n>', 'exact number of speakers')
    .option('--min-speakers <n>', 'at least this many speakers')
    .option('--max-speakers <n>', 'at most this many speakers')
    .option('--model <name>', 'transcription model (default: TRANSCRIBE_MODEL or whisper-1)')
    .option('--no-wait', 'start the runs and return at once')
    .option('--force-restart', 'ignore earlier results and start afresh')
    .addOption(new Option('--resume', 'resume from the last completed stage (the default)').default(true))
    .option('--worker', 'run a worker in this process (default when Temporal is local)')
    .option('--no-worker', 'do not run a worker in this process')
    .option('--parallel <n>', 'files processed at once', '4')
    .option('--json', 'print one JSON document')
    .action(wrap(async (files: string[], opts: Record<string, unknown>) => {
      const { resume: _resume, ...rest } = opts;
      return runCommand(files, rest);
    }));

  program
    .command('worker')
    .description('run a worker that processes pipeline runs from the task queue')
    .option('--grace-seconds <n>', 'on SIGINT/SIGTERM, time running activities get to finish', '30')
    .option('--json', 'accepted for symmetry; the worker logs to stderr')
    .action(wrap((opts: { graceSeconds?: string; json?: boolean }) => workerCommand(opts)));

  program
    .command('server')
    .description('the embedded Temporal dev server (database under DATA_DIR/temporal)')
    .argument('<action>', 'start | stop | status')
    .option('--headless', 'start without the Web UI')
    .option('--json', 'print JSON')
    .action(wrap((action: string, opts: { json?: boolean; headless?: boolean }) => serverCommand(action, opts)));

  program
    .command('status')
    .description("show a run's progress (stage, percent, chunks, last error)")
    .argument('<id>', 'pipeline id')
    .option('--json', 'print JSON')
    .action(wrap((id: string, opts: { json?: boolean }) => statusCommand(id, opts)));

  program
    .command('watch')
    .description('follow a run live until it ends')
    .argument('<id>', 'pipeline id')
    .option('--interval <ms>', 'refresh interval', '1000')
    .option('--json', 'print one JSON line per change')
    .action(wrap((id: string, opts: { json?: boolean; interval?: string }) => watchCommand(id, opts)));

  program
    .command('cancel')
    .description('cancel a run; finished stages stay reusable')
    .argument('<id>', 'pipeline id')
    .option('--no-wait', 'return once cancellation is requested')
    .option('--json', 'print JSON')
    .action(wrap((id: string, opts: { json?: boolean; wait?: boolean }) => cancelCommand(id, opts)));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const result = { code: EXIT.ok as number };
  const seen = { json: argv.includes('--json'), verbose: argv.includes('--verbose') };
  const program = build(result, seen);
  try {
    await program.parseAsync(argv);
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; commander already printed the message otherwise.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(err, seen);
  }
}
