// The node-red-runner image, checked without Docker (no engine runs here): its stages, its
// environment, and what it copies. test/compat/packages.compat.ts replays its install and runs its entry.
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

  it('is built on the Node the repository is tested on, one the runner and Node-RED accept', function () {
    const image = /^ARG NODE_IMAGE=node:(\d+)-[a-z]+-slim$/m.exec(dockerfile);
    assert.ok(image, 'NODE_IMAGE is an official Debian slim Node image');
    const major = Number(image[1]);
    const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { engines?: { node: string }; devDependencies?: Record<string, string> };
    // The toolchain's Node (the devDependency npm scripts run first on PATH) is the image's.
    assert.equal(Number(process.versions.node.split('.')[0]), major, `tests run on Node ${process.version}, the image on Node ${major}`);
    assert.match(manifest(PACK_DIR).devDependencies?.node ?? '', new RegExp(`^\\^${major}\\.`));
    // The runner and the Node-RED it installs both accept that Node.
    const minimum = (range: string) => Number(/^>=(\d+)/.exec(range)?.[1]);
    const runnerDir = path.dirname(require.resolve('@aiware-nodered/node-red-runner/package.json'));
    assert.ok(minimum(manifest(runnerDir).engines!.node) <= major);
    assert.ok(minimum(manifest(path.dirname(require.resolve('node-red/package.json', { paths: [runnerDir] }))).engines!.node) <= major);
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
