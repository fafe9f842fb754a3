// The node-red-runner image, checked without Docker (no engine runs here): every path the
// Dockerfile copies exists after a build, and its entry command runs the runner from the
// image's layout (/app with main.js beside dist/) with the image's environment.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../runner/embedded';
import { ToolkitEmulator } from '../simulator/emulator';
import { RunnerProcess } from './support/runner';

const dockerfile = fs.readFileSync(path.join(PACKAGE_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

interface Stage {
  name: string;
  lines: string[];
}

function stages(): Stage[] {
  const result: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) result.push({ name: from[1] ?? '', lines: [] });
    else result.at(-1)?.lines.push(line);
  }
  return result;
}

/** COPY instructions as [from stage or undefined, sources, destination]. */
function copies(stage: Stage): { from?: string; sources: string[]; dest: string }[] {
  return stage.lines
    .filter((l) => /^COPY\s/i.test(l))
    .map((l) => {
      const words = l.split(/\s+/).slice(1);
      const from = words[0].startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
      const dest = words.pop()!;
      return { from, sources: words, dest };
    });
}

function env(stage: Stage): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of stage.lines.filter((l) => /^ENV\s/i.test(l))) {
    for (const match of line.slice(4).matchAll(/(\w+)=(\S+)/g)) result[match[1]] = match[2];
  }
  return result;
}

const byName = (name: string) => stages().find((s) => s.name === name)!;

describe('the Dockerfile', function () {
  it('has a build stage, a local target without the toolkit and a default engine target with it', function () {
    assert.deepEqual(stages().map((s) => s.name), ['build', 'local', 'toolkit', 'engine']);
    const local = byName('local');
    assert.ok(local.lines.includes('WORKDIR /app'));
    assert.ok(local.lines.some((l) => /^USER\s+(?!root\b)\w+/.test(l)), 'runs as a non-root user');
    assert.ok(local.lines.some((l) => l.startsWith('HEALTHCHECK') && l.includes('VERITONE_WEBHOOK_READY')));
    assert.ok(local.lines.includes('ENTRYPOINT ["node", "main.js"]'));
    assert.ok(local.lines.some((l) => l.includes('npm ci --omit=dev')), 'production dependencies only');
    const engine = byName('engine');
    assert.ok(engine.lines.includes('COPY --from=toolkit /opt/aiware/engine /app/engine'));
    assert.ok(engine.lines.includes('ENTRYPOINT ["/app/engine", "node", "main.js"]'));
    assert.match(dockerfile, /^ARG TOOLKIT_IMAGE=/m);
  });

  it('whitelists the AIWARE_ variables the runner reads', function () {
    const whitelist = env(byName('local')).AIWARE_ENV_WHITE_LIST.split(',');
    for (const name of ['AIWARE_BUILD_RUNTIME', 'AIWARE_AUTOMATE_SHARE_FOLDER']) assert.ok(whitelist.includes(name), name);
  });

  it('copies only paths that exist after a build', function () {
    for (const stage of stages()) {
      for (const copy of copies(stage)) {
        if (copy.from === 'toolkit') continue;
        for (const source of copy.sources) {
          // --from=build copies from the build stage's /src, which is this folder after `npm run build`.
          const local = copy.from === 'build' ? path.join(PACKAGE_ROOT, path.relative('/src', source)) : path.join(PACKAGE_ROOT, source);
          assert.ok(fs.existsSync(local), `${stage.name}: COPY ${copy.from ? `--from=${copy.from} ` : ''}${source} (${local})`);
        }
      }
    }
  });

  it('does not send node_modules or dist to the build context', function () {
    const ignored = fs.readFileSync(path.join(PACKAGE_ROOT, '.dockerignore'), 'utf8').split('\n');
    assert.ok(ignored.includes('node_modules') && ignored.includes('dist'));
  });

  it('runs its entry command from the image layout with the image environment', async function () {
    this.timeout(60_000);
    // /app as the local stage builds it: package.json, dist/{core,nodes,runner,simulator}, examples, main.js.
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-image-'));
    const toolkit = await ToolkitEmulator.start();
    let runner: RunnerProcess | undefined;
    try {
      for (const copy of copies(byName('local'))) {
        for (const source of copy.sources) {
          const from = copy.from === 'build' ? path.join(PACKAGE_ROOT, path.relative('/src', source)) : path.join(PACKAGE_ROOT, source);
          const dest = path.join(app, copy.dest.endsWith('/') || copy.sources.length > 1 ? path.join(copy.dest, path.basename(source)) : copy.dest);
          fs.cpSync(from, dest, { recursive: true });
        }
      }
      fs.symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(app, 'node_modules'));
      const runtime = path.join(app, 'runtime.json');
      fs.copyFileSync(path.join(app, 'examples', 'chunk-text-to-transcript.json'), runtime);
      const imageEnv = env(byName('local'));
      runner = RunnerProcess.startCommand(path.join(app, 'main.js'), {
        ...imageEnv,
        AIWARE_BUILD_RUNTIME: runtime,
        VERITONE_WEBHOOK_PROCESS: imageEnv.VERITONE_WEBHOOK_PROCESS.replace('0.0.0.0:8888', '127.0.0.1:0'),
        VERITONE_WEBHOOK_READY: imageEnv.VERITONE_WEBHOOK_READY.replace('0.0.0.0:8888', '127.0.0.1:0'),
        RUNNER_WORKDIR: path.join(app, 'work'),
      });
      const url = await runner.ready();
      const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'from the image', mimeType: 'text/plain' });
      assert.equal(answer.status, 200);
      runner.signal('SIGTERM');
      assert.equal(await runner.exit(), 0);
    } finally {
      await runner?.dispose();
      await toolkit.stop();
      fs.rmSync(app, { recursive: true, force: true });
    }
  });
});
