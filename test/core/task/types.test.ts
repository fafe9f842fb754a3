// A task's words (core/task/types.ts): the settings' defaults and how the pack names a node.
import * as assert from 'node:assert/strict';
import { DEFAULT_TASK_SETTINGS, nodeLabel } from '../../../core';

describe('a task’s words (core/task/types.ts)', function () {
  it('has the documented defaults: a heartbeat a second, an hour without maxTTL, 5 s for the final heartbeat', function () {
    assert.deepEqual(DEFAULT_TASK_SETTINGS, { heartbeatIntervalMs: 1000, defaultTTLSeconds: 3600, finalHeartbeatGraceMs: 5000 });
  });

  it('names a node by its name, type and id, or by type and id when it has no name', function () {
    assert.equal(nodeLabel({ id: 'n1', type: 'function', name: 'score' }), 'score (function n1)');
    assert.equal(nodeLabel({ id: 'n2', type: 'aiware-result-out' }), 'aiware-result-out n2');
    assert.equal(nodeLabel({ id: 'n3', type: 'delay', name: '' }), 'delay n3');
  });
});
