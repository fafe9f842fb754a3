#!/usr/bin/env node
// The node-red-runner entry: `/app/engine node main.js` in the image, `node runner/main.js` here.
// The compiled runner is in dist/ beside this file (image) or one folder up (repository).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const candidates = [path.join(__dirname, 'dist', 'runner', 'start.js'), path.join(__dirname, '..', 'dist', 'runner', 'start.js')];
const entry = candidates.find((file) => fs.existsSync(file));
if (!entry) {
  console.error(JSON.stringify({ level: 'fatal', msg: `the runner is not built: none of ${candidates.join(', ')} exists (run npm run build)` }));
  process.exit(1);
}
require(entry)
  .main()
  .then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 2000).unref();
  });
