// The toolkit emulator keeps one copy of a result sent twice with the same Idempotency-Key (a retry
// the engine did not hear answered, or a flow run again after a restart), as ET does; without the
// key, a second post of an index is a breach it records.
import assert from 'node:assert/strict';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { IDEMPOTENCY_HEADER } from '../core';

const VTN = { validationContracts: ['keyword'], object: [{ type: 'keyword', label: 'x' }] };

async function postResult(url: string, body: unknown, key?: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { [IDEMPOTENCY_HEADER]: key } : {}) },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('the toolkit emulator and Idempotency-Key', function () {
  let emulator: ToolkitEmulator;
  before(async () => {
    emulator = await ToolkitEmulator.start();
  });
  after(() => emulator.stop());

  it('answers 204 to a copy of a result with the same key and records it once', async function () {
    const item = emulator.workItem();
    const body = { index: 1, chunkContext: item.fields.chunkContext, output: VTN };
    const key = `${item.fields.internalTaskId}/result/1`;
    assert.equal(await postResult(item.fields.resultWebhook, body, key), 204);
    assert.equal(await postResult(item.fields.resultWebhook, body, key), 204);
    const record = emulator.task(item.taskId);
    assert.equal(record.results.length, 1);
    assert.deepEqual(record.violations, []);
  });

  it('records a breach for a second post of one index without a key', async function () {
    const item = emulator.workItem();
    const body = { index: 1, chunkContext: item.fields.chunkContext, output: VTN };
    assert.equal(await postResult(item.fields.resultWebhook, body), 204);
    assert.equal(await postResult(item.fields.resultWebhook, body), 204);
    const record = emulator.task(item.taskId);
    assert.equal(record.results.length, 2);
    assert.match(record.violations.join('\n'), /index 1 was already received/);
  });
});
