// The Dockerfile read as stages of instructions (continuation lines joined, comments dropped), so
// tests can check it and replay what its stages run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';

export const dockerfile = fs.readFileSync(path.join(PACK_DIR, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');

export interface Stage {
  name: string;
  lines: string[];
}

export function stages(): Stage[] {
  const lines = dockerfile
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l && !l.startsWith('#'));
  const result: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) result.push({ name: from[1] ?? '', lines: [] });
    else result.at(-1)?.lines.push(line);
  }
  return result;
}

export const stage = (name: string): Stage => stages().find((s) => s.name === name)!;

/** COPY instructions as [from stage or undefined, sources, destination]. */
export function copies(of: Stage): { from?: string; sources: string[]; dest: string }[] {
  return of.lines
    .filter((l) => /^COPY\s/i.test(l))
    .map((l) => {
      const words = l.split(/\s+/).slice(1);
      const from = words[0].startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
      const dest = words.pop()!;
      return { from, sources: words, dest };
    });
}

/** The variables its ENV lines set. */
export function env(of: Stage): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of of.lines.filter((l) => /^ENV\s/i.test(l))) {
    for (const match of line.slice(4).matchAll(/(\w+)=(\S+)/g)) result[match[1]] = match[2];
  }
  return result;
}

/** The shell commands of its RUN lines, split at `&&`. */
export function commands(of: Stage): string[] {
  return of.lines
    .filter((l) => /^RUN\s/i.test(l))
    .flatMap((l) =>
      l
        .slice(4)
        .split('&&')
        .map((c) => c.trim()),
    );
}

/** The ENTRYPOINT's words. */
export function entrypoint(of: Stage): string[] {
  const line = of.lines.find((l) => /^ENTRYPOINT\s/i.test(l));
  return line ? (JSON.parse(line.slice('ENTRYPOINT '.length)) as string[]) : [];
}
