// "Try it" on aiware-process-in: the editor's button posts to an admin route, which sends the node's
// sample to the node's own /process through the pack's small toolkit (core/try-it) and shows the
// answer, heartbeats, results and outcome in the debug sidebar and the node's status, with the flow's
// mistakes the pack saw in the run (a result after the task's end, a task left with no message).
// Admin only, with the permission pattern of inject's button; not installed where the editor is off.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Request, Response } from 'express';
import * as crypto from 'node:crypto';
import type { Node, NodeAPI, NodeStatus } from 'node-red';
import {
  decodeSample,
  mimeTypeOf,
  runTry,
  type TryEvent,
  type TryOutcome,
  type TrySample,
  type PackRuntime,
  type Idle,
  type Task,
  type TaskTimes,
  type EngineType,
  errorMessage,
  nodeLabel,
} from '../../core';
import { status } from './status';

/** The try-it settings of an aiware-process-in (saved with the node, used as deployed). */
export interface TryConfig {
  trySample?: string;
  tryFile?: string;
  tryMime?: string;
  tryPayload?: string;
  tryStart?: string;
  tryEnd?: string;
  tryMetadata?: string;
}

/** A deployed aiware-process-in the button can reach. */
export interface TryTarget {
  node: Node;
  engineType: EngineType;
  processPath: string;
  config: TryConfig;
  /** Shows the run on the node (at once: it is what the author is looking at). */
  show(next: NodeStatus): void;
}

/** How long a try may take: sent as maxTTL. */
const TRY_MAX_TTL_SECONDS = 60;
/** How long the outcome waits for the run's messages still in flight after the task's end (a late result's error). */
const SETTLE_MS = 2000;
const MAX_FILE_BYTES = 16 * 1024 * 1024;

class TryConfigError extends Error {}

/** The targets by node id, and the route, when the editor is on; else a registry that serves nothing. */
export function installTryIt(RED: NodeAPI, pack: PackRuntime): Map<string, TryTarget> {
  const targets = new Map<string, TryTarget>();
  const settings = RED.settings as unknown as { httpAdminRoot?: string | false; disableEditor?: boolean; userDir?: string };
  if (settings.httpAdminRoot === false || settings.disableEditor === true || !RED.httpAdmin) return targets;

  RED.httpAdmin.post('/aiware-process-in/:id/try', RED.auth.needsPermission('aiware-process-in.write'), (req: Request, res: Response) => {
    const target = targets.get(String(req.params.id));
    if (!target) {
      res.status(404).json({ error: RED._('aiware-process-in.try.notDeployed') });
      return;
    }
    let request: Parameters<typeof runTry>[0];
    try {
      request = {
        internalTaskId: `try-${crypto.randomBytes(6).toString('hex')}`,
        processUrl: ownProcessUrl(req, target.processPath, RED),
        engineType: target.engineType,
        sample: sampleOf(target.config, settings.userDir),
        payload: payloadOf(target.config),
        startOffsetMS: wholeNumber(target.config.tryStart, 'tryStart'),
        endOffsetMS: wholeNumber(target.config.tryEnd, 'tryEnd'),
        chunkMetadata: metadataOf(target.config),
        maxTTL: TRY_MAX_TTL_SECONDS,
      };
    } catch (err) {
      res.status(400).json({ error: errorMessage(err) });
      return;
    }
    res.json({ engineType: target.engineType, path: target.processPath });
    const publish = (topic: string, value: unknown) => publishDebug(RED, target, topic, value);
    target.show(status.inFlight(RED._('aiware-process-in.try.running')));
    const mistakes = watchMistakes(RED, pack, request.internalTaskId!, publish);
    runTry(request, (event: TryEvent) => publish(topicOf(RED, event), event.kind === 'answer' ? (event.body ?? null) : event.body))
      .then(async (outcome: TryOutcome) => {
        await mistakes.settled();
        const flowErrors = mistakes.flowErrors();
        const times = mistakes.times();
        if (times && times.nodes.length > 0) publish(RED._('aiware-process-in.try.topicTimes'), timesShown(times));
        publish(RED._('aiware-process-in.try.topicEnd', { status: outcome.status }), { ...outcome, flowErrors });
        const text = RED._(flowErrors > 0 ? 'aiware-process-in.try.endedWithErrors' : 'aiware-process-in.try.ended', {
          status: outcome.status,
          results: outcome.results,
          ms: outcome.ms,
          errors: flowErrors,
        });
        target.show(
          outcome.status === 'failed' || outcome.status === 'timeout'
            ? status.failed(`${text}: ${outcome.failureReason ?? ''} ${outcome.failureMsg ?? ''}`.trim().slice(0, 80))
            : flowErrors > 0
              ? status.failed(text)
              : status.done(text),
        );
      })
      .catch((err: unknown) => {
        publish(RED._('aiware-process-in.try.topicEnd', { status: 'error' }), errorMessage(err));
        target.show(status.failed(errorMessage(err).slice(0, 60)));
      })
      .finally(() => mistakes.stop());
  });
  return targets;
}

/**
 * The flow's mistakes in one run, shown in the debug sidebar as they happen: a result or heartbeat
 * after the task's end (flow errors, counted), a task left with no message in flight (a warning).
 * The run's task is the one opened with the run's `internalTaskId`.
 */
function watchMistakes(
  RED: NodeAPI,
  pack: PackRuntime,
  internalTaskId: string,
  publish: (topic: string, value: unknown) => void,
): { flowErrors(): number; times(): TaskTimes | undefined; settled(): Promise<void>; stop(): void } {
  let task: Task | undefined;
  const onOpen = (opened: Task) => {
    if (opened.fields.internalTaskId === internalTaskId) task = opened;
  };
  const onFlowError = (late: Task, text: string) => {
    if (late === task) publish(RED._('aiware-process-in.try.topicFlowError'), text);
  };
  const onIdle = (idle: Task, what: Idle) => {
    if (idle === task) publish(RED._('aiware-process-in.try.topicWarning'), what.text);
  };
  pack.registry.on('open', onOpen);
  pack.registry.on('flowError', onFlowError);
  pack.flowEnd.on('idle', onIdle);
  return {
    flowErrors: () => task?.flowErrors ?? 0,
    times: () => (task ? pack.timing?.timesOf(task) : undefined),
    async settled() {
      if (!task) return;
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SETTLE_MS);
      });
      await Promise.race([pack.flowEnd.whenSettled(task.id), bound]);
      clearTimeout(timer);
    },
    stop() {
      pack.registry.off('open', onOpen);
      pack.registry.off('flowError', onFlowError);
      pack.flowEnd.off('idle', onIdle);
    },
  };
}

/** The run's per-node times as the debug sidebar shows them: each node, slowest first, with its share of the task's time. */
function timesShown(times: TaskTimes): { taskMs: number; nodes: { node: string; messages: number; ms: number; queueMs: number; share: string }[] } {
  return {
    taskMs: times.totalMs,
    nodes: times.nodes.map((node) => ({
      node: nodeLabel(node),
      messages: node.count,
      ms: node.ms,
      queueMs: node.queueMs,
      share: `${times.totalMs > 0 ? Math.round((node.ms / times.totalMs) * 100) : 0} %`,
    })),
  };
}

/** This Node-RED's own address for `processPath`: the server that took the admin request serves the nodes too. */
function ownProcessUrl(req: Request, processPath: string, RED: NodeAPI): string {
  const local = req.socket.localAddress ?? '127.0.0.1';
  const address = local.startsWith('::ffff:') ? local.slice('::ffff:'.length) : local;
  const host = address.includes(':') ? `[${address}]` : address;
  const root = String((RED.settings as unknown as { httpNodeRoot?: string | false }).httpNodeRoot || '/').replace(/\/$/, '');
  return `http://${host}:${req.socket.localPort}${root}${processPath}`;
}

function sampleOf(config: TryConfig, userDir: string | undefined): TrySample | undefined {
  const file = (config.tryFile ?? '').trim();
  if (file) {
    const root = fs.realpathSync(userDir ?? process.cwd());
    const full = path.resolve(root, file);
    let real: string;
    try {
      real = fs.realpathSync(full);
    } catch {
      throw new TryConfigError(`the try-it file ${file} does not exist in the user directory (${root})`);
    }
    const inside = path.relative(root, real);
    if (inside.startsWith('..') || path.isAbsolute(inside)) throw new TryConfigError(`the try-it file must be inside the user directory (${root}): ${file} is not`);
    const size = fs.statSync(real).size;
    if (size > MAX_FILE_BYTES) throw new TryConfigError(`the try-it file ${file} has ${size} bytes: at most ${MAX_FILE_BYTES} are sent`);
    return { data: fs.readFileSync(real), mimeType: config.tryMime?.trim() || mimeTypeOf(real), filename: path.basename(real) };
  }
  if (!config.trySample) return undefined;
  const sample = decodeSample(config.trySample, config.tryMime?.trim() || 'text/plain');
  return { ...sample, filename: 'sample' };
}

function payloadOf(config: TryConfig): string | undefined {
  const text = (config.tryPayload ?? '').trim();
  if (!text) return undefined;
  try {
    JSON.parse(text);
  } catch (err) {
    throw new TryConfigError(`the try-it payload is not JSON: ${errorMessage(err)}`);
  }
  return text;
}

function wholeNumber(text: string | undefined, field: string): number | undefined {
  const trimmed = (text ?? '').trim();
  if (!trimmed) return undefined;
  if (!/^\d+$/.test(trimmed)) throw new TryConfigError(`${field} must be a whole number of milliseconds, got ${JSON.stringify(trimmed)}`);
  return Number(trimmed);
}

function metadataOf(config: TryConfig): Record<string, string> | undefined {
  const text = (config.tryMetadata ?? '').trim();
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TryConfigError(`the try-it chunk metadata is not JSON: ${errorMessage(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TryConfigError('the try-it chunk metadata must be a JSON object of names and values');
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

function topicOf(RED: NodeAPI, event: TryEvent): string {
  if (event.kind === 'answer') return RED._('aiware-process-in.try.topicAnswer', { status: event.status });
  if (event.kind === 'result') return RED._('aiware-process-in.try.topicResult', { index: JSON.stringify(event.body.index ?? '') });
  return RED._('aiware-process-in.try.topicHeartbeat', { status: typeof event.body.status === 'string' ? event.body.status : JSON.stringify(event.body.status) });
}

/** A message in the debug sidebar, from the process-in node (named as the editor labels it), as the debug node sends one. */
function publishDebug(RED: NodeAPI, target: TryTarget, topic: string, value: unknown): void {
  const api = RED as unknown as {
    util: { encodeObject(msg: object, options?: { maxLength?: number }): object };
    comms: { publish(topic: string, data: object, retain: boolean): void };
  };
  const node = target.node as Node & { _alias?: string; _flow?: { path?: string } };
  const name = node.name || `${target.engineType} ${target.processPath}`;
  const message = { id: node.id, z: node.z, _alias: node._alias, path: node._flow?.path, name, topic, msg: value };
  api.comms.publish('debug', api.util.encodeObject(message, { maxLength: 1000 }), false);
}
