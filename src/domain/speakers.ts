// Speaker names: the labels diarization gives (SPEAKER_00, …) stay the identity of a speaker in
// the stored merge result; names come on top, from identified voices and from `speech rename`,
// and every human-facing export shows them. Also what `speech speakers` shows of each speaker.
import { mapUtterances } from './columns';
import type { MergedTranscript, MergedView, SpeakerMatch } from './types';

/** A display name: one line, no surrounding space, not empty, at most 80 characters. */
export function checkSpeakerName(name: string): string | null {
  if (name.trim() === '') return 'a name cannot be empty';
  if (/[\r\n\t]/.test(name)) return 'a name must be one line';
  if (name.trim().length > 80) return 'a name can have at most 80 characters';
  return null;
}

/** Names from identified voices, then the user's names over them, by diarization label. */
export function speakerNamesFor(identification: SpeakerMatch[] | undefined, userNames: Record<string, string> | undefined): Record<string, string> {
  const names: Record<string, string> = {};
  for (const m of identification ?? []) if (m.match) names[m.speaker] = m.match;
  for (const [label, name] of Object.entries(userNames ?? {})) names[label] = name.trim();
  return names;
}

/** The merge result with the user's names (and identified voices) attached, labels untouched. */
export function withNames<T extends MergedView>(m: T, userNames: Record<string, string> | undefined): T {
  const names = speakerNamesFor(m.identification, { ...(m.speakerNames ?? {}), ...(userNames ?? {}) });
  const known = Object.fromEntries(Object.entries(names).filter(([label]) => m.speakers.includes(label)));
  return { ...m, speakerNames: known };
}

/**
 * The transcript as people read it: every label replaced by its display name. Two labels
 * given the same name stay apart (`Alice`, `Alice (SPEAKER_01)`), so a reader never takes
 * two voices for one. Utterances are renamed one at a time, as they are read.
 */
export function displayTranscript(m: MergedView): MergedView {
  const names = m.speakerNames ?? {};
  if (Object.keys(names).length === 0) return m;
  const shown = new Map<string, string>();
  const taken = new Set<string>();
  for (const label of m.speakers) {
    let name = names[label] ?? label;
    if (taken.has(name)) name = `${name} (${label})`;
    taken.add(name);
    shown.set(label, name);
  }
  const show = (label: string) => shown.get(label) ?? names[label] ?? label;
  return {
    ...m,
    speakers: m.speakers.map(show),
    utterances: mapUtterances(m, (u) => ({ ...u, speaker: show(u.speaker), words: u.words.map((w) => ({ ...w, speaker: show(w.speaker) })) })),
  };
}

export interface SpeakerSummary {
  label: string;
  name: string | null;
  /** Seconds of speech attributed to the speaker (sum of its utterances). */
  talkSeconds: number;
  utterances: number;
  words: number;
  /** The start of the speaker's first utterance, with its first words. */
  firstWords: string;
  /** Where to listen to recognise the voice: starts of its longest utterances, in time order. */
  listenAt: number[];
  match: SpeakerMatch | null;
}

const FIRST_WORDS = 12;
const LISTEN_POINTS = 3;

export function summariseSpeakers(m: MergedTranscript): SpeakerSummary[] {
  const named = m.speakerNames ?? {};
  return m.speakers.map((label) => {
    const own = m.utterances.filter((u) => u.speaker === label);
    const words = own.flatMap((u) => u.words);
    const first = own[0];
    const firstText = first ? (first.words.length > 0 ? first.words.slice(0, FIRST_WORDS).map((w) => w.word).join(' ') : first.text.split(/\s+/).slice(0, FIRST_WORDS).join(' ')) : '';
    const longest = [...own].sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start).slice(0, LISTEN_POINTS);
    return {
      label,
      name: named[label] ?? null,
      talkSeconds: own.reduce((sum, u) => sum + Math.max(0, u.end - u.start), 0),
      utterances: own.length,
      words: words.length,
      firstWords: firstText + (first && first.words.length > FIRST_WORDS ? ' …' : ''),
      listenAt: longest.map((u) => u.start).sort((a, b) => a - b),
      match: m.identification?.find((i) => i.speaker === label) ?? null,
    };
  });
}

/**
 * Parses `LABEL=Name` pairs of `speech rename`. A speaker may be named by its label or by the
 * name it has now; `LABEL=` (empty) takes a user's name back. Every problem is reported at once.
 */
export function parseRenames(pairs: string[], m: MergedTranscript): { renames: Record<string, string | null>; problems: string[] } {
  const renames: Record<string, string | null> = {};
  const problems: string[] = [];
  const byName = new Map(Object.entries(m.speakerNames ?? {}).map(([label, name]) => [name, label]));
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`"${pair}" is not LABEL=Name (e.g. SPEAKER_00=Alice)`);
      continue;
    }
    const who = pair.slice(0, eq).trim();
    const name = pair.slice(eq + 1);
    const label = m.speakers.includes(who) ? who : byName.get(who);
    if (!label) {
      problems.push(`"${who}" is not a speaker of this run (speakers: ${m.speakers.map((l) => (m.speakerNames?.[l] ? `${l} (${m.speakerNames[l]})` : l)).join(', ') || 'none'})`);
      continue;
    }
    if (label in renames) {
      problems.push(`${label} is renamed twice`);
      continue;
    }
    if (name === '') {
      renames[label] = null;
      continue;
    }
    const bad = checkSpeakerName(name);
    if (bad) problems.push(`${who}=${name}: ${bad}`);
    else renames[label] = name.trim();
  }
  if (pairs.length === 0) problems.push('name at least one speaker, e.g. SPEAKER_00=Alice');
  return { renames, problems };
}
