// The cost of pause-for-callback, through the runner (runner/main.js) as ET runs it:
// - resume latency: a callback POST until its answer, which the pack writes in the same tick as
//   it hands the restored message to output 2; against a GET of the same URL (only reads the
//   wait) in the same run, the HTTP round trip;
// - durable writes: what fsync adds to a pause (its wait saved) and a resume (its claim created),
//   against a plain temp file + rename of the same wait, in the same folder, one at a time;
// - restore: the runner started on a work folder holding 10 000 saved waits, until every task is
//   back (the node's "restored" line), against the same start with none.
// `npm run bench` adds this as its last part; `node dist/bench/pause.js` runs it alone and prints it.
//
// Env: BENCH_PAUSES (tasks paused and resumed, default 300), BENCH_RESTORE_WAITS (default 10000).
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ToolkitEmulator, freePort, type RunnerProcess } from '@aiware-nodered/aiware-sim';
import { createDurably, tempBeside, writeFileDurably, type WaitRecord } from '../core';
import { close, envNumber, fixed, latencyRow, listen, runMain, table, tempDir, type LatencyRow } from './lib';
import { pollUntil } from './poll';
import { startRunner } from './runner-child';

export interface PauseCost {
  /** The writes a pause (its wait) and a resume (its claim) make, durable (fsync) against a plain temp + rename. */
  writes: LatencyRow[];
  resume: LatencyRow[];
  restore: { label: string; waits: number; readyMs: number; restoredMs?: number }[];
}

const FLOW = [
  { id: 'tab', type: 'tab', label: 'pause bench' },
  { id: 'in', z: 'tab', type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'chunk', respond: 'async', wires: [['pause']] },
  { id: 'pause', z: 'tab', type: 'aiware-pause-for-callback', mode: 'local', timeout: '3600', wires: [['ask'], ['done'], []] },
  {
    id: 'ask',
    z: 'tab',
    type: 'function',
    func: "msg.url = msg.aiware.payload.callbackServiceUrl; msg.method = 'POST'; msg.headers = { 'content-type': 'application/json' }; msg.payload = { callbackUrl: msg.callbackUrl }; return msg;",
    outputs: 1,
    wires: [['post']],
  },
  { id: 'post', z: 'tab', type: 'http request', method: 'use', ret: 'txt', url: '', wires: [[]] },
  { id: 'done', z: 'tab', type: 'aiware-heartbeat', status: 'complete', wires: [[]] },
];

/** A loopback server that takes the flow's requests (the callback URLs) and answers 204; `urls` fills up. */
async function recorder(): Promise<{ url: string; urls: string[]; close(): Promise<void> }> {
  const urls: string[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      if (parts.length > 0) urls.push(String((JSON.parse(Buffer.concat(parts).toString('utf8')) as { callbackUrl: string }).callbackUrl));
      res.writeHead(204).end();
    });
  });
  return { url: `${await listen(server)}/`, urls, close: () => close(server) };
}

async function timedStart(runtimeFile: string, workDir: string, port: number, waits: number): Promise<{ runner: RunnerProcess; readyMs: number; restoredMs?: number }> {
  const started = performance.now();
  const runner = startRunner({ runtimeFile, workDir, port, env: { RUNNER_GRACE_SECONDS: '1' } });
  await runner.ready(120_000);
  const readyMs = performance.now() - started;
  if (waits === 0) return { runner, readyMs };
  await runner.waitForLog((line) => String(line.msg).includes('waiting tasks restored from disk'), 120_000);
  return { runner, readyMs, restoredMs: performance.now() - started };
}

export async function pauseCost(pauses = Math.round(envNumber('BENCH_PAUSES', 300, 'pauses')), restoreWaits = Math.round(envNumber('BENCH_RESTORE_WAITS', 10_000, 'waits'))): Promise<PauseCost> {
  const root = tempDir('aiware-bench-pause-');
  const runtimeFile = path.join(root, 'runtime.json');
  fs.writeFileSync(runtimeFile, JSON.stringify(FLOW));
  const workDir = path.join(root, 'work');
  const toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  const service = await recorder();
  // Restored tasks heartbeat to this: answers 204 and counts nothing.
  const sink = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
  const sinkUrl = await listen(sink);
  const runners: RunnerProcess[] = [];
  try {
    const port = await freePort();
    const first = startRunner({ runtimeFile, workDir, port, env: { RUNNER_GRACE_SECONDS: '1' } });
    runners.push(first);
    const url = await first.ready(60_000);
    const payload = JSON.stringify({ callbackServiceUrl: service.url });
    const items = Array.from({ length: pauses + 1 }, () => toolkit.workItem({ payload, token: undefined, maxTTL: '86400' }));
    for (let start = 0; start < items.length; start += 20) {
      await Promise.all(items.slice(start, start + 20).map((item) => toolkit.process(`${url}/process`, item, { data: 'pause me', mimeType: 'text/plain' })));
    }
    await pollUntil(
      () => (service.urls.length >= items.length ? true : undefined),
      10,
      60_000,
      () => `bench pause: ${items.length} pauses did not happen within 60000 ms`,
    );

    // Resume latency, one at a time, with a GET of the next URL between (the HTTP baseline).
    const resumed: number[] = [];
    const shown: number[] = [];
    for (const callbackUrl of service.urls.slice(0, pauses)) {
      let started = performance.now();
      const look = await fetch(callbackUrl);
      await look.arrayBuffer();
      shown.push(performance.now() - started);
      started = performance.now();
      const answer = await fetch(callbackUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"approved":true}' });
      await answer.arrayBuffer();
      resumed.push(performance.now() - started);
      if (answer.status !== 200) throw new Error(`bench pause: a callback answered ${answer.status}`);
    }
    // The URLs came in the order the runner posted them, not the items': the resumed ones are any
    // `pauses` of the tasks, so wait for that many to complete rather than for the first items.
    await pollUntil(
      () => (toolkit.allTasks().filter((task) => task.status === 'complete').length >= pauses ? true : undefined),
      10,
      60_000,
      () => `bench pause: ${pauses} resumed tasks did not complete within 60000 ms`,
    );

    // The last wait is the template of the 10 000 (its task stays saved when the runner stops).
    await first.stop();
    const stateDir = path.join(workDir, 'pauses');
    const template = fs.readdirSync(stateDir).find((name) => name.endsWith('.wait.json'));
    if (!template) throw new Error('bench pause: no saved wait to copy');
    const wait = JSON.parse(fs.readFileSync(path.join(stateDir, template), 'utf8')) as WaitRecord;
    const emptyDir = path.join(root, 'empty');
    const empty = await timedStart(runtimeFile, emptyDir, await freePort(), 0);
    runners.push(empty.runner);
    await empty.runner.stop();
    fs.rmSync(path.join(stateDir, template));
    const fields = wait.task.parsed.fields as Record<string, unknown>;
    for (let i = 0; i < restoreWaits; i++) {
      const id = randomUUID();
      const copy: WaitRecord = {
        ...wait,
        id,
        task: { ...wait.task, id: randomUUID(), parsed: { ...wait.task.parsed, fields: { ...fields, heartbeatWebhook: `${sinkUrl}/heartbeat`, resultWebhook: `${sinkUrl}/result` } } },
      };
      fs.writeFileSync(path.join(stateDir, `${id}.wait.json`), JSON.stringify(copy));
    }
    const full = await timedStart(runtimeFile, workDir, port, restoreWaits);
    runners.push(full.runner);
    await full.runner.stop();
    const writes = await writeCost(stateDir, wait, pauses);
    return {
      writes,
      resume: [latencyRow('POST callback → resumed (output 2)', resumed), latencyRow('GET callback (status only)', shown)],
      restore: [
        { label: 'no saved waits', waits: 0, readyMs: empty.readyMs },
        { label: `${restoreWaits} saved waits`, waits: restoreWaits, readyMs: full.readyMs, restoredMs: full.restoredMs },
      ],
    };
  } finally {
    for (const runner of runners) await runner.kill();
    await service.close();
    await close(sink);
    await toolkit.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** A pause's and a resume's writes, one at a time: plain (temp + rename), durable (fsync'd), the claim (a linked synced file). */
async function writeCost(dir: string, wait: WaitRecord, rounds: number): Promise<LatencyRow[]> {
  const text = JSON.stringify(wait);
  const plain: number[] = [];
  const durable: number[] = [];
  const claim: number[] = [];
  const claimText = JSON.stringify({ outcome: 'resumed', at: Date.now(), keepUntil: Date.now(), callback: { body: { words: [{ word: 'bench', confidence: 1 }] } } });
  for (let i = 0; i < rounds; i++) {
    const file = path.join(dir, `bench-${i}.wait.json`);
    let start = performance.now();
    const temp = tempBeside(file);
    await fs.promises.writeFile(temp, text, { mode: 0o600 });
    await fs.promises.rename(temp, file);
    plain.push(performance.now() - start);
    start = performance.now();
    await writeFileDurably(file, text, dir);
    durable.push(performance.now() - start);
    start = performance.now();
    await createDurably(path.join(dir, `bench-${i}.claim.json`), claimText, dir);
    claim.push(performance.now() - start);
  }
  return [
    latencyRow('wait saved, temp + rename (no fsync)', plain),
    latencyRow('wait saved, durable (fsync file and folder)', durable),
    latencyRow('claim created, durable (synced file linked)', claim),
  ];
}

/** The report's section on pause-for-callback. */
export function pauseSection(cost: PauseCost): string[] {
  const resumed = cost.resume[0];
  const restored = cost.restore[1];
  return [
    '## Pause for callback',
    '',
    "Through the runner, local mode: each task paused by `aiware-pause-for-callback` (its wait written to disk before its URL leaves), then resumed one at a time by a POST to its callback URL. The pack answers the POST in the same tick as it sends the restored message out of output 2, so the POST's round trip is the resume latency; a GET of the same URL (reads the wait, resumes nothing) is the HTTP baseline in the same run. Client and runner share the machine's 2 CPUs and the loopback.",
    '',
    table(
      ['call', 'calls', 'p50 ms', 'p99 ms', 'mean ms'],
      cost.resume.map((r) => [r.label, String(r.calls), fixed(r.p50, 2), fixed(r.p99, 2), fixed(r.mean, 2)]),
    ),
    '',
    `Target: resume p50 under 10 ms — ${resumed.p50 < 10 ? 'met' : 'not met'} (${fixed(resumed.p50, 2)} ms).`,
    '',
    `Durable writes: a pause saves its wait, a resume creates its claim, each flushed to disk (the file and its folder) before the URL leaves or the callback is answered; against the same wait written with a temp file and a rename only, in the runner's work folder, ${cost.writes[0].calls} of each one after another.`,
    '',
    table(
      ['write', 'writes', 'p50 ms', 'p99 ms', 'mean ms'],
      cost.writes.map((r) => [r.label, String(r.calls), fixed(r.p50, 2), fixed(r.p99, 2), fixed(r.mean, 2)]),
    ),
    '',
    `What fsync adds to a pause and its resume: ${fixed(cost.writes[1].p50 - cost.writes[0].p50 + cost.writes[2].p50, 2)} ms at p50 (the durable save's extra time, plus the claim).`,
    '',
    'Restore: the runner started (spawn → `/readyz` 200, and → the node\'s "N waiting tasks restored from disk" line) on a work folder holding saved waits, each task reopened with its webhooks and heartbeating again; against a start with none.',
    '',
    table(
      ['start', 'spawn → ready ms', 'spawn → all restored ms', 'restore beyond ready ms'],
      cost.restore.map((r) => [
        r.label,
        fixed(r.readyMs, 0),
        r.restoredMs === undefined ? '–' : fixed(r.restoredMs, 0),
        r.restoredMs === undefined ? '–' : fixed(r.restoredMs - cost.restore[0].readyMs, 0),
      ]),
    ),
    '',
    `Target: ${restored.waits} restored in under 2 s — ${restored.restoredMs !== undefined && restored.restoredMs - cost.restore[0].readyMs < 2000 ? 'met' : 'not met'} (${fixed((restored.restoredMs ?? 0) - cost.restore[0].readyMs, 0)} ms past a start with none).`,
  ];
}

if (require.main === module) runMain('bench pause', async () => console.log(pauseSection(await pauseCost()).join('\n')));
