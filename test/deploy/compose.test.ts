// docker-compose.yml cannot be started here (no Docker engine), so it is checked with what
// runs: its structure, the files it mounts, the worker's settings against the config schema,
// the secrets it must not hold, and the shell scripts it runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { SERVER_DYNAMIC_CONFIG } from '../../src/client/dev-server';
import { CONFIG_VARIABLES } from '../../src/config';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/messages';

const ROOT = path.resolve(__dirname, '..', '..');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
  const s = compose.services;

  it('has the maintained self-hosted layout: PostgreSQL, schema setup, server, namespace setup, UI, admin tools, workers', () => {
    assert.deepEqual(Object.keys(s).sort(), ['postgresql', 'speech-worker', 'temporal', 'temporal-admin-tools', 'temporal-create-namespace', 'temporal-schema-setup', 'temporal-ui'].sort());
    assert.match(s.temporal!.image!, /^temporalio\/server:/);
    assert.match(s['temporal-ui']!.image!, /^temporalio\/ui:/);
    assert.ok(!Object.values(s).some((x) => x.image?.includes('auto-setup')), 'the deprecated auto-setup image is not used');
    assert.deepEqual(s['temporal-ui']!.ports, ['8080:8080']);
    assert.deepEqual(s.temporal!.ports, ['7233:7233']);
  });

  it('starts each piece only after what it needs', () => {
    assert.equal(s['temporal-schema-setup']!.depends_on!.postgresql!.condition, 'service_healthy');
    assert.equal(s.temporal!.depends_on!['temporal-schema-setup']!.condition, 'service_completed_successfully');
    assert.equal(s['temporal-create-namespace']!.depends_on!.temporal!.condition, 'service_healthy');
    assert.equal(s['speech-worker']!.depends_on!['temporal-create-namespace']!.condition, 'service_completed_successfully');
  });

  it('mounts files that exist, and their shell scripts parse', () => {
    for (const [name, svc] of Object.entries(s)) {
      for (const v of svc.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (!host.startsWith('./')) continue;
        assert.ok(existsSync(path.join(ROOT, host)), `${name} mounts missing ${host}`);
      }
    }
    for (const script of ['setup-postgres.sh', 'create-namespace.sh']) {
      const r = spawnSync('sh', ['-n', path.join(ROOT, 'deploy/temporal/scripts', script)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.ok(existsSync(path.join(ROOT, 'Dockerfile')));
  });

  it('gives the server the same dynamic config as the embedded dev server', () => {
    const env = s.temporal!.environment!;
    const file = path.join(ROOT, 'deploy/temporal/dynamicconfig', path.basename(env.DYNAMIC_CONFIG_FILE_PATH!));
    const dc = parse(readFileSync(file, 'utf8')) as Record<string, { value: unknown; constraints: object }[]>;
    assert.ok(Object.keys(SERVER_DYNAMIC_CONFIG).length > 0);
    for (const [key, value] of Object.entries(SERVER_DYNAMIC_CONFIG)) {
      assert.deepEqual(dc[key], [{ value, constraints: {} }], key);
    }
  });

  it('registers the search attributes the workflow maintains', () => {
    const script = readFileSync(path.join(ROOT, 'deploy/temporal/scripts/create-namespace.sh'), 'utf8');
    for (const a of SEARCH_ATTRIBUTES) assert.match(script, new RegExp(`\\b${a.name}\\b`), a.name);
    assert.match(script, /--type Keyword/);
  });

  it('configures the worker only with variables the product reads, and holds no secret', () => {
    const w = s['speech-worker']!;
    assert.deepEqual(w.command, ['node', '/app/bin/speech.js', 'worker']);
    for (const key of Object.keys(w.environment ?? {})) assert.ok(CONFIG_VARIABLES.includes(key), `${key} is not read by the product`);
    assert.equal(w.environment!.OPENAI_API_KEY, '${OPENAI_API_KEY:-}');
    assert.equal(w.environment!.PYANNOTE_API_KEY, '${PYANNOTE_API_KEY:-}');
    assert.equal(w.environment!.TEMPORAL_ADDRESS, 'temporal:7233');
    // Host and container agree on paths, so file references in runs resolve in both.
    assert.deepEqual(w.volumes, ['${PWD}:${PWD}']);
    assert.equal(w.environment!.DATA_DIR, '${PWD}/data');
  });
});
