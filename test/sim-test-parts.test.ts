// The parts of `aiware-sim test` with no engine in them: the normaliser of volatile values, the
// JUnit writer, the test file's schema (every example's test file checks against it, and its failure
// reasons are the protocol's).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { FAILURE_REASONS } from '@aiware-nodered/node-red-aiware';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { normalise, normaliseText, sameJson, volatileValues } from '@aiware-nodered/aiware-sim/dist/cli/normalise';
import { junitXml } from '@aiware-nodered/aiware-sim/dist/cli/junit';
import { TEST_FILE_SCHEMA, readTestFile, textMatch, matches } from '@aiware-nodered/aiware-sim/dist/cli/test-file';

const fields = {
  internalTaskId: 'task-7-1a2b3c4d',
  internalJobId: 'job-test-0f0f0f0f0f0f',
  chunkUUID: '6f1c2d3e-4b5a-4c6d-8e7f-901234567890',
  chunkContext: 'context-0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a',
  token: 'token-00112233445566778899aabbccddeeff',
  taskTmpDir: '/tmp/aiware-toolkit-AbC123/tasks/task-7-1a2b3c4d',
  libraryModelDirectory: '/tmp/aiware-toolkit-AbC123/cache/shard-0/libraries',
  chunkTimestamp: '1767225600000',
  libraryId: 'lib-given',
  maxTTL: '60',
};

describe('aiware-sim test, its parts', function () {
  describe('the normaliser', function () {
    const volatile = volatileValues(fields, { libraryId: 'lib-given' }, { toolkit: 'http://127.0.0.1:40123', engine: 'http://127.0.0.1:40999', service: undefined });

    it('replaces the run’s ids, tokens, addresses and temp paths wherever they appear, longest first, and leaves what the test file set', function () {
      assert.equal(
        normaliseText(`task ${fields.internalTaskId} wrote ${fields.taskTmpDir}/out.json via http://127.0.0.1:40123/result/x for ${fields.token}`, volatile),
        'task <internalTaskId> wrote <taskTmpDir>/out.json via <toolkit>/result/x for <token>',
      );
      assert.equal(normaliseText('model in lib-given', volatile), 'model in lib-given', 'a value the case set is its own, not volatile');
      assert.equal(normaliseText('maxTTL 60', volatile), 'maxTTL 60', 'short values are never replaced');
    });

    it('replaces other date-times and UUIDs, and a number equal to the chunk’s timestamp', function () {
      const output = { generatedDateUTC: '2026-12-06T20:23:09.946Z', id: 'A1B2C3D4-0000-4000-8000-123456789ABC', at: 1767225600000, count: 3 };
      assert.deepEqual(normalise(output, volatile), { generatedDateUTC: '<time>', id: '<uuid>', at: '<chunkTimestamp>', count: 3 });
    });

    it('drops the ignore paths: a key, * for any key or index, ** for any depth', function () {
      const output = { a: { confidence: 1, keep: 1 }, series: [{ words: [{ word: 'x', confidence: 0.5 }], startTimeMs: 0 }], deep: { er: { generated: 'x', kept: 2 } } };
      assert.deepEqual(normalise(output, [], ['/a/confidence', '/series/*/words/*/confidence', '/**/generated']), {
        a: { keep: 1 },
        series: [{ words: [{ word: 'x' }], startTimeMs: 0 }],
        deep: { er: { kept: 2 } },
      });
      assert.deepEqual(normalise([1, 2, 3], [], ['/1']), [1, 3]);
    });

    it('compares JSON whatever the order of its keys', function () {
      assert.equal(sameJson({ a: 1, b: [{ c: 1, d: 2 }] }, { b: [{ d: 2, c: 1 }], a: 1 }), true);
      assert.equal(sameJson({ a: [1, 2] }, { a: [2, 1] }), false);
    });

    it('reads /…/ as a regular expression and anything else as a part of the text', function () {
      assert.equal(matches(textMatch('/^step \\d of 5$/'), 'step 3 of 5'), true);
      assert.equal(matches(textMatch('of 5'), 'step 3 of 5'), true);
      assert.equal(matches(textMatch('/QUICK/i'), 'the quick fox'), true);
      assert.equal(matches(textMatch('/QUICK/'), 'the quick fox'), false);
    });
  });

  describe('JUnit XML', function () {
    it('escapes what XML cannot hold as it is, and counts tests, failures and errors per suite and in all', function () {
      const xml = junitXml([
        {
          name: 'a <file> & "more"',
          timestamp: '2026-12-06T20:00:00',
          seconds: 1.5,
          cases: [
            { name: 'ok', classname: 'a', seconds: 0.1 },
            { name: 'bad', classname: 'a', seconds: 0.2, failure: { message: 'differs: "x" < y', type: 'differs', text: '- a\n+ b\u001b[31m\u0000' } },
            { name: 'never ran', classname: 'a', seconds: 0, error: { message: 'the engine did not start', type: 'not run', text: '' } },
          ],
        },
      ]);
      assert.equal(XMLValidator.validate(xml), true);
      assert.match(xml, /<testsuites name="aiware-sim test" tests="3" failures="1" errors="1" time="1\.500">/);
      assert.match(xml, /<testsuite name="a &lt;file&gt; &amp; &quot;more&quot;" tests="3" failures="1" errors="1" skipped="0"/);
      assert.match(xml, /<failure message="differs: &quot;x&quot; &lt; y" type="differs">- a\n\+ b\\x1b\[31m\\x00<\/failure>/);
      assert.match(xml, /<testcase name="never ran" classname="a" time="0\.000">\n\s+<error /);
    });
  });

  describe('the test file schema', function () {
    it('lists the protocol’s failure reasons, and every example’s test file checks against it', function () {
      const schema = JSON.parse(fs.readFileSync(TEST_FILE_SCHEMA, 'utf8')) as { definitions: { expect: { properties: { failure: { properties: { reason: { enum: string[] } } } } } } };
      assert.deepEqual(schema.definitions.expect.properties.failure.properties.reason.enum, [...FAILURE_REASONS]);
      const examples = fs.readdirSync(path.join(PACK_DIR, 'examples')).map((f) => f.replace(/\.json$/, ''));
      for (const example of examples) {
        const file = readTestFile(path.join(PACK_DIR, 'samples', example, 'aiware-test.yaml'));
        assert.ok(file.cases.length > 0, example);
        assert.equal(file.runtime, path.join(PACK_DIR, 'examples', `${example}.json`));
      }
    });
  });
});
