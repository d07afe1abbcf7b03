// The stage cache: results of paid (or slow) stages keyed by exactly the inputs they depend
// on, so any later run that needs the same thing takes it instead of paying again, whatever
// the file is called and whatever else its options say.
//
// An entry lives at `DATA_DIR/cache/<stage>/<key>.json` and names the files that hold the
// result: the run that computed it, and every run that took it since ("holders"). A result is
// taken only after a holder's files were checked (exist, sha256 matches); it is hard-linked
// (or copied, across file systems) into the taking run's interim folder, so each run owns its
// files and `speech cleanup` of one run never breaks another. Entries are a cache: losing one
// costs a recomputation, never a wrong result.
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactRef } from '../domain/types';
import type { ArtifactStore } from './artifact-store';
import { removeDeadWritersTemporaries } from './artifact-store';

/** Stages whose results are cached. Merge and export are not: they cost nothing and carry the file's name. */
export const CACHED_STAGES = ['audio_conversion', 'diarization', 'transcription_chunk'] as const;
export type CachedStage = (typeof CACHED_STAGES)[number];

/** Files of one result in one run's interim folder, by role (e.g. `audio`, `silences`). */
export interface CacheHolder {
  pipelineId: string;
  files: Record<string, ArtifactRef>;
  at: string;
}

export interface CacheEntry {
  stage: CachedStage;
  key: string;
  /** What the key was computed from, for people reading the cache. */
  inputs: Record<string, unknown>;
  /** The run that paid for the result. */
  computedBy: string;
  computedAt: string;
  holders: CacheHolder[];
}

/** A result taken from the cache into a run: its files at their new paths, and who computed it. */
export interface CacheHit {
  files: Record<string, ArtifactRef>;
  computedBy: string;
  entry: CacheEntry;
}

export interface StageCache {
  readonly dir: string;
  /** The first holder whose files are intact, linked into `targets` (role → path); null when none. */
  take(stage: CachedStage, key: string, pipelineId: string, targets: Record<string, string>): Promise<CacheHit | null>;
  /**
   * Whether an intact result exists, without taking it. `check: 'size'` only compares sizes
   * (for estimates: `take` checks the sha256 before anything is reused).
   */
  peek(stage: CachedStage, key: string, opts?: { check?: 'sha256' | 'size' }): Promise<{ entry: CacheEntry; files: Record<string, ArtifactRef> } | null>;
  /**
   * Records a result this run computed (or adds this run as a holder). Never fails the stage:
   * a cache that cannot be written costs a recomputation later; false says it was not written.
   */
  put(stage: CachedStage, key: string, inputs: Record<string, unknown>, holder: Omit<CacheHolder, 'at'>): Promise<boolean>;
  /** Every entry, for the checkpoint tools. */
  entries(): Promise<{ file: string; entry: CacheEntry | null }[]>;
  /**
   * Drops holders whose pipeline has no state record any more or whose files are gone (size
   * checked; `take` checks the sha256), and entries left with no holder or unreadable.
   */
  prune(hasRecord: (pipelineId: string) => boolean, opts: { dryRun: boolean }): Promise<CachePrune>;
}

export interface CachePrune {
  /** Entries before pruning. */
  entries: number;
  /** Entries removed (or that would be, with dryRun): results no state record refers to. */
  removed: { stage: string; key: string; computedBy: string | null; reason: string }[];
  /** Holders dropped from entries that stay. */
  holdersDropped: number;
}

/** A stable key: sha256 of the stage name and its inputs as canonical JSON (sorted keys). */
export function cacheKey(stage: CachedStage, inputs: Record<string, unknown>): string {
  return createHash('sha256').update(`${stage}\n${canonicalJson(inputs)}`).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function cacheDirOf(dataDir: string): string {
  return path.join(dataDir, 'cache');
}

export function createStageCache(dir: string, store: ArtifactStore): StageCache {
  const entryFile = (stage: CachedStage, key: string) => path.join(dir, stage, `${key}.json`);

  const read = async (stage: CachedStage, key: string): Promise<CacheEntry | null> => {
    try {
      const e = JSON.parse(await readFile(entryFile(stage, key), 'utf8')) as CacheEntry;
      return e && e.key === key && Array.isArray(e.holders) ? e : null;
    } catch {
      return null;
    }
  };

  const sizeMatches = (f: ArtifactRef) => stat(f.path).then((s) => s.isFile() && s.size === f.bytes, () => false);
  const intactHolder = async (entry: CacheEntry, check: 'sha256' | 'size'): Promise<CacheHolder | null> => {
    // Newest first: the most recent holder is the likeliest to still be on disk.
    for (const h of [...entry.holders].reverse()) {
      const checks = await Promise.all(Object.values(h.files).map((f) => (check === 'size' ? sizeMatches(f) : store.verify(f).then((c) => c.ok))));
      if (checks.every(Boolean)) return h;
    }
    return null;
  };

  return {
    dir,

    async peek(stage, key, opts) {
      const entry = await read(stage, key);
      if (!entry) return null;
      const holder = await intactHolder(entry, opts?.check ?? 'sha256');
      return holder ? { entry, files: holder.files } : null;
    },

    async take(stage, key, pipelineId, targets) {
      const entry = await read(stage, key);
      if (!entry) return null;
      // Newest holder first. Its files are placed in this run's folder and the placed files'
      // sha256 checked: one read of each, and what is checked is what this run will use (a
      // file changed between a check and the link could not slip through).
      for (const holder of [...entry.holders].reverse()) {
        const roles = Object.entries(holder.files).filter(([role]) => targets[role] !== undefined);
        if (!(await Promise.all(roles.map(([, ref]) => sizeMatches(ref)))).every(Boolean)) continue;
        const files: Record<string, ArtifactRef> = {};
        for (const [role, ref] of roles) {
          const target = targets[role]!;
          if (path.resolve(ref.path) !== path.resolve(target)) await placeFile(store, ref.path, target);
          files[role] = { ...ref, path: target };
        }
        const checks = await Promise.all(Object.values(files).map((f) => store.verify(f)));
        if (checks.every((c) => c.ok)) return { files, computedBy: entry.computedBy, entry };
        // Damaged: not left where this run would find it.
        for (const [role, ref] of roles) if (path.resolve(ref.path) !== path.resolve(targets[role]!)) await unlink(targets[role]!).catch(() => undefined);
      }
      return null;
    },

    async put(stage, key, inputs, holder) {
      try {
        const existing = await read(stage, key);
        const at = new Date().toISOString();
        const others = (existing?.holders ?? []).filter((h) => h.pipelineId !== holder.pipelineId);
        const entry: CacheEntry = existing
          ? { ...existing, holders: [...others, { ...holder, at }] }
          : { stage, key, inputs, computedBy: holder.pipelineId, computedAt: at, holders: [{ ...holder, at }] };
        await store.writeJson(entryFile(stage, key), entry);
        return true;
      } catch {
        return false;
      }
    },

    async prune(hasRecord, opts) {
      const all = await this.entries();
      const out: CachePrune = { entries: all.length, removed: [], holdersDropped: 0 };
      for (const { file, entry } of all) {
        const stage = path.basename(path.dirname(file));
        const key = path.basename(file, '.json');
        const keep: CacheHolder[] = [];
        for (const h of entry?.holders ?? []) {
          if (!hasRecord(h.pipelineId)) continue;
          const present = await Promise.all(Object.values(h.files).map(sizeMatches));
          if (present.every(Boolean)) keep.push(h);
        }
        if (entry && keep.length === entry.holders.length) continue;
        if (keep.length === 0) {
          const reason = !entry ? 'unreadable entry' : entry.holders.every((h) => !hasRecord(h.pipelineId)) ? 'no state record refers to it' : 'its files are gone';
          out.removed.push({ stage, key, computedBy: entry?.computedBy ?? null, reason });
          if (!opts.dryRun) await unlink(file).catch(() => undefined);
        } else {
          out.holdersDropped += entry!.holders.length - keep.length;
          if (!opts.dryRun) await store.writeJson(file, { ...entry!, holders: keep });
        }
      }
      return out;
    },

    async entries() {
      const out: { file: string; entry: CacheEntry | null }[] = [];
      for (const stage of CACHED_STAGES) {
        let names: string[];
        try {
          names = await readdir(path.join(dir, stage));
        } catch {
          continue;
        }
        for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
          out.push({ file: path.join(dir, stage, n), entry: await read(stage, n.slice(0, -'.json'.length)) });
        }
      }
      return out;
    },
  };
}

/** Puts `source`'s content at `target` atomically: a hard link where possible, a copy otherwise. */
async function placeFile(store: ArtifactStore, source: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = store.tempPathFor(target);
  try {
    try {
      await link(source, tmp);
    } catch {
      await copyFile(source, tmp);
    }
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await removeDeadWritersTemporaries(path.dirname(target), { name: path.basename(target) });
}

/** Who answers a stage: the provider, and where (a compatible server or another account's proxy answers differently). */
export interface ServiceId {
  /** `openai`, `pyannote` or `local` (the bundled engine). */
  provider: string;
  /** Base URL of a cloud provider; empty for the local engine, whose port changes between starts. */
  endpoint: string;
  /** The audio format sent (`wav`, `opus-32k`, …): a lossy upload can change the result. */
  upload?: string;
}

/** Conversion depends on the input's bytes and the conversion settings. */
export function conversionKeyInputs(inputSha256: string, settings: Record<string, unknown>): Record<string, unknown> {
  return { input_sha256: inputSha256, settings };
}

/** Diarization depends on the audio, who diarizes with which model, the speaker hints and, with --identify, the voices. */
export function diarizationKeyInputs(k: {
  audioSha256: string;
  service: ServiceId & { model: string };
  hints: { numSpeakers: number | null; minSpeakers: number | null; maxSpeakers: number | null };
  identify: { voicesSha256: string; threshold: number | null } | null;
}): Record<string, unknown> {
  return { audio_sha256: k.audioSha256, service: k.service, hints: k.hints, identify: k.identify, turns: DIARIZATION_TURNS };
}

/** What every diarization holds since exclusive turns were asked for: one speaker at a time, and the overlapping turns. */
const DIARIZATION_TURNS = 'exclusive+overlapping';

/** A chunk's transcript depends on the audio span sent, who transcribes with which model, the language and the prompt it was given. */
export function chunkKeyInputs(k: { audioSha256: string; start: number; end: number; service: ServiceId; model: string; language: string | null; prompt: string | null }): Record<string, unknown> {
  return { audio_sha256: k.audioSha256, start: k.start, end: k.end, service: k.service, model: k.model, language: k.language, prompt: k.prompt };
}
