#!/usr/bin/env node
// Bundles the compiled workflow code once at build time, so workers start in well under a
// second instead of running webpack on every start.
'use strict';
const { bundleWorkflowCode } = require('@temporalio/worker');
const { writeFileSync } = require('node:fs');
const path = require('node:path');

const out = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');
bundleWorkflowCode({ workflowsPath: require.resolve('../dist/workflows'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } })
  .then(({ code }) => {
    writeFileSync(out, code);
    console.log(`workflow bundle: ${path.relative(process.cwd(), out)} (${(code.length / 1024).toFixed(0)} KiB)`);
  })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
