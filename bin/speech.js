#!/usr/bin/env node
'use strict';
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
// When a command is done, the process ends as soon as what it printed is flushed: waiting for
// the event loop to drain would wait on the Temporal SDK's native runtime, 0.5–1.6 s measured
// after `speech run`, with nothing left to do (everything a command needs is awaited in main).
const exit = (code) => {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
};
require('../dist/client/cli.js').main(process.argv).then(
  (code) => exit(code),
  (err) => { console.error(err && err.stack ? err.stack : String(err)); exit(2); },
);
