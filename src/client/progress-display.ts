// How `speech run` shows its runs moving. On a terminal: one live bar per run (cli-progress)
// with percent, stage, chunks, elapsed time and an ETA from the measured rate, and each
// stage's completion printed above the bars as it happens. Elsewhere (a pipe, a log file, CI):
// plain lines, one per change. Either way every stage's completion is said, the last ones
// included (taken from the run's result when the run ended between two looks).
import { MultiBar, Presets } from 'cli-progress';
import path from 'node:path';
import type { ProgressSnapshot } from '../domain/pipeline';
import { STAGES, type StageName } from '../domain/stages';
import { progressLine, seconds, stageChanges } from './output';

/** `42s`, `3m05s`, `1h02m`: short enough for a progress line. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** What a finished run says of its stages (SpeechPipelineResult.stages). */
export type FinalStages = Record<StageName, { status: string; durationMs: number | null; reused: boolean }>;

export interface RunDisplay {
  /** A new progress snapshot of the run. */
  update(p: ProgressSnapshot): void;
  /** The run completed: say the stage completions not said yet, and fill its bar. */
  completed(stages: FinalStages): void;
  /** The run ended otherwise, or this process stopped following it. */
  ended(): void;
}

export interface ProgressDisplay {
  track(file: string, opts: { detailed: boolean }): RunDisplay;
  /** A line above the bars (or a plain line). */
  say(line: string): void;
  /** Removes the bars from the screen's bottom, leaving what they showed last. */
  stop(): void;
}

/** The lines a finished run still owes: stages whose completion the last snapshot did not show. */
export function finalStageLines(last: ProgressSnapshot | null, stages: FinalStages): string[] {
  const lines: string[] = [];
  for (const s of STAGES) {
    const st = stages[s];
    if (!st || last?.stages[s].status === st.status) continue;
    const took = st.status === 'completed' && st.durationMs !== null ? ` in ${seconds(st.durationMs)}` : '';
    lines.push(`  ${s.padEnd(17)} ${st.status}${st.reused ? ' (reused from an earlier run)' : took}`);
  }
  return lines;
}

export function createProgressDisplay(opts: { tty: boolean; write: (line: string) => void; stream?: NodeJS.WriteStream }): ProgressDisplay {
  if (!opts.tty) return plainDisplay(opts.write);
  const stream = opts.stream ?? process.stdout;
  const bars = new MultiBar(
    {
      format: '{name} [{bar}] {percentage}% · {stage} · {elapsed} · ETA {remaining}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 5,
      stream,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  let stopped = false;
  const say = (line: string) => {
    if (stopped) return opts.write(line);
    // A logged line that wraps would be half overwritten by the bars' redraw: one row each.
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    for (const row of line.split('\n')) {
      for (let i = 0; i === 0 || i < row.length; i += width) bars.log(`${row.slice(i, i + width)}\n`);
    }
  };
  return {
    say,
    stop() {
      if (stopped) return;
      stopped = true;
      // Lines logged since the last redraw are written by a redraw: one more before stopping.
      bars.update();
      bars.stop();
    },
    track(file, { detailed }) {
      const name = path.basename(file);
      const started = Date.now();
      const bar = bars.create(100, 0, { name, stage: 'starting', elapsed: '0s', remaining: '-' });
      let last: ProgressSnapshot | null = null;
      // cli-progress's own ETA counts from the bar's creation; ours from the rate since the
      // first percent moved, so a slow start (a queue, a model load) does not skew it.
      let firstMove: { at: number; percent: number } | null = null;
      const payload = (p: ProgressSnapshot | null) => {
        const elapsed = shortDuration(Date.now() - started);
        let eta = '-';
        if (p && firstMove && p.percent > firstMove.percent && p.percent < 100) {
          const rate = (p.percent - firstMove.percent) / (Date.now() - firstMove.at);
          eta = shortDuration((100 - p.percent) / rate);
        }
        return { name, stage: p ? stageText(p) : 'starting', elapsed, remaining: eta };
      };
      const tick = setInterval(() => bar.update(last?.percent ?? 0, payload(last)), 1000);
      tick.unref();
      return {
        update(p) {
          if (detailed) for (const line of stageChanges(last, p)) if (!/chunks \d+\/\d+/.test(line)) say(`${line}`);
          if (p.percent > 0 && firstMove === null) firstMove = { at: Date.now(), percent: p.percent };
          last = p;
          bar.update(p.percent, payload(p));
        },
        completed(stages) {
          clearInterval(tick);
          if (detailed) for (const line of finalStageLines(last, stages)) say(line);
          bar.update(100, { ...payload(last), stage: 'done', remaining: '0s' });
        },
        ended() {
          clearInterval(tick);
          bar.update(last?.percent ?? 0, payload(last));
        },
      };
    },
  };
}

function stageText(p: ProgressSnapshot): string {
  const stage = p.currentStage ?? (p.status === 'completed' ? 'done' : p.status);
  return p.chunks.total > 1 && (stage === 'transcription' || stage === 'diarization') ? `${stage}, chunks ${p.chunks.done}/${p.chunks.total}` : stage;
}

/** Not a terminal: a line per change, with the file's name in batches. */
function plainDisplay(write: (line: string) => void): ProgressDisplay {
  return {
    say: write,
    stop() {},
    track(file, { detailed }) {
      const tag = detailed ? '' : `${path.basename(file)}: `;
      let last: ProgressSnapshot | null = null;
      return {
        update(p) {
          if (detailed) for (const line of stageChanges(last, p)) write(line);
          else write(`${tag}${progressLine(p)}`);
          last = p;
        },
        completed(stages) {
          if (detailed) for (const line of finalStageLines(last, stages)) write(line);
          else write(`${tag}done 100%`);
        },
        ended() {},
      };
    },
  };
}
