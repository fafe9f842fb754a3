// `aiware-sim test` as an engine author runs it: the compiled CLI in a child process, the runner on
// a keyword-spotting engine (test/fixtures/keyword-spotting, copied to a temp folder per test so
// that --update and edits stay there), and its test file with the expected outputs beside the inputs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { explain, sim } from './support/sim-cli';

const FIXTURE = path.join(PACK_DIR, 'test', 'fixtures', 'keyword-spotting');
const EXAMPLES = path.join(PACK_DIR, 'examples');
const SAMPLES = path.join(PACK_DIR, 'samples');

let scratch: string;

/** A copy of the keyword-spotting engine's folder: its flow, inputs, test file and expected outputs. */
function engineFolder(): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'engine-'));
  fs.cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

interface Runtime {
  flows: { id: string; wires?: string[][]; func?: string }[];
  settings: Record<string, unknown>;
}

/** Edits the copy's flow, as an author edits it in the editor. */
function editFlow(dir: string, edit: (flows: Runtime['flows']) => void): void {
  const file = path.join(dir, 'engine.json');
  const runtime = JSON.parse(fs.readFileSync(file, 'utf8')) as Runtime;
  edit(runtime.flows);
  fs.writeFileSync(file, JSON.stringify(runtime, null, 2));
}

const spot = (flows: Runtime['flows']) => flows.find((n) => n.id === 'ks-spot')!;

describe('aiware-sim test', function () {
  this.timeout(60_000);
  this.slow(5000);

  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-test-'));
  });
  after(function () {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('passes a test file whose cases all end as expected: a line per case, "3 passed, 0 failed", exit 0', async function () {
    const run = await sim(['test', engineFolder()]);
    assert.equal(run.code, 0, explain(run));
    assert.match(run.stdout, /✓ fox and dog/);
    assert.match(run.stdout, /✓ not text/, 'an expected failure with its reason passes');
    assert.match(run.stdout, /\n3 passed, 0 failed\n/);
  });

  it('fails a case whose outputs differ from its expected file: exit 1, a diff naming the case and the file', async function () {
    const dir = engineFolder();
    const expected = path.join(dir, 'expected', 'fox-and-dog.json');
    fs.writeFileSync(expected, fs.readFileSync(expected, 'utf8').replace('"dog"', '"cat"'));
    const run = await sim(['test', dir]);
    assert.equal(run.code, 1, explain(run));
    assert.match(run.stdout, /✗ fox and dog/);
    assert.match(
      run.stdout,
      /1\) .*aiware-test\.yaml › fox and dog\n {5}expected: the task to end well, the outputs in expected\/fox-and-dog\.json\n {5}the outputs differ from expected\/fox-and-dog\.json/,
    );
    assert.match(run.stdout, /- expected\/fox-and-dog\.json\n\s+\+ actual\n/);
    assert.match(run.stdout, /\n\s+- +"label": "cat",\n\s+\+ +"label": "dog",\n/);
    assert.ok(!run.stdout.includes('\u001b['), 'no colour when stdout is no terminal');
    assert.match(run.stdout, /\n2 passed, 1 failed\n/);
  });

  describe("catches each of the three flow mistakes within 10 s, naming the node, with what the test file expected (the issue's measure)", function () {
    const times: Record<string, number> = {};
    after(function () {
      // The measure, for the record: the whole `aiware-sim test`, runner start included.
      console.log(
        `      catch times: ${Object.entries(times)
          .map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`)
          .join(', ')}`,
      );
    });

    const mistakes: [string, (flows: Runtime['flows']) => void, number, RegExp[]][] = [
      [
        'wire order: the complete heartbeat wired before aiware-result-out',
        (flows) => (spot(flows).wires = [['ks-done', 'ks-send'], ['ks-fail']]),
        3,
        [
          /flow error: finished \(aiware-heartbeat ks-done\) ended the task \(complete\) before send keywords \(aiware-result-out ks-send\) got its message: spot keywords \(function ks-spot\) is wired to both/,
          /expected: the task to end well, the outputs in expected\/fox-and-dog\.json/,
        ],
      ],
      [
        'no complete heartbeat',
        (flows) => (spot(flows).wires = [['ks-send'], ['ks-fail']]),
        3,
        [
          /flow error: the flow forgot the task: send keywords \(aiware-result-out ks-send\) finished with the task's last message and nothing ended the task within 1000 ms/,
          /expected: the task to end well, the outputs in expected\/fox-and-dog\.json/,
        ],
      ],
      [
        'an invalid VTN output',
        (flows) => (spot(flows).func = spot(flows).func!.replace('label: k', 'text: k')),
        3,
        [
          /expected the task to end well, but it failed: invalid_data: send keywords \(aiware-result-out ks-send\): the output is not VTN-standard: output\.object\[0\]: must have required property 'label'/,
          /expected: the task to end well, the outputs in expected\/fox-and-dog\.json/,
        ],
      ],
    ];
    for (const [what, edit, code, said] of mistakes) {
      it(what, async function () {
        const dir = engineFolder();
        editFlow(dir, edit);
        const run = await sim(['test', dir, '--grep', '^fox and dog$']);
        times[what.split(':')[0]] = run.ms;
        assert.equal(run.code, code, explain(run));
        for (const pattern of said) assert.match(run.stdout, pattern);
        assert.match(run.stdout, /\n0 passed, 1 failed, 2 skipped\n/);
        assert.ok(run.ms < 10_000, `caught in ${run.ms} ms`);
      });
    }
  });

  it('--update writes the outputs of this run as the expected files, and the next run passes', async function () {
    const dir = engineFolder();
    fs.rmSync(path.join(dir, 'expected'), { recursive: true });
    const missing = await sim(['test', dir]);
    assert.equal(missing.code, 1, explain(missing));
    assert.match(missing.stdout, /there is no expected output yet: expected\/fox-and-dog\.json does not exist \(aiware-sim test --update writes the outputs of this run there\)/);
    const update = await sim(['test', dir, '--update']);
    assert.equal(update.code, 0, explain(update));
    assert.match(update.stdout, /↻ fox and dog .*expected\/fox-and-dog\.json written/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'expected', 'fox-and-dog.json'), 'utf8')), JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected', 'fox-and-dog.json'), 'utf8')));
    const again = await sim(['test', dir]);
    assert.equal(again.code, 0, explain(again));
  });

  it('--junit writes valid JUnit XML: one testcase per case, a failure for each failing one', async function () {
    const dir = engineFolder();
    const expected = path.join(dir, 'expected', 'engine.json');
    fs.writeFileSync(expected, '[{"validationContracts": ["keyword"], "object": []}]');
    const report = path.join(dir, 'reports', 'junit.xml');
    const run = await sim(['test', dir, '--junit', report]);
    assert.equal(run.code, 1, explain(run));
    const xml = fs.readFileSync(report, 'utf8');
    assert.equal(XMLValidator.validate(xml), true);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml) as {
      testsuites: {
        tests: string;
        failures: string;
        testsuite: { name: string; tests: string; failures: string; testcase: { name: string; classname: string; time: string; failure?: { message: string; type: string; '#text': string } }[] };
      };
    };
    const suite = parsed.testsuites.testsuite;
    assert.deepEqual([parsed.testsuites.tests, parsed.testsuites.failures, suite.tests, suite.failures], ['3', '1', '3', '1']);
    assert.deepEqual(
      suite.testcase.map((c) => [c.name, c.failure?.type ?? null]),
      [
        ['fox and dog', null],
        ['engine', 'differs'],
        ['not text', null],
      ],
    );
    assert.match(suite.testcase[1].failure!.message, /the outputs differ from expected\/engine\.json/);
    assert.match(suite.testcase[1].failure!['#text'], /"label": "engine"/);
    assert.ok(suite.testcase.every((c) => Number(c.time) >= 0 && c.classname === suite.name));
  });

  it('plays a pause: the outside service answers the callback, the case expects the pause, the outputs and a reported failure', async function () {
    const dir = fs.mkdtempSync(path.join(scratch, 'review-'));
    fs.writeFileSync(
      path.join(dir, 'aiware-test.yaml'),
      [
        `runtime: ${path.join(EXAMPLES, 'human-review.json')}`,
        'cases:',
        '  - name: corrected',
        `    input: ${path.join(SAMPLES, 'human-review', 'unsure.txt')}`,
        '    callback: { answer: { words: [a, corrected, sentence, of, nine, words, for, the, review] } }',
        '    expect: { paused: 1 }',
        '  - name: refused',
        `    input: ${path.join(SAMPLES, 'human-review', 'unsure.txt')}`,
        '    callback: { fail: nobody home }',
        '    expect: { paused: 1, failure: { reason: external_error, message: nobody home } }',
      ].join('\n'),
    );
    const update = await sim(['test', dir, '--update']);
    assert.equal(update.code, 0, explain(update));
    const outputs = JSON.parse(fs.readFileSync(path.join(dir, 'expected', 'corrected.json'), 'utf8')) as { series: { words: { word: string }[] }[] }[];
    assert.deepEqual(
      outputs[0].series.map((s) => s.words[0].word),
      ['a', 'corrected', 'sentence', 'of', 'nine', 'words', 'for', 'the', 'review'],
    );
    // The same file, now expecting no pause: the case says what it expected and what happened.
    fs.writeFileSync(path.join(dir, 'aiware-test.yaml'), fs.readFileSync(path.join(dir, 'aiware-test.yaml'), 'utf8').replace('expect: { paused: 1 }', 'expect: { paused: 0 }'));
    const run = await sim(['test', dir]);
    assert.equal(run.code, 1, explain(run));
    assert.match(run.stdout, /expected 0 pause\(s\) for a callback, but the tasks paused 1 time\(s\)/);
  });

  it('--watch runs again when an expected file or an input changes, and Ctrl-C ends it with the last run’s code', async function () {
    const dir = engineFolder();
    let step = 0;
    const run = await sim(['test', dir, '--watch'], {
      timeoutMs: 45_000,
      started: (child, output) => {
        const poll = setInterval(() => {
          const watching = output().split('watching ').length - 1;
          if (step === 0 && watching === 1) {
            step = 1;
            // A reviewer edits an expected file: the next run fails.
            const expected = path.join(dir, 'expected', 'engine.json');
            fs.writeFileSync(expected, fs.readFileSync(expected, 'utf8').replace('"engine"', '"motor"'));
          } else if (step === 1 && watching === 2) {
            step = 2;
            // An input changes: the run after it fails on the other case too.
            fs.writeFileSync(path.join(dir, 'fox.txt'), 'no keywords here\n');
          } else if (step === 2 && watching === 3) {
            step = 3;
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 50);
        child.on('close', () => clearInterval(poll));
      },
    });
    assert.equal(step, 3, explain(run));
    assert.equal(run.code, 1, explain(run));
    assert.match(run.stdout, /expected[/\\]engine\.json changed: running again/);
    assert.match(run.stdout, /fox\.txt changed: running again/);
    const closing = run.stdout.match(/\n\d+ passed, \d+ failed.*\n/g);
    assert.deepEqual(closing, ['\n3 passed, 0 failed\n', '\n2 passed, 1 failed\n', '\n1 passed, 2 failed\n']);
  });

  describe('refuses a bad command line or test file with exit 2, before any engine starts', function () {
    it('a test file that breaks its schema, naming each bad path', async function () {
      const dir = engineFolder();
      const file = path.join(dir, 'aiware-test.yaml');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('reason: invalid_data', 'reason: not_a_reason').replace('  - name: engine\n', '  - name: engine\n    inputs: engine.txt\n'));
      const run = await sim(['test', dir]);
      assert.equal(run.code, 2, explain(run));
      assert.match(run.stderr, /aiware-test\.yaml: .*\/cases\/1 has "inputs", which is not a setting here/);
      assert.match(run.stderr, /\/cases\/2\/expect\/failure\/reason must be one of internal_error, external_error/);
      assert.equal(run.stdout, '');
    });

    const url = 'http://127.0.0.1:9/process';
    const cases: [string, (dir: string) => string[], RegExp][] = [
      ['no test file', (dir) => ['test', path.join(dir, 'nowhere.yaml')], /test file .*nowhere\.yaml does not exist/],
      ['a folder without one', (dir) => ['test', path.join(dir, 'expected')], /is a folder with no aiware-test\.yaml/],
      ['both engines', (dir) => ['test', dir, '--engine-url', url, '--runtime', path.join(dir, 'engine.json')], /cannot be used with|not both/],
      ['--update with --watch', (dir) => ['test', dir, '--update', '--watch'], /either --update or --watch/],
      ['a --grep that is no regular expression', (dir) => ['test', dir, '--grep', '(unclosed'], /--grep: /],
      ['a concurrency of 0', (dir) => ['test', dir, '--concurrency', '0'], /--concurrency must be a whole number from 1/],
      ['an input that is not there', (dir) => (fs.rmSync(path.join(dir, 'fox.txt')), ['test', dir]), /\/cases\/0\/input fox\.txt is not a file/],
      [
        'a test file that names no runtime, and none given',
        (dir) => (fs.writeFileSync(path.join(dir, 'aiware-test.yaml'), 'cases: [{ name: one, input: fox.txt }]\n'), ['test', dir]),
        /names no runtime: give it one, or --runtime/,
      ],
      ['not YAML', (dir) => (fs.writeFileSync(path.join(dir, 'aiware-test.yaml'), 'cases: [\n'), ['test', dir]), /is not YAML or JSON/],
    ];
    for (const [what, args, message] of cases) {
      it(what, async function () {
        const run = await sim(args(engineFolder()));
        assert.equal(run.code, 2, explain(run));
        assert.match(run.stderr, message);
        assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
      });
    }
  });
});
