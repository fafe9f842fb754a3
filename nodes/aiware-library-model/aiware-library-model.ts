// aiware-library-model: makes sure a library-run task's model is on disk under
// libraryModelDirectory (fetched once, under a lock every engine instance respects, published
// whole), or stores a library-train task's model there; `msg.aiware.model` says where it is.
import { randomUUID } from 'node:crypto';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  ProtocolError,
  ensureModel,
  lock,
  modelLocation,
  publish,
  readModelInfo,
  storeModel,
  type ModelLocation,
  type ModelReport,
  type ModelSource,
  type HeldLock,
  type Task,
  type TaskEnd,
} from '../../core';
import { packRuntime } from '../shared/runtime';
import { NodeBase } from '../shared/node-base';
import { serveTasks } from '../shared/task-node';
import { status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

const MODEL_ACTIONS = ['fetch', 'store'] as const;
const MODEL_SOURCES = ['url', 'flow'] as const;

interface LibraryModelDef extends NodeDef {
  /** `fetch` (library-run) or `store` (library-train). */
  action?: (typeof MODEL_ACTIONS)[number];
  /** Where a missing model comes from: a URL, or the flow (second output, then back in). */
  source?: (typeof MODEL_SOURCES)[number];
  /** The model's URL; `{name}` is replaced by the task's field or payload value of that name. */
  url?: string;
  /** Message property with the model's bytes (store, and a flow's download coming back). */
  property?: string;
  /** Used when a task has no libraryModelDirectory (a plain Node-RED). */
  directory?: string;
}

interface ModelMessage extends NodeMessage {
  modelUrl?: unknown;
  aiware?: { model?: Partial<ModelReport> & { lease?: string; missing?: boolean } } & Record<string, unknown>;
}

interface Lease {
  held: HeldLock;
  location: ModelLocation;
  taskId: string;
}

/** `{name}` in a URL template, from the task's fields, then its payload; URL-valued fields go in as they are. */
function fillTemplate(template: string, task: Task): string {
  return template.replace(/\{([A-Za-z][\w-]*)\}/g, (_match, name: string) => {
    const value = (task.fields as Record<string, unknown>)[name] ?? task.fields.payload?.[name];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ProtocolError(400, `the model URL names {${name}}, which the task does not have`, { field: 'url', reason: 'invalid_data' });
    }
    const text = String(value);
    if (text === '') throw new ProtocolError(400, `the model URL names {${name}}, which the task does not have`, { field: 'url', reason: 'invalid_data' });
    return /^https?:\/\//.test(text) ? text.replace(/\/+$/, '') : encodeURIComponent(text);
  });
}

/** The model's bytes from a message property: a Buffer, a string (UTF-8), or any other value as JSON. */
function modelBytes(value: unknown, property: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value === undefined || value === null) {
    throw new ProtocolError(400, `msg.${property} is empty: set it to the model (a Buffer, a string, or a JSON value)`, { field: property, reason: 'invalid_data' });
  }
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  function LibraryModelNode(this: Node, config: LibraryModelDef): void {
    const base = new NodeBase(RED, this, config);
    const action = base.oneOf('action', config.action, MODEL_ACTIONS) ?? 'fetch';
    const source = base.oneOf('source', config.source, MODEL_SOURCES) ?? 'url';
    const property = base.messageProperty('property', config.property);
    const board = base.board;
    // Locks this node holds while the flow downloads a model (source `flow`), by lease id.
    const leases = new Map<string, Lease>();

    const releaseLease = (id: string): void => {
      const lease = leases.get(id);
      if (!lease) return;
      leases.delete(id);
      void lease.held.release().catch(() => undefined);
    };
    // A task that ends while the flow still downloads its model frees the lock for the next one.
    const onEnd = (end: TaskEnd): void => {
      for (const [id, lease] of leases) if (lease.taskId === end.task.id) releaseLease(id);
    };
    pack.registry.on('end', onEnd);
    base.onClose(() => {
      pack.registry.off('end', onEnd);
      for (const id of [...leases.keys()]) releaseLease(id);
    });

    const urlSource = (task: Task, msg: ModelMessage) => (): ModelSource => {
      const template = typeof msg.modelUrl === 'string' && msg.modelUrl !== '' ? msg.modelUrl : (config.url ?? '').trim();
      if (template === '') throw new ProtocolError(400, RED._('aiware-library-model.errors.noUrl'), { field: 'url', reason: 'invalid_data' });
      const url = fillTemplate(template, task);
      // The task's token goes only to aiWARE's own API, never to another host.
      const headers: Record<string, string> = {};
      try {
        if (task.fields.token && task.fields.veritoneApiBaseUrl && new URL(url).origin === new URL(task.fields.veritoneApiBaseUrl).origin) {
          headers.Authorization = `Bearer ${task.fields.token}`;
        }
      } catch {
        // a URL that does not parse is refused by the download itself, with the reason
      }
      return { kind: 'url', url, headers };
    };

    serveTasks<ModelMessage>(base, pack, {
      onInput(msg, task, send) {
        const ready = (model: ModelReport, text: string): void => {
          const aiware = msg.aiware ?? {};
          aiware.model = model;
          msg.aiware = aiware;
          board.set(() => status.done(text));
          send([msg, null]);
        };
        const options = { deadline: task.deadline };
        const lease = msg.aiware?.model?.lease;
        if (lease !== undefined && leases.has(lease)) {
          // The flow's download comes back: publish it under the lock taken before it went out.
          const held = leases.get(lease)!;
          const data = modelBytes(RED.util.getMessageProperty(msg, property), property);
          board.set(() => status.inFlight(RED._('aiware-library-model.status.storing')));
          return publish(held.location, { kind: 'data', data, source: 'flow' }, options)
            .finally(() => releaseLease(lease))
            .then((info) => ready({ ...held.location, ...info, fetched: true }, RED._('aiware-library-model.status.fetched', { size: info.size })));
        }
        if (lease !== undefined) throw new ProtocolError(409, RED._('aiware-library-model.errors.staleLease'), { reason: 'internal_error' });
        const location = modelLocation(task.fields, task.fields.payload ?? {}, config.directory?.trim());
        if (action === 'store') {
          const data = modelBytes(RED.util.getMessageProperty(msg, property), property);
          board.set(() => status.inFlight(RED._('aiware-library-model.status.storing')));
          return storeModel(location, data, 'training', options).then((model) => {
            // Reported on the task's next heartbeat, for whoever watches the training job.
            task.update({ infoMsg: RED._('aiware-library-model.status.storedInfo', { id: model.libraryEngineModelId, size: model.size, path: model.path }) });
            ready(model, RED._('aiware-library-model.status.stored', { size: model.size }));
          });
        }
        board.set(() => status.inFlight(RED._('aiware-library-model.status.fetching')));
        if (source === 'url') {
          return ensureModel(location, urlSource(task, msg), options).then((model) =>
            ready(model, model.fetched ? RED._('aiware-library-model.status.fetched', { size: model.size }) : RED._('aiware-library-model.status.present')),
          );
        }
        return readModelInfo(location).then(async (present) => {
          const held = present ? undefined : await lock(location, options);
          const info = present ?? (held ? undefined : await readModelInfo(location));
          if (info) {
            ready({ ...location, ...info, fetched: false }, RED._('aiware-library-model.status.present'));
            return;
          }
          if (!held) throw new ProtocolError(500, `${location.directory} is neither there nor lockable`, { reason: 'file_write_error' });
          if (base.closed) {
            await held.release();
            throw new ProtocolError(503, 'the node was closed', { reason: 'internal_error' });
          }
          const id = randomUUID();
          leases.set(id, { held, location, taskId: task.id });
          if (!task.isOpen) releaseLease(id);
          const aiware = msg.aiware ?? {};
          aiware.model = { ...location, lease: id, missing: true };
          msg.aiware = aiware;
          board.set(() => status.waiting(RED._('aiware-library-model.status.download')));
          send([null, msg]);
        });
      },
    });
  }

  RED.nodes.registerType(NODE_TYPES.libraryModel, LibraryModelNode);
};
