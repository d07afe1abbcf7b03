// Enrolled voices (`speech voices add NAME CLIP`): one JSON file per voice under
// DATA_DIR/voices, holding the provider's voiceprint. Voiceprints are only comparable within
// the provider (and model) that made them, so each file names its voice space, and a run
// identifies speakers only against the voices of the space its diarizer works in. Voiceprints
// stay on disk: workflow inputs and histories carry the folder's path, never a voiceprint.
import { createHash } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store';
import type { Voiceprint } from './interfaces';

export const VoiceSchema = z.object({
  name: z.string().min(1),
  /** Which provider and model made the voiceprint, e.g. `local-engine` or `pyannote:https://api.pyannote.ai`. */
  space: z.string().min(1),
  voiceprint: z.string().min(1),
  clip: z.string(),
  clip_sha256: z.string(),
  clip_seconds: z.number().nullable(),
  created_at: z.string(),
});
export type Voice = z.infer<typeof VoiceSchema>;

/** A file name for a voice: readable, and distinct for names that differ only in case or accents. */
export function voiceFileName(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const hex = Buffer.from(name, 'utf8').toString('hex').slice(0, 16);
  return `${slug || 'voice'}-${hex}.json`;
}

export async function listVoices(voicesDir: string): Promise<{ voices: Voice[]; problems: string[] }> {
  let names: string[];
  try {
    names = (await readdir(voicesDir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { voices: [], problems: [] };
    throw err;
  }
  const voices: Voice[] = [];
  const problems: string[] = [];
  for (const n of names) {
    const file = path.join(voicesDir, n);
    try {
      voices.push(VoiceSchema.parse(JSON.parse(await readFile(file, 'utf8'))));
    } catch (err) {
      problems.push(`${file}: not a voice file (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    }
  }
  return { voices: voices.sort((a, b) => a.name.localeCompare(b.name)), problems };
}

export async function findVoice(voicesDir: string, name: string): Promise<Voice | null> {
  const { voices } = await listVoices(voicesDir);
  return voices.find((v) => v.name === name) ?? null;
}

export async function saveVoice(store: ArtifactStore, voicesDir: string, voice: Voice): Promise<string> {
  const file = path.join(voicesDir, voiceFileName(voice.name));
  await store.writeJson(file, VoiceSchema.parse(voice));
  return file;
}

export async function removeVoice(voicesDir: string, name: string): Promise<boolean> {
  try {
    await unlink(path.join(voicesDir, voiceFileName(name)));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The voiceprints a diarizer of `space` can compare against (pyannote.ai takes at most 50). */
export async function voiceprintsFor(voicesDir: string, space: string): Promise<{ voiceprints: Voiceprint[]; otherSpaces: number }> {
  const { voices } = await listVoices(voicesDir);
  const usable = voices.filter((v) => v.space === space);
  return { voiceprints: usable.map((v) => ({ label: v.name, voiceprint: v.voiceprint })), otherSpaces: voices.length - usable.length };
}

export const MAX_VOICEPRINTS = 50;

/** The voices an identification compares against, as one digest (part of the diarization's cache key). */
export function voiceprintsDigest(voiceprints: Voiceprint[]): string {
  const h = createHash('sha256');
  for (const v of [...voiceprints].sort((a, b) => a.label.localeCompare(b.label))) h.update(`${v.label}\0${v.voiceprint}\0`);
  return h.digest('hex');
}
