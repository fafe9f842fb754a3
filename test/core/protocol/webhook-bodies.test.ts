// The heartbeat and result body rules, from their one home (core/webhook-bodies): what
// a good body looks like, and the problem each bad one is refused with.
import * as assert from 'node:assert/strict';
import Ajv from 'ajv';
import { FAILURE_REASONS, HEARTBEAT_COUNTERS, HEARTBEAT_SCHEMA, RESULT_SCHEMA, heartbeatProblems, isHeartbeatCount, isHeartbeatStatus, isResultOffset, resultProblems } from '../../../core';

const OUTPUT = { series: [{ startTimeMs: 0, stopTimeMs: 500, words: [{ word: 'hello' }] }] };

describe('the webhook body schemas', function () {
  it('are valid draft-07 schemas', function () {
    // Checked here rather than at every start: the module compiles them without the meta-schema.
    const ajv = new Ajv();
    for (const schema of [HEARTBEAT_SCHEMA, RESULT_SCHEMA]) {
      assert.equal(ajv.validateSchema(schema), true, ajv.errorsText(ajv.errors));
    }
  });

  it('take the statuses, reasons and counters from the protocol vocabulary', function () {
    assert.deepEqual(HEARTBEAT_SCHEMA.definitions.failureReason.enum, FAILURE_REASONS);
    for (const name of HEARTBEAT_COUNTERS) assert.deepEqual(HEARTBEAT_SCHEMA.properties[name], { $ref: '#/definitions/count' });
  });
});

describe('heartbeat bodies', function () {
  const good: [string, unknown][] = [
    ['a running heartbeat', { status: 'running' }],
    ['a running heartbeat with every counter and an info message', { status: 'running', bytesRead: 0, bytesWritten: 10, messagesWritten: 2, infoMsg: 'half way' }],
    ['a complete heartbeat', { status: 'complete', messagesWritten: 3 }],
    ['a failed heartbeat with a reason and a message', { status: 'failed', failureReason: 'external_error', failureMsg: 'the API said no' }],
    ['a heartbeat with a field this version does not know', { status: 'running', extra: true }],
  ];
  for (const [story, body] of good) {
    it(`takes ${story}`, function () {
      assert.deepEqual(heartbeatProblems(body), []);
    });
  }

  const bad: [string, unknown, string[]][] = [
    ['a body that is not an object', [{ status: 'running' }], ['body must be a JSON object, got an array']],
    ['a heartbeat without a status', { bytesRead: 1 }, ['status is required']],
    ['an unknown status', { status: 'done' }, ['status must be one of running, complete, failed, got "done"']],
    ['a failed heartbeat without failureReason', { status: 'failed' }, ['failureReason is required when status is failed']],
    ['an unknown reason', { status: 'failed', failureReason: 'oops' }, ['failureReason must be one of the failure reasons, got "oops"']],
    ['a negative counter', { status: 'running', bytesRead: -1 }, ['bytesRead must be a non-negative integer, got -1']],
    ['a non-integer counter', { status: 'running', bytesWritten: 1.5 }, ['bytesWritten must be a non-negative integer, got 1.5']],
    ['a counter sent as text', { status: 'running', messagesWritten: '3' }, ['messagesWritten must be a non-negative integer, got "3"']],
    ['a counter past the safe integers', { status: 'running', bytesRead: 2 ** 53 }, [`bytesRead must be a non-negative integer, got ${2 ** 53}`]],
    ['an infoMsg that is not text', { status: 'running', infoMsg: 5 }, ['infoMsg must be a string, got 5']],
    [
      'several problems at once, in the order of the fields',
      { status: 'stopped', messagesWritten: -2, failureReason: 'nope', failureMsg: {} },
      [
        'status must be one of running, complete, failed, got "stopped"',
        'failureReason must be one of the failure reasons, got "nope"',
        'messagesWritten must be a non-negative integer, got -2',
        'failureMsg must be a string, got an object',
      ],
    ],
  ];
  for (const [story, body, problems] of bad) {
    it(`refuses ${story}`, function () {
      assert.deepEqual(heartbeatProblems(body), problems);
    });
  }
});

describe('result bodies', function () {
  const good: [string, unknown][] = [
    ['a result with an index and an output', { index: 1, output: OUTPUT }],
    ['a result with its chunkContext and offsets', { index: 2, chunkContext: 'ctx', startOffsetMs: 0, endOffsetMs: 5000, output: OUTPUT }],
    ['a result with negative offsets (the protocol says int)', { index: 3, startOffsetMs: -10, endOffsetMs: -1, output: {} }],
  ];
  for (const [story, body] of good) {
    it(`takes ${story}`, function () {
      assert.deepEqual(resultProblems(body), []);
    });
  }

  const bad: [string, unknown, string[]][] = [
    ['a body that is null', null, ['body must be a JSON object, got null']],
    ['a result without output', { index: 1 }, ['output is required']],
    ['a result without index', { output: OUTPUT }, ['index is required']],
    ['index 0', { index: 0, output: OUTPUT }, ['index must be an integer from 1, got 0']],
    ['a non-integer index', { index: 1.5, output: OUTPUT }, ['index must be an integer from 1, got 1.5']],
    ['an index sent as text', { index: '1', output: OUTPUT }, ['index must be an integer from 1, got "1"']],
    ['an output that is an array', { index: 1, output: [OUTPUT] }, ['output must be a VTN-standard JSON object, got an array']],
    ['a non-integer startOffsetMs', { index: 1, startOffsetMs: 0.5, output: OUTPUT }, ['startOffsetMs must be an integer, got 0.5']],
    ['an endOffsetMs sent as text', { index: 1, endOffsetMs: '500', output: OUTPUT }, ['endOffsetMs must be an integer, got "500"']],
    ['a chunkContext that is not text', { index: 1, chunkContext: 7, output: OUTPUT }, ['chunkContext must be a string, got 7']],
    ['an empty object', {}, ['index is required', 'output is required']],
  ];
  for (const [story, body, problems] of bad) {
    it(`refuses ${story}`, function () {
      assert.deepEqual(resultProblems(body), problems);
    });
  }
});

describe('the field checks the nodes use', function () {
  const cases: [string, (value: unknown) => boolean, unknown, boolean][] = [
    ['status running', isHeartbeatStatus, 'running', true],
    ['status done', isHeartbeatStatus, 'done', false],
    ['count 0', isHeartbeatCount, 0, true],
    ['count -1', isHeartbeatCount, -1, false],
    ['count 2.5', isHeartbeatCount, 2.5, false],
    ['count 2^53', isHeartbeatCount, 2 ** 53, false],
    ['offset -250', isResultOffset, -250, true],
    ['offset 1.5', isResultOffset, 1.5, false],
    ['offset NaN', isResultOffset, Number.NaN, false],
    ['offset "5"', isResultOffset, '5', false],
  ];
  for (const [story, check, value, expected] of cases) {
    it(`${expected ? 'accepts' : 'refuses'} ${story}`, function () {
      assert.equal(check(value), expected);
    });
  }
});
