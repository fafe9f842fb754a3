// What `aiware-sim test` compares of an engine's outputs: the outputs with what changes from run to
// run taken out, so that an expected file written once holds for every run. In this order:
//  1. the run's own values, wherever they appear inside a string, become a placeholder naming them:
//     the ids the simulator made (`<internalTaskId>`, `<internalJobId>`, `<chunkUUID>`,
//     `<chunkContext>`, `<inputFolderID>`, `<libraryId>`, `<libraryEngineModelId>`), tokens
//     (`<token>`, `<controllerToken>`), times (`<chunkTimestamp>`), addresses with their ports
//     (`<toolkit>` for the emulator's base URL and so every webhook, `<engine>` for the engine's,
//     `<service>` for the outside service's) and temp paths (`<taskTmpDir>`, `<engineDir>`,
//     `<libraryModelDirectory>`, `<runnerWorkDir>`), longest first; a value the test file set
//     itself (a case's `fields`) stays as it is;
//  2. any other ISO 8601 date-time becomes `<time>`, any other UUID `<uuid>`;
//  3. the test file's `ignore` paths are dropped (JSON pointers; `*` one key or index, `**` any depth).
// Numbers are left as they are, but for one equal to the chunk's timestamp.

/** A volatile value of one task and the placeholder it becomes. */
export interface Volatile {
  value: string;
  name: string;
}

/** The fields of a work item whose values the simulator makes, by the placeholder's name. */
const VOLATILE_FIELDS = [
  'internalTaskId',
  'internalJobId',
  'chunkUUID',
  'chunkContext',
  'inputFolderID',
  'libraryId',
  'libraryEngineModelId',
  'token',
  'controllerToken',
  'chunkTimestamp',
  'taskTmpDir',
  'engineDir',
  'libraryModelDirectory',
] as const;

/** Shorter values could be words of an output (`1`, `text`): never replaced. */
const MIN_LENGTH = 6;

/**
 * The volatile values of a task: its work item's (less those the test file set: `given`), and the
 * addresses and folders of the run (`places`: name → value, e.g. `toolkit` → `http://127.0.0.1:4123`).
 */
export function volatileValues(fields: Record<string, string>, given: Record<string, string>, places: Record<string, string | undefined>): Volatile[] {
  const found: Volatile[] = [];
  for (const name of VOLATILE_FIELDS) {
    const value = fields[name];
    if (value !== undefined && given[name] === undefined) found.push({ value, name });
  }
  for (const [name, value] of Object.entries(places)) if (value !== undefined) found.push({ value, name });
  // Longest first: a task's temp folder goes whole before the emulator's folder it lies in.
  return found.filter((v) => v.value.length >= MIN_LENGTH).sort((a, b) => b.value.length - a.value.length);
}

const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b/g;
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

/** A string with the run's values replaced (step 1 and 2). */
export function normaliseText(text: string, volatile: readonly Volatile[]): string {
  let out = text;
  for (const { value, name } of volatile) if (out.includes(value)) out = out.split(value).join(`<${name}>`);
  return out.replace(ISO_TIME, '<time>').replace(UUID, '<uuid>');
}

/** A copy of `value` with every string normalised and the `ignore` paths dropped. */
export function normalise(value: unknown, volatile: readonly Volatile[], ignore: readonly string[] = []): unknown {
  const timestamp = volatile.find((v) => v.name === 'chunkTimestamp')?.value;
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return normaliseText(node, volatile);
    if (typeof node === 'number') return timestamp !== undefined && String(node) === timestamp ? '<chunkTimestamp>' : node;
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === 'object' && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  const patterns = ignore.map(pointerSegments);
  return drop(walk(value), patterns, []);
}

/** `/series/*\/confidence` → ['series', '*', 'confidence'] (JSON pointer escapes read). */
export function pointerSegments(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function matchesPath(pattern: readonly string[], at: readonly string[]): boolean {
  if (pattern.length === 0) return at.length === 0;
  const [head, ...rest] = pattern;
  if (head === '**') {
    for (let skip = 0; skip <= at.length; skip++) if (matchesPath(rest, at.slice(skip))) return true;
    return false;
  }
  if (at.length === 0) return false;
  return (head === '*' || head === at[0]) && matchesPath(rest, at.slice(1));
}

function drop(node: unknown, patterns: readonly string[][], at: string[]): unknown {
  if (patterns.length === 0) return node;
  if (Array.isArray(node)) {
    return node.flatMap((item, i) => (patterns.some((p) => matchesPath(p, [...at, String(i)])) ? [] : [drop(item, patterns, [...at, String(i)])]));
  }
  if (typeof node === 'object' && node !== null) {
    const kept: [string, unknown][] = [];
    for (const [key, value] of Object.entries(node)) {
      if (patterns.some((p) => matchesPath(p, [...at, key]))) continue;
      kept.push([key, drop(value, patterns, [...at, key])]);
    }
    return Object.fromEntries(kept);
  }
  return node;
}

/** Equal as JSON, whatever the order of keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** JSON with keys sorted, two spaces: what is compared and what a diff shows. */
export function canonicalJson(value: unknown): string {
  const sort = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(sort);
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(
        Object.keys(node)
          .sort()
          .map((k) => [k, sort((node as Record<string, unknown>)[k])]),
      );
    }
    return node;
  };
  return JSON.stringify(sort(value), null, 2) ?? 'undefined';
}
