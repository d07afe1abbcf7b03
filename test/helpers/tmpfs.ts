// Small file systems that fill up: a tmpfs mounted for a test (we run as root, as CI does), and
// a filler file that leaves exactly as much room as a test wants.
import { execFileSync } from 'node:child_process';
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Bytes free for new data now. */
  free(): Promise<number>;
  /** Takes all but `leaveBytes` of the free space (rounded down to whole pages) with one file. */
  fill(leaveBytes?: number): Promise<void>;
  /** Removes the filler: the space a user frees. */
  unfill(): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `size` (e.g. "2m"; at most `inodes` files, when given) at `dir`; fails the test with why when that is not possible. */
export async function mountTmpfs(dir: string, size: string, inodes?: number): Promise<Tmpfs> {
  await mkdir(dir, { recursive: true });
  const options = `size=${size}${inodes !== undefined ? `,nr_inodes=${inodes}` : ''}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`These tests need a small file system to fill: \`mount -t tmpfs -o ${options} tmpfs ${dir}\` failed (run them as root, as CI does): ${(err as Error).message}`);
  }
  const filler = path.join(dir, 'filler.bin');
  const free = async () => {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  };
  let mounted = true;
  return {
    dir,
    free,
    async fill(leaveBytes = 0) {
      const page = 4096;
      const f = await open(filler, 'a');
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        for (let left = (await free()) - leaveBytes; left >= page; left = (await free()) - leaveBytes) {
          const n = Math.min(chunk.length, Math.floor(left / page) * page);
          try {
            await f.write(chunk, 0, n);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      } finally {
        await f.close();
      }
    },
    async unfill() {
      await rm(filler, { force: true });
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
