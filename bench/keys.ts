// The cost of a shared key: a set and a get through the toolkit emulator's key proxy, with the
// pack's own client (ProxyKeys over the retrying WebhookClient, keep-alive), against the same calls
// to a bare node:http server that only answers 200: the loopback round trip measured in the same run.
// `npm run bench` adds this as its fifth part; `node dist/bench/keys.js` runs it alone and prints it.
//
// Env: BENCH_KEY_CALLS (measured calls of each kind, default 2000).
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { ProxyKeys, encodeKeyValue, keyPath, WebhookClient } from '../core';
import { close, envNumber, fixed, latencyRow, listen, runMain, table, type LatencyRow } from './lib';

export type KeyCostRow = LatencyRow;

const WARMUP_CALLS = 300;
const ROUNDS = 4;

/** Sets and gets through the emulator's proxy and through the bare server, in alternating rounds. */
export async function keyProxyCost(calls = Math.round(envNumber('BENCH_KEY_CALLS', 2000, 'calls'))): Promise<KeyCostRow[]> {
  const toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  const bare = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 }).end('{}');
      else res.writeHead(200, { 'Content-Length': 0 }).end();
    });
  });
  const bareUrl = await listen(bare);
  try {
    const item = toolkit.workItem({ internalJobId: 'bench-job' });
    const client = new WebhookClient();
    const targets = {
      proxy: new ProxyKeys(item.fields.redisETUrl, client),
      bare: new ProxyKeys(`${bareUrl}/redis/bench`, client),
    };
    const path = keyPath('job', { internalJobId: 'bench-job' }, 'count');
    // A value such as a running count with a little state: about 100 bytes of JSON.
    const text = encodeKeyValue({ count: 12345, words: ['the', 'quick', 'brown', 'fox'], updatedAt: new Date(0).toISOString(), chunk: 'chunk-0001' });
    const deadline = () => Date.now() + 60_000;
    const samples: Record<string, number[]> = { 'proxy set': [], 'proxy get': [], 'bare set': [], 'bare get': [] };
    const once = async (name: keyof typeof targets, kind: 'set' | 'get', keep: boolean): Promise<void> => {
      const started = performance.now();
      if (kind === 'set') await targets[name].set(path, text, 3600, deadline());
      else {
        const answer = await targets[name].get(path, deadline());
        if (!answer.found) throw new Error(`${name} get found no key`);
      }
      if (keep) samples[`${name} ${kind}`].push(performance.now() - started);
    };
    for (let i = 0; i < WARMUP_CALLS; i++) for (const name of ['proxy', 'bare'] as const) for (const kind of ['set', 'get'] as const) await once(name, kind, false);
    const perRound = Math.ceil(calls / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of ['proxy', 'bare'] as const) {
        for (const kind of ['set', 'get'] as const) for (let i = 0; i < perRound; i++) await once(name, kind, true);
      }
    }
    return Object.entries(samples).map(([label, values]) => latencyRow(label, values));
  } finally {
    await close(bare);
    await toolkit.stop();
  }
}

/** The report's section on keys. */
export function keySection(rows: KeyCostRow[]): string[] {
  const bare = (kind: string) => rows.find((r) => r.label === `bare ${kind}`);
  return [
    '## Shared keys through the key proxy',
    '',
    "One set and one get at a time (a ~100-byte JSON value, `ttlInSeconds=3600`), with the pack's client (`ProxyKeys` over the result webhook's retrying `WebhookClient`, keep-alive sockets), " +
      "through the toolkit emulator's key proxy (`{redisETUrl}/keys/j{internalJobId}/{key}`: the task's ids checked, TTLs kept) and, as the baseline in the same run, " +
      'to a bare `node:http` server that answers 200 at once. Client and server share one process and the loopback; calls alternate in rounds. Real ET adds its own Redis round trip.',
    '',
    table(
      ['call', 'calls', 'p50 ms', 'p99 ms', 'mean ms', 'p50 − bare p50 ms'],
      rows.map((r) => {
        const kind = r.label.split(' ')[1];
        const base = bare(kind);
        return [r.label, String(r.calls), fixed(r.p50, 3), fixed(r.p99, 3), fixed(r.mean, 3), r.label.startsWith('bare') || !base ? '–' : fixed(r.p50 - base.p50, 3)];
      }),
    ),
  ];
}

if (require.main === module) runMain('bench keys', async () => console.log(keySection(await keyProxyCost()).join('\n')));
