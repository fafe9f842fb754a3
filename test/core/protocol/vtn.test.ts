import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { VTN_CONTRACTS, VTN_SCHEMA_DIR, describeVtnIssues, jsonPath, validateVtn, type VtnCheck } from '../../../core';

interface ShippedExample {
  contract: string;
  /** Relative to VTN_SCHEMA_DIR, e.g. `transcript/examples/basic.json`. */
  file: string;
  valid: boolean;
}

/** Every example the package ships, found on disk as its own test runner finds them. */
function shippedExamples(): ShippedExample[] {
  const found: ShippedExample[] = [];
  for (const contract of fs.readdirSync(VTN_SCHEMA_DIR).sort()) {
    for (const [folder, valid] of [
      ['examples', true],
      ['invalid-examples', false],
    ] as const) {
      const dir = path.join(VTN_SCHEMA_DIR, contract, folder);
      if (!fs.existsSync(dir)) continue;
      for (const name of fs.readdirSync(dir).sort()) {
        if (name.endsWith('.json')) found.push({ contract, file: `${contract}/${folder}/${name}`, valid });
      }
    }
  }
  return found;
}

/**
 * Shipped "valid" examples that do not pass, because the example itself is wrong. Each must
 * still fail, for the reason given, so a fixed package makes this table shout to be emptied.
 */
const KNOWN_EXCEPTIONS: Record<string, { reason: string; issue: RegExp }> = {
  // A catch-all documentation sample for AION. It declares validationContracts ["text", "face"]:
  // 'face' is no contract (not a folder, not in master.json's enum) and its objects of every type
  // break the `text` contract. The package's own test never sees this: its aion validator ignores
  // what validationContracts says, and master.json's 1-tuple `items` only checks the first name.
  'aion/examples/documentation-sample.json': {
    reason: "declares contracts it does not meet: unknown 'face', and 'text' with non-text objects",
    issue: /^output\.validationContracts\[1\]: unknown validation contract 'face'/,
  },
};

function readExample(file: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(VTN_SCHEMA_DIR, file), 'utf8'));
}

function copyOf<T>(value: T): T {
  return structuredClone(value);
}

function explain(check: VtnCheck): string {
  return check.valid ? 'it passed' : describeVtnIssues(check.issues);
}

describe('VTN-standard validation', function () {
  const examples = shippedExamples();

  it('finds the contracts and examples veritone-json-schemas ships', function () {
    // The package's own export is the other list of contracts: both must agree.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { VALIDATORS } = require('veritone-json-schemas') as { VALIDATORS: Record<string, unknown> };
    assert.deepEqual([...VTN_CONTRACTS], Object.keys(VALIDATORS).sort());
    assert.ok(examples.filter((e) => e.valid).length > 50, 'valid examples found');
    assert.ok(examples.filter((e) => !e.valid).length > 50, 'invalid examples found');
    for (const file of Object.keys(KNOWN_EXCEPTIONS)) {
      assert.ok(
        examples.some((e) => e.file === file),
        `known exception ${file} is still shipped`,
      );
    }
  });

  // Each example is checked as an engine for its folder's capability would check it: against
  // master, the folder's contract (so "missing validationContracts" counts) and whatever it names.
  describe('every example the package ships', function () {
    for (const example of examples) {
      const exception = KNOWN_EXCEPTIONS[example.file];
      if (exception) {
        it(`still rejects ${example.file} (known exception: ${exception.reason})`, function () {
          const check = validateVtn(readExample(example.file), { require: [example.contract] });
          assert.equal(check.valid, false, `the package may have fixed ${example.file}: drop it from KNOWN_EXCEPTIONS`);
          assert.match(describeVtnIssues(check.issues), exception.issue);
        });
      } else if (example.valid) {
        it(`accepts ${example.file}`, function () {
          const check = validateVtn(readExample(example.file), { require: [example.contract] });
          assert.ok(check.valid, `${example.file}: ${explain(check)}`);
        });
      } else {
        it(`rejects ${example.file}`, function () {
          const check = validateVtn(readExample(example.file), { require: [example.contract] });
          assert.equal(check.valid, false);
          assert.ok(check.issues.length > 0);
        });
      }
    }
  });

  it('accepts a valid example by what it declares alone, as an engine output names its contract', function () {
    for (const example of examples) {
      if (!example.valid || example.contract === 'aion' || KNOWN_EXCEPTIONS[example.file]) continue;
      const check = validateVtn(readExample(example.file));
      assert.ok(check.valid, `${example.file}: ${explain(check)}`);
      assert.ok(check.checked.includes(example.contract), `${example.file} checked ${check.checked.join(', ')}`);
    }
  });

  it('accepts the AION documentation sample once it stops declaring contracts it does not meet', function () {
    // The known exception above is only its declaration: the content itself is valid AION.
    const sample = readExample('aion/examples/documentation-sample.json') as Record<string, unknown>;
    delete sample.validationContracts;
    const check = validateVtn(sample, { require: ['aion'] });
    assert.ok(check.valid, explain(check));
  });

  describe('a transcript engine', function () {
    const basic = readExample('transcript/examples/basic.json') as {
      validationContracts: string[];
      series: { words: { word: unknown }[] }[];
    };
    const lattice = readExample('transcript/examples/lattice.json') as {
      series: { words: { bestPath?: boolean }[] }[];
    };

    it('fails an output naming a contract that does not exist, and names it', function () {
      const output = copyOf(basic);
      output.validationContracts = ['transcript', 'transcripts'];
      const check = validateVtn(output);
      assert.equal(check.valid, false);
      assert.deepEqual(check.checked, ['master', 'transcript']);
      assert.equal(check.issues.length, 1);
      assert.equal(check.issues[0].path, 'validationContracts[1]');
      assert.match(check.issues[0].message, /unknown validation contract 'transcripts'/);
      assert.match(describeVtnIssues(check.issues), /^output\.validationContracts\[1\]: unknown validation contract 'transcripts'/);
    });

    it('names the bad path of a word that is not a string', function () {
      const output = copyOf(basic);
      output.series[2].words[0].word = 42;
      const check = validateVtn(output);
      assert.equal(check.valid, false);
      assert.deepEqual(check.issues, [{ path: 'series[2].words[0].word', message: 'must be string', contract: 'transcript' }]);
      assert.equal(describeVtnIssues(check.issues), 'output.series[2].words[0].word: must be string (contract transcript)');
    });

    it('names an extra property it may not send', function () {
      const output = copyOf(basic) as unknown as { series: Record<string, unknown>[] };
      output.series[1].speaker = 'A';
      const check = validateVtn(output);
      assert.equal(describeVtnIssues(check.issues), "output.series[1]: must NOT have additional property 'speaker' (contract transcript)");
    });

    it('is checked against master only when it names no validationContracts', function () {
      const output = copyOf(basic) as Partial<typeof basic>;
      delete output.validationContracts;
      const check = validateVtn(output);
      assert.deepEqual(check, { valid: true, issues: [], checked: ['master'] });
      // master.json's own root only asks for an object.
      const notAnObject = validateVtn(['no']);
      assert.deepEqual(notAnObject.checked, ['master']);
      assert.equal(describeVtnIssues(notAnObject.issues), 'output: must be object (contract master)');
    });

    it('must meet a contract it is configured to require even if it forgets to name it', function () {
      const output = readExample('transcript/invalid-examples/missing-validation-contract.json');
      assert.equal(validateVtn(output).valid, true);
      const check = validateVtn(output, { require: ['transcript'] });
      assert.equal(check.valid, false);
      assert.deepEqual(check.checked, ['master', 'transcript']);
      assert.ok(check.issues.every((issue) => issue.contract === 'transcript'));
    });

    it('refuses a required contract that does not exist: a configuration error, not bad data', function () {
      assert.throws(() => validateVtn(basic, { require: ['transcripts'] }), /unknown VTN validation contract 'transcripts'/);
    });

    it('fails a lattice slice with no bestPath and one with two (requireBestPath)', function () {
      assert.ok(validateVtn(lattice).valid);
      const output = copyOf(lattice);
      delete output.series[0].words[0].bestPath;
      output.series[1].words[1].bestPath = true;
      const check = validateVtn(output);
      assert.deepEqual(
        check.issues.map((issue) => `${issue.path}: ${issue.message}`),
        [
          'series[0].words: there should be one and only one bestPath in a transcription lattice, found 0',
          'series[1].words: there should be one and only one bestPath in a transcription lattice, found 2',
        ],
      );
    });

    it('counts only bestPath: true, as the package does', function () {
      const output: { series: { words: Record<string, unknown>[] }[] } = copyOf(lattice);
      output.series[0].words[1].bestPath = 'true';
      const check = validateVtn(output);
      // The string is a type error; the lattice still has its one boolean bestPath.
      assert.deepEqual(
        check.issues.map((issue) => `${issue.path}: ${issue.message}`),
        ['series[0].words[1].bestPath: must be boolean'],
      );
    });
  });

  it('accepts a Structured Data Object schema id as a contract, which it cannot check offline', function () {
    const check = validateVtn({ validationContracts: ['0d0bc61f-5793-4d80-a980-9b041cabf661'] });
    assert.deepEqual(check, { valid: true, issues: [], checked: ['master'] });
  });

  it('reports a validationContracts that is not a list of names', function () {
    const check = validateVtn({ validationContracts: 'transcript' });
    assert.equal(describeVtnIssues(check.issues), 'output.validationContracts: must be an array of validation contract names (contract master)');
  });

  it('says an issue found by several contracts once, and keeps the line short', function () {
    const output = { validationContracts: ['transcript', 'text'], series: [{ startTimeMs: -1, stopTimeMs: 'soon', words: [] }] };
    const check = validateVtn(output);
    const line = describeVtnIssues(check.issues);
    assert.match(line, /^output\.series\[0\]\.startTimeMs: must be >= 0 \(contracts transcript, text\)/);
    assert.match(line, /; and \d+ more$/);
  });

  it("writes ajv's JSON pointers as readable paths, asking the output what is an array", function () {
    const output = { series: [{ structuredData: { '61': { 'a/b': [{ x: 1 }] } } }] };
    assert.equal(jsonPath('', output), '');
    assert.equal(jsonPath('/series/0/structuredData/61/a~1b/0/x', output), 'series[0].structuredData["61"]["a/b"][0].x');
    assert.equal(jsonPath('/0/startTimeMs', [{}]), '[0].startTimeMs');
  });
});
