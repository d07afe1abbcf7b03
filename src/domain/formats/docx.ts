// DOCX export: a Word document with a title, a summary line, then one paragraph
// per utterance that reads like the TXT line (`[HH:MM:SS] SPEAKER: text`) with the
// speaker in bold. The same transcript always gives the same bytes, so a rerun
// of the export stage hashes the same and its artifact is recognised as unchanged.

import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { formatClock } from '../timecode';
import type { MergedView, Utterance } from '../types';
import { joinedPieces } from './pieces';

const CREATOR = 'speech-pipeline';

/** Like MD, SRT and VTT: a line break inside a word or label would split the line Word shows. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/**
 * docx stamps docProps/core.xml with the time of rendering. The core properties
 * are all optional (ISO/IEC 29500-2), and the transcript knows no real creation
 * date, so the two stamps are dropped rather than replaced by an invented one.
 */
function withoutTimestamps(coreXml: Uint8Array): Uint8Array {
  return strToU8(strFromU8(coreXml).replace(/<dcterms:(created|modified)\b[^>]*>[^<]*<\/dcterms:\1>/g, ''));
}

/**
 * Rebuilds the zip with a fixed entry time (docx zips with the current time and
 * no way to choose it) and with [Content_Types].xml first, where file-type
 * sniffers look for it. fflate writes the DOS time from local-time fields, so the
 * date is built from local-time parts on each call: the stamp is 1980-01-01 00:00,
 * the earliest a zip can hold, in every time zone.
 */
function repack(files: Record<string, Uint8Array>): Buffer {
  const ordered: Zippable = {};
  const contentTypes = files['[Content_Types].xml'];
  if (contentTypes) ordered['[Content_Types].xml'] = contentTypes;
  for (const [path, data] of Object.entries(files)) {
    if (path === '[Content_Types].xml') continue;
    ordered[path] = path === 'docProps/core.xml' ? withoutTimestamps(data) : data;
  }
  const packed = zipSync(ordered, { level: 6, mtime: new Date(1980, 0, 1) });
  return Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
}

/** What an utterance's paragraph shows, as the TXT line: `[HH:MM:SS] `, the speaker (bold), `: text`. */
type Runs = [time: string, speaker: string, text: string];

function utteranceRuns(u: Utterance): Runs {
  return [`[${formatClock(u.start)}] `, oneLine(u.speaker), `: ${oneLine(u.text)}`];
}

function paragraph([time, speaker, text]: Runs): Paragraph {
  return new Paragraph({ children: [new TextRun(time), new TextRun({ text: speaker, bold: true }), new TextRun(text)] });
}

async function docxFiles(title: string, summary: string, paragraphs: Paragraph[]): Promise<Record<string, Uint8Array>> {
  const document = new Document({
    title,
    creator: CREATOR,
    lastModifiedBy: CREATOR,
    sections: [
      {
        children: [new Paragraph({ heading: HeadingLevel.TITLE, children: [new TextRun(title)] }), new Paragraph({ children: [new TextRun(summary)] }), ...paragraphs],
      },
    ],
  });
  return unzipSync(await Packer.toBuffer(document));
}

/** Where the texts of an utterance's paragraph go (private-use characters, which XML writes as they are). */
const SLOTS: Runs = ['\uE000', '\uE001', '\uE002'];
/** Every kind of character docx escapes or drops, to check the paragraphs written here against docx's own. */
const PROBE: Runs = ['[00:00:00] <&>', `O'Brien "the 🎤" \u0001\u000b\u001f`, ': a > b && c < d \t\ud83d 😀 \u2028 end'];

/**
 * Character data as docx writes it: markup characters as entities, and the control characters
 * XML cannot hold (U+0000 to U+001F but tab, line feed and carriage return) dropped.
 */
function escapeXml(text: string): string {
  return text.replace(/[&"'<>]|[^\P{Cc}\t\n\r\u007f-\u009f]/gu, (c) => XML_ESCAPES[c] ?? '');
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '"': '&quot;', "'": '&apos;', '<': '&lt;', '>': '&gt;' };

/**
 * word/document.xml of a document with the utterance paragraphs `made` would write, cut where they
 * go, and the paragraph cut at its three texts; null when docx does not write the probe paragraph
 * exactly as `fill` would (a docx release that writes paragraphs otherwise).
 */
function cutAtUtterances(documentXml: string): { before: string; after: string; parts: string[] } | null {
  const first = documentXml.indexOf(SLOTS[0]);
  const start = documentXml.lastIndexOf('<w:p>', first);
  const end = documentXml.indexOf('</w:p>', documentXml.indexOf(SLOTS[2], first)) + '</w:p>'.length;
  const probeEnd = documentXml.indexOf('</w:p>', end) + '</w:p>'.length;
  if (first < 0 || start < 0 || end < first || probeEnd < end) return null;
  const parts = documentXml.slice(start, end).split(/[\uE000-\uE002]/);
  // Compared as written, in UTF-8 (which turns a lone surrogate into U+FFFD, for docx as here).
  if (parts.length !== 4 || strFromU8(strToU8(fill(parts, PROBE))) !== documentXml.slice(end, probeEnd)) return null;
  return { before: documentXml.slice(0, start), after: documentXml.slice(probeEnd), parts };
}

function fill(parts: string[], runs: Runs): string {
  return `${parts[0]}${escapeXml(runs[0])}${parts[1]}${escapeXml(runs[1])}${parts[2]}${escapeXml(runs[2])}${parts[3]}`;
}

/**
 * docx builds an object for every paragraph, run and text and then the whole XML at once: for a
 * whole day's 10,000 utterances, hundreds of MB. So docx renders the document around one paragraph
 * of placeholders (and one of awkward text, to check against), and the utterances' paragraphs are
 * that paragraph with their texts filled in, one at a time: the same bytes. Should docx write the
 * check paragraph otherwise, every paragraph is left to docx.
 */
/** Whether this release of docx writes an utterance's paragraph as it is filled in here (else renderDocx leaves every paragraph to docx). */
export async function fillsParagraphs(): Promise<boolean> {
  const files = await docxFiles('title', 'summary', [paragraph(SLOTS), paragraph(PROBE)]);
  return cutAtUtterances(strFromU8(files['word/document.xml'] ?? new Uint8Array())) !== null;
}

export async function renderDocx(m: MergedView): Promise<Buffer> {
  const title = `Transcript: ${oneLine(m.source)}`;
  const speakers = m.speakers.length > 0 ? m.speakers.map(oneLine).join(', ') : 'none';
  const summary = `File: ${oneLine(m.source)} · Duration: ${formatClock(m.duration)} · Speakers: ${speakers}`;
  const files = await docxFiles(title, summary, [paragraph(SLOTS), paragraph(PROBE)]);
  const cut = cutAtUtterances(strFromU8(files['word/document.xml'] ?? new Uint8Array()));
  if (!cut) return repack(await docxFiles(title, summary, Array.from(m.utterances, (u) => paragraph(utteranceRuns(u)))));
  files['word/document.xml'] = utf8(joinedPieces(documentXml(cut, m.utterances)));
  return repack(files);
}

function* documentXml(cut: { before: string; after: string; parts: string[] }, utterances: Iterable<Utterance>): Generator<string> {
  yield cut.before;
  for (const u of utterances) yield fill(cut.parts, utteranceRuns(u));
  yield cut.after;
}

/** The pieces in UTF-8, one array (pieces end between paragraphs, so no character is cut in two). */
function utf8(pieces: Iterable<string>): Uint8Array {
  const chunks = Array.from(pieces, (p) => strToU8(p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
