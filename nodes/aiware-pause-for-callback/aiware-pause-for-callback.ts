// aiware-pause-for-callback: hands a task's work to a slow outside service and resumes the flow
// exactly once when it calls back (docs/pause-for-callback.md). The node maps Node-RED's world onto core/pause/service.ts.
import type { AddressInfo } from 'node:net';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ProtocolError, errorMessage, unreachableBase, type WaitError, type PauseNode, restoreMessage, saveMessage, type Task, type TaskEnder, type WaitRecord } from '../../core';
import { packRuntime } from '../shared/runtime';
import { describeTask, type ChunkInfo } from '../shared/message';
import { NodeBase } from '../shared/node-base';
import { serveTasks, type Send } from '../shared/task-node';
import { status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

const PAUSE_MODES = ['auto', 'platform', 'local'] as const;
type PauseMode = (typeof PAUSE_MODES)[number];

interface PauseDef extends NodeDef {
  mode?: PauseMode;
  /** Seconds; 0 or blank: as long as the task's maxTTL allows. */
  timeout?: string | number;
  /** Public base of the local callback URLs. */
  baseUrl?: string;
  /** Wake-up address for the platform mode when ET gives no externalCallbackWebhook. */
  wakeupUrl?: string;
  /** Properties of msg to save, comma-separated; blank: all of it. */
  save?: string;
  wires?: string[][];
}

const DEFAULT_TIMEOUT_SECONDS = 3600;

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  /** The base of the local callback URLs when the node sets none: the runner's, else this Node-RED's. */
  function defaultBaseUrl(): string {
    return pack.settings.callbackBaseUrl || localBaseUrl(RED);
  }

  function PauseForCallbackNode(this: Node, config: PauseDef): void {
    const base = new NodeBase(RED, this, config);
    const node = base.node;
    const board = base.board;
    const mode: PauseMode = base.oneOf('mode', config.mode, PAUSE_MODES) ?? 'auto';
    const timeout = config.timeout === undefined || config.timeout === '' ? DEFAULT_TIMEOUT_SECONDS : Number(config.timeout);
    base.check('timeout', Number.isFinite(timeout) && timeout >= 0, RED._('aiware-pause-for-callback.errors.badTimeoutSetting', { value: String(config.timeout) }));
    const keep = (config.save ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const failureWired = (config.wires?.[2]?.length ?? 0) > 0;
    /** Shown beside the count: a capped timeout, a loopback address under ET. */
    let note = '';

    function showStatus(): void {
      board.set(() => {
        const count = pack.pauses.waiting(node.id);
        if (count === 0) return status.clear();
        return status.waiting(RED._('aiware-pause-for-callback.status.waiting', { count }) + note);
      });
    }

    /** The message as it was saved, on the task it now belongs to. */
    function restored(wait: WaitRecord, task: Task): NodeMessage & Record<string, unknown> {
      const msg = restoreMessage(wait.message);
      const aiware = describeTask(task);
      const chunk = (msg.aiware as { chunk?: ChunkInfo } | undefined)?.chunk;
      if (chunk) aiware.chunk = chunk;
      msg.aiware = aiware;
      msg.pause = { id: wait.id, mode: wait.mode };
      if (typeof msg._msgid !== 'string') msg._msgid = RED.util.generateId();
      return msg;
    }

    const controller: PauseNode = {
      id: node.id,
      resume(wait, task, callback) {
        const msg = restored(wait, task);
        msg.callback = callback;
        node.send([null, msg, null]);
        // Output 2 wired to nothing: the flow has nothing of the task now.
        pack.flowEnd.handedOver(task, node);
      },
      failed(wait, task, error: WaitError) {
        if (!failureWired) return false;
        const msg = restored(wait, task);
        msg.error = { message: error.message, kind: error.kind, body: error.body, source: { id: node.id, type: node.type, name: node.name } };
        node.send([null, null, msg]);
        pack.flowEnd.handedOver(task, node);
        return true;
      },
      changed: showStatus,
    };

    void pack.pauses
      .register(controller)
      .then((count) => {
        if (count > 0) node.log(RED._('aiware-pause-for-callback.log.restored', { count }));
      })
      .catch((err: unknown) => {
        board.now(status.failed(RED._('aiware-pause-for-callback.status.restoreFailed')));
        node.error(RED._('aiware-pause-for-callback.errors.restore', { error: errorMessage(err) }));
      });

    function choose(task: Task): 'platform' | 'local' {
      if (mode !== 'auto') return mode;
      return task.fields.token && task.fields.veritoneApiBaseUrl ? 'platform' : 'local';
    }

    async function pause(msg: NodeMessage & Record<string, unknown>, task: Task, send: Send, by: TaskEnder): Promise<void> {
      // A flow's mistake, not the request's: the /process answer is a 500.
      if (task.isSync) throw new ProtocolError(500, RED._('aiware-pause-for-callback.errors.sync'), { reason: 'internal_error' });
      if (task.waiting) throw new ProtocolError(409, RED._('aiware-pause-for-callback.errors.alreadyWaiting', { wait: task.waiting }), { reason: 'internal_error' });
      // msg.aiware comes back from the task that resumes; only the chunk's description is its own.
      const saved = saveMessage(msg, keep, ['aiware']);
      const chunk = (msg.aiware as { chunk?: ChunkInfo } | undefined)?.chunk;
      if (chunk) saved.aiware = { chunk: { ...chunk } };
      const chosen = choose(task);

      if (chosen === 'local') {
        const baseUrl = (config.baseUrl ?? '').trim() || defaultBaseUrl();
        // The chunk file outlives a restart with the wait, not with the task.
        const files = task.tmpFiles.splice(0);
        let local;
        try {
          local = await pack.pauses.pauseLocal(task, controller, { baseUrl, timeoutSeconds: timeout, message: saved, files });
        } catch (err) {
          task.tmpFiles.push(...files);
          throw err;
        }
        note = local.capped ? RED._('aiware-pause-for-callback.status.capped') : '';
        if (unreachableBase(baseUrl, task.fields)) {
          note += RED._('aiware-pause-for-callback.status.loopback');
          node.warn(RED._('aiware-pause-for-callback.errors.loopback', { url: baseUrl }));
        }
        msg.callbackUrl = local.callbackUrl;
        msg.pause = {
          id: local.waitId,
          mode: 'local',
          callbackUrl: local.callbackUrl,
          progressUrl: local.progressUrl,
          failUrl: local.failUrl,
          expiresAt: new Date(local.expiresAt).toISOString(),
          capped: local.capped,
        };
        showStatus();
        send([msg, null, null]);
        return;
      }

      const platform = await pack.pauses.pausePlatform(task, controller, {
        wakeupUrl: (config.wakeupUrl ?? '').trim() || undefined,
        engineId: process.env.ENGINE_ID || undefined,
        timeoutSeconds: timeout,
        message: saved,
      });
      msg.callbackUrl = platform.callbackUrl;
      msg.pause = {
        id: platform.waitId,
        mode: 'platform',
        callbackUrl: platform.callbackUrl,
        failUrl: platform.failUrl,
        expiresAt: new Date(platform.expiresAt).toISOString(),
        stateIn: platform.stateIn,
      };
      board.set(() => status.done(RED._('aiware-pause-for-callback.status.paused')));
      send([msg, null, null]);
      // aiWARE has the task as `paused`: this engine is free (the wake-up may reach another instance).
      task.pause({ infoMsg: RED._('aiware-pause-for-callback.status.paused') }, by);
    }

    serveTasks<NodeMessage & Record<string, unknown>>(base, pack, { onInput: pause });
    // Its waits stay saved: the node that starts with this id (a redeploy, a restart) resumes them.
    base.onClose(() => pack.pauses.unregister(controller));
  }

  // The editor shows this default as the callback base's placeholder (RED.settings.aiwarePauseForCallbackBaseUrl):
  // the port and root this Node-RED really has, not 1880.
  RED.nodes.registerType(NODE_TYPES.pauseForCallback, PauseForCallbackNode, {
    settings: { aiwarePauseForCallbackBaseUrl: { value: defaultBaseUrl(), exportable: true } },
  });
};

/**
 * Where this Node-RED's HTTP nodes are reached from this machine: the address and port its server
 * really listens on (a `--port 0` or a `uiHost` of one interface included), or the settings' before
 * it listens; a server on every interface is reached on loopback. Set `aiware.callbackBaseUrl` when
 * the service that calls back is elsewhere.
 */
function localBaseUrl(RED: NodeAPI): string {
  const settings = RED.settings as unknown as { uiPort?: number; uiHost?: string; https?: unknown; httpNodeRoot?: string | false };
  const address = (RED.server as { address?(): AddressInfo | string | null } | undefined)?.address?.();
  const listening = address !== null && typeof address === 'object' ? address : undefined;
  const bound = listening?.address ?? settings.uiHost;
  const host = bound === undefined || bound === '' || bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound.includes(':') ? `[${bound}]` : bound;
  const root = typeof settings.httpNodeRoot === 'string' ? settings.httpNodeRoot : '/';
  return `${settings.https ? 'https' : 'http'}://${host}:${listening?.port ?? settings.uiPort ?? 1880}${root}`.replace(/\/+$/, '');
}
