// The `speech` command line: one module per command, options validated by zod in each,
// one error sink that maps failures to exit codes (0 ok, 1 usage or input, 2 run failed).
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
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
import { completionScript, SHELLS, type Shell } from './completion';
import { resolveRunRef } from './run-ref';
import { loadConfig } from '../config';
import { EXIT, reportError, UsageError } from './errors';

function build(result: { code: number }, seen: { json: boolean; verbose: boolean }): Command {
  const program = new Command('speech')
    .description('Durable speech pipeline on Temporal: audio or video in, speaker-labelled transcripts out.')
    .version(packageVersion(), '-V, --version', 'print the version')
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
    .option('-f, --formats <list>', 'comma-separated: json,srt,vtt,txt,md,rttm,docx (default: all but docx)')
    .option('-l, --language <code>', 'ISO-639-1 language of the speech (default: detect)')
    .option('--speakers <n>', 'exact number of speakers')
    .option('--min-speakers <n>', 'at least this many speakers')
    .option('--max-speakers <n>', 'at most this many speakers')
    .option('--model <name>', 'transcription model (default: TRANSCRIBE_MODEL or whisper-1)')
    .option('--prompt <text>', 'names and terms to spell right, sent with every transcription request (at most 500 characters)')
    .option('--prompt-file <file>', 'the same from a text file (default: PROMPT_FILE)')
    .option('--no-wait', 'start the runs and return at once')
    .option('--force-restart', 'compute every stage again: take nothing from earlier runs or the stage cache')
    .option('--estimate', 'print each file\'s length, what would be reused, what would be paid and the estimated cost; start nothing')
    .option('--resume', 'resume from the last completed stage; what happens anyway (the original tool\'s flag)')
    .option('--worker', 'run a worker in this process (default when Temporal is local)')
    .option('--no-worker', 'do not run a worker in this process')
    .option('--parallel <n>', 'files processed at once (default 4)')
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
    .option('--grace-seconds <n>', 'on SIGINT/SIGTERM, seconds running activities get to finish (default 30)')
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
    .argument('<id>', RUN_REF)
    .option('--json', 'print JSON')
    .action(wrap(async (ref: string, opts: { json?: boolean }) => statusCommand(await runId(ref), opts)));

  program
    .command('watch')
    .description('follow a run live until it ends')
    .argument('<id>', RUN_REF)
    .option('--interval <ms>', 'refresh interval in milliseconds (default 1000)')
    .option('--json', 'print one JSON line per change')
    .action(wrap(async (ref: string, opts: { json?: boolean; interval?: string }) => watchCommand(await runId(ref), opts)));

  program
    .command('cancel')
    .description('cancel a run; finished stages stay reusable')
    .argument('<id>', RUN_REF)
    .option('--no-wait', 'return once cancellation is requested')
    .option('--json', 'print JSON')
    .action(wrap(async (ref: string, opts: { json?: boolean; wait?: boolean }) => cancelCommand(await runId(ref), opts)));

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
    .argument('<id>', RUN_REF)
    .option('--json', 'print one JSON document')
    .action(wrap(async (ref: string, opts: Record<string, unknown>) => showCommand(await runId(ref), opts)));

  program
    .command('validate')
    .description('check every recorded artifact: it exists, matches its sha256, and (audio) decodes')
    .argument('<id>', RUN_REF)
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nExit codes: 0 every file holds; 2 a check failed (each problem on its own line); 1 unknown id or a broken record.')
    .action(wrap(async (ref: string, opts: Record<string, unknown>) => validateCommand(await runId(ref), opts)));

  program
    .command('cleanup')
    .description('remove state records and interim folders of finished runs older than a limit (never a running run)')
    .option('--older-than <duration>', 'only runs last updated longer ago than this, e.g. 90m, 36h, 7d, 2w, 1d12h (default 7d)')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--include-outputs', 'also remove the output folders DATA_DIR/output/<id> (your transcripts)')
    .option('--json', 'print one JSON document')
    .action(wrap((opts: Record<string, unknown>) => cleanupCommand(opts)));

  const exportCmd = program
    .command('export')
    .description('write the state record (with stage timings from the Temporal history) to FILE.json, or re-render the transcript with --formats')
    .argument('<id>', RUN_REF)
    .argument('[file]', 'where to write the state record, e.g. backup.json')
    .option('-f, --formats <list>', 'render these formats from the stored merge result instead: json,srt,vtt,txt,md,rttm,docx')
    .option('-o, --out <dir>', "with --formats: write here instead of the run's output folder")
    .option('--json', 'print one JSON document')
    .action(wrap(async (ref: string, file: string | undefined, opts: Record<string, unknown>) => exportCommand(await runId(ref), file, opts)));
  addRenderOptions(exportCmd);

  program
    .command('speakers')
    .description("a run's speakers: name, talk time, first words and where to listen to each")
    .argument('<id>', RUN_REF)
    .option('--json', 'print one JSON document')
    .action(wrap(async (ref: string, opts: Record<string, unknown>) => speakersCommand(await runId(ref), opts)));

  program
    .command('rename')
    .description("name a run's speakers and render its exports again (no provider is called); LABEL= takes a name back")
    .argument('<id>', RUN_REF)
    .argument('<names...>', 'LABEL=Name pairs, e.g. SPEAKER_00=Alice "SPEAKER_01=Bob Smith"')
    .option('--json', 'print one JSON document')
    .action(wrap(async (ref: string, names: string[], opts: Record<string, unknown>) => renameCommand(await runId(ref), names, opts)));

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
    .argument('<id>', RUN_REF)
    .option('--force', 'cancel a running run first, wait for it to stop (terminate it after --timeout), then delete')
    .option('--timeout <seconds>', 'with --force: seconds to wait for the cancelled run to stop (default 60)')
    .option('--include-outputs', 'also remove the output files (your transcripts)')
    .option('--json', 'print one JSON document')
    .action(wrap(async (ref: string, opts: Record<string, unknown>) => deleteCommand(await runId(ref), opts)));

  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish')
    .argument('<shell>', SHELLS.join(' | '))
    .action(wrap(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`no completion for "${shell}"; choose ${SHELLS.join(', ')}`);
      process.stdout.write(completionScript(program, shell as Shell));
      return EXIT.ok;
    }));

  for (const cmd of program.commands) {
    const examples = EXAMPLES[cmd.name()];
    if (examples) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
  }
  program.addHelpText('after', MAIN_HELP);
  return program;
}

/** A run named by id, a unique start of it, `last`, or its input file (see run-ref.ts). */
async function runId(ref: string): Promise<string> {
  return resolveRunRef(loadConfig().dataDir, ref);
}

/** The version in package.json, beside dist/ and src/ alike. */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const RUN_REF = 'pipeline id (see `speech list`), a unique start of it, `last`, or the input file';

const EXAMPLES: Record<string, string[]> = {
  run: [
    'speech run interview.m4a                         # transcribe one file, follow it, print the outputs',
    'speech run meetings/ --out subs/ --formats srt,vtt  # every file of a folder, 4 at a time',
    'speech run call.mp3 --speakers 2 --language de',
    'speech run talk.mp4 --formats docx,srt --max-line-chars 37 --speaker-labels prefix',
    'speech run panel.wav --identify                  # name speakers after `speech voices add`',
    'speech run long.mp4 --no-wait                    # start and return; `speech watch ID` follows it',
    'speech run meetings/ --estimate                  # what it would cost (reused results are free); spends nothing',
  ],
  worker: ['speech worker                     # serve the task queue until SIGINT/SIGTERM', 'speech worker --grace-seconds 120'],
  server: ['speech server start', 'speech server status --json', 'speech server stop'],
  engine: ['speech engine start', 'speech engine status', 'speech engine stop'],
  status: ['speech status speech-interview-1a2b3c4d5e6f', 'speech status interview.m4a          # the newest run of that file', 'speech status last --json             # the run updated most recently'],
  watch: ['speech watch speech-interview-1a2b3c4d5e6f', 'speech watch speech-interview-1a2b3c4d5e6f --json   # one JSON line per change'],
  cancel: ['speech cancel speech-interview-1a2b3c4d5e6f', 'speech cancel speech-interview-1a2b3c4d5e6f --no-wait'],
  list: ['speech list', 'speech list --status failed', 'speech list --detailed --json'],
  show: ['speech show speech-interview-1a2b3c4d5e6f', 'speech show speech-interv              # a unique start of an id is enough'],
  validate: ['speech validate speech-interview-1a2b3c4d5e6f'],
  cleanup: ['speech cleanup --dry-run', 'speech cleanup --older-than 36h', 'speech cleanup --older-than 30d --include-outputs'],
  export: [
    'speech export speech-interview-1a2b3c4d5e6f backup.json            # the state record with history timings',
    'speech export speech-interview-1a2b3c4d5e6f --formats srt,docx --out subs/',
    'speech export speech-interview-1a2b3c4d5e6f --formats vtt --highlight-words',
  ],
  speakers: ['speech speakers speech-interview-1a2b3c4d5e6f'],
  rename: ['speech rename speech-interview-1a2b3c4d5e6f SPEAKER_00=Alice "SPEAKER_01=Bob Smith"', 'speech rename speech-interview-1a2b3c4d5e6f SPEAKER_01=   # take the name back'],
  voices: ['speech voices add "Alice" alice-clip.wav   # 2-30 s of Alice alone', 'speech voices list', 'speech voices remove "Alice"'],
  delete: ['speech delete speech-interview-1a2b3c4d5e6f', 'speech delete speech-interview-1a2b3c4d5e6f --force --include-outputs'],
  completion: ['speech completion bash > ~/.local/share/bash-completion/completions/speech', 'speech completion zsh > "${fpath[1]}/_speech"', 'speech completion fish > ~/.config/fish/completions/speech.fish', 'source <(speech completion bash)          # for this shell only'],
};

const MAIN_HELP = `
Examples:
  speech run interview.m4a              transcribe a file (no key: on the local engine)
  speech run meetings/ --out subs/      a folder, one run per file
  speech list                           earlier runs;  speech show ID  one of them

Keys and where stages run (environment of the worker):
  OPENAI_API_KEY, OPENAI_BASE_URL       transcription on OpenAI or a compatible server
  PYANNOTE_API_KEY, PYANNOTE_BASE_URL   diarization on pyannote.ai
  (neither set: both stages run on the local engine; TRANSCRIBE_PROVIDER / DIARIZE_PROVIDER force a choice)
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE  an existing Temporal server (default: the embedded one)
  DATA_DIR                              state records, interim files, outputs (default ./data)

Exit codes: 0 success; 1 usage or input error (bad flag, missing file, not media, an output in the way);
2 a run failed or was cancelled, or a check failed (validate).
`;

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
