// What `speech run` does with one file, decided from what Temporal already has for its
// pipeline id and what the user asked for. Pure: no server, no files.

/** The newest execution of the pipeline id, as Temporal describes it. */
export interface ExistingRun {
  /** Temporal's status name: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, … */
  status: string;
  runId: string;
}

/** What a completed run stored, and whether it can serve this request as it is. */
export interface StoredResult {
  /** Formats it exported. */
  formats: string[];
  /** The folder its outputs are in. */
  outputDir: string | null;
  /** Some of its output files are gone. */
  outputsMissing: boolean;
  /** Its merge result is on disk and matches its sha256 (so other formats can be rendered from it). */
  mergeIntact: boolean;
}

export interface PlanFlags {
  forceRestart: boolean;
  formats: string[];
  /** The output folder this request writes to. */
  outDir: string;
  /** The request asks for another subtitle layout or output name than the stored outputs have. */
  restyle?: boolean;
}

export type RunPlan =
  /** Nothing usable exists (or --force-restart): a new run. */
  | { kind: 'start'; replaceExisting: boolean }
  /** The pipeline is running: follow it. */
  | { kind: 'attach'; runId: string }
  /** Completed with exactly these outputs: show them, run nothing. */
  | { kind: 'stored'; runId: string }
  /** Completed, but other formats, another folder or another layout were asked for: render them from the stored merge result. */
  | { kind: 're-render'; runId: string }
  /** Failed, cancelled, or completed with its merge result lost: a new run reusing the earlier run's intact results. */
  | { kind: 'resume'; fromRunId: string; afterCompleted: boolean };

export function planRun(existing: ExistingRun | null, stored: StoredResult | null, flags: PlanFlags): RunPlan {
  if (!existing || flags.forceRestart) return { kind: 'start', replaceExisting: flags.forceRestart && existing !== null };
  if (existing.status === 'RUNNING') return { kind: 'attach', runId: existing.runId };
  if (existing.status === 'COMPLETED' && stored) {
    const moreFormats = flags.formats.some((f) => !stored.formats.includes(f));
    const otherFolder = stored.outputDir !== flags.outDir;
    if (!moreFormats && !otherFolder && !stored.outputsMissing && !flags.restyle) return { kind: 'stored', runId: existing.runId };
    if (stored.mergeIntact) return { kind: 're-render', runId: existing.runId };
    return { kind: 'resume', fromRunId: existing.runId, afterCompleted: true };
  }
  return { kind: 'resume', fromRunId: existing.runId, afterCompleted: existing.status === 'COMPLETED' };
}
