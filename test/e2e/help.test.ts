// What `speech --help`, each command's help and `--version` tell a new user.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { speech } from '../helpers/cli';

const COMMANDS = ['run', 'worker', 'server', 'engine', 'status', 'watch', 'cancel', 'list', 'show', 'validate', 'cleanup', 'export', 'speakers', 'rename', 'voices', 'delete', 'completion'];

describe('help and version (CLI)', function () {
  this.timeout(60_000);
  const env = { ...process.env };

  it('prints the version of the package', async () => {
    const version = (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const r = await speech([flag], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), version);
    }
  });

  it('says in the main help where keys go and what the exit codes mean', async () => {
    const r = await speech(['--help'], { env });
    assert.equal(r.code, 0);
    for (const needle of ['OPENAI_API_KEY', 'PYANNOTE_API_KEY', 'TEMPORAL_ADDRESS', 'DATA_DIR', 'Exit codes: 0', 'Examples:', '--version']) assert.ok(r.stdout.includes(needle), needle);
  });

  it('gives every command examples, and shows defaults as plain values', async () => {
    for (const cmd of COMMANDS) {
      const r = await speech([cmd, '--help'], { env });
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Examples:\\n  speech ${cmd}\\b`), cmd);
      assert.doesNotMatch(r.stdout, /\(default: "/, `${cmd}: a default shown quoted`);
      assert.doesNotMatch(r.stdout, /\(the default\) \(default: true\)/, cmd);
    }
  });
});
