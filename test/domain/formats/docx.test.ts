import assert from 'node:assert/strict';
import fc from 'fast-check';
import { strFromU8, unzipSync } from 'fflate';
import { fillsParagraphs, renderDocx } from '../../../src/domain/formats/docx';
import { formatClock } from '../../../src/domain/timecode';
import { renderTxt } from '../../../src/domain/formats/txt';
import type { MergedTranscript, Utterance } from '../../../src/domain/types';
import { fixtureTranscript } from './fixture';

const empty: MergedTranscript = { source: 'empty.wav', duration: 0, language: null, speakers: [], utterances: [] };

function utterance(speaker: string, words: [string, number, number][]): Utterance {
  return {
    speaker,
    start: words[0]?.[1] ?? 0,
    end: words[words.length - 1]?.[2] ?? 0,
    text: words.map((w) => w[0]).join(' '),
    words: words.map(([word, start, end]) => ({ word, start, end, speaker })),
  };
}

/** Everything XML must escape, an emoji outside the BMP, and a newline inside a word. */
const awkward: MergedTranscript = {
  source: 'Q&A <live> "final".m4a',
  duration: 12.5,
  language: 'en',
  speakers: ['Tom & <Jerry>', 'O\'Brien "the 🎤"'],
  utterances: [
    utterance('Tom & <Jerry>', [
      ['R&D', 0.5, 1],
      ['<laughs>', 1.1, 1.5],
      ['"quoted"', 1.6, 2],
      ["it's", 2.1, 2.4],
      ['😀👍🏽', 2.5, 3],
    ]),
    utterance('O\'Brien "the 🎤"', [
      ['two\nlines', 4, 5],
      ['a > b && c < d', 5.1, 6],
      ['&amp;', 6.1, 7],
    ]),
  ],
};

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes XML character data; any `&` that does not start a valid reference fails the test. */
function decodeXml(text: string): string {
  assert.ok(!text.includes('<'), `raw < in character data: ${text}`);
  return text.replace(/&([^;]*);?/g, (whole, name: string) => {
    const numeric = /^#(?:x([0-9a-fA-F]+)|(\d+))$/.exec(name);
    if (numeric) return String.fromCodePoint(numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]));
    const entity = ENTITIES[name];
    assert.ok(entity !== undefined && whole.endsWith(';'), `invalid entity reference ${whole}`);
    return entity;
  });
}

/** Start and end tags must nest; a stray or unescaped `<` in text breaks the balance. */
function assertWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>/, '');
  const open: string[] = [];
  for (const [, closing, name, , selfClosing] of body.matchAll(/<(\/?)([\w:.-]+)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) assert.equal(open.pop(), name, `unbalanced </${name}>`);
    else open.push(name!);
  }
  assert.deepEqual(open, [], 'unclosed elements');
  assert.equal(body.replace(/<[^>]*>/g, '').includes('<'), false);
}

interface DocxParts {
  files: Record<string, Uint8Array>;
  /** The text of each w:p of word/document.xml: its w:t contents, concatenated and decoded. */
  paragraphs: string[];
}

function readDocx(bytes: Buffer): DocxParts {
  const files = unzipSync(new Uint8Array(bytes));
  const documentXml = files['word/document.xml'];
  assert.ok(documentXml, 'word/document.xml missing');
  const xml = strFromU8(documentXml);
  assertWellFormed(xml);
  const paragraphs = [...xml.matchAll(/<w:p(?:\s[^>]*)?>([\s\S]*?)<\/w:p>|<w:p(?:\s[^>]*)?\/>/g)].map(([, inner]) =>
    [...(inner ?? '').matchAll(/<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>/g)].map(([, text]) => decodeXml(text ?? '')).join(''),
  );
  return { files, paragraphs };
}

/**
 * The TXT export's paragraph for each utterance (without the line end TXT adds),
 * with line breaks inside it turned into spaces: the DOCX, like MD, SRT and VTT,
 * keeps an utterance on one line.
 */
function txtParagraphs(m: MergedTranscript): string[] {
  return m.utterances.map((u) => renderTxt({ ...m, utterances: [u] }).replace(/\n$/, '').replace(/\s*[\r\n]+\s*/g, ' '));
}

/**
 * Runs `render` with the clock frozen at `instant`, for both `new Date()` and
 * `Date.now()`, which is what docx (core properties) and fflate (zip entry times) read.
 */
async function atClock<T>(instant: string, render: () => Promise<T>): Promise<T> {
  const RealDate = Date;
  const fixed = RealDate.parse(instant);
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) => Reflect.construct(target, args.length === 0 ? [fixed] : args, newTarget) as object,
    get: (target, prop, receiver) => (prop === 'now' ? () => fixed : (Reflect.get(target, prop, receiver) as unknown)),
  });
  try {
    return await render();
  } finally {
    globalThis.Date = RealDate;
  }
}

async function inTimeZone<T>(zone: string, render: () => Promise<T>): Promise<T> {
  const previous = process.env.TZ;
  process.env.TZ = zone;
  try {
    return await render();
  } finally {
    if (previous === undefined) delete process.env.TZ;
    else process.env.TZ = previous;
  }
}

describe('docx export', () => {
  it('writes the utterances\' paragraphs itself, as docx writes them (a whole day through docx takes hundreds of MB)', async () => {
    assert.equal(await fillsParagraphs(), true);
  });

  it('is a zip with the parts Word needs, content types first', async () => {
    const { files } = readDocx(await renderDocx(fixtureTranscript));
    assert.equal(Object.keys(files)[0], '[Content_Types].xml');
    for (const part of ['[Content_Types].xml', '_rels/.rels', 'word/document.xml', 'word/_rels/document.xml.rels', 'docProps/core.xml']) {
      assert.ok(files[part], `${part} missing`);
    }
    const documentType = /<Override [^>]*PartName="\/word\/document\.xml"[^>]*\/>/.exec(strFromU8(files['[Content_Types].xml']!));
    assert.match(documentType?.[0] ?? '', /ContentType="application\/vnd\.openxmlformats-officedocument\.wordprocessingml\.document\.main\+xml"/);
  });

  for (const [name, m] of [
    ['the fixture', fixtureTranscript],
    ['an empty transcript', empty],
    ['text that needs XML escaping', awkward],
  ] as const) {
    it(`reads back paragraph by paragraph as the TXT export: ${name}`, async () => {
      const { paragraphs } = readDocx(await renderDocx(m));
      const [title, summary, ...utterances] = paragraphs;
      assert.equal(title, `Transcript: ${m.source}`);
      const speakers = m.speakers.length > 0 ? m.speakers.join(', ') : 'none';
      assert.equal(summary, `File: ${m.source} · Duration: ${formatClock(m.duration)} · Speakers: ${speakers}`);
      assert.deepEqual(utterances, txtParagraphs(m));
    });
  }

  it('shows the fixture as the reader would see it', async () => {
    const { paragraphs } = readDocx(await renderDocx(fixtureTranscript));
    assert.deepEqual(paragraphs.slice(0, 4), [
      'Transcript: Team Meeting 2026-11-03.m4a',
      'File: Team Meeting 2026-11-03.m4a · Duration: 01:02:10 · Speakers: SPEAKER_00, SPEAKER_01',
      '[00:00:01] SPEAKER_00: Hello everyone, welcome back.',
      '[00:00:04] SPEAKER_01: Is R&D > sales? <laughs>',
    ]);
    assert.equal(paragraphs.at(-1), '[01:02:05] SPEAKER_00: That wraps it up.');
  });

  it('puts the speaker, and only the speaker, in bold', async () => {
    const xml = strFromU8(readDocx(await renderDocx(awkward)).files['word/document.xml']!);
    const bold = [...xml.matchAll(/<w:r><w:rPr><w:b\/>(?:<w:bCs\/>)?<\/w:rPr><w:t[^>]*>([^<]*)<\/w:t><\/w:r>/g)].map(([, t]) => decodeXml(t!));
    assert.deepEqual(bold, awkward.utterances.map((u) => u.speaker));
  });

  it('keeps an utterance on one line and drops characters XML cannot hold', async () => {
    const m: MergedTranscript = { ...empty, utterances: [utterance('A', [['x\r\ny\u0001z\u000c!', 0, 1]])] };
    const { files, paragraphs } = readDocx(await renderDocx(m));
    const texts = [...strFromU8(files['word/document.xml']!).matchAll(/<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>/g)].map(([, t]) => t!);
    // eslint-disable-next-line no-control-regex -- the control characters are what is checked for
    for (const t of texts) assert.doesNotMatch(t, /[\n\r\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    assert.equal(paragraphs[2], '[00:00:00] A: x yz!');
  });

  describe('is byte-identical for the same transcript', () => {
    it('whenever it is rendered', async () => {
      const first = await atClock('2001-02-03T04:05:06.789Z', () => renderDocx(fixtureTranscript));
      const second = await atClock('2031-12-30T23:59:58.123Z', () => renderDocx(fixtureTranscript));
      assert.ok(first.equals(second), 'renders at different times differ');
      assert.ok((await renderDocx(fixtureTranscript)).equals(first));
    });

    it('in every time zone', async () => {
      const renders = [];
      for (const zone of ['UTC', 'America/Los_Angeles', 'Pacific/Kiritimati']) {
        renders.push(await inTimeZone(zone, () => renderDocx(awkward)));
      }
      for (const r of renders) assert.ok(r.equals(renders[0]!), 'renders in different time zones differ');
    });

    it('with no render time left in the core properties', async () => {
      const core = strFromU8(readDocx(await renderDocx(fixtureTranscript)).files['docProps/core.xml']!);
      assert.doesNotMatch(core, /dcterms:(created|modified)|\d{4}-\d{2}-\d{2}T/);
      assert.match(core, /<dc:title>Transcript: Team Meeting 2026-11-03\.m4a<\/dc:title>/);
    });

    it('and differs when the transcript does', async () => {
      const changed = { ...fixtureTranscript, source: 'other.m4a' };
      assert.ok(!(await renderDocx(changed)).equals(await renderDocx(fixtureTranscript)));
    });
  });

  it('reads back as the TXT export for random transcripts', async () => {
    const textArb = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '&', '<', '>', '"', "'", '\n', 'é', '😀', '_', ';', '#'), maxLength: 12 });
    const utteranceArb = fc
      .record({ speaker: textArb, start: fc.integer({ min: 0, max: 90_000_000 }), text: textArb })
      .map(({ speaker, start, text }) => utterance(speaker, [[text, start / 1000, start / 1000 + 1]]));
    await fc.assert(
      fc.asyncProperty(fc.array(utteranceArb, { maxLength: 6 }), textArb, async (utterances, source) => {
        const m: MergedTranscript = { source, duration: 0, language: null, speakers: [...new Set(utterances.map((u) => u.speaker))], utterances };
        const { paragraphs } = readDocx(await renderDocx(m));
        assert.equal(paragraphs.length, 2 + utterances.length);
        // Blanks next to a line break collapse per run in the DOCX but across the whole
        // line in txtParagraphs, so runs of blanks are compared as one space here.
        const squash = (p: string): string => p.replace(/\s+/g, ' ');
        assert.deepEqual(paragraphs.slice(2).map(squash), txtParagraphs(m).map(squash));
      }),
      { numRuns: 60 },
    );
  });
});
