// The diff `aiware-sim test` prints for outputs that differ from the expected file: both as JSON
// with sorted keys (the order of keys is not compared), a unified diff of lines with a little
// context, `-` the expected, `+` the actual; red and green only on a terminal that has colours.
import { structuredPatch } from 'diff';
import { canonicalJson } from './normalise';

const RED = '\u001b[31m';
const GREEN = '\u001b[32m';
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

/** Lines of a diff of `expected` and `actual`, each ready to print (indent it as you like). */
export function jsonDiff(expected: unknown, actual: unknown, options: { colour: boolean; context?: number; expectedName?: string }): string[] {
  const patch = structuredPatch(options.expectedName ?? 'expected', 'actual', `${canonicalJson(expected)}\n`, `${canonicalJson(actual)}\n`, '', '', { context: options.context ?? 3 });
  const paint = (code: string, text: string) => (options.colour ? `${code}${text}${RESET}` : text);
  const lines = [paint(RED, `- ${options.expectedName ?? 'expected'}`), paint(GREEN, '+ actual')];
  for (const hunk of patch.hunks) {
    lines.push(paint(DIM, `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`));
    for (const line of hunk.lines) {
      if (line.startsWith('\\')) continue; // "\ No newline at end of file"
      lines.push(line.startsWith('-') ? paint(RED, line) : line.startsWith('+') ? paint(GREEN, line) : line);
    }
  }
  return lines;
}
