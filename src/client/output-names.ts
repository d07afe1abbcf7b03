// Output names for a batch: each input writes `<name>.<ext>`, where name is the file's name
// without its extension. When several inputs of one batch write into the same folder (--out)
// and would get the same name, each of them gets a distinct, predictable one instead: the
// extension kept in the name (`conv-wav`, `conv-m4a`), then the parent folder
// (`a-conv-wav`), then a counter in input order. Pure: no files are touched.
import path from 'node:path';

export interface OutputName {
  file: string;
  baseName: string;
  /** Why the name differs from the plain one, when it does. */
  renamed: boolean;
}

export function plainBaseName(file: string): string {
  const name = path.basename(file);
  return name.lastIndexOf('.') > 0 ? name.slice(0, name.lastIndexOf('.')) : name;
}

function withExtension(file: string): string {
  const name = path.basename(file);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}-${name.slice(dot + 1)}` : name;
}

/** Names compared as a case-insensitive file system would (macOS, Windows): `Conv` and `conv` collide. */
const key = (name: string) => name.normalize('NFC').toLowerCase();

/**
 * `sharedFolder`: whether all inputs write into one folder (--out). Without it each run has a
 * folder of its own (DATA_DIR/output/<pipeline id>) and the plain names cannot collide.
 */
export function planOutputNames(files: string[], sharedFolder: boolean): OutputName[] {
  if (!sharedFolder) return files.map((file) => ({ file, baseName: plainBaseName(file), renamed: false }));
  const levels: ((f: string) => string)[] = [plainBaseName, withExtension, (f) => `${path.basename(path.dirname(f))}-${withExtension(f)}`];
  const names = files.map((f) => levels[0]!(f));
  const level = files.map(() => 0);
  for (let round = 1; round < levels.length; round++) {
    const counts = new Map<string, number>();
    for (const n of names) counts.set(key(n), (counts.get(key(n)) ?? 0) + 1);
    let changed = false;
    files.forEach((f, i) => {
      if ((counts.get(key(names[i]!)) ?? 0) > 1) {
        names[i] = levels[round]!(f);
        level[i] = round;
        changed = true;
      }
    });
    if (!changed) break;
  }
  // Still the same (same folder name and file name in different places): numbered in input order.
  const seen = new Map<string, number>();
  const final = names.map((n, i) => {
    const k = key(n);
    const count = (seen.get(k) ?? 0) + 1;
    seen.set(k, count);
    if (count > 1) level[i] = levels.length;
    return count > 1 ? `${n}-${count}` : n;
  });
  return files.map((file, i) => ({ file, baseName: final[i]!, renamed: level[i]! > 0 }));
}
