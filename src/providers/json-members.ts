// Reading a large JSON file (a whole day's transcript.json or merged.json, tens of MB) without
// holding it whole: the bytes are scanned as they are read, and only what the reader asks for
// is parsed, the elements of a long array one at a time. JSON.parse of the whole text would
// hold the text and an object per word at once, several times the file's size.
import { open } from 'node:fs/promises';

export interface MemberReader {
  /** Top-level members whose array elements are handed over one at a time, each parsed on its own. */
  each?: Record<string, (element: unknown) => void>;
  /** Top-level members passed over without being parsed. */
  skip?: readonly string[];
}

/**
 * Reads the JSON object in `file`: the arrays named in `each` element by element (in file order;
 * in the result they are null), the members named in `skip` not at all, and every other member
 * parsed whole and returned, in the file's order. The file is read `chunkBytes` at a time (256 KiB).
 * Throws SyntaxError when the file is not one JSON object (and whatever a callback throws).
 */
export async function readJsonMembers(file: string, reader: MemberReader, opts: { chunkBytes?: number } = {}): Promise<Record<string, unknown>> {
  const scanner = new MemberScanner(reader);
  // One buffer, read into again and again (a Buffer per chunk would be as much garbage as the file).
  const buffer = Buffer.allocUnsafe(opts.chunkBytes ?? 1 << 18);
  const fh = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      scanner.feed(buffer.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return scanner.end();
}

const enum State {
  Open,
  KeyOrClose,
  Key,
  Colon,
  ValueStart,
  Value,
  AfterMember,
  ElementOrClose,
  Element,
  AfterElement,
  Done,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** What may follow a bare scalar (a number, true, false or null). */
function endsScalar(b: number): boolean {
  return isSpace(b) || b === COMMA || b === CLOSE_BRACE || b === CLOSE_BRACKET;
}

/**
 * The scan, fed chunk by chunk. Structural bytes of JSON are ASCII and never occur inside a
 * multi-byte UTF-8 sequence, so bytes are scanned as they come and decoded only where parsed.
 */
class MemberScanner {
  private state = State.Open;
  /** After a comma a member (or element) must follow, not the closing bracket. */
  private afterComma = false;
  private readonly result: Record<string, unknown> = {};
  private key = '';

  // The value being scanned: nesting depth, inside a string, after a backslash, a bare scalar.
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scalar = false;

  // What is kept of it: the bytes from `from` in the current chunk, after `parts` of earlier chunks.
  private capturing = false;
  private from = 0;
  private parts: Buffer[] = [];

  constructor(private readonly reader: MemberReader) {}

  feed(chunk: Buffer): void {
    if (this.capturing) this.from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.state) {
        case State.Open:
          if (isSpace(b)) break;
          if (b !== OPEN_BRACE) throw unexpected(b);
          this.state = State.KeyOrClose;
          break;
        case State.KeyOrClose:
          if (isSpace(b)) break;
          if (b === CLOSE_BRACE && !this.afterComma) this.state = State.Done;
          else if (b === QUOTE) {
            this.startValue(chunk, i, true);
            this.state = State.Key;
          } else throw unexpected(b);
          break;
        case State.Key:
          if (this.scan(b)) {
            this.key = JSON.parse(this.captured(chunk, i + 1)) as string;
            this.state = State.Colon;
          }
          break;
        case State.Colon:
          if (isSpace(b)) break;
          if (b !== COLON) throw unexpected(b);
          this.state = State.ValueStart;
          break;
        case State.ValueStart:
          if (isSpace(b)) break;
          if (b === OPEN_BRACKET && this.reader.each?.[this.key]) {
            // Holds the member's place in the result, so members keep the file's order.
            this.result[this.key] = null;
            this.afterComma = false;
            this.state = State.ElementOrClose;
          } else {
            this.startValue(chunk, i, !this.reader.skip?.includes(this.key));
            this.state = State.Value;
          }
          break;
        case State.AfterMember:
          if (isSpace(b)) break;
          if (b === COMMA) {
            this.afterComma = true;
            this.state = State.KeyOrClose;
          } else if (b === CLOSE_BRACE) this.state = State.Done;
          else throw unexpected(b);
          break;
        case State.ElementOrClose:
          if (isSpace(b)) break;
          if (b === CLOSE_BRACKET) {
            if (this.afterComma) throw unexpected(b);
            this.state = State.AfterMember;
          } else {
            this.startValue(chunk, i, true);
            this.state = State.Element;
          }
          break;
        case State.AfterElement:
          if (isSpace(b)) break;
          if (b === COMMA) {
            this.afterComma = true;
            this.state = State.ElementOrClose;
          } else if (b === CLOSE_BRACKET) this.state = State.AfterMember;
          else throw unexpected(b);
          break;
        case State.Value:
        case State.Element: {
          if (!(this.scalar ? endsScalar(b) : this.scan(b))) break;
          // A scalar ends before the byte that ends it; anything else at its closing byte.
          const end = this.scalar ? i : i + 1;
          const text = this.capturing ? this.captured(chunk, end) : null;
          if (this.state === State.Element) {
            this.reader.each![this.key]!(JSON.parse(text!));
            this.afterComma = false;
            this.state = State.AfterElement;
          } else {
            if (text !== null) this.result[this.key] = JSON.parse(text);
            this.state = State.AfterMember;
          }
          // The byte that ended a scalar is read again, as what follows it.
          if (this.scalar) i--;
          break;
        }
        case State.Done:
          if (!isSpace(b)) throw unexpected(b);
          break;
      }
    }
    // A copy: the chunk's buffer is read into again.
    if (this.capturing) this.parts.push(Buffer.from(chunk.subarray(this.from)));
  }

  end(): Record<string, unknown> {
    if (this.state !== State.Done) throw new SyntaxError('Unexpected end of JSON input');
    return this.result;
  }

  /** A value starts at chunk[i]: a string, an object, an array or a bare scalar (number, true, false, null). */
  private startValue(chunk: Buffer, i: number, keep: boolean): void {
    const b = chunk[i]!;
    if (b === COMMA || b === COLON || b === CLOSE_BRACE || b === CLOSE_BRACKET) throw unexpected(b);
    this.inString = b === QUOTE;
    this.escaped = false;
    this.scalar = !this.inString && b !== OPEN_BRACE && b !== OPEN_BRACKET;
    this.depth = this.inString || this.scalar ? 0 : 1;
    this.capturing = keep;
    this.from = i;
    this.parts = [];
  }

  /** Takes one byte of a string, object or array; true at the byte that closes it. */
  private scan(b: number): boolean {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (b === BACKSLASH) this.escaped = true;
      else if (b === QUOTE) {
        this.inString = false;
        return this.depth === 0;
      }
      return false;
    }
    if (b === QUOTE) this.inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
    else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) return --this.depth === 0;
    return false;
  }

  /** The text of the value kept, up to chunk[end] exclusive; the capture ends. */
  private captured(chunk: Buffer, end: number): string {
    const tail = chunk.subarray(this.from, end);
    const text = (this.parts.length > 0 ? Buffer.concat([...this.parts, tail]) : tail).toString('utf8');
    this.capturing = false;
    this.parts = [];
    return text;
  }
}

function unexpected(b: number): SyntaxError {
  return new SyntaxError(`Unexpected ${b < 0x20 || b > 0x7e ? `byte 0x${b.toString(16)}` : `'${String.fromCharCode(b)}'`} in JSON`);
}
