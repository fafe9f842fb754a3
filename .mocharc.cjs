// Mocha's settings. The tests run in a Node started as the runner's image starts it
// (RUNNER_NODE_FLAGS, runner/node-flags.ts; built by `npm test` before mocha runs): on Node 20 that
// turns on ArrayBuffer.prototype.transfer, so every body the tests send in-process is read with
// its pieces freed early (core/early-free.ts), as the runner reads them.
const { RUNNER_NODE_FLAGS } = require('./runner/dist/node-flags');

module.exports = {
  spec: ['dist/test/**/*.test.js'],
  timeout: 30000,
  slow: 2000,
  reporter: 'spec',
  require: ['dist/test/support/hooks.js'],
  'node-option': RUNNER_NODE_FLAGS.map((flag) => flag.replace(/^--/, '')),
};
