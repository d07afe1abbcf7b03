/**
 * multipart/form-data parsing for the OpenAI emulator, written by hand so the emulator
 * accepts exactly what clients send: any part order, repeated `key[]` parts, chunked
 * bodies (the caller buffers them), quoted or bare parameters, RFC 5987 file names.
 */

/** Thrown for a body that is not well-formed multipart. */
export class MultipartError extends Error {
  override readonly name = 'MultipartError';
}

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** The boundary from a Content-Type header, or null when it is not multipart/form-data. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType.trim())) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function headerParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = m[1]!.toLowerCase();
    const quoted = m[2];
    let v = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (m[3] ?? '').trim();
    if (key.endsWith('*')) {
      // RFC 5987: charset'lang'percent-encoded
      const star = /^[^']*'[^']*'(.*)$/.exec(v);
      try {
        v = decodeURIComponent(star ? star[1]! : v);
      } catch {
        /* keep the raw value */
      }
      params.set(key.slice(0, -1), v);
      continue;
    }
    // Browsers and undici percent-encode quotes and line breaks inside names.
    v = v.replace(/%22/g, '"').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n');
    if (!params.has(key)) params.set(key, v);
  }
  return params;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new MultipartError('multipart boundary not found in body');
  pos += delim.length;
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // closing "--"
    // Transport padding after the delimiter is allowed before the CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    else throw new MultipartError('malformed multipart delimiter line');
    let headerEnd = body.indexOf(HEADER_END, pos);
    let contentStart = headerEnd + 4;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headerEnd = pos; // part without headers
      contentStart = pos + 2;
    }
    if (headerEnd < 0) throw new MultipartError('multipart part headers not terminated');
    const next = body.indexOf(Buffer.concat([CRLF, delim]), contentStart);
    if (next < 0) throw new MultipartError('multipart body not terminated by its boundary');

    const headers = new Map<string, string>();
    for (const line of body.toString('utf8', pos, headerEnd).split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const disposition = headers.get('content-disposition');
    if (!disposition || !/^form-data\b/i.test(disposition)) throw new MultipartError('multipart part without Content-Disposition: form-data');
    const params = headerParams(disposition);
    const name = params.get('name');
    if (name === undefined) throw new MultipartError('multipart part without a name');
    const part: MultipartPart = { name, data: body.subarray(contentStart, next) };
    const filename = params.get('filename');
    if (filename !== undefined) part.filename = filename;
    const ct = headers.get('content-type');
    if (ct !== undefined) part.contentType = ct;
    parts.push(part);
    pos = next + CRLF.length + delim.length;
  }
}
