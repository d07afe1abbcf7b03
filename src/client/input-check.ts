// What `speech run` checks on every input before anything is started, written or paid for:
// that the path names a regular file this user can read, under a name that passes intact into
// the workflow input and the state record, and that ffmpeg finds audio in it that is long
// enough and decodes up to the length its header claims. Each refusal is one line saying what
// is wrong and what to do. The checks cost a probe and the decoding of at most the last
// TAIL_CHECK_SECONDS of audio, whatever the length of the file; they never open anything that
// is not a regular file (a FIFO or a device would block or never end).
import { spawn } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import { access, lstat, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { Failure } from '../domain/failures';
import { formatClock } from '../domain/timecode';
import { readWavInfo } from '../providers/wav';

/** Extensions a folder is searched for (files directly inside it). */
export const MEDIA_EXTENSIONS = new Set(['wav', 'mp3', 'm4a', 'aac', 'ogg', 'oga', 'opus', 'flac', 'mp4', 'm4v', 'mov', 'mkv', 'webm', 'wma', 'aiff', 'aif', 'amr', 'mpga', 'mpeg', 'avi']);

/** The shortest audio the transcription services take (OpenAI refuses less than 0.1 s; so does conversion). */
export const MIN_AUDIO_SECONDS = 0.1;
/** How much audio at the end of a file is decoded to prove the file holds what its header claims. */
export const TAIL_CHECK_SECONDS = 10;
/** Audio may end this much before the claimed length (encoder padding, rounded header fields). */
export const TRUNCATION_TOLERANCE_SECONDS = 1;
/** The activity's own threshold for a WAV whose header promises more data than the file holds. */
const WAV_SLACK_SECONDS = 0.05;

export interface InputProblem {
  /** Failure.InputMissing (the path: missing, not a file, unreadable, a name that cannot pass) or Failure.InvalidMedia (the content). */
  type: string;
  /** One line: what is wrong, that nothing was started, and what to do. */
  message: string;
}

/** One input after the checks: either the audio length it holds, or why it is refused. */
export type CheckedInput = { file: string; problem: null; audioSeconds: number | null } | { file: string; problem: InputProblem; audioSeconds: null };

export interface MediaTools {
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
}

const NOTHING = 'nothing was started';

/** A file found on the command line or in a folder: `shown` is its path as the user wrote it. */
type Listed = { file: string; shown: string; problem: InputProblem | null };

/**
 * Expands folders (media files directly inside them, in name order) and checks every file,
 * a few at a time. Inputs come back in order, each once; the problems among them are the
 * caller's to report.
 */
export async function checkInputs(inputs: string[], tools: MediaTools, concurrency = 4): Promise<CheckedInput[]> {
  const listed: Listed[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    for (const e of await expandInput(input)) {
      if (seen.has(e.file)) continue;
      seen.add(e.file);
      listed.push(e);
    }
  }
  const out: CheckedInput[] = new Array(listed.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < listed.length; i = next++) {
      const e = listed[i]!;
      if (e.problem) {
        out[i] = { file: e.file, problem: e.problem, audioSeconds: null };
        continue;
      }
      const r = await checkFile(e.file, e.shown, tools);
      out[i] = 'problem' in r ? { file: e.file, problem: r.problem, audioSeconds: null } : { file: e.file, problem: null, audioSeconds: r.audioSeconds };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, listed.length)) }, lane));
  return out;
}

/** One command-line input: the file itself, or the media files of a folder; or why there is nothing to take. */
async function expandInput(input: string): Promise<Listed[]> {
  const abs = path.resolve(input);
  const refused = (message: string, type: string = Failure.InputMissing): Listed[] => [{ file: abs, shown: input, problem: { type, message } }];
  let s: Stats;
  try {
    s = await stat(abs);
  } catch (err) {
    return refused(await unreachable(input, abs, err as NodeJS.ErrnoException));
  }
  if (!s.isDirectory()) return [{ file: abs, shown: input, problem: null }];
  let names: Buffer[];
  try {
    names = await readdir(abs, { encoding: 'buffer' });
  } catch (err) {
    return refused(`${input}: the folder cannot be read (${(err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (err as Error).message}); ${NOTHING}. Make it readable for this user, or name the files in it.`);
  }
  const media = names
    .map((raw) => ({ raw, name: raw.toString('utf8') }))
    .filter(({ name }) => !name.startsWith('.') && MEDIA_EXTENSIONS.has(path.extname(name).slice(1).toLowerCase()))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (media.length === 0) {
    return refused(
      `${input}: the folder holds no audio or video files (${[...MEDIA_EXTENSIONS].slice(0, 8).join(', ')}, …); ${NOTHING}. Name the files themselves, or a folder they are directly in (subfolders are not searched).`,
    );
  }
  return media.map(({ raw, name }): Listed => {
    const file = path.join(abs, name);
    if (isUtf8(raw)) return { file, shown: path.join(input, name), problem: null };
    const escaped = escapeName(raw);
    return { file: path.join(abs, escaped), shown: path.join(input, escaped), problem: { type: Failure.InputMissing, message: notUtf8(input, raw) } };
  });
}

/** Why a path cannot be reached, in the user's words (the path as they typed it). */
async function unreachable(shown: string, abs: string, err: NodeJS.ErrnoException): Promise<string> {
  switch (err.code) {
    case 'ELOOP':
      return `${shown} is a symbolic link that leads back to itself (a link loop), not to a file; ${NOTHING}. Point the link at the recording (ls -l shows where it leads), or name the recording itself.`;
    case 'EACCES':
      return `${shown} cannot be reached: permission denied on a folder in its path; ${NOTHING}. Make the folders searchable for this user (chmod a+x), or copy the file somewhere this user can read.`;
    case 'ENAMETOOLONG':
      return `${shown}: the path is too long for this system; ${NOTHING}. Move or rename the file to shorten it.`;
    case 'ENOENT':
    case 'ENOTDIR': {
      // A link whose target is gone: say where it leads.
      const target = await readlink(abs).catch(() => null);
      if (target !== null) return `${shown} is a symbolic link to ${target}, which does not exist; ${NOTHING}. Point the link at the recording, or name the recording itself.`;
      // Node decodes arguments as UTF-8: a name in another encoding arrives with U+FFFD in it.
      if (shown.includes('\uFFFD')) {
        const raw = await rawNameLike(abs);
        if (raw) return notUtf8(path.dirname(shown), raw);
        return `${shown}: no such file; the name holds bytes that are not valid UTF-8 (shown as \uFFFD), which cannot be passed on intact; ${NOTHING}. Rename the file to a UTF-8 name (e.g. with convmv -f latin1 -t utf8).`;
      }
      return `${shown}: no such file or folder; ${NOTHING}. Check the path (quote names that contain spaces).`;
    }
    default:
      return `${shown} cannot be reached (${err.message}); ${NOTHING}.`;
  }
}

/** The raw name, in the folder of `abs`, that reads as basename(abs) once invalid UTF-8 is replaced. */
async function rawNameLike(abs: string): Promise<Buffer | null> {
  const names = await readdir(path.dirname(abs), { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  return names.find((n) => !isUtf8(n) && n.toString('utf8') === path.basename(abs)) ?? null;
}

function notUtf8(folder: string, raw: Buffer): string {
  const escaped = escapeName(raw);
  const fixed = escaped.replace(/\\x[0-9a-f]{2}/g, '_');
  const bytes = [...escaped.matchAll(/\\x([0-9a-f]{2})/g)].map((m) => `0x${m[1]}`);
  return (
    `${path.join(folder, escaped)}: the file name is not valid UTF-8 (byte${bytes.length > 1 ? 's' : ''} ${[...new Set(bytes)].join(', ')}), so it cannot be passed on intact to the run and its records; ${NOTHING}. ` +
    `Rename it, e.g. mv -- ${shellQuote(path.join(folder, escaped))} ${shellQuote(path.join(folder, fixed))}`
  );
}

/** A name for people: valid UTF-8 as it is, every other byte as \xNN. */
export function escapeName(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const b = raw[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const seq = len > 0 ? raw.subarray(i, i + len) : null;
    if (seq && seq.length === len && isUtf8(seq)) {
      out += seq.toString('utf8');
      i += len;
    } else {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i += 1;
    }
  }
  return out;
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Bash quoting a user can paste: $'…' when the name carries \xNN escapes, '…' otherwise. */
function shellQuote(s: string): string {
  if (/\\x[0-9a-f]{2}/.test(s)) return `$'${s.replace(/\\(?!x[0-9a-f]{2})/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Checks one file: its kind, that it can be read, and what ffmpeg finds in it. */
export async function checkFile(file: string, shown: string, tools: MediaTools): Promise<{ problem: InputProblem } | { audioSeconds: number | null }> {
  const missing = (message: string) => ({ problem: { type: Failure.InputMissing, message } });
  const invalid = (message: string) => ({ problem: { type: Failure.InvalidMedia, message } });
  let s: Stats;
  try {
    s = await stat(file);
  } catch (err) {
    return missing(await unreachable(shown, file, err as NodeJS.ErrnoException));
  }
  if (!s.isFile()) {
    const kind = s.isFIFO() ? 'a named pipe (FIFO)' : s.isCharacterDevice() ? 'a character device' : s.isBlockDevice() ? 'a block device' : s.isSocket() ? 'a socket' : s.isDirectory() ? 'a folder' : 'not a regular file';
    const how = s.isFIFO() || s.isSocket() ? ' save the stream to a file first (e.g. cat PIPE > recording.wav), then name that file' : ' name an audio or video file';
    return missing(`${shown} is ${kind}, not a file: speech reads its input more than once (to hash, check and convert it), which only a regular file allows; ${NOTHING}. Instead,${how}.`);
  }
  try {
    await access(file, constants.R_OK);
  } catch {
    const via = (await lstat(file).catch(() => null))?.isSymbolicLink() ? ' (through a symbolic link)' : '';
    return missing(`${shown} cannot be read: permission denied for this user${via}; ${NOTHING}. Make it readable (chmod a+r), or run speech as a user who can read it.`);
  }
  if (s.size === 0) return invalid(`${shown} is empty (0 bytes): there is no audio in it; ${NOTHING}. Check that the recording was saved or copied completely.`);

  let probe: Probe;
  try {
    probe = await probeFile(file, tools);
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
    if (err.timedOut) return { audioSeconds: null }; // Too slow to tell here; conversion probes again.
    const reason = ffmpegReason(err.stderr, file);
    if (/moov atom not found/i.test(reason)) {
      return invalid(`${shown} is an unfinished MP4/MOV/M4A: its index (the moov atom) is missing, as when a recording stops without being closed or a copy is cut short; ${NOTHING}. Copy the complete file again, or recover it with the recorder's own tool.`);
    }
    // ffmpeg's own words for "no format matches" are "Invalid data found" or, after a guess from the extension, "Invalid argument".
    const why = /Invalid data found|Invalid argument/i.test(reason) ? 'ffmpeg recognises no audio or video format in it' : `ffmpeg: ${reason}`;
    return invalid(`Not a readable audio or video file: ${shown} (${why}); ${NOTHING}. Check that it is the recording you meant: a text or document file renamed to .mp3 cannot be transcribed.`);
  }
  const audio = probe.streams.find((x) => x.codec_type === 'audio');
  if (!audio) {
    const video = probe.streams.some((x) => x.codec_type === 'video' && x.disposition?.attached_pic !== 1);
    return invalid(`${shown} has no audio stream (${probe.format.format_name ?? 'unknown format'}${video ? ', video only' : ''}): there is nothing to transcribe; ${NOTHING}. Name the recording with sound${video ? ', or export the video again with its audio track' : ''}.`);
  }
  const formatSeconds = finite(probe.format.duration);
  const videoPresent = probe.streams.some((x) => x.codec_type === 'video' && x.disposition?.attached_pic !== 1);
  // Where the audio is said to end: its own stream's length, or the container's when only audio is in it.
  const audioClaim = finite(audio.duration) ?? tagSeconds(audio.tags?.DURATION) ?? (videoPresent ? null : formatSeconds);
  const claim = probe.estimated ? null : audioClaim;
  const reported = formatSeconds ?? audioClaim;

  // A PCM WAV states its data size up front: compare it with what the file holds (no decoding needed).
  if (probe.format.format_name === 'wav' && /^pcm_/.test(audio.codec_name ?? '')) {
    const info = await readWavInfo(file).catch(() => null);
    if (info && info.bytesPerSecond > 0) {
      if (info.declaredDataBytes !== null && info.declaredDataBytes > info.dataBytes + info.bytesPerSecond * WAV_SLACK_SECONDS) {
        const promised = info.declaredDataBytes / info.bytesPerSecond;
        return invalid(truncated(shown, `its WAV header promises ${clock(promised, promised)} of audio, but the file holds ${clock(info.durationSeconds, promised)}`, 'wav'));
      }
      if (info.durationSeconds < MIN_AUDIO_SECONDS) return invalid(tooShort(shown, info.durationSeconds));
      return { audioSeconds: reported };
    }
  }
  if (claim !== null && claim < MIN_AUDIO_SECONDS) return invalid(tooShort(shown, claim));

  // Decode the end of the audio (or its start, when its length is not declared): a header that
  // promises more than the file holds shows up as audio that stops early, or not at all.
  const from = claim !== null ? Math.max(0, claim - TAIL_CHECK_SECONDS) : 0;
  const undecodable = (err: ToolError) =>
    invalid(`${shown}: its audio (${audio.codec_name ?? 'unknown codec'}) cannot be decoded (ffmpeg: ${ffmpegReason(err.stderr, file)}); ${NOTHING}. Convert it with another tool, or name another copy of the recording.`);
  let end: number;
  try {
    end = from + (await decodedSeconds(file, from, claim !== null ? null : TAIL_CHECK_SECONDS, tools, 60_000));
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
    if (err.timedOut) return { audioSeconds: reported }; // Too slow to tell here; conversion checks again.
    return undecodable(err);
  }
  let whole = from === 0;
  if (claim !== null && !whole && end < claim - TRUNCATION_TOLERANCE_SECONDS) {
    // Not every demuxer seeks exactly (ADPCM in WAV finds nothing after a seek): before refusing,
    // decode from the start. Only files that look cut short pay for this, and it says where the audio stops.
    try {
      end = await decodedSeconds(file, 0, null, tools, 300_000);
      whole = true;
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      if (err.timedOut) return { audioSeconds: reported };
      return undecodable(err);
    }
  }
  if (whole && end === 0) {
    return invalid(`${shown}: no audio in it can be decoded (${audio.codec_name ?? 'unknown codec'} in ${probe.format.format_name ?? 'an unknown format'}); ${NOTHING}. Check that it is the recording you meant, or name another copy of it.`);
  }
  if (whole && end < MIN_AUDIO_SECONDS) return invalid(tooShort(shown, end));
  if (claim !== null && end < claim - TRUNCATION_TOLERANCE_SECONDS) {
    return invalid(truncated(shown, `its header says ${clock(claim, claim)} of audio, but the audio stops at ${clock(end, claim)}`, path.extname(file).slice(1).toLowerCase() || 'mka'));
  }
  return { audioSeconds: reported };
}

function truncated(shown: string, said: string, ext: string): string {
  // A stream copy writes a header that tells the truth, except FLAC's, which keeps the old sample count.
  const copy = ext === 'flac' ? '' : '-c copy ';
  return `${shown} is cut short: ${said}, as when a copy or a recording stopped early; ${NOTHING}. Copy the complete file again, or keep what is there with: ffmpeg -i ${shellQuote(shown)} ${copy}${shellQuote(`complete.${ext}`)}`;
}

function tooShort(shown: string, seconds: number): string {
  return `${shown} holds ${seconds.toFixed(2)} s of audio: too short to transcribe (the minimum is ${MIN_AUDIO_SECONDS} s); ${NOTHING}. Name a longer recording.`;
}

/** Seconds as 00:01:02 beside a claim of a minute or more, as 42.0 s beside a shorter one. */
function clock(seconds: number, scale: number): string {
  return scale >= 60 ? formatClock(seconds) : `${seconds.toFixed(1)} s`;
}

function finite(v: unknown): number | null {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** Matroska's per-stream DURATION tag, "HH:MM:SS.fffffffff". */
function tagSeconds(tag: string | undefined): number | null {
  const m = tag ? /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(tag.trim()) : null;
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  duration?: string;
  tags?: Record<string, string>;
  disposition?: { attached_pic?: number };
}

interface Probe {
  format: { format_name?: string; duration?: string };
  streams: ProbeStream[];
  /** ffmpeg guessed the length from the bitrate: it is no claim of the file's. */
  estimated: boolean;
}

class ToolError extends Error {
  constructor(
    readonly stderr: string,
    readonly timedOut: boolean,
  ) {
    super(stderr);
  }
}

/** `file:` keeps ffmpeg from reading a name such as `http:x.mp3` or `concat:a|b` as a protocol. */
const asInput = (file: string) => `file:${path.resolve(file)}`;

async function probeFile(file: string, tools: MediaTools): Promise<Probe> {
  const r = await runTool(tools.ffprobePath ?? 'ffprobe', ['-hide_banner', '-v', 'warning', '-print_format', 'json', '-show_format', '-show_streams', '-i', asInput(file)], 30_000);
  if (r.code !== 0) throw new ToolError(r.stderr, r.timedOut);
  const data = JSON.parse(r.stdout) as Partial<Probe>;
  return { format: data.format ?? {}, streams: data.streams ?? [], estimated: /Estimating duration from bitrate/i.test(r.stderr) };
}

/** Seconds of the first audio stream that decode from `from` on (to the end, or for at most `limit` seconds). */
async function decodedSeconds(file: string, from: number, limit: number | null, tools: MediaTools, timeoutMs: number): Promise<number> {
  const args = ['-nostdin', '-hide_banner', '-nostats', '-v', 'error', ...(from > 0 ? ['-ss', from.toFixed(3)] : []), ...(limit !== null ? ['-t', String(limit)] : []), '-i', asInput(file), '-map', '0:a:0', '-vn', '-sn', '-dn', '-f', 'null', '-progress', 'pipe:1', '-'];
  const r = await runTool(tools.ffmpegPath ?? 'ffmpeg', args, timeoutMs);
  if (r.code !== 0) throw new ToolError(r.stderr, r.timedOut);
  const times = [...r.stdout.matchAll(/^out_time_us=(\d+)$/gm)];
  const last = times[times.length - 1];
  return last ? Number(last[1]) / 1e6 : 0;
}

/** The line of ffmpeg's stderr that explains the problem, without the file name it repeats. */
function ffmpegReason(stderr: string, file: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = lines.find((l) => /Invalid data found|moov atom not found|does not contain any stream|could not find codec|Decoder .* not found|End of file|Invalid argument/i.test(l));
  const line = telling ?? lines[lines.length - 1] ?? 'ffmpeg could not read the file';
  return line.split(`${asInput(file)}: `).join('').split(`${path.resolve(file)}: `).join('').replace(/^\[[^\]]+\]\s*/, '');
}

function runTool(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-16_000)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, stdout, stderr, timedOut });
    });
  });
}
