// The `speech` command line: one module per command, options validated by zod in each,
// one error sink that maps failures to exit codes (0 ok, 1 usage or input, 2 run failed).
import { Command, CommanderError, Option } from 'commander';
import { cancelCommand, statusCommand, watchCommand } from './commands/status';
import { runCommand } from './commands/run';
import { serverCommand } from './commands/server';
import { engineCommand } from './commands/engine';
import { workerCommand } from './commands/worker';
import { listCommand } from './commands/list';
import { showCommand } from './commands/show';
import { validateCommand } from './commands/validate';
import { cleanupCommand } from './commands/cleanup';
import { exportCommand } from './commands/export';
import { deleteCommand } from './commands/delete';
import { renameCommand, speakersCommand } from './commands/speakers';
import { voicesCommand } from './commands/voices';
import { addRenderOptions } from './render-flags';
import { EXIT, reportError, UsageError } from './errors';

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

  const run = program
    .command('run')
    .description('transcribe files: start, attach to or resume one pipeline per file and show progress')
    .argument('[files...]', 'audio or video files, or folders of them')
    .option('-o, --out <dir>', 'write outputs here instead of DATA_DIR/output/<pipeline id>')
    .option('-f, --formats <list>', 'comma-separated: json,srt,vtt,txt,md,rttm,docx', 'json,srt,vtt,txt,md,rttm')
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
    .option('--identify', 'name speakers after the voices enrolled with `speech voices add`')
    .option('--identify-threshold <score>', 'with --identify: match score (0-100) a voice needs (default 50 on the local engine, pyannote.ai\'s own otherwise)')
    .option('--json', 'print one JSON document')
    .option('--list-checkpoints', 'the original tool\'s flag: same as `speech list` (with FILEs: only their runs)')
    .option('--cleanup-checkpoints', 'the original tool\'s flag: same as `speech cleanup` with its defaults')
    .option('--delete-checkpoint <id>', 'the original tool\'s flag: same as `speech delete ID`')
    .action(wrap(async (files: string[], opts: Record<string, unknown>) => {
      const { resume: _resume, listCheckpoints, cleanupCheckpoints, deleteCheckpoint, ...rest } = opts;
      const aliases = [listCheckpoints && '--list-checkpoints', cleanupCheckpoints && '--cleanup-checkpoints', deleteCheckpoint !== undefined && '--delete-checkpoint'].filter(Boolean);
      if (aliases.length > 1) throw new UsageError(`use one of ${aliases.join(', ')} at a time`);
      const json = { json: rest.json ?? false };
      if (listCheckpoints) return listCommand(json, { inputs: files });
      if (cleanupCheckpoints || deleteCheckpoint !== undefined) {
        if (files.length > 0) throw new UsageError(`${aliases[0]} takes no files; run them separately with \`speech run FILE\``);
        return cleanupCheckpoints ? cleanupCommand(json) : deleteCommand(String(deleteCheckpoint), json);
      }
      if (files.length === 0) {
        throw new UsageError('name at least one audio or video file (or a folder of them)', 'speech run meeting.m4a   (see `speech run --help`; `speech list` shows earlier runs)');
      }
      return runCommand(files, rest);
    }));
  addRenderOptions(run);

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
    .command('engine')
    .description('the local speech engine (transcription and diarization with no key; jobs under DATA_DIR/engine)')
    .argument('<action>', 'start | stop | status')
    .option('--json', 'print JSON')
    .action(wrap((action: string, opts: { json?: boolean }) => engineCommand(action, opts)));

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

  program
    .command('list')
    .description('list pipeline runs from Temporal and the state records (records only when the server is down)')
    .option('--status <status>', 'only runs with this status: running, completed, failed, cancelled')
    .option('--detailed', 'add each stage: status, time taken, artifact')
    .option('--json', 'print one JSON document')
    .action(wrap((opts: Record<string, unknown>) => listCommand(opts)));

  program
    .command('show')
    .description("one run: stages with status, start, time taken and artifact (path, size, sha256), options, error, outputs")
    .argument('<id>', 'pipeline id (see `speech list`)')
    .option('--json', 'print one JSON document')
    .action(wrap((id: string, opts: Record<string, unknown>) => showCommand(id, opts)));

  program
    .command('validate')
    .description('check every recorded artifact: it exists, matches its sha256, and (audio) decodes')
    .argument('<id>', 'pipeline id (see `speech list`)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nExit codes: 0 every file holds; 2 a check failed (each problem on its own line); 1 unknown id or a broken record.')
    .action(wrap((id: string, opts: Record<string, unknown>) => validateCommand(id, opts)));

  program
    .command('cleanup')
    .description('remove state records and interim folders of finished runs older than a limit (never a running run)')
    .option('--older-than <duration>', 'only runs last updated longer ago than this, e.g. 90m, 36h, 7d, 2w, 1d12h', '7d')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--include-outputs', 'also remove the output folders DATA_DIR/output/<id> (your transcripts)')
    .option('--json', 'print one JSON document')
    .action(wrap((opts: Record<string, unknown>) => cleanupCommand(opts)));

  const exportCmd = program
    .command('export')
    .description('write the state record (with stage timings from the Temporal history) to FILE.json, or re-render the transcript with --formats')
    .argument('<id>', 'pipeline id (see `speech list`)')
    .argument('[file]', 'where to write the state record, e.g. backup.json')
    .option('-f, --formats <list>', 'render these formats from the stored merge result instead: json,srt,vtt,txt,md,rttm,docx')
    .option('-o, --out <dir>', "with --formats: write here instead of the run's output folder")
    .option('--json', 'print one JSON document')
    .action(wrap((id: string, file: string | undefined, opts: Record<string, unknown>) => exportCommand(id, file, opts)));
  addRenderOptions(exportCmd);

  program
    .command('speakers')
    .description("a run's speakers: name, talk time, first words and where to listen to each")
    .argument('<id>', 'pipeline id (see `speech list`)')
    .option('--json', 'print one JSON document')
    .action(wrap((id: string, opts: Record<string, unknown>) => speakersCommand(id, opts)));

  program
    .command('rename')
    .description("name a run's speakers and render its exports again (no provider is called); LABEL= takes a name back")
    .argument('<id>', 'pipeline id (see `speech list`)')
    .argument('<names...>', 'LABEL=Name pairs, e.g. SPEAKER_00=Alice "SPEAKER_01=Bob Smith"')
    .option('--json', 'print one JSON document')
    .action(wrap((id: string, names: string[], opts: Record<string, unknown>) => renameCommand(id, names, opts)));

  program
    .command('voices')
    .description('known voices for `speech run --identify`: add NAME CLIP | list | remove NAME (kept in DATA_DIR/voices)')
    .argument('<action>', 'add | list | remove')
    .argument('[args...]', 'add: NAME CLIP (2-30 s of that voice alone); remove: NAME')
    .option('--replace', 'add: enrol a voice again under a name that is taken')
    .option('--json', 'print one JSON document')
    .action(wrap((action: string, args: string[], opts: Record<string, unknown>) => voicesCommand(action, args, opts)));

  program
    .command('delete')
    .description("remove one run's state record and interim folder (refuses a running run unless --force)")
    .argument('<id>', 'pipeline id (see `speech list`)')
    .option('--force', 'cancel a running run first, wait for it to stop (terminate it after --timeout), then delete')
    .option('--timeout <seconds>', 'with --force: how long to wait for the cancelled run to stop', '60')
    .option('--include-outputs', 'also remove the output files (your transcripts)')
    .option('--json', 'print one JSON document')
    .action(wrap((id: string, opts: Record<string, unknown>) => deleteCommand(id, opts)));

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
