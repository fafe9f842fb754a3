// aiware-keys: gets or sets a key shared by the chunks of a job (or of a task) through Engine
// Toolkit's key proxy at the task's `redisETUrl`; a missing key leaves by the second output.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  ProtocolError,
  LocalKeys,
  MemoryKeyStore,
  ProxyKeys,
  checkTTL,
  encodeKeyValue,
  KEY_SCOPES,
  keyPath,
  inSpan,
  parentFor,
  type KeyBackend,
  type KeyScope,
  type PackRuntime,
  type Task,
} from '../../core';
import { packRuntime } from '../shared/runtime';
import { NodeBase } from '../shared/node-base';
import { serveTasks } from '../shared/task-node';
import { status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

const KEY_ACTIONS = ['get', 'set'] as const;

interface KeysDef extends NodeDef {
  action?: (typeof KEY_ACTIONS)[number];
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
    const base = new NodeBase(RED, this, config);
    const action = base.oneOf('action', config.action, KEY_ACTIONS) ?? 'get';
    const scope = base.oneOf('scope', config.scope, KEY_SCOPES) ?? 'job';
    const property = base.messageProperty('property', config.property);
    const board = base.board;
    let warnedLocal = false;

    const backendFor = (task: Task): KeyBackend => {
      const url = task.fields.redisETUrl;
      if (url) return new ProxyKeys(url, pack.registry.client);
      if (config.localStore !== true) {
        throw new ProtocolError(400, RED._('aiware-keys.errors.noRedis'), { field: 'redisETUrl', reason: 'system_dependency_missing' });
      }
      if (!warnedLocal) {
        warnedLocal = true;
        base.node.warn(RED._('aiware-keys.errors.localStore'));
      }
      let store = localStores.get(pack);
      if (!store) localStores.set(pack, (store = new MemoryKeyStore()));
      return new LocalKeys(store);
    };

    serveTasks<KeysMessage>(base, pack, {
      onInput(msg, task, send) {
        const key = config.key?.trim() || (typeof msg.key === 'string' ? msg.key : undefined);
        if (key === undefined) throw new ProtocolError(400, RED._('aiware-keys.errors.noKey'), { field: 'key', reason: 'invalid_data' });
        const where = keyPath(scope, task.fields, key);
        const backend = backendFor(task);
        const local = backend.kind === 'local' ? RED._('aiware-keys.status.local') : '';
        const parent = parentFor(task.traceContext);
        const attributes = { 'aiware.key.scope': scope, 'aiware.key.store': backend.kind };
        if (action === 'set') {
          const ttl = checkTTL(msg.ttlInSeconds ?? config.ttl);
          const text = encodeKeyValue(RED.util.getMessageProperty(msg, property));
          board.set(() => status.inFlight(RED._('aiware-keys.status.setting', { key }) + local));
          const set = inSpan(parent, 'aiware keys set', attributes, () => backend.set(where, text, ttl, task.deadline));
          return set.then(() => {
            msg.aiwareKey = { key, scope, store: backend.kind };
            board.set(() => status.done(RED._('aiware-keys.status.set', { key }) + local));
            send([msg, null]);
          });
        }
        board.set(() => status.inFlight(RED._('aiware-keys.status.getting', { key }) + local));
        const got = inSpan(parent, 'aiware keys get', attributes, async (span) => {
          const answer = await backend.get(where, task.deadline);
          span?.setAttribute('aiware.key.found', answer.found);
          return answer;
        });
        return got.then((answer) => {
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
      },
    });
  }

  RED.nodes.registerType(NODE_TYPES.keys, KeysNode);
};
