// Library engine models to download, as aiWARE would serve them to an engine: GET
// `{emulator}/models/{libraryId}/{libraryEngineModelId}` answers the registered model's bytes
// (from memory or a file), 404 for any other. Each download is counted.
import type * as http from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { errorMessage, sendJson } from '@aiware-nodered/node-red-aiware';

export type ModelData = { data: Buffer | string } | { path: string };

export const MODEL_ROUTE_PREFIX = '/models/';

const ROUTE = /^\/models\/([^/]+)\/([^/]+)$/;

export class ModelServer {
  private readonly models = new Map<string, ModelData>();
  private readonly counts = new Map<string, number>();

  private static key(libraryId: string, libraryEngineModelId: string): string {
    return `${libraryId}/${libraryEngineModelId}`;
  }

  /** The URL a model is served at, under the emulator's `base`. */
  static urlFor(base: string, libraryId: string, libraryEngineModelId: string): string {
    return `${base}${MODEL_ROUTE_PREFIX}${encodeURIComponent(libraryId)}/${encodeURIComponent(libraryEngineModelId)}`;
  }

  /** Serves the model (undefined stops serving it: the platform is "offline" for it). */
  set(libraryId: string, libraryEngineModelId: string, model: ModelData | undefined): void {
    const key = ModelServer.key(libraryId, libraryEngineModelId);
    if (model === undefined) this.models.delete(key);
    else this.models.set(key, model);
  }

  /** GETs answered 200 for the model so far. */
  downloads(libraryId: string, libraryEngineModelId: string): number {
    return this.counts.get(ModelServer.key(libraryId, libraryEngineModelId)) ?? 0;
  }

  async serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    req.resume();
    const match = ROUTE.exec(pathname);
    let key: string | undefined;
    try {
      key = match ? ModelServer.key(decodeURIComponent(match[1]), decodeURIComponent(match[2])) : undefined;
    } catch {
      key = undefined;
    }
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      sendJson(res, 405, { error: 'models take GET' });
      return;
    }
    const model = key === undefined ? undefined : this.models.get(key);
    if (key === undefined || model === undefined) {
      sendJson(res, 404, { error: `no library engine model at ${pathname}` });
      return;
    }
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if ('data' in model) {
      const data = typeof model.data === 'string' ? Buffer.from(model.data, 'utf8') : model.data;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
      res.end(data);
      return;
    }
    let size: number;
    try {
      size = (await stat(model.path)).size;
    } catch (err) {
      sendJson(res, 404, { error: `cannot read the model: ${errorMessage(err)}` });
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    if (size === 0) {
      res.end();
      return;
    }
    pipeline(createReadStream(model.path), res, () => undefined);
  }
}
