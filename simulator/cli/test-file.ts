// A test file of `aiware-sim test`, read (YAML or JSON), checked against its JSON schema
// (test-file.schema.json, shipped beside dist/), and turned into cases with every path resolved
// against the file's folder and every default applied.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import type { FailureReason } from '@aiware-nodered/node-red-aiware';
import { UsageError } from './options';

/** The schema's place: the package's root, beside dist/ (this file is dist/cli/test-file.js). */
export const TEST_FILE_SCHEMA = path.join(__dirname, '..', '..', 'test-file.schema.json');

/** The file names `aiware-sim test` looks for in a folder, and `aiware-sim run` leaves out of a folder of inputs. */
export const TEST_FILE_NAMES = ['aiware-test.yaml', 'aiware-test.yml', 'aiware-test.json'] as const;

export type EngineType = 'chunk' | 'stream' | 'batch';

/** The outside service of pause-for-callback, as a case plays it. */
export interface CallbackPlay {
  delayMs: number;
  answer?: unknown;
  fail?: string;
  progress: string[];
}

/** A part of a text, or a regular expression written `/…/flags`. */
export type TextMatch = { part: string } | { pattern: RegExp };

export interface Expectation {
  /** The expected outputs' file (absolute), or undefined when outputs are not compared. */
  output?: string;
  /** Whether `output` was named in the test file (else it is the default, expected/<name>.json). */
  outputNamed: boolean;
  failure?: { reason: FailureReason; message?: TextMatch; said: string };
  ignored?: boolean;
  paused?: number;
  infoMsg?: TextMatch;
  /** The expectation in the test file's words, for a report. */
  said: string;
}

export interface TestCase {
  name: string;
  /** Absolute paths. */
  inputs: string[];
  engineType: EngineType;
  mime?: string;
  payload: Record<string, unknown>;
  fields: Record<string, string>;
  chunkMetadata: Record<string, string>;
  maxTTL: number;
  /** Paths dropped from each output before comparing (JSON pointers with * and **). */
  ignore: string[];
  callback?: CallbackPlay;
  expect: Expectation;
}

export interface TestFile {
  /** Absolute. */
  file: string;
  dir: string;
  /** The runtime file it names (absolute), if it names one. */
  runtime?: string;
  concurrency: number;
  cases: TestCase[];
}

/** As the schema has it. */
interface RawSettings {
  input?: string | string[];
  engineType?: EngineType;
  mime?: string;
  payload?: Record<string, unknown>;
  fields?: Record<string, string | number | boolean>;
  chunkMetadata?: Record<string, string>;
  maxTTL?: number;
  ignore?: string[];
  callback?: { delay?: number; answer?: unknown; fail?: string; progress?: string[] };
}

interface RawCase extends RawSettings {
  name: string;
  expect?: {
    output?: string | false;
    failure?: { reason: FailureReason; message?: string };
    ignored?: true;
    paused?: number;
    infoMsg?: string;
  };
}

interface RawFile {
  runtime?: string;
  concurrency?: number;
  engineType?: EngineType;
  maxTTL?: number;
  ignore?: string[];
  defaults?: RawSettings;
  cases: RawCase[];
}

export const DEFAULT_MAX_TTL = 60;

let validator: ReturnType<Ajv['compile']> | undefined;

function validate(value: unknown): ErrorObject[] {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    validator = ajv.compile(JSON.parse(fs.readFileSync(TEST_FILE_SCHEMA, 'utf8')) as object);
  }
  return validator(value) ? [] : [...(validator.errors ?? [])];
}

/** One line per problem, each naming the path in the file: `/cases/1/expect/failure/reason must be one of …`. */
export function describeSchemaErrors(errors: ErrorObject[]): string[] {
  // oneOf and not report their branches' errors too; the deepest ones say what is wrong.
  const useful = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
  const lines = new Set<string>();
  for (const error of useful.length > 0 ? useful : errors) {
    const where = error.instancePath === '' ? '(the file)' : error.instancePath;
    const params = error.params as Record<string, unknown>;
    let what = error.message ?? 'is not valid';
    if (error.keyword === 'additionalProperties') what = `has ${JSON.stringify(params.additionalProperty)}, which is not a setting here`;
    else if (error.keyword === 'enum') what = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    else if (error.keyword === 'not' && error.instancePath.endsWith('/expect')) what = 'cannot expect both a failure and an ignored chunk';
    else if (error.keyword === 'not') what = 'cannot give both answer and fail';
    lines.add(`${where} ${what}`);
  }
  return [...lines];
}

/** Reads a test file: YAML (a JSON file is YAML too), checked against the schema. Throws UsageError naming the file and each bad path. */
export function readTestFile(file: string): TestFile {
  const full = path.resolve(file);
  const name = shownPath(full);
  let text: string;
  try {
    text = fs.readFileSync(full, 'utf8');
  } catch {
    throw new UsageError(`test file ${name} cannot be read`);
  }
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new UsageError(`test file ${name} is not YAML or JSON: ${document.errors[0].message.split('\n')[0]}`);
  }
  const raw = document.toJS() as unknown;
  const errors = validate(raw);
  if (errors.length > 0) throw new UsageError(`test file ${name}: ${describeSchemaErrors(errors).join('; ')}`);
  return resolve(full, raw as RawFile);
}

function resolve(file: string, raw: RawFile): TestFile {
  const dir = path.dirname(file);
  const shown = shownPath(file);
  const existing = (what: string, name: string): string => {
    const full = path.resolve(dir, name);
    if (!fs.existsSync(full) || !fs.statSync(full).isFile()) throw new UsageError(`test file ${shown}: ${what} ${name} is not a file (paths are relative to the test file)`);
    return full;
  };
  const defaults = raw.defaults ?? {};
  const names = new Set<string>();
  const cases = raw.cases.map((c, i): TestCase => {
    if (names.has(c.name)) throw new UsageError(`test file ${shown}: /cases/${i}/name ${JSON.stringify(c.name)} is the name of an earlier case: names must be unique`);
    names.add(c.name);
    const engineType = c.engineType ?? defaults.engineType ?? raw.engineType ?? 'chunk';
    const input = c.input ?? defaults.input;
    const inputs = (input === undefined ? [] : Array.isArray(input) ? input : [input]).map((name) => existing(`/cases/${i}/input`, name));
    if (engineType !== 'chunk' && inputs.length > 1) {
      throw new UsageError(`test file ${shown}: /cases/${i}/input has ${inputs.length} files, but a ${engineType} engine reads one, at cacheURI`);
    }
    const play = c.callback ?? defaults.callback;
    const fields = { ...defaults.fields, ...c.fields };
    return {
      name: c.name,
      inputs,
      engineType,
      mime: c.mime ?? defaults.mime,
      payload: { ...defaults.payload, ...c.payload },
      fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])),
      chunkMetadata: { ...defaults.chunkMetadata, ...c.chunkMetadata },
      maxTTL: c.maxTTL ?? defaults.maxTTL ?? raw.maxTTL ?? DEFAULT_MAX_TTL,
      ignore: [...(raw.ignore ?? []), ...(defaults.ignore ?? []), ...(c.ignore ?? [])],
      callback: play && { delayMs: Math.round((play.delay ?? 0) * 1000), answer: play.answer, fail: play.fail, progress: play.progress ?? [] },
      expect: expectation(dir, c),
    };
  });
  return {
    file,
    dir,
    runtime: raw.runtime === undefined ? undefined : existing('runtime', raw.runtime),
    concurrency: raw.concurrency ?? 1,
    cases,
  };
}

/** Relative to the working folder when inside it. */
function shownPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

/** `expected/<name>.json`: the case's name as a file name. */
export function expectedFileName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return path.join('expected', `${slug || 'case'}.json`);
}

function expectation(dir: string, c: RawCase): Expectation {
  const e = c.expect ?? {};
  const endsOtherwise = e.failure !== undefined || e.ignored === true;
  // Outputs are compared unless the case expects a failure or an ignored chunk (or says `output: false`).
  const output = e.output === false ? undefined : e.output !== undefined ? path.resolve(dir, e.output) : endsOtherwise ? undefined : path.resolve(dir, expectedFileName(c.name));
  const failure = e.failure && {
    reason: e.failure.reason,
    message: e.failure.message === undefined ? undefined : textMatch(e.failure.message),
    said: `a failure ${e.failure.reason}${e.failure.message === undefined ? '' : ` with ${e.failure.message}`}`,
  };
  const parts: string[] = [];
  if (failure) parts.push(failure.said);
  else if (e.ignored) parts.push('an ignored chunk (204)');
  else parts.push('the task to end well');
  if (output) parts.push(`the outputs in ${path.relative(dir, output)}`);
  if (e.paused !== undefined) parts.push(`${e.paused} pause(s) for a callback`);
  if (e.infoMsg !== undefined) parts.push(`a last infoMsg with ${e.infoMsg}`);
  return {
    output,
    outputNamed: typeof e.output === 'string',
    failure,
    ignored: e.ignored,
    paused: e.paused,
    infoMsg: e.infoMsg === undefined ? undefined : textMatch(e.infoMsg),
    said: parts.join(', '),
  };
}

/** `/quick.*fox/i` is a regular expression; anything else a part of the text. */
export function textMatch(text: string): TextMatch {
  const regex = /^\/(.+)\/([a-z]*)$/s.exec(text);
  if (regex) {
    try {
      return { pattern: new RegExp(regex[1], regex[2]) };
    } catch {
      // Not a valid expression: the text as it is.
    }
  }
  return { part: text };
}

export function matches(match: TextMatch, text: string): boolean {
  return 'part' in match ? text.includes(match.part) : match.pattern.test(text);
}

/** The test file of a folder (aiware-test.yaml and its kin), or the file itself. */
export function testFileOf(arg: string): string {
  const full = path.resolve(arg);
  if (fs.existsSync(full) && fs.statSync(full).isDirectory()) {
    const found = TEST_FILE_NAMES.map((name) => path.join(full, name)).find((f) => fs.existsSync(f));
    if (!found) throw new UsageError(`${arg} is a folder with no ${TEST_FILE_NAMES.join(', ')}`);
    return found;
  }
  if (!fs.existsSync(full)) throw new UsageError(`test file ${arg} does not exist`);
  return full;
}
