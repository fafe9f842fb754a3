// The protocol's vocabulary (core/protocol/constants.ts): the lists every other module takes its
// words from, and the route path rule aiware-process-in and `aiware-sim check` share.
import * as assert from 'node:assert/strict';
import { FAILURE_REASONS, HEARTBEAT_STATUSES, isFailureReason, routePath, DEFAULT_PROCESS_PATH, DEFAULT_READY_PATH } from '../../../core';

describe('the protocol vocabulary (core/protocol/constants.ts)', function () {
  const paths: [string | undefined, string, string][] = [
    [undefined, DEFAULT_PROCESS_PATH, '/process'],
    ['', DEFAULT_READY_PATH, '/readyz'],
    ['   ', DEFAULT_PROCESS_PATH, '/process'],
    ['process2', DEFAULT_PROCESS_PATH, '/process2'],
    [' /engine/process ', DEFAULT_PROCESS_PATH, '/engine/process'],
  ];
  for (const [given, fallback, expected] of paths) {
    it(`claims ${expected} for a url of ${JSON.stringify(given)}`, function () {
      assert.equal(routePath(given, fallback), expected);
    });
  }

  it('knows the statuses ET takes and tells a failure reason from anything else', function () {
    assert.deepEqual(HEARTBEAT_STATUSES, ['running', 'complete', 'failed']);
    for (const reason of FAILURE_REASONS) assert.ok(isFailureReason(reason), reason);
    for (const other of ['Internal_Error', 'timeout', '', undefined, 3, { reason: 'other' }]) assert.equal(isFailureReason(other), false, JSON.stringify(other));
  });
});
