// Mocha's settings. The tests run in a Node started as the runner's image starts it
// (RUNNER_NODE_FLAGS, runner/node-flags.ts), on the Node 24 that npm scripts put first on PATH (the
// devDependency `node`). They run compiled: build-first brings dist/ up to date before anything
// is read from it, so `npx mocha` works from a clean tree too.
const { buildFirst, specsOf, unlessNamed } = require('./test/support/build-first.cjs');

buildFirst();
const { RUNNER_NODE_FLAGS } = require('./runner/dist/node-flags');

module.exports = {
  spec: unlessNamed(specsOf('.', '.test.ts')),
  timeout: 30000,
  slow: 2000,
  reporter: 'spec',
  require: ['dist/test/support/hooks.js'],
  'node-option': RUNNER_NODE_FLAGS.map((flag) => flag.replace(/^--/, '')),
};
