// A task's last line names its slowest node through a child logger per node (runner/task-lines.ts,
// SlowestNodeLogs): its id, type and name are written by pino once per node, not per line. The line
// must still name the node as the flow has it now: after a redeploy renames or retypes a node, and
// past the bound on how many nodes are kept. (The line in a running runner: test/node-timing.test.ts.)
import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SlowestNodeLogs } from '@aiware-nodered/node-red-runner/dist/task-lines';
import { MAX_TIMED_NODES, type NodeTime } from '../core';

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, out), lines };
}

const node = (id: string, type: string, name?: string): NodeTime => ({ id, type, name, count: 1, ms: 2.5, queueMs: 0 });

describe("the task line's slowest node", function () {
  it('names the node with its id, type and name beside the line’s own fields, and nothing when no node was timed', function () {
    const { log, lines } = capture();
    const logs = new SlowestNodeLogs(log);
    logs.log(node('n1', 'function', 'transcribe')).info({ taskId: 't1', slowestNodeMs: 2.5 }, 'task ended');
    logs.log(undefined).info({ taskId: 't2' }, 'task ended');
    assert.deepEqual(
      lines.map(({ taskId, slowestNodeId, slowestNodeType, slowestNodeName, slowestNodeMs }) => ({ taskId, slowestNodeId, slowestNodeType, slowestNodeName, slowestNodeMs })),
      [
        { taskId: 't1', slowestNodeId: 'n1', slowestNodeType: 'function', slowestNodeName: 'transcribe', slowestNodeMs: 2.5 },
        { taskId: 't2', slowestNodeId: undefined, slowestNodeType: undefined, slowestNodeName: undefined, slowestNodeMs: undefined },
      ],
    );
  });

  it('keeps one logger per node, and makes it again when a redeploy renames or retypes the node', function () {
    const { log, lines } = capture();
    const logs = new SlowestNodeLogs(log);
    const first = logs.log(node('n1', 'function', 'transcribe'));
    assert.equal(logs.log(node('n1', 'function', 'transcribe')), first);
    logs.log(node('n1', 'function', 'transcribe v2')).info('renamed');
    logs.log(node('n1', 'change', 'transcribe v2')).info('retyped');
    logs.log(node('n1', 'change')).info('unnamed');
    assert.deepEqual(
      lines.map((line) => [line.msg, line.slowestNodeType, line.slowestNodeName]),
      [
        ['renamed', 'function', 'transcribe v2'],
        ['retyped', 'change', 'transcribe v2'],
        ['unnamed', 'change', undefined],
      ],
    );
  });

  it(`forgets its loggers past ${MAX_TIMED_NODES} nodes (a long life of redeploys) and still names each node right`, function () {
    const { log, lines } = capture();
    const logs = new SlowestNodeLogs(log);
    const kept = logs.log(node('n0', 'function'));
    for (let i = 1; i < MAX_TIMED_NODES; i++) logs.log(node(`n${i}`, 'function'));
    assert.equal(logs.log(node('n0', 'function')), kept, 'within the bound, the node keeps its logger');
    logs.log(node(`n${MAX_TIMED_NODES}`, 'function')).info('one more');
    assert.notEqual(logs.log(node('n0', 'function')), kept, 'past the bound, every logger was let go');
    logs.log(node('n0', 'function')).info('again');
    assert.deepEqual(
      lines.map((line) => [line.msg, line.slowestNodeId]),
      [
        ['one more', `n${MAX_TIMED_NODES}`],
        ['again', 'n0'],
      ],
    );
  });
});
