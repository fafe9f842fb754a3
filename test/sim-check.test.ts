// `aiware-sim check`, as an engine author's CI runs it before a build is deployed: the examples
// pass, each kind of problem is caught and names its node, the exit codes tell clean, problems and
// a bad command line apart, and the runner refuses what the check refuses.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { checkRuntime, type CheckOptions, type CheckProblem, type CheckReport } from '@aiware-nodered/node-red-runner/dist/check';
import { COMPLETE_MARKER, MODULES_FOLDER, moduleSetKey } from '@aiware-nodered/node-red-runner/dist/modules';
import { startRunner } from './support/runner';

const run = promisify(execFile);
const CLI = path.join(path.dirname(require.resolve('@aiware-nodered/aiware-sim/package.json')), 'bin', 'aiware-sim');
const EXAMPLES = path.join(PACK_DIR, 'examples');
const FIXTURES = path.join(PACK_DIR, 'test', 'fixtures', 'modules');
const UPPER = 'node-red-contrib-fixture-upper';

type Node = Record<string, unknown>;

/** An engine's flows: a tab, a process-in, a function and a result-out, with `extra` nodes on the tab. */
function engine(processIn: Node = {}, extra: Node[] = []): Node[] {
  return [
    { id: 'tab', type: 'tab', label: 'engine' },
    { id: 'in', type: 'aiware-process-in', z: 'tab', name: 'Chunks in', url: '/process', engineType: 'chunk', respond: 'sync', x: 100, y: 40, wires: [['words']] },
    { id: 'words', type: 'function', z: 'tab', name: 'Words', func: 'return msg;', x: 300, y: 40, wires: [['out']] },
    { id: 'out', type: 'aiware-result-out', z: 'tab', name: '', x: 500, y: 40, wires: [] },
    ...extra,
  ].map((n) => (n.id === 'in' ? { ...n, ...processIn } : n));
}

interface Sim {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it, to its end. */
function sim(args: string[]): Promise<Sim> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const explain = (result: Sim): string => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

describe('aiware-sim check: a build runtime checked before it is deployed', function () {
  this.timeout(60_000);
  let scratch: string;
  let folders = 0;
  let upperTgz: string;

  /** A fresh folder with `runtime.json` (an object, or raw text) and, when given, `manifest.json`; the runtime file's path. */
  function build(runtime: unknown, manifest?: unknown): string {
    const dir = path.join(scratch, `build-${++folders}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, 'runtime.json');
    fs.writeFileSync(file, typeof runtime === 'string' ? runtime : JSON.stringify(runtime, null, 2));
    if (manifest !== undefined) fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    return file;
  }

  const errorsOf = (report: CheckReport): CheckProblem[] => report.problems.filter((p) => p.severity === 'error');
  const shownProblems = (report: CheckReport): string => JSON.stringify(report.problems, null, 2);

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-check-'));
    const packs = path.join(scratch, 'packs');
    fs.mkdirSync(packs);
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], { cwd: path.join(FIXTURES, UPPER) });
    upperTgz = path.join(packs, (JSON.parse(stdout) as { filename: string }[])[0].filename);
  });

  after(function () {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  describe('what the runner runs passes', function () {
    for (const example of fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))) {
      it(`examples/${example}: no problem, exit 0, and a summary line`, async function () {
        const file = path.join(EXAMPLES, example);
        const report = await checkRuntime(file);
        assert.deepEqual(report.problems, [], shownProblems(report));
        const result = await sim(['check', file]);
        assert.equal(result.code, 0, explain(result));
        assert.match(result.stdout.trim(), /: ok \(\d+ nodes of \d+ types, 0 modules, no manifest\)$/);
      });
    }

    it('a build with its manifest, encrypted credentials, env and cred references, and a module tarball passes', async function () {
      const flows = engine({}, [
        { id: 'up', type: 'fixture-upper', z: 'tab', name: 'Upper', x: 200, y: 100, wires: [[]] },
        { id: 'call', type: 'http request', z: 'tab', name: 'API', url: 'https://example.com', password: '${API_PASSWORD}', x: 200, y: 160, wires: [[]] },
        { id: 'key', type: 'change', z: 'tab', name: '', rules: [{ t: 'set', p: 'headers.x-api-key', pt: 'msg', to: 'API_KEY', tot: 'env' }], x: 200, y: 220, wires: [[]] },
      ]);
      flows[0] = { ...flows[0], env: [{ name: 'API_TOKEN', value: '', type: 'cred' }] };
      fs.copyFileSync(upperTgz, path.join(scratch, 'upper.tgz'));
      const file = build(
        {
          flows,
          credentials: { $: 'abcdef0123456789abcdef0123456789AAAAbase64+/=' },
          modules: { [UPPER]: '../upper.tgz' },
          settings: { functionTimeout: 5, aiware: { heartbeatIntervalMs: 500, retry: { maxDelayMs: 1000 } }, fixtureUpperMode: 'loud' },
        },
        { runtime: 'nodeRed', engineMode: 'chunk', respond: 'sync', category: 'keyword' },
      );
      const report = await checkRuntime(file);
      assert.deepEqual(report.problems, [], shownProblems(report));
      assert.equal(report.manifest, path.join(path.dirname(file), 'manifest.json'));
      const result = await sim(['check', file]);
      assert.equal(result.code, 0, explain(result));
      assert.match(result.stdout, /: ok \(7 nodes of 6 types, 1 module, manifest .*manifest\.json\)/);
    });
  });

  interface Case {
    name: string;
    runtime: unknown;
    manifest?: unknown;
    options?: CheckOptions;
    /** The problem expected: its kind and code, the node it names (id, name) or the place, and what its message says. */
    expect: { severity?: 'error' | 'warning'; kind: string; code: string; node?: string; name?: string; where?: string; message: RegExp }[];
  }

  const cases: Case[] = [
    {
      name: 'a node type no module provides',
      runtime: engine({}, [{ id: 'typo', type: 'functon', z: 'tab', name: 'Transcribe', x: 1, y: 1, wires: [[]] }]),
      expect: [
        {
          kind: 'type',
          code: 'unknown-type',
          node: 'typo',
          name: 'Transcribe',
          message: /node type "functon" is not available.*did you mean "function"\?.*name the module that provides it in "modules"/,
        },
      ],
    },
    {
      name: "a module's node type, the module not named",
      runtime: engine({}, [{ id: 'up', type: 'fixture-upper', z: 'tab', name: 'Upper', x: 1, y: 1, wires: [[]] }]),
      expect: [{ kind: 'type', code: 'unknown-type', node: 'up', name: 'Upper', message: /node type "fixture-upper" is not available/ }],
    },
    {
      name: 'an instance of a subflow the file does not define',
      runtime: engine({}, [{ id: 'sub', type: 'subflow:gone', z: 'tab', x: 1, y: 1, wires: [] }]),
      expect: [{ kind: 'type', code: 'unknown-subflow', node: 'sub', message: /subflow gone, which the file does not define/ }],
    },
    {
      name: 'a core node type its own nodesExcludes leaves out',
      runtime: { flows: engine(), settings: { nodesExcludes: ['10-function.js'] } },
      expect: [{ kind: 'type', code: 'unknown-type', node: 'words', name: 'Words', message: /node type "function" is not available/ }],
    },
    {
      name: 'a module tarball that is not there',
      runtime: { flows: engine(), modules: { [UPPER]: './missing-1.0.0.tgz' } },
      expect: [{ kind: 'module', code: 'tarball', where: `modules.${UPPER}`, message: /the local tarball .*missing-1\.0\.0\.tgz does not exist/ }],
    },
    {
      name: 'a module spec that is no version or range',
      runtime: { flows: engine(), modules: { 'node-red-contrib-x': 'latest' } },
      expect: [{ kind: 'module', code: 'spec', where: 'modules.node-red-contrib-x', message: /"latest" is not a version, a range or a tarball path: pin a version/ }],
    },
    {
      name: 'a module name npm refuses',
      runtime: { flows: engine(), modules: { 'Not A Name': '1.0.0' } },
      expect: [{ kind: 'module', code: 'invalid', where: 'modules.Not A Name', message: /"Not A Name" is not an npm package name/ }],
    },
    {
      name: 'two aiware-process-in on /process',
      runtime: engine({}, [{ id: 'in2', type: 'aiware-process-in', z: 'tab', name: 'Second', url: '/process', x: 1, y: 1, wires: [[]] }]),
      expect: [
        { kind: 'process-in', code: 'duplicate', node: 'in', name: 'Chunks in', message: /serves POST \/process, as does in2: only one can/ },
        { kind: 'process-in', code: 'duplicate', node: 'in2', name: 'Second', message: /serves POST \/process, as does in: only one can/ },
      ],
    },
    {
      name: 'an aiware-process-in in a subflow with two instances',
      runtime: [
        { id: 'tab', type: 'tab' },
        { id: 'sf', type: 'subflow', name: 'engine in', in: [], out: [] },
        { id: 'in', type: 'aiware-process-in', z: 'sf', name: 'Inner', x: 1, y: 1, wires: [[]] },
        { id: 'i1', type: 'subflow:sf', z: 'tab', x: 1, y: 1, wires: [] },
        { id: 'i2', type: 'subflow:sf', z: 'tab', x: 1, y: 2, wires: [] },
      ],
      expect: [{ kind: 'process-in', code: 'duplicate', node: 'in', name: 'Inner', message: /runs 2 times \(once per instance of its subflow\)/ }],
    },
    {
      name: 'no aiware-process-in (a disabled one does not count)',
      runtime: engine({ d: true }),
      expect: [{ kind: 'process-in', code: 'none', message: /no aiware-process-in serves POST \/process/ }],
    },
    {
      name: 'two aiware-process-in, neither on /process',
      runtime: engine({ url: '/a/process' }, [{ id: 'in2', type: 'aiware-process-in', z: 'tab', name: 'B', url: '/b/process', x: 1, y: 1, wires: [[]] }]),
      expect: [
        { kind: 'process-in', code: 'ambiguous', node: 'in', message: /the build has 2 aiware-process-in paths \(\/a\/process, \/b\/process\) and none is \/process/ },
        { kind: 'process-in', code: 'ambiguous', node: 'in2', name: 'B', message: /none is \/process/ },
      ],
    },
    {
      name: 'an engine type the node does not know',
      runtime: engine({ engineType: 'streaming' }),
      expect: [
        { kind: 'process-in', code: 'bad-config', node: 'in', message: /its engineType "streaming" is not one of chunk, stream, batch: the node refuses to serve/ },
        { kind: 'process-in', code: 'none', message: /no aiware-process-in that can start serves POST \/process/ },
      ],
    },
    {
      name: 'a manifest engine type that differs from the process-in',
      runtime: engine({ engineType: 'chunk' }),
      manifest: { runtime: 'nodeRed', engineMode: 'stream' },
      expect: [{ kind: 'manifest', code: 'engine-type', node: 'in', name: 'Chunks in', message: /is a chunk engine \(engineType\) but the manifest's engineMode is stream/ }],
    },
    {
      name: 'a manifest answer that differs from the process-in',
      runtime: engine({ respond: 'async' }),
      manifest: { runtime: 'nodeRed', engineMode: 'chunk', respond: 'sync' },
      expect: [{ kind: 'manifest', code: 'respond', node: 'in', message: /answers async \(respond\) but the manifest's respond is sync/ }],
    },
    {
      name: 'a manifest that does not say runtime nodeRed',
      runtime: engine(),
      manifest: { engineMode: 'chunk' },
      expect: [{ kind: 'manifest', code: 'field', where: 'manifest.runtime', message: /is missing: a Node-RED engine's manifest says "runtime": "nodeRed"/ }],
    },
    {
      name: 'a password in clear on a node',
      runtime: engine({}, [{ id: 'api', type: 'http request', z: 'tab', name: 'Call API', password: 'hunter2', x: 1, y: 1, wires: [[]] }]),
      expect: [{ kind: 'credentials', code: 'secret-property', node: 'api', name: 'Call API', message: /a secret in clear: password: use a credential property/ }],
    },
    {
      name: 'plain credentials',
      runtime: { flows: engine({}, [{ id: 'api', type: 'http request', z: 'tab', name: 'Call API', x: 1, y: 1, wires: [[]] }]), credentials: { api: { user: 'me', password: 'hunter2' } } },
      expect: [{ kind: 'credentials', code: 'plain-credentials', node: 'api', name: 'Call API', message: /credentials in clear: user, password: give them encrypted/ }],
    },
    {
      name: 'a token in clear in a header, a change rule and a tab env entry',
      runtime: engine({}, [
        { id: 'api', type: 'http request', z: 'tab', headers: [{ keyType: 'other', keyValue: 'Authorization', valueType: 'other', valueValue: 'Bearer hunter2' }], x: 1, y: 1, wires: [[]] },
        { id: 'set', type: 'change', z: 'tab', rules: [{ t: 'set', p: 'headers.x-api-key', pt: 'msg', to: 'hunter2', tot: 'str' }], x: 1, y: 2, wires: [[]] },
        { id: 'tab2', type: 'tab', label: 'other', env: [{ name: 'API_TOKEN', value: 'hunter2', type: 'str' }] },
      ]),
      expect: [
        { kind: 'credentials', code: 'secret-property', node: 'api', message: /headers\[0\]\(Authorization\)/ },
        { kind: 'credentials', code: 'secret-property', node: 'set', message: /rules\[0\]\(headers\.x-api-key\)/ },
        { kind: 'credentials', code: 'secret-property', node: 'tab2', name: 'other', message: /env\[0\]\(API_TOKEN\)/ },
      ],
    },
    {
      name: "encrypted credentials that are not in Node-RED's encrypted form",
      runtime: { flows: engine(), credentials: { $: 'user=me;password=hunter2' } },
      expect: [{ kind: 'credentials', code: 'encrypted-form', where: 'credentials.$', message: /is not Node-RED's encrypted form/ }],
    },
    {
      name: 'a login in a module spec',
      runtime: { flows: engine(), modules: { 'node-red-contrib-x': 'https://deploy:hunter2@registry.example.com/x-1.0.0.tgz' } },
      expect: [{ kind: 'credentials', code: 'module-login', where: 'modules.node-red-contrib-x', message: /carries a login/ }],
    },
    {
      name: 'a setting the runner owns',
      runtime: { flows: engine(), settings: { userDir: '/data' } },
      expect: [{ kind: 'settings', code: 'runner', where: 'settings.userDir', message: /is set by the runner, not by a build: Node-RED's folder is the engine's work folder \(RUNNER_WORKDIR\)/ }],
    },
    {
      name: 'a misspelt setting',
      runtime: { flows: engine(), settings: { functionGlobalContex: {} } },
      expect: [{ kind: 'settings', code: 'unknown', where: 'settings.functionGlobalContex', message: /did you mean functionGlobalContext\?/ }],
    },
    {
      name: 'a pack setting of the wrong kind, and one the pack does not have',
      runtime: { flows: engine(), settings: { aiware: { heartbeatIntervalMs: -1, heartbeatMs: 5 } } },
      expect: [
        { kind: 'settings', code: 'value', where: 'settings.aiware.heartbeatIntervalMs', message: /must be a number above 0, got -1/ },
        { kind: 'settings', code: 'unknown', where: 'settings.aiware.heartbeatMs', message: /is not a setting of the pack/ },
      ],
    },
    {
      name: 'malformed JSON',
      runtime: '{"flows": [',
      expect: [{ kind: 'file', code: 'json', message: /is not JSON/ }],
    },
    {
      name: 'a node id used twice',
      runtime: engine({}, [{ id: 'words', type: 'function', z: 'tab', x: 1, y: 1, wires: [[]] }]),
      expect: [{ kind: 'file', code: 'shape', message: /node id "words" is used twice/ }],
    },
    {
      name: 'a readiness path other than the one Engine Toolkit polls (a warning)',
      runtime: engine({ readyUrl: '/health' }),
      expect: [{ severity: 'warning', kind: 'readiness', code: 'ready-path', node: 'in', message: /answers readiness on GET \/health, but Engine Toolkit polls \/readyz/ }],
    },
    {
      name: 'a process-in beside the one that gets the work (a warning)',
      runtime: engine({}, [{ id: 'side', type: 'aiware-process-in', z: 'tab', name: 'Side', url: '/side/process', x: 1, y: 1, wires: [[]] }]),
      expect: [{ severity: 'warning', kind: 'process-in', code: 'extra', node: 'side', name: 'Side', message: /serves POST \/side\/process, which Engine Toolkit never calls/ }],
    },
    {
      name: "a function node's npm module (a warning)",
      runtime: engine({}, [
        {
          id: 'lib',
          type: 'function',
          z: 'tab',
          name: 'Uses lodash',
          func: 'return msg;',
          libs: [
            { var: '_', module: 'lodash' },
            { var: 'fs', module: 'fs' },
          ],
          x: 1,
          y: 1,
          wires: [[]],
        },
      ]),
      expect: [{ severity: 'warning', kind: 'module', code: 'function-module', node: 'lib', name: 'Uses lodash', message: /requires lodash \(its Setup tab\): Node-RED installs it with npm/ }],
    },
  ];

  describe('each problem, named with its node', function () {
    for (const c of cases) {
      it(c.name, async function () {
        const file = build(c.runtime, c.manifest);
        const report = await checkRuntime(file, c.options);
        for (const e of c.expect) {
          const found = report.problems.find((p) => p.kind === e.kind && p.code === e.code && (e.node === undefined || p.node?.id === e.node) && e.message.test(p.message));
          assert.ok(found, `no ${e.kind}/${e.code} problem${e.node ? ` of ${e.node}` : ''} matching ${e.message}: ${shownProblems(report)}`);
          assert.equal(found.severity, e.severity ?? 'error');
          if (e.name !== undefined) assert.equal(found.node?.name, e.name);
          if (e.node !== undefined) assert.ok(found.node?.type, 'the node is named with its type');
          if (e.where !== undefined) assert.equal(found.where, e.where);
        }
        // The check never repeats a secret it found.
        assert.ok(!JSON.stringify(report).includes('hunter2'), 'a secret is repeated in the report');
      });
    }

    it('prints one line per problem naming the node as <id> "<name>" (<type>), a summary, and exits 3', async function () {
      const file = build(
        engine({}, [
          { id: 'typo', type: 'functon', z: 'tab', name: 'Transcribe', x: 1, y: 1, wires: [[]] },
          { id: 'api', type: 'http request', z: 'tab', name: 'Call API', password: 'hunter2', x: 1, y: 1, wires: [[]] },
        ]),
      );
      const result = await sim(['check', file]);
      assert.equal(result.code, 3, explain(result));
      const lines = result.stdout.trim().split('\n');
      assert.equal(lines.length, 3, explain(result));
      assert.match(lines[0], /runtime\.json: error: typo "Transcribe" \(functon\): node type "functon" is not available.* \[type\/unknown-type\]$/);
      assert.match(lines[1], /runtime\.json: error: api "Call API" \(http request\): a secret in clear: password: .* \[credentials\/secret-property\]$/);
      assert.match(lines[2], /runtime\.json: 2 errors \(6 nodes of 5 types, 0 modules, no manifest\)$/);
      assert.ok(!result.stdout.includes('hunter2'));
    });
  });

  describe('node types of the modules a build names', function () {
    const upperFlows = (): Node[] =>
      engine({}, [
        { id: 'up', type: 'fixture-upper', z: 'tab', name: 'Upper', x: 1, y: 1, wires: [[]] },
        { id: 'low', type: 'fixture-lowr', z: 'tab', name: 'Lower', x: 1, y: 2, wires: [[]] },
      ]);

    it("reads a local tarball's types: its type passes, another is not available", async function () {
      const file = build({ flows: upperFlows(), modules: { [UPPER]: upperTgz } });
      const report = await checkRuntime(file);
      assert.deepEqual(
        report.problems.map((p) => [p.node?.id, p.code]),
        [['low', 'unknown-type']],
        shownProblems(report),
      );
      assert.match(report.problems[0].message, new RegExp(`nor registered by ${UPPER}`));
    });

    it('a registry module not installed anywhere the check looks: its types cannot be told (a warning, exit 0; --strict: 3)', async function () {
      const file = build({ flows: upperFlows(), modules: { [UPPER]: '^1.0.0' } });
      const report = await checkRuntime(file);
      assert.deepEqual(
        report.problems.map((p) => [p.severity, p.node?.id, p.code]),
        [
          ['warning', 'up', 'unverified-type'],
          ['warning', 'low', 'unverified-type'],
        ],
        shownProblems(report),
      );
      assert.equal((await sim(['check', file])).code, 0);
      assert.equal((await sim(['check', '--strict', file])).code, 3);
    });

    it('reads the types of a module installed beside the file (node_modules), when its version fits the spec', async function () {
      const file = build({ flows: upperFlows(), modules: { [UPPER]: '^1.0.0' } });
      fs.cpSync(path.join(FIXTURES, UPPER), path.join(path.dirname(file), 'node_modules', UPPER), { recursive: true });
      const report = await checkRuntime(file);
      assert.deepEqual(
        report.problems.map((p) => [p.node?.id, p.code]),
        [['low', 'unknown-type']],
        shownProblems(report),
      );
      const other = build({ flows: upperFlows(), modules: { [UPPER]: '^2.0.0' } });
      fs.cpSync(path.join(FIXTURES, UPPER), path.join(path.dirname(other), 'node_modules', UPPER), { recursive: true });
      const unfit = await checkRuntime(other);
      assert.deepEqual(
        unfit.problems.map((p) => [p.node?.id, p.code, p.message.includes('holds 1.0.0, not ^2.0.0')]),
        [
          ['up', 'unverified-type', true],
          ['low', 'unverified-type', true],
        ],
        shownProblems(unfit),
      );
    });

    it("reads the types of the build's set installed in the share folder (--share-folder)", async function () {
      const modules = { [UPPER]: '^1.0.0' };
      const file = build({ flows: upperFlows(), modules });
      const share = path.join(scratch, 'share');
      const key = await moduleSetKey(modules, path.dirname(file));
      const set = path.join(share, MODULES_FOLDER, key);
      fs.cpSync(path.join(FIXTURES, UPPER), path.join(set, 'node_modules', UPPER), { recursive: true });
      fs.writeFileSync(path.join(set, COMPLETE_MARKER), JSON.stringify({ key, modules: [`${UPPER}@^1.0.0`], versions: { [UPPER]: '1.0.0' } }));
      const report = await checkRuntime(file, { shareFolder: share });
      assert.deepEqual(
        report.problems.map((p) => [p.node?.id, p.code]),
        [['low', 'unknown-type']],
        shownProblems(report),
      );
      const result = await sim(['check', '--share-folder', share, file]);
      assert.equal(result.code, 3, explain(result));
      assert.match(result.stdout, /error: low "Lower" \(fixture-lowr\): node type "fixture-lowr" is not available/);
    });
  });

  describe('exit codes and output', function () {
    it('0 when clean, 3 for problems, a file that is not there, or malformed JSON', async function () {
      assert.equal((await sim(['check', path.join(EXAMPLES, 'chunk-text-to-transcript.json')])).code, 0);
      const missing = await sim(['check', path.join(scratch, 'nothing-here.json')]);
      assert.equal(missing.code, 3, explain(missing));
      assert.match(missing.stdout, /nothing-here\.json: error: the file does not exist \[file\/missing\]\n.*nothing-here\.json: 1 error\n$/);
      const malformed = await sim(['check', build('{"flows": [')]);
      assert.equal(malformed.code, 3, explain(malformed));
      assert.match(malformed.stdout, /error: is not JSON: .* \[file\/json\]/);
    });

    it('2 for a bad command line: no file, an unknown option, a bad --process-url, readiness on another port', async function () {
      const file = path.join(EXAMPLES, 'chunk-text-to-transcript.json');
      for (const args of [['check'], ['check', '--bogus', file], ['check', '--process-url', 'ftp://x/process', file], ['check', '--ready-url', 'http://127.0.0.1:1/readyz', file]]) {
        const result = await sim(args);
        assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
        assert.match(result.stderr, /error: /);
        assert.equal(result.stdout, '');
      }
      assert.equal((await sim(['check', '--help'])).code, 0);
    });

    it('--process-url and --ready-url are the paths the rules read', async function () {
      const file = build(
        engine({ url: '/engine/process', readyUrl: '/engine/ready' }, [{ id: 'side', type: 'aiware-process-in', z: 'tab', url: '/process', readyUrl: '/engine/ready', x: 1, y: 1, wires: [[]] }]),
      );
      const result = await sim(['check', '--json', '--process-url', 'http://0.0.0.0:8888/engine/process', '--ready-url', 'http://0.0.0.0:8888/engine/ready', file]);
      const report = JSON.parse(result.stdout) as { problems: CheckProblem[] };
      assert.deepEqual(
        report.problems.map((p) => [p.node?.id, p.code]),
        [['side', 'extra']],
        result.stdout,
      );
    });

    it('--json: the report, its counts and its exit code, for scripts', async function () {
      const file = build(engine({ readyUrl: '/health' }, [{ id: 'typo', type: 'functon', z: 'tab', x: 1, y: 1, wires: [[]] }]), { runtime: 'nodeRed', engineMode: 'chunk' });
      const result = await sim(['check', '--json', file]);
      assert.equal(result.code, 3, explain(result));
      const report = JSON.parse(result.stdout) as CheckReport & { ok: boolean; errors: number; warnings: number; exitCode: number };
      assert.equal(report.ok, false);
      assert.equal(report.errors, 1);
      assert.equal(report.warnings, 1);
      assert.equal(report.exitCode, 3);
      assert.equal(report.manifest, path.join(path.dirname(file), 'manifest.json'));
      assert.deepEqual(report.problems[0].node, { id: 'typo', type: 'functon' });
    });

    it('a manifest beside the file is read unless --no-manifest; --manifest names another', async function () {
      const file = build(engine(), { runtime: 'docker', engineMode: 'chunk' });
      assert.equal((await sim(['check', file])).code, 3);
      assert.equal((await sim(['check', '--no-manifest', file])).code, 0);
      const good = path.join(scratch, 'good-manifest.json');
      fs.writeFileSync(good, JSON.stringify({ runtime: 'nodeRed', engineMode: 'chunk' }));
      const named = await sim(['check', '--manifest', good, file]);
      assert.equal(named.code, 0, explain(named));
      const absent = await sim(['check', '--manifest', path.join(scratch, 'no-manifest.json'), file]);
      assert.equal(absent.code, 3, explain(absent));
      assert.match(absent.stdout, /error: manifest: the file does not exist \[manifest\/file\]/);
    });
  });

  describe('the runner agrees', function () {
    const refused: { name: string; runtime: unknown; code: string }[] = [
      { name: 'a node type no module provides', runtime: engine({}, [{ id: 'typo', type: 'functon', z: 'tab', x: 1, y: 1, wires: [[]] }]), code: 'unknown-type' },
      { name: 'no aiware-process-in', runtime: engine({ d: true }), code: 'none' },
      {
        name: 'two aiware-process-in, neither on /process',
        runtime: engine({ url: '/a' }, [{ id: 'in2', type: 'aiware-process-in', z: 'tab', url: '/b', x: 1, y: 1, wires: [[]] }]),
        code: 'ambiguous',
      },
    ];
    for (const r of refused) {
      it(`${r.name}: the check reports ${r.code}, the runner does not start`, async function () {
        const report = await checkRuntime(build(r.runtime));
        assert.ok(
          errorsOf(report).some((p) => p.code === r.code),
          shownProblems(report),
        );
        const runner = startRunner(r.runtime);
        try {
          await assert.rejects(runner.ready(), /the runner failed to start/);
        } finally {
          await runner.kill();
        }
      });
    }

    it("starts a build whose settings the check refuses, leaving out the runner's own and saying each as the check does", async function () {
      const runtime = { flows: engine(), settings: { userDir: path.join(scratch, 'elsewhere'), functionGlobalContex: {} } };
      const report = await checkRuntime(build(runtime));
      assert.deepEqual(
        report.problems.map((p) => p.where),
        ['settings.userDir', 'settings.functionGlobalContex'],
        shownProblems(report),
      );
      const runner = startRunner(runtime);
      try {
        await runner.ready();
        const warned = runner.lines.filter((l) => l.level === 'warn' && typeof l.setting === 'string').map((l) => l.setting);
        assert.deepEqual(warned, ['settings.userDir', 'settings.functionGlobalContex'], runner.output);
        assert.ok(!fs.existsSync(path.join(scratch, 'elsewhere')), "Node-RED kept to the runner's folder");
      } finally {
        await runner.kill();
      }
    });
  });
});
