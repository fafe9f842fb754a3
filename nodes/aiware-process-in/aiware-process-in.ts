// aiware-process-in: serves Engine Toolkit's POST /process and GET /readyz, opens a task per
// work item, and starts the flow with the chunk in msg.payload and the typed task in msg.aiware.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  readProcessBody,
  type ReceivedBody,
  decodeChunkText,
  chunkToFile,
  taskTmpDir,
  sendJson,
  sendJsonError,
  answerReady,
  refuseWork,
  parseProcessFields,
  FieldError,
  ProtocolError,
  errorMessage,
  DEFAULT_PROCESS_PATH,
  DEFAULT_READY_PATH,
  ENGINE_TYPES,
  MODE_LIBRARY_TRAIN,
  RESPOND_MODES,
  routePath,
  type EngineType,
  type RespondMode,
  nodeLabel,
  type Task,
  type TaskEnd,
  type Idle,
  type Wake,
  type PackRuntime,
  traceHeaders,
} from '../../core';
import { packRuntime } from '../shared/runtime';
import { describeTask, type AiwareMessageTask } from '../shared/message';
import { NodeBase } from '../shared/node-base';
import { status, statusText } from '../shared/status';
import { NODE_TYPES } from '../shared/types';
import { installTryIt, type TryConfig } from '../shared/try-it';

interface ProcessInDef extends NodeDef, TryConfig {
  url?: string;
  readyUrl?: string;
  engineType?: EngineType;
  respond?: RespondMode;
  /** Seconds for the asynchronous answer; blank means maxTTL (else 60). */
  estimate?: string;
  /** `always` writes small chunks to a file too, for flows whose nodes need a path. */
  chunkFile?: (typeof CHUNK_FILES)[number];
}

const DEFAULT_ESTIMATE_SECONDS = 60;
const CHUNK_FILES = ['large', 'always'] as const;

function stoppedWhileReading(): ProtocolError {
  return new ProtocolError(503, 'the flow was stopped (redeployed or shut down) while the request was read: send it again');
}

/**
 * Readiness is the same answer for every process-in (the flows have started or not), so several
 * may name one readiness path: it is served while any of them is there.
 */
function sharedReadiness(pack: PackRuntime): { join(path: string, node: string): string | undefined; leave(path: string, node: string): void } {
  const OWNER = 'aiware-process-in (readiness)';
  const users = new Map<string, Set<string>>();
  const handleReady = (_req: IncomingMessage, res: ServerResponse): void => answerReady(res, pack.flowsStarted() ? 'ready' : 'starting');
  return {
    join(path, node) {
      const taken = pack.claim('get', path, OWNER, handleReady);
      if (taken) return taken;
      const set = users.get(path) ?? new Set<string>();
      set.add(node);
      users.set(path, set);
      return undefined;
    },
    leave(path, node) {
      const set = users.get(path);
      if (!set?.delete(node) || set.size > 0) return;
      users.delete(path);
      pack.release('get', path, OWNER);
    },
  };
}

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  const readiness = sharedReadiness(pack);
  const tryTargets = installTryIt(RED, pack);

  function ProcessInNode(this: Node, config: ProcessInDef): void {
    const base = new NodeBase(RED, this, config);
    const node = base.node;
    const board = base.board;
    const processPath = routePath(config.url, DEFAULT_PROCESS_PATH);
    const readyPath = routePath(config.readyUrl, DEFAULT_READY_PATH);
    // An imported flow may name a type or answer this version does not know: refuse it loudly rather
    // than serve it as a chunk engine it was never meant to be. Absent means the default.
    const engineType: EngineType = base.oneOf('engineType', config.engineType, ENGINE_TYPES, 'aiware-process-in.errors.badEngineType') ?? 'chunk';
    const respond: RespondMode = base.oneOf('respond', config.respond, RESPOND_MODES, 'aiware-process-in.errors.badRespond') ?? 'sync';
    const chunkFile = base.oneOf('chunkFile', config.chunkFile, CHUNK_FILES, 'aiware-process-in.errors.badChunkFile') ?? 'large';
    if (base.refusal()) return;
    const estimate = Number.parseInt(config.estimate ?? '', 10);
    const alwaysFile = chunkFile === 'always';
    let open = 0;
    /** Pooled chunk memory (recycleChunks) by task id, until the task ends. */
    const lent = new Map<string, Buffer>();
    /** Requests whose body is still arriving: they have no task yet, so closing answers them itself. */
    const reading = new Set<ServerResponse>();

    function showOpen(): void {
      board.set(() => (open === 0 ? status.done(RED._('aiware-process-in.status.listening', { path: processPath })) : status.waiting(RED._('aiware-process-in.status.open', { count: open }))));
    }

    async function handleProcess(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (refuseWork(res, pack.flowsStarted() ? 'ready' : 'starting')) return;
      let body: ReceivedBody | undefined;
      let task: Task;
      let wake: Wake | undefined;
      try {
        reading.add(res);
        try {
          body = await readProcessBody(req, pack.settings, pack.chunkPool);
        } finally {
          reading.delete(res);
        }
        if (base.closed) throw stoppedWhileReading();
        if (body.chunk?.warning) node.warn(body.chunk.warning);
        let parsed = parseProcessFields(body.raw);
        // A wake-up from aiWARE (pause-for-callback, platform mode): checked and claimed before
        // anything is answered, so a forged or repeated one is a 4xx that resumes nothing.
        if (parsed.fields.payload?.isCallback === true) {
          wake = await pack.pauses.prepareWake(parsed.fields.payload.data, parsed);
          parsed = wake.parsed;
        }
        const training = parsed.fields.payload?.mode === MODE_LIBRARY_TRAIN;
        if (engineType === 'chunk' && !training && !wake && !body.chunk) {
          throw new FieldError('chunk', 'this is a chunk engine and the request has no chunk: send the file as the multipart part "chunk"');
        }
        task = pack.registry.open({
          parsed,
          engineType,
          respond,
          owner: node.id,
          bytesRead: body.chunk?.size ?? 0,
          tmpFiles: body.chunk?.path ? [body.chunk.path] : [],
          reply: (statusCode, answer) => sendJson(res, statusCode, answer),
          // A woken task continues the paused one's trace; else the request's, when it carries one.
          trace: wake ? wake.trace : traceHeaders(req),
          resumed: wake !== undefined,
        });
      } catch (err) {
        if (body?.chunk?.path) void pack.registry.removeFile(body.chunk.path);
        const failure = err instanceof ProtocolError ? err : new ProtocolError(500, `could not read the request: ${errorMessage(err)}`);
        // Once closed, the answer (503) says it all: a closed node has nothing more to log.
        if (failure.status >= 500 && !base.closed) node.error(failure.message);
        sendJsonError(res, failure);
        return;
      }

      if (task.isSync) {
        res.on('close', () => {
          if (!res.writableEnded) task.abandon();
        });
      } else {
        const seconds = Number.isFinite(estimate) && estimate > 0 ? estimate : (task.fields.maxTTL ?? DEFAULT_ESTIMATE_SECONDS);
        sendJson(res, 200, { estimatedProcessingTimeInSeconds: seconds });
      }

      if (wake) {
        // The pause node that made the wait sends its saved message on, on this task.
        wake.resume(task, task.fields.payload?.callback);
        return;
      }

      try {
        const aiware: AiwareMessageTask = describeTask(task);
        let payload: unknown = aiware.payload;
        const chunk = body.chunk;
        if (chunk) {
          // A chunk sent as a JSON or form string has no part type: it is text.
          const mimeType = task.fields.chunkMimeType ?? chunk.mimeType ?? (chunk.buffer ? 'text/plain; charset=utf-8' : undefined);
          let path = chunk.path;
          if (!path && alwaysFile) {
            const choice = await taskTmpDir(task.fields.taskTmpDir, pack.settings);
            if (choice.warning) node.warn(choice.warning);
            path = await chunkToFile(chunk, choice.dir);
            if (!task.isOpen) {
              // Failed while the file was written (the node closed): nothing will remove it but us.
              void pack.registry.removeFile(path);
              return;
            }
            task.tmpFiles.push(path);
          }
          aiware.chunk = { path, size: chunk.size, mimeType, filename: chunk.filename, inMemory: chunk.buffer !== undefined };
          payload = chunk.buffer ? decodeChunkText(chunk.buffer, mimeType) : path;
          // recycleChunks: the memory goes back to the pool when the task ends (onEnd below).
          if (chunk.pooled && chunk.buffer) lent.set(task.id, chunk.buffer);
        }
        const msg = { _msgid: RED.util.generateId(), payload, aiware } as NodeMessage;
        node.send(msg);
        // Wired to nothing (or to nodes not there): the flow has nothing of the task.
        pack.flowEnd.handedOver(task, node);
      } catch (err) {
        task.fail({ reason: 'file_write_error', message: `could not hand the chunk to the flow: ${errorMessage(err)}`, node: node.id });
      }
    }

    const processOwner = pack.claim('post', processPath, node.id, (req, res) => void handleProcess(req, res), 'process');
    const readyOwner = processOwner ? undefined : readiness.join(readyPath, node.id);
    const conflict = processOwner ?? readyOwner;
    if (conflict) {
      const path = processOwner ? processPath : readyPath;
      if (!processOwner) pack.release('post', processPath, node.id);
      board.now(status.failed(RED._('aiware-process-in.status.pathTaken', { path })));
      node.error(RED._('aiware-process-in.errors.pathTaken', { path, owner: conflict }));
    } else {
      showOpen();
      tryTargets.set(node.id, { node, engineType, processPath, config, show: (next) => board.now(next) });
    }

    const onOpen = (task: Task) => {
      if (task.owner !== node.id) return;
      open++;
      showOpen();
    };
    const onEnd = (end: TaskEnd) => {
      if (end.task.owner !== node.id) return;
      const buffer = lent.get(end.task.id);
      if (buffer) {
        lent.delete(end.task.id);
        // A task paused on the platform ends as its pause node sends the call-out on, which may
        // carry the chunk to the outside service: that memory is left to the garbage collector.
        if (end.state !== 'paused') pack.chunkPool?.reclaim(buffer);
      }
      open--;
      const failure = end.state === 'failed' ? end.message : undefined;
      if (failure) board.set(() => status.failed(statusText(failure)));
      else showOpen();
    };
    // A task the flow forgot to end shows here until it ends or a message of it comes back.
    const onIdle = (task: Task, idle: Idle) => {
      if (task.owner !== node.id) return;
      board.now(status.warning(RED._('aiware-process-in.status.noMessage', { node: nodeLabel(idle.node), seconds: Math.ceil(idle.graceMs / 1000) })));
    };
    const onBusy = (task: Task) => {
      if (task.owner === node.id) showOpen();
    };
    pack.registry.on('open', onOpen);
    pack.registry.on('end', onEnd);
    pack.flowEnd.on('idle', onIdle);
    pack.flowEnd.on('busy', onBusy);

    base.onClose(() => {
      if (tryTargets.get(node.id)?.node === node) tryTargets.delete(node.id);
      // A body still arriving would open a task in a stopped flow: answer "try again" now instead,
      // then drop the connection, so the rest is not awaited and a partial chunk file goes at once.
      for (const res of reading) {
        res.once('finish', () => res.req.destroy());
        sendJsonError(res, stoppedWhileReading());
      }
      reading.clear();
      pack.release('post', processPath, node.id);
      readiness.leave(readyPath, node.id);
      pack.registry.off('open', onOpen);
      pack.registry.off('end', onEnd);
      pack.flowEnd.off('idle', onIdle);
      pack.flowEnd.off('busy', onBusy);
      // A task waiting for a callback is saved: it outlives the flow (its pause node resumes it).
      for (const task of pack.registry.list(node.id)) {
        if (task.waiting) continue;
        task.fail({ reason: 'system_error', message: 'the flow was stopped (redeployed or shut down) before the task ended', node: node.id });
      }
      // Final heartbeats of the tasks just failed get a bounded time to leave.
      return pack.registry.drain(2000);
    });
  }

  RED.nodes.registerType(NODE_TYPES.processIn, ProcessInNode);
};
