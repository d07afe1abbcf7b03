// `speech completion bash|zsh|fish`: each script is loaded by its own shell and completes
// commands, flags and flag values from the real command tree.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { speech } from '../helpers/cli';
import { testTmpDir } from '../helpers/temporal';

describe('shell completion (CLI)', function () {
  this.timeout(60_000);
  let dir: string;
  const scripts: Record<string, string> = {};

  before(async () => {
    dir = await testTmpDir('speech-completion-');
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await speech(['completion', shell], { env: process.env });
      assert.equal(r.code, 0, r.stderr);
      scripts[shell] = path.join(dir, `speech.${shell}`);
      writeFileSync(scripts[shell]!, r.stdout);
    }
  });

  it('bash completes commands, flags and flag values', () => {
    const complete = (...words: string[]) =>
      execFileSync('bash', ['-c', `source '${scripts.bash}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _speech; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).trim();
    assert.equal(complete('speech', 'ren'), 'rename');
    assert.equal(complete('speech', 'run', '--max-li'), '--max-line-chars --max-lines');
    assert.equal(complete('speech', 'export', '--formats', 'd'), 'docx');
    assert.equal(complete('speech', 'run', '--speaker-labels', 'v'), 'voice');
  });

  it('fish completes commands and flag values', () => {
    const complete = (line: string) => execFileSync('fish', ['-c', `source '${scripts.fish}'; complete --do-complete '${line}'`], { encoding: 'utf8' });
    assert.match(complete('speech spe'), /^speakers\t/m);
    assert.match(complete('speech run --high'), /^--highlight-words/m);
    assert.deepEqual(complete('speech list --status ').trim().split('\n').sort(), ['cancelled', 'completed', 'failed', 'running']);
  });

  it('zsh loads the script', () => {
    execFileSync('zsh', ['-n', scripts.zsh!]);
    const out = execFileSync('zsh', ['-c', `autoload -Uz compinit && compinit -u -d '${dir}/zcompdump'; source '${scripts.zsh}'; print -r -- \${_comps[speech]}`], { encoding: 'utf8' });
    assert.equal(out.trim(), '_speech');
  });

  it('refuses a shell it has no script for', async () => {
    const r = await speech(['completion', 'tcsh'], { env: process.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no completion for "tcsh"; choose bash, zsh, fish/);
  });
});
