// What a run leaves besides its tasks: the keys set through the key proxy, by job, and the outputs
// forwarded to sendOutputToUris — in summary.json, in keys.json and forwarded.json, and in the summary.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ToolkitEmulator } from '../emulator';
import type { ForwardedOutput } from '../forwarding';
import type { RunOptions } from './options';

/** One key of a job: how often it was set, its last size and TTL. */
export interface KeySummary {
  scope: 'job' | 'task';
  /** The internalJobId or internalTaskId it belongs to. */
  id: string;
  key: string;
  sets: number;
  bytes: number;
  ttlInSeconds: number;
  lastSetAt: string;
}

export interface RunExtras {
  /** By internalJobId. */
  keys: Record<string, KeySummary[]>;
  forwarded: (Omit<ForwardedOutput, 'at'> & { at: string })[];
  /** Whether the run forwarded at all (--send-output-to given). */
  forwarding: boolean;
}

export function runExtras(toolkit: ToolkitEmulator, options: RunOptions): RunExtras {
  const keys: Record<string, KeySummary[]> = {};
  for (const set of toolkit.keys()) {
    const list = (keys[set.jobId ?? '(unknown job)'] ??= []);
    let entry = list.find((k) => k.scope === set.scope && k.id === set.id && k.key === set.key);
    if (!entry) list.push((entry = { scope: set.scope, id: set.id, key: set.key, sets: 0, bytes: 0, ttlInSeconds: 0, lastSetAt: '' }));
    entry.sets++;
    entry.bytes = set.bytes;
    entry.ttlInSeconds = set.ttlInSeconds;
    entry.lastSetAt = new Date(set.at).toISOString();
  }
  const forwarded = toolkit.forwarded().map((f) => ({ ...f, at: new Date(f.at).toISOString() }));
  return { keys, forwarded, forwarding: options.sendOutputToUris.length > 0 };
}

/** `keys.json` when any key was set, `forwarded.json` when the run forwarded. */
export function writeExtras(dir: string, extras: RunExtras): void {
  const write = (name: string, value: unknown): void => {
    const file = path.join(dir, name);
    fs.writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
    fs.renameSync(`${file}.${process.pid}.tmp`, file);
  };
  if (Object.keys(extras.keys).length > 0) write('keys.json', extras.keys);
  if (extras.forwarding) write('forwarded.json', extras.forwarded);
}

/** The summary's lines for keys and forwarded outputs (none when there were neither). */
export function formatExtras(extras: RunExtras): string[] {
  const lines: string[] = [];
  const jobs = Object.entries(extras.keys);
  if (jobs.length > 0) {
    lines.push('', 'keys set (key proxy)');
    for (const [job, keys] of jobs) {
      lines.push(`  ${job}: ${keys.map((k) => `${k.scope === 'task' ? `t${k.id}/` : ''}${k.key} ×${k.sets} (${k.bytes} B, ttl ${k.ttlInSeconds} s)`).join(', ')}`);
    }
  }
  if (extras.forwarding) {
    const byUri = new Map<string, { ok: number; failed: number }>();
    for (const f of extras.forwarded) {
      const entry = byUri.get(f.uri) ?? { ok: 0, failed: 0 };
      if (f.status !== undefined && f.status >= 200 && f.status < 300) entry.ok++;
      else entry.failed++;
      byUri.set(f.uri, entry);
    }
    lines.push('', 'forwarded outputs (sendOutputToUris)');
    if (byUri.size === 0) lines.push('  none');
    for (const [uri, count] of byUri) lines.push(`  ${uri}: ${count.ok} delivered${count.failed > 0 ? `, ${count.failed} not (see forwarded.json)` : ''}`);
  }
  return lines;
}
