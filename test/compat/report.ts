// What each cell of the matrix ran, written as test/compat/MATRIX.md at the end of a run, for the
// README: the Node and Node-RED each cell really ran (as they reported themselves) and the stories
// that passed there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_DIR } from './cache';

export type StoryState = 'passed' | 'failed' | 'not run';

export interface CellReport {
  title: string;
  /** What was asked of the registry: `node@<node>`, `node-red@<nodeRed>`. */
  ranges: { node: string; nodeRed: string };
  /** What the running Node-RED said it was and ran on. */
  reported?: { node: string; nodeRed: string };
  /** From spawning red.js to the flows started and /readyz 200. */
  startMs?: number;
  /** Why the cell could not start, or stopped before its last story. */
  error?: string;
  stories: Map<string, StoryState>;
}

/** The committed record, written only when asked (AIWARE_COMPAT_RECORD=1), so a test run leaves the tree clean. */
export const MATRIX_FILE = path.join(REPO_DIR, 'test', 'compat', 'MATRIX.md');
/** Every run's own, beside Node-RED's logs. */
export const RUN_MATRIX_FILE = path.join(REPO_DIR, '.tmp', 'compat', 'MATRIX.md');

const MARK: Record<StoryState, string> = { passed: 'pass', failed: '**FAIL**', 'not run': 'not run' };

export function matrixMarkdown(cells: CellReport[], storyTitles: string[], totalMs: number, cacheNote: string): string {
  const passed = (cell: CellReport) => [...cell.stories.values()].filter((s) => s === 'passed').length;
  const lines = [
    '# The palette pack in a stock Node-RED',
    '',
    `Written by \`npm run test:compat\` (test/compat/matrix.compat.ts) on ${new Date().toISOString().slice(0, 10)}: the whole run took ${seconds(totalMs)} (${cacheNote}).`,
    '',
    '| cell | Node | Node-RED | start-up | stories passed |',
    '| --- | --- | --- | --: | --: |',
    ...cells.map((cell) => {
      // A cell left out by --grep ran nothing; one whose start failed says so.
      const missing = cell.error ? ' (did not start)' : ' (not run)';
      return row([
        cell.title,
        cell.reported?.node ?? `${cell.ranges.node}${missing}`,
        cell.reported?.nodeRed ?? `${cell.ranges.nodeRed}${missing}`,
        cell.startMs === undefined ? '—' : seconds(cell.startMs),
        `${passed(cell)} of ${storyTitles.length}`,
      ]);
    }),
    '',
    row(['story', ...cells.map((cell) => cell.title)]),
    row(['---', ...cells.map(() => ':-:')]),
    ...storyTitles.map((title) => row([title, ...cells.map((cell) => MARK[cell.stories.get(title) ?? 'not run'])])),
  ];
  const errors = cells.filter((cell) => cell.error);
  if (errors.length > 0) lines.push('', ...errors.map((cell) => `- ${cell.title}: ${cell.error!.split('\n')[0]}`));
  return `${lines.join('\n')}\n`;
}

export function writeMatrix(cells: CellReport[], storyTitles: string[], totalMs: number, cacheNote: string): void {
  const text = matrixMarkdown(cells, storyTitles, totalMs, cacheNote);
  fs.mkdirSync(path.dirname(RUN_MATRIX_FILE), { recursive: true });
  fs.writeFileSync(RUN_MATRIX_FILE, text);
  if (process.env.AIWARE_COMPAT_RECORD === '1') fs.writeFileSync(MATRIX_FILE, text);
}

const row = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;

function seconds(ms: number): string {
  return ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
