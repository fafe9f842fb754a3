// Mocha's settings for the compatibility matrix (test/compat, `npm run test:compat` after a build):
// the palette pack in a stock Node-RED of each supported version on each supported Node. Its files
// end in .compat.js, so the main suite (.mocharc.cjs: *.test.js) never picks them up.
module.exports = {
  spec: ['dist/test/compat/**/*.compat.js'],
  timeout: 30000,
  slow: 5000,
  reporter: 'spec',
};
