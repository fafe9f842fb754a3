// Mocha's settings. The tests run in a Node started as the runner's image starts it
// (RUNNER_NODE_FLAGS, runner/node-flags.ts; built by `npm test` before mocha runs), on the Node 24
// that npm scripts put first on PATH (the devDependency `node`).
const { RUNNER_NODE_FLAGS } = require('./runner/dist/node-flags');

module.exports = {
  spec: ['dist/test/**/*.test.js'],
  timeout: 30000,
  slow: 2000,
  reporter: 'spec',
  require: ['dist/test/support/hooks.js'],
  'node-option': RUNNER_NODE_FLAGS.map((flag) => flag.replace(/^--/, '')),
};
