// The /process body's limits (core/body/limits.ts): defaults, what a setting overrides, and the
// 413s a body past them gets.
import * as assert from 'node:assert/strict';
import { DEFAULT_LIMITS, resolveLimits } from '../../../core';
import { fieldTooLarge, smallBodyTooLarge, tooManyFields } from '../../../core/body/limits';

describe('body limits (core/body/limits.ts)', function () {
  it('takes each limit that is set, and the default for the others, an explicit undefined or an empty tmpDir among them', function () {
    assert.deepEqual(resolveLimits({ maxFields: 5, memoryChunkBytes: undefined, tmpDir: '' }), {
      maxBodyBytes: 4 * 1024 ** 3,
      memoryChunkBytes: 8 * 1024 ** 2,
      maxFieldBytes: 1024 ** 2,
      maxFields: 5,
      tmpDir: undefined,
      tmpDirRoots: undefined,
    });
    assert.equal(resolveLimits({ maxBodyBytes: 0 }).maxBodyBytes, 0, 'zero is a limit, not unset');
    assert.ok(Object.isFrozen(DEFAULT_LIMITS));
  });

  const refusals: [string, ReturnType<typeof tooManyFields>, string, string | undefined][] = [
    ['a small body', smallBodyTooLarge('application/json', 10), 'application/json body is larger than 10 bytes; send big chunks as multipart/form-data', undefined],
    ['a field', fieldTooLarge('payload', 4096), 'field "payload" is larger than 4096 bytes', 'payload'],
    ['too many fields', tooManyFields(50), 'request has more than 50 fields', undefined],
  ];
  for (const [story, err, message, field] of refusals) {
    it(`refuses ${story} with a 413 that says what to do`, function () {
      assert.deepEqual([err.status, err.message, err.field, err.reason], [413, message, field, 'invalid_data']);
    });
  }
});
