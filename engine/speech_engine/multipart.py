"""multipart/form-data parsing: any part order, repeated `key[]` parts, quoted or bare
parameters, RFC 5987 file names (filename*=UTF-8''…)."""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass


class MultipartError(Exception):
    pass


@dataclass
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def boundary_of(content_type: str | None) -> str | None:
    if not content_type or not re.match(r"^\s*multipart/form-data\s*(;|$)", content_type, re.I):
        return None
    m = re.search(r';\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    return (m.group(1) or m.group(2)) if m else None


_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


def _params(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _PARAM.finditer(value):
        key = m.group(1).lower()
        v = re.sub(r"\\(.)", r"\1", m.group(2)) if m.group(2) is not None else (m.group(3) or "").strip()
        if key.endswith("*"):
            star = re.match(r"^([^']*)'[^']*'(.*)$", v)
            charset, raw = (star.group(1) or "utf-8", star.group(2)) if star else ("utf-8", v)
            try:
                v = urllib.parse.unquote(raw, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
            out[key[:-1]] = v
            continue
        v = v.replace("%22", '"').replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n")
        out.setdefault(key, v)
    return out


def parse(body: bytes, boundary: str) -> list[Part]:
    delim = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    pos = body.find(delim)
    if pos < 0:
        raise MultipartError("multipart boundary not found in body")
    pos += len(delim)
    while True:
        if body[pos : pos + 2] == b"--":
            return parts
        while body[pos : pos + 1] in (b" ", b"\t"):
            pos += 1
        if body[pos : pos + 2] != b"\r\n":
            raise MultipartError("malformed multipart delimiter line")
        pos += 2
        if body[pos : pos + 2] == b"\r\n":
            header_end, content_start = pos, pos + 2
        else:
            header_end = body.find(b"\r\n\r\n", pos)
            if header_end < 0:
                raise MultipartError("multipart part headers not terminated")
            content_start = header_end + 4
        nxt = body.find(b"\r\n" + delim, content_start)
        if nxt < 0:
            raise MultipartError("multipart body not terminated by its boundary")
        headers: dict[str, str] = {}
        for line in body[pos:header_end].decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disposition = headers.get("content-disposition", "")
        if not re.match(r"^form-data\b", disposition, re.I):
            raise MultipartError("multipart part without Content-Disposition: form-data")
        params = _params(disposition)
        if "name" not in params:
            raise MultipartError("multipart part without a name")
        parts.append(Part(params["name"], body[content_start:nxt], params.get("filename"), headers.get("content-type")))
        pos = nxt + 2 + len(delim)
