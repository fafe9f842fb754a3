// VTN-standard validation: every engine output is checked against the master schema
// and against each contract it names in `validationContracts`, using the schemas shipped by
// the `veritone-json-schemas` package — the same files Veritone validates with.
import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export interface VtnIssue {
  /** Where in the output, as a readable JSON path (`series[2].words[0].word`); '' is the output itself. */
  path: string;
  message: string;
  /** 'master' or the validation contract that found the issue. */
  contract: string;
}

export interface VtnCheck {
  valid: boolean;
  issues: VtnIssue[];
  /** What the output was checked against, in order: 'master', then each contract. */
  checked: string[];
}

export interface VtnOptions {
  /**
   * Contracts the output must satisfy whether or not it names them, e.g. the engine's
   * capability ('transcript'). Unknown names throw: that is a configuration error, not bad data.
   */
  require?: readonly string[];
}

export const MASTER = 'master';

/** Folder of the package's vtn-standard schemas: master.json plus `<contract>/<contract>.json`. */
export const VTN_SCHEMA_DIR = path.join(path.dirname(require.resolve('veritone-json-schemas/package.json')), 'schemas', 'vtn-standard');

/** The validation contracts the package ships, one per folder (includes 'aion', as its VALIDATORS do). */
export const VTN_CONTRACTS: readonly string[] = Object.freeze(
  fs
    .readdirSync(VTN_SCHEMA_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(contractFile(entry.name)))
    .map((entry) => entry.name)
    .sort(),
);

// master.json allows a Structured Data Object's schema id in place of a contract name. Those
// schemas live in the customer's Veritone org, not in the package, so they cannot be checked here.
const SDO_SCHEMA_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const BEST_PATH_MESSAGE = 'there should be one and only one bestPath in a transcription lattice';

/**
 * `requireBestPath`, as the package's src/index.js defines it for ajv 6: the words of a lattice
 * must hold exactly one item whose `bestPath` is the boolean true. Theirs applies to any data
 * and throws on a non-array; here it applies to arrays only, since master.json already reports
 * a non-array `words` through its `type`. The schema value is ignored there (master.json only
 * ever says `true`); here `false` turns the check off.
 */
const validateBestPath: SchemaValidateFunction = (enabled: boolean, words: unknown[]) => {
  if (!enabled) return true;
  let bestPaths = 0;
  for (const word of words) {
    if (typeof word === 'object' && word !== null && (word as { bestPath?: unknown }).bestPath === true) bestPaths++;
  }
  if (bestPaths === 1) return true;
  validateBestPath.errors = [{ keyword: 'requireBestPath', message: `${BEST_PATH_MESSAGE}, found ${bestPaths}`, params: { bestPaths } }];
  return false;
};

interface Compiled {
  ajv: Ajv;
  validators: Map<string, ValidateFunction>;
}

let compiled: Compiled | undefined;

function contractFile(contract: string): string {
  return path.join(VTN_SCHEMA_DIR, contract, `${contract}.json`);
}

function readSchema(file: string): { $id: string } & Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as { $id: string } & Record<string, unknown>;
}

/** One ajv for the process: schemas are added on first use, each compiled the first time it is needed. */
function schemas(): Compiled {
  if (compiled) return compiled;
  const ajv = new Ajv({
    allErrors: true, // as Veritone runs it: report every problem, not the first
    // The schemas are valid draft-07 written for ajv 6: a 1-tuple `items` in validationContracts
    // and `required` without `type` in allOf branches. Strict mode would only log about them.
    strictTuples: false,
    strictTypes: false,
  });
  addFormats(ajv); // only `date-time` is used; full mode also rejects impossible dates
  ajv.addKeyword({ keyword: 'requireBestPath', type: 'array', schemaType: 'boolean', errors: true, validate: validateBestPath });
  // master first: the contract schemas name it as their `$schema` and `$ref` its definitions.
  const master = readSchema(path.join(VTN_SCHEMA_DIR, 'master.json'));
  ajv.addSchema(master, MASTER);
  for (const contract of VTN_CONTRACTS) ajv.addSchema(readSchema(contractFile(contract)), contract);
  compiled = { ajv, validators: new Map() };
  return compiled;
}

function validatorFor(name: string): ValidateFunction {
  const { ajv, validators } = schemas();
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.getSchema(name);
    if (!validate) throw new Error(`VTN schema '${name}' is not in ${VTN_SCHEMA_DIR}`);
    validators.set(name, validate);
  }
  return validate;
}

/**
 * Checks one engine output against master.json and each contract it names (plus `options.require`).
 * A name that is neither a shipped contract nor an SDO schema id is itself an issue.
 */
export function validateVtn(output: unknown, options: VtnOptions = {}): VtnCheck {
  const issues: VtnIssue[] = [];
  const contracts = new Set<string>();
  for (const name of options.require ?? []) {
    if (!VTN_CONTRACTS.includes(name)) {
      throw new Error(`unknown VTN validation contract '${name}'; the package ships: ${VTN_CONTRACTS.join(', ')}`);
    }
    contracts.add(name);
  }
  if (typeof output === 'object' && output !== null && !Array.isArray(output) && 'validationContracts' in output) {
    declaredContracts(output.validationContracts, contracts, issues);
  }

  const checked = [MASTER, ...contracts];
  for (const name of checked) {
    const validate = validatorFor(name);
    if (!validate(output)) collectIssues(validate.errors ?? [], name, output, issues);
  }
  return { valid: issues.length === 0, issues, checked };
}

function declaredContracts(declared: unknown, into: Set<string>, issues: VtnIssue[]): void {
  if (!Array.isArray(declared)) {
    issues.push({ path: 'validationContracts', message: 'must be an array of validation contract names', contract: MASTER });
    return;
  }
  declared.forEach((name: unknown, i) => {
    const at = `validationContracts[${i}]`;
    if (typeof name !== 'string') {
      issues.push({ path: at, message: 'must be a validation contract name (string)', contract: MASTER });
    } else if (VTN_CONTRACTS.includes(name)) {
      into.add(name);
    } else if (!SDO_SCHEMA_ID.test(name)) {
      issues.push({
        path: at,
        message: `unknown validation contract '${name}' (known: ${VTN_CONTRACTS.join(', ')})`,
        contract: MASTER,
      });
    }
  });
}

function collectIssues(errors: ErrorObject[], contract: string, output: unknown, issues: VtnIssue[]): void {
  for (const error of errors) {
    // "must match "then" schema" only repeats the errors of the `then` branch reported beside it.
    if (error.keyword === 'if') continue;
    issues.push({ path: jsonPath(error.instancePath, output), message: issueMessage(error), contract });
  }
}

function issueMessage(error: ErrorObject): string {
  const message = error.message ?? `fails ${error.keyword}`;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `must NOT have additional property '${String(params.additionalProperty)}'`;
    case 'enum':
      return `${message}: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    default:
      return message;
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * ajv's instancePath (a JSON pointer, `/series/2/words/0`) as a readable path (`series[2].words[0]`).
 * The output itself decides whether a segment is an array index or a key: objects such as
 * `structuredData` may have numeric-looking keys.
 */
export function jsonPath(pointer: string, data: unknown): string {
  if (pointer === '') return '';
  let out = '';
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[segment] : undefined;
  }
  return out;
}

const DESCRIBED_ISSUES = 3;

/**
 * One line for a person (a task's failureMsg, a node status): the first few distinct issues,
 * e.g. `output.series[2].words[0].word: must be string (contract transcript)`.
 */
export function describeVtnIssues(issues: readonly VtnIssue[]): string {
  // The same definition in master.json is often checked by several contracts: say it once.
  const distinct = new Map<string, { where: string; message: string; contracts: string[] }>();
  for (const issue of issues) {
    const where = issue.path === '' ? 'output' : issue.path.startsWith('[') ? `output${issue.path}` : `output.${issue.path}`;
    const key = `${where}\u0000${issue.message}`;
    const seen = distinct.get(key);
    if (!seen) distinct.set(key, { where, message: issue.message, contracts: [issue.contract] });
    else if (!seen.contracts.includes(issue.contract)) seen.contracts.push(issue.contract);
  }
  const lines = [...distinct.values()].map(({ where, message, contracts }) => `${where}: ${message} (${contracts.length === 1 ? 'contract' : 'contracts'} ${contracts.join(', ')})`);
  const more = lines.length - DESCRIBED_ISSUES;
  return lines.slice(0, DESCRIBED_ISSUES).join('; ') + (more > 0 ? `; and ${more} more` : '');
}
