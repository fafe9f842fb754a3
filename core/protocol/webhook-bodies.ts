// The heartbeat and result body rules: one draft-07 schema each, built from ./protocol's
// vocabulary, and the checks compiled from them that the nodes and the toolkit emulator share.
import Ajv, { type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { FAILURE_REASONS, HEARTBEAT_COUNTERS, HEARTBEAT_STATUSES, type HeartbeatCounter, type HeartbeatStatus, type Heartbeat, type ResultBody } from './constants';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

// Each definition's `description` completes "<field> must be …" in a problem; a `then` branch's
// completes "<field> is required …". Integers stay within the safe range, as Number.isSafeInteger.
const TEXT = { type: 'string', description: 'a string' } as const;

const counterProperties = Object.fromEntries(HEARTBEAT_COUNTERS.map((name) => [name, { $ref: '#/definitions/count' }])) as Record<HeartbeatCounter, { $ref: string }>;

/** The heartbeat body: a status, counters, messages, and a failureReason when the status is failed. */
export const HEARTBEAT_SCHEMA = {
  $schema: DRAFT_07,
  $id: 'https://github.com/aiware-nodered/node-red-aiware/schemas/heartbeat.json',
  title: 'aiWARE engine heartbeat',
  type: 'object',
  definitions: {
    status: { type: 'string', enum: HEARTBEAT_STATUSES, description: `one of ${HEARTBEAT_STATUSES.join(', ')}` },
    failureReason: { type: 'string', enum: FAILURE_REASONS, description: 'one of the failure reasons' },
    count: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'a non-negative integer' },
    text: TEXT,
  },
  properties: {
    status: { $ref: '#/definitions/status' },
    failureReason: { $ref: '#/definitions/failureReason' },
    ...counterProperties,
    infoMsg: { $ref: '#/definitions/text' },
    failureMsg: { $ref: '#/definitions/text' },
  },
  required: ['status'],
  if: { properties: { status: { const: 'failed' } }, required: ['status'] },
  then: { required: ['failureReason'], description: 'when status is failed' },
} as const satisfies JSONSchemaType<Heartbeat>;

/** The result body: the output, its running index from 1, its offsets and the task's chunkContext. */
export const RESULT_SCHEMA = {
  $schema: DRAFT_07,
  $id: 'https://github.com/aiware-nodered/node-red-aiware/schemas/result.json',
  title: 'aiWARE engine result',
  type: 'object',
  definitions: {
    index: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'an integer from 1' },
    offset: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, description: 'an integer' },
    // The VTN-standard schemas check what is inside (./vtn); the body only needs an object.
    output: { type: 'object', required: [], description: 'a VTN-standard JSON object' },
    text: TEXT,
  },
  properties: {
    index: { $ref: '#/definitions/index' },
    output: { $ref: '#/definitions/output' },
    chunkContext: { $ref: '#/definitions/text' },
    startOffsetMs: { $ref: '#/definitions/offset' },
    endOffsetMs: { $ref: '#/definitions/offset' },
  },
  required: ['index', 'output'],
} as const satisfies JSONSchemaType<ResultBody & { output: object }>; // ajv reads an `unknown` field as optional

let ajv: Ajv | undefined;

// Each check is compiled at its first use, not at load (the nodes load with every engine's start),
// and on its own: the heartbeat node's first message compiles only the status and counter rules.
function onFirstUse<T>(schema: object): () => ValidateFunction<T> {
  let validate: ValidateFunction<T> | undefined;
  return () => {
    // verbose: each error carries its schema (for the description) and the value it saw. The
    // schemas are typed constants, checked against draft-07 by the tests, not at every start.
    ajv ??= new Ajv({ allErrors: true, verbose: true, validateSchema: false });
    return (validate ??= ajv.compile<T>(schema));
  };
}

const heartbeat = onFirstUse<Heartbeat>(HEARTBEAT_SCHEMA);
const result = onFirstUse<ResultBody>(RESULT_SCHEMA);
const status = onFirstUse<HeartbeatStatus>(HEARTBEAT_SCHEMA.definitions.status);
const count = onFirstUse<number>(HEARTBEAT_SCHEMA.definitions.count);
const offset = onFirstUse<number>(RESULT_SCHEMA.definitions.offset);

/** Problems that make ET reject a heartbeat (400), one per field; none for a good one. */
export function heartbeatProblems(body: unknown): string[] {
  return problems(heartbeat(), body);
}

/** Problems that make ET reject a result (400), one per field; none for a good one. */
export function resultProblems(body: unknown): string[] {
  return problems(result(), body);
}

/** A heartbeat status, by the heartbeat schema. */
export function isHeartbeatStatus(value: unknown): value is HeartbeatStatus {
  return status()(value);
}

/** A value a heartbeat counter (bytesRead, bytesWritten, messagesWritten) may have. */
export function isHeartbeatCount(value: unknown): value is number {
  return count()(value);
}

/** A value a result's startOffsetMs or endOffsetMs may have. */
export function isResultOffset(value: unknown): value is number {
  return offset()(value);
}

function problems(validate: ValidateFunction, body: unknown): string[] {
  if (validate(body)) return [];
  const found = new Map<string, string>();
  for (const error of validate.errors ?? []) {
    // "must match "then" schema" only repeats the error of the `then` branch reported beside it.
    if (error.keyword === 'if') continue;
    // The schemas are flat: an instancePath is '' (the body) or '/<field>'.
    const field = error.keyword === 'required' ? String(error.params.missingProperty) : error.instancePath.slice(1);
    // One problem per field: an index of 0.5 fails both `type` and `minimum`.
    if (!found.has(field)) found.set(field, problem(error, field));
  }
  // In the schema's order of fields, whichever keyword found the problem.
  const order = Object.keys((validate.schema as { properties: object }).properties);
  return [...found].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([, message]) => message);
}

function problem(error: ErrorObject, field: string): string {
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  if (error.keyword === 'required') return `${field} is required${description ? ` ${description}` : ''}`;
  if (field === '') return `body must be a JSON object, got ${shown(error.data)}`;
  return `${field} must be ${description ?? error.message ?? `valid by ${error.keyword}`}, got ${shown(error.data)}`;
}

// Scalars as JSON; objects and arrays by kind, as they may be large.
function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- null, arrays and objects returned above: only scalars get here
  return String(value);
}
