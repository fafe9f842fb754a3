// The files `aiware-sim new` writes: a working engine of each type with its inputs, its test file and
// its expected outputs, known constants the flow produces (no run makes them), and what a repository
// around it needs: package.json scripts, the manifest, the build runtime script and a CI workflow.
// The chunk engine is written here; the stream and batch engines are the pack's own examples, whose
// tests the repository runs, copied from the pack the simulator brings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineType } from '@aiware-nodered/node-red-aiware';

export interface NewEngine {
  name: string;
  engineType: EngineType;
  /** The simulator's spec for package.json: a version range, or `file:<tarball>`. */
  simulatorSpec: string;
}

/** A file of the new repository: its path (with `/`) and its text. */
export interface NewFile {
  path: string;
  text: string;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The pack's folder (examples/, samples/), wherever the simulator finds it: the workspace root, or bundled. */
function packDir(): string {
  return path.dirname(require.resolve('@aiware-nodered/node-red-aiware/package.json'));
}

function packFile(...parts: string[]): string {
  return fs.readFileSync(path.join(packDir(), ...parts), 'utf8');
}

// A keyword-spotting chunk engine: each text chunk's words that are in payload.keywords (else fox, dog,
// engine) as keyword objects; anything but text fails the task with invalid_data.
const SPOT = [
  '// Spots keywords in a text chunk: payload.keywords (a list), else its own.',
  "const mime = (msg.aiware.chunk && msg.aiware.chunk.mimeType || '').split(';')[0].trim();",
  "if (!mime.startsWith('text/')) {",
  "    msg.heartbeat = { failureMsg: `this engine reads text chunks, not ${mime || 'a chunk without a MIME type'}` };",
  '    return [null, msg];',
  '}',
  "const keywords = Array.isArray(msg.aiware.payload.keywords) ? msg.aiware.payload.keywords : ['fox', 'dog', 'engine'];",
  'const words = String(msg.payload).toLowerCase().split(/[^a-z0-9-]+/).filter(Boolean);',
  'const found = keywords.filter((k) => words.includes(String(k).toLowerCase()));',
  "msg.payload = { validationContracts: ['keyword'], object: found.map((k) => ({ type: 'keyword', label: k })) };",
  'return [msg, null];',
].join('\n');

const CHUNK_FLOW = {
  flows: [
    { id: 'ks-tab', type: 'tab', label: 'keyword spotting' },
    {
      id: 'ks-in',
      type: 'aiware-process-in',
      z: 'ks-tab',
      name: 'chunks',
      url: '/process',
      readyUrl: '/readyz',
      engineType: 'chunk',
      respond: 'async',
      estimate: '',
      chunkFile: 'large',
      x: 120,
      y: 80,
      wires: [['ks-spot']],
    },
    { id: 'ks-spot', type: 'function', z: 'ks-tab', name: 'spot keywords', func: SPOT, outputs: 2, x: 320, y: 80, wires: [['ks-send'], ['ks-fail']] },
    // It completes the task itself once the result is posted: no second wire whose order could matter.
    { id: 'ks-send', type: 'aiware-result-out', z: 'ks-tab', name: 'send keywords', property: 'payload', completes: 'yes', validate: true, x: 540, y: 60, wires: [] },
    {
      id: 'ks-fail',
      type: 'aiware-heartbeat',
      z: 'ks-tab',
      name: 'not text: failed',
      status: 'failed',
      failureReason: 'invalid_data',
      failureMsg: '',
      infoMsg: '',
      x: 550,
      y: 120,
      wires: [],
    },
  ],
  settings: { aiware: { flowEndGraceMs: 1000 } },
};

const keywordsOf = (...labels: string[]): unknown => [{ validationContracts: ['keyword'], object: labels.map((label) => ({ type: 'keyword', label })) }];

/** The engine, its inputs, its test file and its expected outputs, by engine type. */
function engineFiles(engineType: EngineType): { files: NewFile[]; start: string } {
  const testHead = '# aiware-sim test: its cases, what to send the engine and what it must do (docs/testing.md of the simulator)\nruntime: flow.json\n';
  switch (engineType) {
    case 'chunk':
      return {
        start: 'aiware-sim run --runtime flow.json samples',
        files: [
          { path: 'flow.json', text: json(CHUNK_FLOW) },
          { path: 'samples/fox.txt', text: 'The quick brown fox jumps over the lazy dog\n' },
          { path: 'samples/engine.txt', text: 'An engine is a flow\n' },
          {
            path: 'aiware-test.yaml',
            text: `${testHead}defaults:\n  payload: { keywords: [fox, dog, engine] }\ncases:\n  - name: fox and dog\n    input: samples/fox.txt\n  - name: engine\n    input: samples/engine.txt\n  - name: not text\n    input: flow.json\n    expect:\n      failure: { reason: invalid_data, message: this engine reads text chunks }\n`,
          },
          { path: 'expected/fox-and-dog.json', text: json(keywordsOf('fox', 'dog')) },
          { path: 'expected/engine.json', text: json(keywordsOf('engine')) },
        ],
      };
    case 'stream':
      return {
        start: 'aiware-sim run --runtime flow.json --cache samples/lines.txt',
        files: [
          { path: 'flow.json', text: packFile('examples', 'stream-lines-from-cache.json') },
          { path: 'samples/lines.txt', text: packFile('samples', 'stream-lines-from-cache', 'lines.txt') },
          { path: 'samples/empty.txt', text: '' },
          {
            path: 'aiware-test.yaml',
            text: `${testHead}# A stream engine gets no chunk: each case's input is what its cacheURI serves.\nengineType: stream\ncases:\n  - name: a result per line\n    input: samples/lines.txt\n  - name: an empty stream completes with no result\n    input: samples/empty.txt\n    expect:\n      infoMsg: the stream was empty\n`,
          },
          { path: 'expected/a-result-per-line.json', text: packFile('samples', 'stream-lines-from-cache', 'expected', 'a-result-per-line.json') },
          {
            path: 'expected/an-empty-stream-completes-with-no-result.json',
            text: packFile('samples', 'stream-lines-from-cache', 'expected', 'an-empty-stream-completes-with-no-result.json'),
          },
        ],
      };
    case 'batch':
      return {
        start: 'aiware-sim run --runtime flow.json --payload @samples/payload.json',
        files: [
          { path: 'flow.json', text: packFile('examples', 'batch-progress-and-failure.json') },
          { path: 'samples/payload.json', text: '{ "steps": 5 }\n' },
          {
            path: 'aiware-test.yaml',
            text: `${testHead}# A batch engine gets no chunk: it works from its task's payload.\nengineType: batch\ncases:\n  - name: five steps\n    payload: { steps: 5 }\n    expect:\n      output: false\n      infoMsg: step 5 of 5\n  - name: a bad payload fails at once\n    payload: { steps: many }\n    expect:\n      failure: { reason: internal_error, message: payload.steps must be a whole number }\n`,
          },
        ],
      };
  }
}

// Writes the build runtime file from the flow: what aiWARE keeps with a build and the agent hands the
// node-red-runner image as AIWARE_BUILD_RUNTIME.
const BUILD_RUNTIME = `#!/usr/bin/env node
// Writes build/runtime.json, the build runtime file, from flow.json (a Node-RED export, or
// {flows, credentials?, modules?, settings?}): what aiWARE keeps with a build and the agent gives
// the node-red-runner image as AIWARE_BUILD_RUNTIME. Check it with \`npm run check\`.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const flow = JSON.parse(fs.readFileSync(path.join(root, 'flow.json'), 'utf8'));
const runtime = Array.isArray(flow) ? { flows: flow } : flow;
const out = path.join(root, 'build', 'runtime.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
// Whole or not at all: a temp file, then a rename.
fs.writeFileSync(out + '.tmp', JSON.stringify(runtime, null, 2) + '\\n');
fs.renameSync(out + '.tmp', out);
console.log('build/runtime.json: ' + runtime.flows.length + ' nodes');
`;

const WORKFLOW = `# Runs the engine's tests (aiware-sim test) and checks its build runtime (aiware-sim check) on every push.
name: engine
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 24
          cache: npm
      - run: npm ci
      - run: npm test -- --junit reports/engine.xml
      - run: npm run check
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: junit
          path: reports/engine.xml
`;

/** Every file of the new repository, in the order they are written. */
export function newEngineFiles(engine: NewEngine): NewFile[] {
  const { files, start } = engineFiles(engine.engineType);
  const pkg = {
    name: engine.name,
    version: '0.1.0',
    private: true,
    description: `An aiWARE ${engine.engineType} engine built as a Node-RED flow`,
    scripts: {
      start,
      test: 'aiware-sim test',
      build: 'node scripts/build-runtime.js',
      check: 'npm run build && aiware-sim check build/runtime.json --manifest manifest.json',
    },
    devDependencies: { '@aiware-nodered/aiware-sim': engine.simulatorSpec },
  };
  // Veritone's manifest: "runtime": "nodeRed" has aiWARE run the build with the node-red-runner image;
  // engineMode says how it hands the engine work, and must match the flow's aiware-process-in.
  const manifest = { name: engine.name, engineMode: engine.engineType, runtime: 'nodeRed' };
  return [
    { path: 'package.json', text: json(pkg) },
    { path: 'manifest.json', text: json(manifest) },
    ...files,
    { path: 'scripts/build-runtime.js', text: BUILD_RUNTIME },
    { path: '.github/workflows/engine.yml', text: WORKFLOW },
    { path: '.gitignore', text: 'node_modules/\nbuild/\nreports/\naiware-sim-out/\n' },
    {
      path: 'README.md',
      text: `# ${engine.name}\n\nAn aiWARE ${engine.engineType} engine built as a Node-RED flow (\`flow.json\`).\n\n- \`npm start\`: runs it under the simulator (\`${start}\`)\n- \`npm test\`: runs the cases of \`aiware-test.yaml\` (\`npm test -- --update\` accepts new outputs into \`expected/\`)\n- \`npm run check\`: writes \`build/runtime.json\` (\`npm run build\`) and checks it with \`manifest.json\` before it is deployed\n`,
    },
  ];
}
