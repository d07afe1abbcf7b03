// The published JSON Schemas of the CLI's --json output (schema/cli/), checked against what the
// commands really print.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

const SCHEMA_DIR = path.join(__dirname, '..', '..', 'schema', 'cli');
const ajv = new Ajv2020({ allErrors: true, strict: true });
const compiled = new Map<string, ValidateFunction>();

export function assertCliJson(schema: string, doc: unknown): void {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${schema}.schema.json`), 'utf8')) as object);
    compiled.set(schema, validate);
  }
  assert.ok(validate(doc), `${schema}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(doc).slice(0, 2000)}`);
}
