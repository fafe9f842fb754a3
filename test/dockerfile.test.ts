// The node-red-runner image, checked without Docker (no engine runs here): its stages, its
// environment, and what it copies. test/packages.test.ts replays its install and runs its entry.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR, RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';
import { commands, copies, dockerfile, entrypoint, env, stage, stages } from './support/dockerfile';

const RUNNER_MAIN = 'node_modules/@aiware-nodered/node-red-runner/main.js';

describe('the Dockerfile', function () {
  it('has a build stage, a local target without the toolkit and a default engine target with it', function () {
    assert.deepEqual(
      stages().map((s) => s.name),
      ['build', 'local', 'toolkit', 'engine'],
    );
    const local = stage('local');
    assert.ok(local.lines.includes('WORKDIR /app'));
    assert.ok(
      local.lines.some((l) => /^USER\s+(?!root\b)\w+/.test(l)),
      'runs as a non-root user',
    );
    assert.ok(local.lines.some((l) => l.startsWith('HEALTHCHECK') && l.includes('VERITONE_WEBHOOK_READY')));
    // Node's flags are the runner's own (RUNNER_NODE_FLAGS), which the simulator and the bench start it with too.
    assert.deepEqual(entrypoint(local), ['node', ...RUNNER_NODE_FLAGS, RUNNER_MAIN]);
    const engine = stage('engine');
    assert.ok(engine.lines.includes('COPY --from=toolkit /opt/aiware/engine /app/engine'));
    assert.deepEqual(entrypoint(engine), ['/app/engine', 'node', ...RUNNER_NODE_FLAGS, RUNNER_MAIN]);
    assert.match(dockerfile, /^ARG TOOLKIT_IMAGE=/m);
  });

  it('is the production install of the packed runner and pack, and copies nothing else into the image', function () {
    const local = stage('local');
    assert.deepEqual(copies(local), [{ from: 'build', sources: ['/packs'], dest: '/packs' }]);
    const install = commands(local).find((c) => c.startsWith('npm install'));
    assert.ok(install?.includes('--omit=dev') && install.includes('/packs/*.tgz'), install);
    assert.equal(env(local).NODE_ENV, 'production');
    assert.ok(commands(stage('build')).includes('node dist/scripts/pack.js /packs pack runner'), 'the build stage packs the pack and the runner');
  });

  it('whitelists the AIWARE_ variables the runner reads', function () {
    const whitelist = env(stage('local')).AIWARE_ENV_WHITE_LIST.split(',');
    for (const name of ['AIWARE_BUILD_RUNTIME', 'AIWARE_AUTOMATE_SHARE_FOLDER']) assert.ok(whitelist.includes(name), name);
  });

  it('copies into the build stage only paths that exist in the repository', function () {
    for (const copy of copies(stage('build'))) {
      for (const source of copy.sources) {
        assert.ok(fs.existsSync(path.join(PACK_DIR, source)), `build: COPY ${source}`);
      }
    }
  });

  it('does not send node_modules or dist to the build context', function () {
    const ignored = fs.readFileSync(path.join(PACK_DIR, '.dockerignore'), 'utf8').split('\n');
    for (const name of ['node_modules', '**/node_modules', 'dist', '**/dist']) assert.ok(ignored.includes(name), name);
  });
});
