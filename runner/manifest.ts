// An engine's manifest.json as it bears on a Node-RED build: aiWARE starts the generic
// node-red-runner image for an engine whose manifest says `"runtime": "nodeRed"` (the toolkit
// document), and its `engineMode` (chunk, stream or batch, Veritone's field) says how aiWARE
// hands it work, which must be how the flow's aiware-process-in takes it.
import * as fs from 'node:fs';
import { ENGINE_TYPES, RESPOND_MODES, type EngineType, type RespondMode } from '@aiware-nodered/node-red-aiware';

export const NODE_RED_RUNTIME = 'nodeRed';

/** What the check reads of a manifest. */
export interface EngineManifest {
  file: string;
  /** `runtime`, as given. */
  runtime?: unknown;
  /** The engine type: `engineMode` (Veritone's manifest field), else `engineType`. */
  engineType?: EngineType;
  /** Which field gave it. */
  engineTypeField?: 'engineMode' | 'engineType';
  /** `respond` (sync, async): how a chunk engine answers; not a Veritone field, read when given. */
  respond?: RespondMode;
}

export interface ManifestProblem {
  where: string;
  message: string;
}

/** Reads a manifest: what it says, and what is wrong with it (unreadable, not an object, unknown values). */
export function readManifest(file: string): { manifest?: EngineManifest; problems: ManifestProblem[] } {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : err instanceof SyntaxError ? `is not JSON: ${err.message}` : `cannot be read: ${(err as Error).message}`;
    return { problems: [{ where: 'manifest', message: why }] };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { problems: [{ where: 'manifest', message: 'must be a JSON object' }] };
  const object = json as Record<string, unknown>;
  const problems: ManifestProblem[] = [];
  const manifest: EngineManifest = { file, runtime: object.runtime };
  if (object.runtime !== NODE_RED_RUNTIME) {
    problems.push({
      where: 'manifest.runtime',
      message: `is ${object.runtime === undefined ? 'missing' : JSON.stringify(object.runtime)}: a Node-RED engine's manifest says "runtime": "${NODE_RED_RUNTIME}", or aiWARE runs it as an engine of its own image, not with the node-red-runner image and this build`,
    });
  }
  const types: ('engineMode' | 'engineType')[] = ['engineMode', 'engineType'];
  for (const field of types) {
    const value = object[field];
    if (value === undefined) continue;
    if (!(ENGINE_TYPES as readonly unknown[]).includes(value)) {
      problems.push({ where: `manifest.${field}`, message: `is ${JSON.stringify(value)}: it must be one of ${ENGINE_TYPES.join(', ')}` });
      continue;
    }
    if (manifest.engineType === undefined) {
      manifest.engineType = value as EngineType;
      manifest.engineTypeField = field;
    } else if (manifest.engineType !== value) {
      problems.push({ where: `manifest.${field}`, message: `is ${JSON.stringify(value)} but engineMode is ${JSON.stringify(manifest.engineType)}: give one engine type` });
    }
  }
  if (object.respond !== undefined) {
    if ((RESPOND_MODES as readonly unknown[]).includes(object.respond)) manifest.respond = object.respond as RespondMode;
    else problems.push({ where: 'manifest.respond', message: `is ${JSON.stringify(object.respond)}: it must be one of ${RESPOND_MODES.join(', ')}` });
  }
  return { manifest, problems };
}
