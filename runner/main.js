#!/usr/bin/env node
// The node-red-runner entry: `/app/engine node main.js` in the image (see the Dockerfile),
// `node runner/main.js` in the repository. The compiled runner is dist/ beside this file.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, 'dist', 'start.js');
if (!fs.existsSync(entry)) {
  console.error(JSON.stringify({ level: 'fatal', msg: `the runner is not built: ${entry} does not exist (run npm run build)` }));
  process.exit(1);
}
require(entry)
  .main()
  .then((code) => {
    process.exitCode = code;
    // Node-RED leaves timers of its own behind; the drain has flushed everything that matters.
    setTimeout(() => process.exit(code), 2000).unref();
  });
