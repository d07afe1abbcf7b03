// `speech speakers ID`: each speaker of a run with talk time, first words and where to listen.
// `speech rename ID SPEAKER_00=Alice …`: names kept with the run; every export of the run is
// rendered again from the stored merge result (no provider is called), and later exports
// (`speech export --formats`, a re-run) keep the names.
import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../config';
import { FORMAT_EXTENSIONS } from '../../domain/formats';
import { isExportFormat, type ExportFormat } from '../../domain/stages';
import { parseRenames, summariseSpeakers, withNames } from '../../domain/speakers';
import type { StateRecord } from '../../domain/state-record';
import { formatClock } from '../../domain/timecode';
import type { ArtifactRef, MergedTranscript } from '../../domain/types';
import { createFsArtifactStore } from '../../providers/artifact-store';
import { readExportSettings, readSpeakerNames, writeSpeakerNames } from '../../providers/speaker-names';
import { EXIT, UsageError } from '../errors';
import { printJson, table } from '../output';
import { checkId, requireRecord } from '../records';
import { reexport } from '../reexport';
import { parseFlags } from './checkpoint-common';

const JsonFlags = z.object({ json: z.boolean().default(false) });

interface RunTranscript {
  file: string;
  record: StateRecord;
  mergeRef: ArtifactRef;
  interimDir: string;
  stored: MergedTranscript;
  names: Record<string, string>;
}

async function loadTranscript(id: string): Promise<RunTranscript> {
  checkId(id);
  const config = loadConfig();
  const { file, record } = await requireRecord(config.dataDir, id);
  const merge = record.checkpoints.find((c) => c.stage === 'merge');
  if (!merge) {
    throw new UsageError(`${id} has no transcript yet (the ${record.status} run has completed: ${record.completed_stages.join(', ') || 'no stage'})`, `Finish it first: \`speech run ${record.input_file}\` resumes it.`);
  }
  const mergeRef: ArtifactRef = { path: merge.output_file, sha256: merge.sha256, bytes: merge.bytes };
  const store = createFsArtifactStore();
  const check = await store.verify(mergeRef);
  if (!check.ok) throw new UsageError(`The stored merge result of ${id} cannot be used: ${check.detail}`, `\`speech run ${record.input_file}\` recomputes it, reusing the earlier stages that are intact.`);
  const interimDir = path.dirname(merge.output_file);
  const [stored, names] = await Promise.all([store.readJson<MergedTranscript>(mergeRef), readSpeakerNames(interimDir)]);
  return { file, record, mergeRef, interimDir, stored, names };
}

export async function speakersCommand(id: string, raw: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(JsonFlags, raw);
  const t = await loadTranscript(id);
  const summary = summariseSpeakers(withNames(t.stored, t.names));
  if (flags.json) {
    printJson({
      workflow_id: id,
      speakers: summary.map((s) => ({
        label: s.label,
        name: s.name,
        talk_seconds: Math.round(s.talkSeconds * 1000) / 1000,
        utterances: s.utterances,
        words: s.words,
        first_words: s.firstWords,
        listen_at: s.listenAt.map((x) => Math.round(x * 1000) / 1000),
        identification: s.match ? { match: s.match.match, score: s.match.score } : null,
      })),
    });
    return EXIT.ok;
  }
  if (summary.length === 0) {
    console.log(`${id}: no speaker was found in the recording.`);
    return EXIT.ok;
  }
  const total = summary.reduce((sum, s) => sum + s.talkSeconds, 0);
  console.log(
    table(
      ['SPEAKER', 'NAME', 'TALK', 'SHARE', 'LISTEN AT', 'FIRST WORDS'],
      summary.map((s) => [
        s.label,
        s.name ?? '-',
        formatClock(s.talkSeconds),
        total > 0 ? `${Math.round((100 * s.talkSeconds) / total)} %` : '-',
        s.listenAt.map(formatClock).join(' '),
        s.firstWords.length > 60 ? `${s.firstWords.slice(0, 59)}…` : s.firstWords,
      ]),
    ),
  );
  const matched = summary.filter((s) => s.match);
  if (matched.length > 0) {
    console.log('');
    console.log('Identified against enrolled voices (score 0–100):');
    for (const s of matched) console.log(`  ${s.label}: ${s.match!.match ? `${s.match!.match} (${s.match!.score ?? '?'})` : `no enrolled voice matched${s.match!.score !== null ? ` (best ${s.match!.score})` : ''}`}`);
  }
  const unnamed = summary.filter((s) => s.name === null);
  if (unnamed.length > 0) {
    console.log('');
    const examples = ['Alice', 'Bob', 'Carol', 'Dave'].filter((n) => !summary.some((s) => s.name === n));
    console.log(`Name them: speech rename ${id} ${unnamed.slice(0, 2).map((s, i) => `${s.label}=${examples[i] ?? 'NAME'}`).join(' ')}`);
  }
  return EXIT.ok;
}

export async function renameCommand(id: string, pairs: string[], raw: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(JsonFlags, raw);
  const t = await loadTranscript(id);
  const current = withNames(t.stored, t.names);
  const { renames, problems } = parseRenames(pairs, current);
  if (problems.length > 0) throw new UsageError(problems.join('\n'), `\`speech speakers ${id}\` lists the speakers of the run.`);
  const names = { ...t.names };
  for (const [label, name] of Object.entries(renames)) {
    if (name === null) delete names[label];
    else names[label] = name;
  }
  const store = createFsArtifactStore();
  await writeSpeakerNames(store, t.interimDir, names);

  const running = t.record.status === 'running';
  const exportCheckpoint = t.record.checkpoints.find((c) => c.stage === 'export');
  const previous: ArtifactRef[] = (exportCheckpoint?.outputs ?? []).map((o) => ({ path: o.path, sha256: o.sha256, bytes: o.bytes, ...(o.metadata ? { metadata: o.metadata } : {}) }));
  const rendered: ArtifactRef[] = [];
  if (!running && previous.length > 0) {
    const settings = await readExportSettings(t.interimDir);
    for (const out of previous) {
      const ext = path.extname(out.path).slice(1);
      const format = typeof out.metadata?.format === 'string' && isExportFormat(out.metadata.format) ? out.metadata.format : (Object.keys(FORMAT_EXTENSIONS) as ExportFormat[]).find((f) => FORMAT_EXTENSIONS[f] === ext);
      if (!format) continue;
      const baseName = path.basename(out.path).slice(0, -(ext.length + 1));
      rendered.push(...(await reexport({ merged: t.mergeRef, formats: [format], outDir: path.dirname(out.path), baseName, render: settings?.render, alsoOwned: previous })));
    }
    // The record vouches for the files as they are now, so `speech validate` still holds.
    const outputs = rendered.map((r) => ({ path: r.path, sha256: r.sha256, bytes: r.bytes, ...(r.metadata ? { metadata: r.metadata } : {}) }));
    const checkpoints = t.record.checkpoints.map((c) =>
      c.stage === 'export' && outputs[0] ? { ...c, outputs, output_file: outputs[0].path, sha256: outputs[0].sha256, bytes: outputs[0].bytes } : c,
    );
    await store.writeJson(t.file, { ...t.record, checkpoints, speaker_names: names, updated_at: new Date().toISOString() } satisfies StateRecord);
  }

  const shown = withNames(t.stored, names).speakerNames ?? {};
  if (flags.json) {
    printJson({ ok: true, workflow_id: id, speaker_names: shown, outputs: rendered, deferred: running });
    return EXIT.ok;
  }
  for (const label of t.stored.speakers) console.log(`  ${label} → ${shown[label] ?? `${label} (no name)`}`);
  if (running) console.log(`Names stored; ${id} is still running, and its exports will use them when it finishes.`);
  else if (rendered.length > 0) {
    console.log(`Rendered ${rendered.length} file(s) again from the stored merge result (no provider was called):`);
    for (const r of rendered) console.log(`  ${r.path}`);
  } else console.log(`Names stored; ${id} has no exports yet, and its exports will use them.`);
  return EXIT.ok;
}
