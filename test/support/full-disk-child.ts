// Run as a child inside its own mount namespace, with `dir` a tiny tmpfs: fetches a model larger
// than the disk into it and prints how that ended as JSON (the reason, the message, what is left).
import * as fs from 'node:fs';
import { ensureModel, modelLocation, parseProcessFields, ProtocolError } from '../../core';

async function main(dir: string, url: string): Promise<void> {
  const { fields } = parseProcessFields({ libraryModelDirectory: dir, libraryId: 'lib-full', libraryEngineModelId: 'model-full' });
  const location = modelLocation(fields);
  try {
    await ensureModel(location, () => ({ kind: 'url', url }), { deadline: Date.now() + 10_000 });
    process.stdout.write(JSON.stringify({ ok: true }));
  } catch (err) {
    const failure = err instanceof ProtocolError ? err : undefined;
    process.stdout.write(JSON.stringify({ ok: false, reason: failure?.reason, message: (err as Error).message, left: fs.readdirSync(`${dir}/lib-full`) }));
  }
}

void main(process.argv[2], process.argv[3]);
