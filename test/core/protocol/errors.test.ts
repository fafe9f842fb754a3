// Errors as values (core/protocol/errors.ts): the status, field and failure reason a ProtocolError
// carries, the /process answer it becomes, and messages for people from whatever was thrown.
import * as assert from 'node:assert/strict';
import * as vm from 'node:vm';
import { errorMessage, FieldError, jsonProblem, ProtocolError } from '../../../core';

describe('errors as values (core/protocol/errors.ts)', function () {
  const reasons: [number, string | undefined, string][] = [
    [400, undefined, 'invalid_data'],
    [413, undefined, 'invalid_data'],
    [500, undefined, 'internal_error'],
    [503, undefined, 'internal_error'],
    [500, 'file_write_error', 'file_write_error'],
  ];
  for (const [status, given, reason] of reasons) {
    it(`gives a ${status}${given ? ` said to be ${given}` : ''} the failure reason ${reason}`, function () {
      const err = new ProtocolError(status, 'no', given ? { reason: given as 'file_write_error' } : {});
      assert.equal(err.reason, reason);
      assert.equal(err.status, status);
    });
  }

  it('answers /process with the message, and the field when there is one', function () {
    assert.equal(JSON.stringify(new ProtocolError(415, 'unsupported')), '{"error":"unsupported"}');
    const field = new FieldError('maxTTL', 'maxTTL must be a positive number of seconds');
    assert.deepEqual([field.status, field.reason, field.name, field instanceof ProtocolError], [400, 'invalid_data', 'FieldError', true]);
    assert.equal(JSON.stringify(field), '{"error":"maxTTL must be a positive number of seconds","field":"maxTTL"}');
  });

  it('keeps the cause it was given', function () {
    const cause = new Error('ENOSPC');
    assert.equal(new ProtocolError(500, 'could not write', { cause }).cause, cause);
  });

  const messages: [string, unknown, string][] = [
    ['an Error', new TypeError('bad'), 'bad'],
    ["an Error of another realm (a function node's sandbox)", vm.runInNewContext('new Error("from the sandbox")'), 'from the sandbox'],
    ['an Error with no message', new RangeError(''), 'RangeError'],
    ['a string', 'plain words', 'plain words'],
    ['an object', { code: 7 }, '{"code":7}'],
    ['a BigInt JSON cannot write', 10n, '10'],
    ['undefined, which JSON has no text for', undefined, 'undefined'],
    ['a symbol', Symbol('gone'), 'Symbol(gone)'],
  ];
  for (const [story, thrown, message] of messages) {
    it(`says ${JSON.stringify(message)} for ${story}`, function () {
      assert.equal(errorMessage(thrown), message);
    });
  }

  it('leaves out the input V8 quotes in a JSON error: it may carry tokens', function () {
    for (const text of ['{"token":"secret', 'secret-token-abc', `{"token":"${'s'.repeat(100)}`]) {
      let problem = '';
      try {
        JSON.parse(text);
      } catch (err) {
        problem = jsonProblem(err);
      }
      assert.ok(problem !== '' && !problem.includes('secret') && !problem.includes('sss'), problem);
    }
  });
});
