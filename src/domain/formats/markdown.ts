// Markdown export: a heading, a summary line, then each utterance as a speaker
// line with its time range and the text below it.

import { formatClock } from '../timecode';
import type { MergedView } from '../types';
import { joinedPieces, mapped, startingWith } from './pieces';

/**
 * Escapes what would change the rendering of transcript text: inline markup
 * characters, underscores that could open emphasis (not those inside words such
 * as SPEAKER_00, which CommonMark leaves alone), and line starts that would
 * begin a heading, list, quote or setext underline.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*[\]<>]/g, '\\$&')
    .replace(/(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu, '\\_')
    .replace(/^([#>+=-])/, '\\$1')
    .replace(/^(\d+)([.)])/, '$1\\$2');
}

export function markdownPieces(m: MergedView): Generator<string> {
  const speakers = m.speakers.length > 0 ? m.speakers.map(escapeMarkdown).join(', ') : 'none';
  const header = `# Transcript: ${escapeMarkdown(m.source)}\n\nDuration: ${formatClock(m.duration)} · Speakers: ${speakers}\n`;
  // The trailing backslash is a CommonMark hard line break: the text shows on its
  // own line but stays in the same paragraph as its speaker line.
  const blocks = mapped(
    m.utterances,
    (u) =>
      `**${escapeMarkdown(u.speaker)}** _[${formatClock(u.start)} – ${formatClock(u.end)}]_\\\n${escapeMarkdown(u.text.replace(/\s*[\r\n]+\s*/g, ' '))}\n`,
  );
  return joinedPieces(startingWith(header, blocks), '\n');
}

export function renderMarkdown(m: MergedView): string {
  return [...markdownPieces(m)].join('');
}
