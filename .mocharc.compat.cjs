// Mocha's settings for the compatibility matrix (test/compat, `npm run test:compat`): the palette
// pack in a stock Node-RED of each supported version on each supported Node. Its files end in
// .compat.ts, so the main suite (.mocharc.cjs: *.test.ts) never picks them up. Built first, as the
// main suite is (test/support/build-first.cjs).
const { buildFirst, specsOf, unlessNamed } = require('./test/support/build-first.cjs');

buildFirst();

module.exports = {
  spec: unlessNamed(specsOf('compat', '.compat.ts')),
  timeout: 30000,
  slow: 5000,
  reporter: 'spec',
};
