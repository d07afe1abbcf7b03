// DOCX export: a Word document with a title, a summary line, then one paragraph
// per utterance that reads like the TXT line (`[HH:MM:SS] SPEAKER: text`) with the
// speaker in bold. The same transcript always gives the same bytes, so a rerun
// of the export stage hashes the same and its artifact is recognised as unchanged.

import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { formatClock } from '../timecode';
import type { MergedTranscript } from '../types';

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
function repack(docx: Uint8Array): Uint8Array {
  const files = unzipSync(docx);
  const ordered: Zippable = {};
  const contentTypes = files['[Content_Types].xml'];
  if (contentTypes) ordered['[Content_Types].xml'] = contentTypes;
  for (const [path, data] of Object.entries(files)) {
    if (path === '[Content_Types].xml') continue;
    ordered[path] = path === 'docProps/core.xml' ? withoutTimestamps(data) : data;
  }
  return zipSync(ordered, { level: 6, mtime: new Date(1980, 0, 1) });
}

function utteranceParagraph(u: MergedTranscript['utterances'][number]): Paragraph {
  return new Paragraph({
    children: [
      new TextRun(`[${formatClock(u.start)}] `),
      new TextRun({ text: oneLine(u.speaker), bold: true }),
      new TextRun(`: ${oneLine(u.text)}`),
    ],
  });
}

export async function renderDocx(m: MergedTranscript): Promise<Buffer> {
  const title = `Transcript: ${oneLine(m.source)}`;
  const speakers = m.speakers.length > 0 ? m.speakers.map(oneLine).join(', ') : 'none';
  const summary = `File: ${oneLine(m.source)} · Duration: ${formatClock(m.duration)} · Speakers: ${speakers}`;
  const document = new Document({
    title,
    creator: CREATOR,
    lastModifiedBy: CREATOR,
    sections: [
      {
        children: [
          new Paragraph({ heading: HeadingLevel.TITLE, children: [new TextRun(title)] }),
          new Paragraph({ children: [new TextRun(summary)] }),
          ...m.utterances.map(utteranceParagraph),
        ],
      },
    ],
  });
  const packed = repack(await Packer.toBuffer(document));
  return Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
}
