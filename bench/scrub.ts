// What scrubbing one Node-RED log line of the tokens of the open tasks costs, at 1, 1000 and 10 000
// open tasks: the registry's SecretIndex (one pass over the line) against the scan it replaced (every
// open task's tokens gathered and looked for in the line, as the runner did before), measured side by
// side in this process. Part of `npm run bench:soak` (bench/soak.ts), which prints the table.
import { randomBytes } from 'node:crypto';
import { SecretIndex, scrubSecrets, secretsOf } from '@aiware-nodered/node-red-aiware';
import { fixed, table } from './lib';

const OPEN_COUNTS = [1, 1000, 10_000];
/** Lines scrubbed per measure; the best of ROUNDS is kept (the machine is shared). */
const LINES = 2000;
const ROUNDS = 5;

interface Fields {
  token: string;
  controllerToken: string;
}

export interface ScrubRow {
  open: number;
  /** µs per line, no token in it / one task's token in it. */
  indexClean: number;
  indexLeak: number;
  scanClean: number;
  scanLeak: number;
  /** µs per task: its tokens added at open and removed at end. */
  addRemove: number;
}

/** Tokens shaped as the emulator's (`token-<hex>`) and a JWT as controllerToken: long, distinct tails. */
function taskFields(): Fields {
  return {
    token: `token-${randomBytes(16).toString('hex')}`,
    controllerToken: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${randomBytes(48).toString('base64url')}.${randomBytes(32).toString('base64url')}`,
  };
}

/** How a debug node prints a message (msg.aiware without its tokens, a payload), about 400 characters. */
function debugLine(leak?: string): string {
  return JSON.stringify({
    _msgid: 'a1b2c3d4e5f6a7b8',
    payload: { words: ['the', 'quick', 'brown', 'fox'], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: 'soak', confidence: 1 }] }] },
    aiware: { taskId: 'task-1-0a1b2c3d', internalTaskId: '9f0e7c1e-1111-2222-3333-444455556666', chunkIndex: 3, ...(leak ? { token: leak } : {}) },
    topic: 'an ordinary line of an ordinary flow',
  });
}

/** µs per call of `fn`, the best of ROUNDS rounds of `count` calls. */
function perCall(count: number, fn: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / count);
  }
  return best;
}

export function scrubCost(): ScrubRow[] {
  const rows: ScrubRow[] = [];
  for (const open of OPEN_COUNTS) {
    const tasks = Array.from({ length: open }, taskFields);
    const index = new SecretIndex();
    for (const fields of tasks) index.addFields(fields);
    const clean = debugLine();
    const leak = debugLine(tasks[Math.floor(open / 2)].token);
    // What the runner did per line before: gather every open task's tokens, then look for each.
    const scan = (text: string): string =>
      scrubSecrets(
        text,
        tasks.flatMap((fields) => secretsOf(fields)),
      );
    if (index.scrub(leak) !== scan(leak) || index.scrub(leak).includes(tasks[Math.floor(open / 2)].token)) throw new Error('the index and the scan scrub differently');
    const scanLines = Math.max(20, Math.round(LINES / Math.max(1, open / 100)));
    const spare = Array.from({ length: 1000 }, taskFields);
    rows.push({
      open,
      indexClean: perCall(LINES, () => index.scrub(clean)),
      indexLeak: perCall(LINES, () => index.scrub(leak)),
      scanClean: perCall(scanLines, () => scan(clean)),
      scanLeak: perCall(scanLines, () => scan(leak)),
      addRemove: perCall(spare.length, (i) => {
        index.addFields(spare[i]);
        index.removeFields(spare[i]);
      }),
    });
  }
  return rows;
}

export function scrubSection(rows: ScrubRow[]): string[] {
  const us = (v: number): string => fixed(v, v < 10 ? 2 : 0);
  return [
    "## Scrubbing a Node-RED log line of the open tasks' tokens",
    '',
    "Each Node-RED log line of the runner is scrubbed of the tokens of every open task. The registry keeps them in a SecretIndex (added at a task's opening, removed at its end); the scan it replaced gathered every open task's tokens for each line and looked for each one. Measured in the bench process on a ~400-character line of a debug node, best of 5 rounds (µs per line):",
    '',
    table(
      ['open tasks', 'index: line without a token', "index: line with one task's token", 'scan (before): without', 'scan (before): with', "index: a task's tokens added + removed"],
      rows.map((r) => [String(r.open), us(r.indexClean), us(r.indexLeak), us(r.scanClean), us(r.scanLeak), us(r.addRemove)]),
    ),
    '',
  ];
}
