// `speech voices add NAME CLIP | list | remove NAME`: known voices for `speech run --identify`.
// A voice is enrolled from a clip of that voice alone; the diarizer the runs use (pyannote.ai's
// voiceprint job, or the local engine's speaker embedding) makes its voiceprint, which is kept
// in DATA_DIR/voices and never enters Temporal.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig, voicesDir, voiceSpace } from '../../config';
import { checkSpeakerName } from '../../domain/speakers';
import { createFsArtifactStore, sha256File } from '../../providers/artifact-store';
import { ProviderError } from '../../providers/errors';
import { createFfmpegProcessor } from '../../providers/ffmpeg';
import { findVoice, listVoices, removeVoice, saveVoice } from '../../providers/voices';
import { ensureEngine } from '../../local-engine';
import { voiceprintOf } from '../context';
import { EXIT, UsageError } from '../errors';
import { printJson, table } from '../output';
import { parseFlags } from './checkpoint-common';

/** pyannote.ai takes voiceprint clips of at most 30 s; below 2 s a voice is hard to tell. */
export const CLIP_SECONDS = { min: 2, max: 30 } as const;

const AddFlags = z.object({ json: z.boolean().default(false), replace: z.boolean().default(false) });
const JsonFlags = z.object({ json: z.boolean().default(false) });

export async function voicesCommand(action: string, args: string[], raw: Record<string, unknown>): Promise<number> {
  if (action === 'add') return addVoice(args, parseFlags(AddFlags, raw));
  if (action === 'list') return listVoicesCommand(args, parseFlags(JsonFlags, raw));
  if (action === 'remove') return removeVoiceCommand(args, parseFlags(JsonFlags, raw));
  throw new UsageError(`unknown action "${action}"; use add, list or remove`, 'speech voices add "Alice" alice.wav   |   speech voices list   |   speech voices remove "Alice"');
}

async function addVoice(args: string[], flags: z.infer<typeof AddFlags>): Promise<number> {
  const [name, clip, ...rest] = args;
  if (!name || !clip || rest.length > 0) throw new UsageError('give a name and one clip: speech voices add NAME CLIP', 'speech voices add "Alice" alice.wav   (quote names with spaces)');
  const bad = checkSpeakerName(name);
  if (bad) throw new UsageError(`voice name "${name}": ${bad}`);
  const config = loadConfig();
  const dir = voicesDir(config.dataDir);
  const space = voiceSpace(config);
  const existing = await findVoice(dir, name);
  if (existing && !flags.replace) throw new UsageError(`a voice named "${name}" is enrolled already (from ${existing.clip})`, `Add --replace to enrol it again from ${clip}, or choose another name.`);

  const media = createFfmpegProcessor({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
  const clipPath = path.resolve(clip);
  try {
    if ((await stat(clipPath)).size === 0) throw new UsageError(`${clip} is empty (0 bytes)`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${clip}: no such file`, 'Check the path; quote names that contain spaces.');
  }
  let seconds: number | null;
  try {
    const probe = await media.probe(clipPath);
    if (probe.audioStreams === 0) throw new UsageError(`${clip} has no audio stream: a voice clip must be audio`);
    seconds = probe.durationSeconds;
  } catch (err) {
    if (err instanceof ProviderError) throw new UsageError(err.message);
    throw err;
  }
  if (seconds !== null && (seconds < CLIP_SECONDS.min || seconds > CLIP_SECONDS.max)) {
    throw new UsageError(
      `${clip} is ${seconds.toFixed(1)} s long; a voice clip must be ${CLIP_SECONDS.min}–${CLIP_SECONDS.max} s of that voice alone`,
      `Cut a part where only ${name} speaks, e.g. ffmpeg -ss 00:01:10 -t 20 -i ${clip} ${name.replace(/\W+/g, '-').toLowerCase()}-clip.wav`,
    );
  }

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'speech-voice-'));
  try {
    const wav = path.join(tmp, 'clip.wav');
    await media.toWav16kMono(clipPath, wav, {});
    const { sha256 } = await sha256File(wav);
    const engine = config.providers.diarization === 'local' ? await ensureEngine(config, (m) => (flags.json ? undefined : console.log(m))) : null;
    let voiceprint: string;
    try {
      voiceprint = await voiceprintOf(config, engine, { path: wav, sha256 });
    } catch (err) {
      if (err instanceof ProviderError) throw new UsageError(`could not make a voiceprint of ${clip}: ${err.message}`);
      throw err;
    }
    const file = await saveVoice(createFsArtifactStore(), dir, {
      name,
      space,
      voiceprint,
      clip: clipPath,
      clip_sha256: (await sha256File(clipPath)).sha256,
      clip_seconds: seconds,
      created_at: new Date().toISOString(),
    });
    if (flags.json) printJson({ ok: true, name, space, file, clip: clipPath, clip_seconds: seconds, replaced: existing !== null });
    else console.log(`Enrolled "${name}" from ${clip}${seconds !== null ? ` (${seconds.toFixed(1)} s)` : ''} for ${space}${existing ? ', replacing the earlier voiceprint' : ''}. \`speech run FILE --identify\` names this voice in transcripts.`);
    return EXIT.ok;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function listVoicesCommand(args: string[], flags: z.infer<typeof JsonFlags>): Promise<number> {
  if (args.length > 0) throw new UsageError('`speech voices list` takes no arguments');
  const config = loadConfig();
  const dir = voicesDir(config.dataDir);
  const space = voiceSpace(config);
  const { voices, problems } = await listVoices(dir);
  if (flags.json) {
    printJson({ voices_dir: dir, space, voices: voices.map((v) => ({ name: v.name, space: v.space, usable: v.space === space, clip: v.clip, clip_seconds: v.clip_seconds, created_at: v.created_at })), problems });
    return EXIT.ok;
  }
  if (voices.length === 0) console.log(`No voice is enrolled (${dir}). Enrol one with: speech voices add "Alice" alice-clip.wav`);
  else {
    console.log(table(['NAME', 'CLIP', 'LENGTH', 'MADE BY', 'ENROLLED'], voices.map((v) => [v.name, path.basename(v.clip), v.clip_seconds !== null ? `${v.clip_seconds.toFixed(1)} s` : '-', v.space + (v.space === space ? '' : ' (not this diarizer)'), v.created_at.slice(0, 19).replace('T', ' ')])));
    const usable = voices.filter((v) => v.space === space).length;
    console.log(`${voices.length} voice(s); ${usable} usable by this configuration's diarizer (${space}).`);
  }
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  return EXIT.ok;
}

async function removeVoiceCommand(args: string[], flags: z.infer<typeof JsonFlags>): Promise<number> {
  const [name, ...rest] = args;
  if (!name || rest.length > 0) throw new UsageError('name one voice: speech voices remove NAME', '`speech voices list` shows the enrolled voices.');
  const config = loadConfig();
  const removed = await removeVoice(voicesDir(config.dataDir), name);
  if (!removed) throw new UsageError(`no voice named "${name}" is enrolled`, '`speech voices list` shows the enrolled voices.');
  if (flags.json) printJson({ ok: true, name, removed: true });
  else console.log(`Removed the voice "${name}". Runs already done keep the names they were given.`);
  return EXIT.ok;
}
