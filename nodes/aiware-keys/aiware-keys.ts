// aiware-keys: gets or sets a key shared by the chunks of a job (or of a task) through Engine
// Toolkit's key proxy at the task's `redisETUrl`; a missing key leaves by the second output.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ProtocolError, LocalKeys, MemoryKeyStore, ProxyKeys, checkTTL, encodeKeyValue, isKeyScope, keyPath, type KeyBackend, type KeyScope, type PackRuntime, type Task } from '../../core';
import { packRuntime } from '../shared/runtime';
import { StatusBoard, status } from '../shared/status';
import { failTaskInput, taskOfInput } from '../shared/node-failure';
import { NODE_TYPES } from '../shared/types';

interface KeysDef extends NodeDef {
  action?: 'get' | 'set';
  scope?: KeyScope;
  /** The key's name; empty: from msg.key. */
  key?: string;
  /** Message property the value is read from (set) or written to (get). Default `payload`. */
  property?: string;
  /** Seconds a set key lives; empty: ET's default (24 h). */
  ttl?: string;
  /** With no redisETUrl on the task: keep keys in this process instead of failing. */
  localStore?: boolean;
}

interface KeysMessage extends NodeMessage {
  key?: unknown;
  ttlInSeconds?: unknown;
  aiwareKey?: { key: string; scope: KeyScope; found?: boolean; store: 'proxy' | 'local' };
}

// The local stand-in, one per pack runtime (so per Node-RED): keys live as long as the process.
const localStores = new WeakMap<PackRuntime, MemoryKeyStore>();

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  function KeysNode(this: Node, config: KeysDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const board = new StatusBoard(node);
    const action = config.action === 'set' ? 'set' : 'get';
    const scope: KeyScope = isKeyScope(config.scope) ? config.scope : 'job';
    const property = (config.property ?? '').trim() || 'payload';
    const label = config.name ? `${config.name} (${NODE_TYPES.keys} ${node.id})` : `${NODE_TYPES.keys} ${node.id}`;
    let warnedLocal = false;
    let closed = false;

    const backendFor = (task: Task): KeyBackend => {
      const url = task.fields.redisETUrl;
      if (url) return new ProxyKeys(url, pack.registry.client);
      if (config.localStore !== true) {
        throw new ProtocolError(400, RED._('aiware-keys.errors.noRedis'), { field: 'redisETUrl', reason: 'system_dependency_missing' });
      }
      if (!warnedLocal) {
        warnedLocal = true;
        node.warn(RED._('aiware-keys.errors.localStore'));
      }
      let store = localStores.get(pack);
      if (!store) localStores.set(pack, (store = new MemoryKeyStore()));
      return new LocalKeys(store);
    };

    node.on('input', (message: NodeMessage, send: (msgs: (NodeMessage | null)[]) => void, done: (err?: Error) => void) => {
      const msg = message as KeysMessage;
      const task = taskOfInput(pack.registry, msg, board, done);
      if (!task) return;
      const fail = (err: unknown): void => failTaskInput(task, label, board, done, err);
      let work: Promise<void>;
      try {
        const key = config.key?.trim() || (typeof msg.key === 'string' ? msg.key : undefined);
        if (key === undefined) throw new ProtocolError(400, RED._('aiware-keys.errors.noKey'), { field: 'key', reason: 'invalid_data' });
        const where = keyPath(scope, task.fields, key);
        const backend = backendFor(task);
        const local = backend.kind === 'local' ? RED._('aiware-keys.status.local') : '';
        if (action === 'set') {
          const ttl = checkTTL(msg.ttlInSeconds ?? config.ttl);
          const text = encodeKeyValue(RED.util.getMessageProperty(msg, property));
          board.set(() => status.inFlight(RED._('aiware-keys.status.setting', { key }) + local));
          work = backend.set(where, text, ttl, task.deadline).then(() => {
            msg.aiwareKey = { key, scope, store: backend.kind };
            board.set(() => status.done(RED._('aiware-keys.status.set', { key }) + local));
            send([msg, null]);
          });
        } else {
          board.set(() => status.inFlight(RED._('aiware-keys.status.getting', { key }) + local));
          work = backend.get(where, task.deadline).then((answer) => {
            msg.aiwareKey = { key, scope, found: answer.found, store: backend.kind };
            if (answer.found) {
              RED.util.setMessageProperty(msg, property, answer.value, true);
              board.set(() => status.done(RED._('aiware-keys.status.found', { key }) + local));
              send([msg, null]);
            } else {
              board.set(() => status.done(RED._('aiware-keys.status.missing', { key }) + local));
              send([null, msg]);
            }
          });
        }
      } catch (err) {
        fail(err);
        return;
      }
      work.then(
        () => done(),
        (err: unknown) => {
          // A node closed meanwhile (redeploy) still ends its message once.
          if (closed) done(err as Error);
          else fail(err);
        },
      );
    });

    node.on('close', () => {
      closed = true;
      board.close();
    });
  }

  RED.nodes.registerType(NODE_TYPES.keys, KeysNode);
};
