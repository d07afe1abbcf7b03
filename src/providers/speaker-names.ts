// What a run's exports are rendered with besides its merge result, kept in the run's interim
// folder beside merged.json: the names a user gave its speakers (`speech rename`) and the
// export settings of its last export (layout, folder, name), so every later rendering of the
// run (`speech export`, `speech rename`) shows the same names in the same layout.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SubtitleOptions } from '../domain/formats/options';
import type { ArtifactStore } from './artifact-store';

export const SPEAKER_NAMES_FILE = 'speaker-names.json';

export async function readSpeakerNames(interimDir: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path.join(interimDir, SPEAKER_NAMES_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const data = JSON.parse(text) as { names?: unknown };
  const names: Record<string, string> = {};
  if (data.names && typeof data.names === 'object') {
    for (const [label, name] of Object.entries(data.names)) if (typeof name === 'string') names[label] = name;
  }
  return names;
}

export async function writeSpeakerNames(store: ArtifactStore, interimDir: string, names: Record<string, string>): Promise<void> {
  await store.writeJson(path.join(interimDir, SPEAKER_NAMES_FILE), { names, updated_at: new Date().toISOString() });
}

export const EXPORT_SETTINGS_FILE = 'export-settings.json';

export interface ExportSettings {
  render: { subtitles?: Partial<SubtitleOptions> };
  output_dir: string;
  base_name: string;
  formats: string[];
}

export async function writeExportSettings(store: ArtifactStore, interimDir: string, settings: ExportSettings): Promise<void> {
  await store.writeJson(path.join(interimDir, EXPORT_SETTINGS_FILE), settings);
}

/** The run's export settings; null for runs of earlier releases, which exported with the defaults. */
export async function readExportSettings(interimDir: string): Promise<ExportSettings | null> {
  try {
    const data = JSON.parse(await readFile(path.join(interimDir, EXPORT_SETTINGS_FILE), 'utf8')) as Partial<ExportSettings>;
    if (typeof data.output_dir !== 'string' || typeof data.base_name !== 'string') return null;
    return { render: data.render ?? {}, output_dir: data.output_dir, base_name: data.base_name, formats: Array.isArray(data.formats) ? data.formats.filter((f) => typeof f === 'string') : [] };
  } catch {
    return null;
  }
}
