// What every node of the pack does around its own work: creates itself, reads its settings (a bad
// one refuses the node: red ring, one error line, nothing handled), keeps its status board and its
// label, and knows when it has closed. A node's file keeps only what the node does.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { ProtocolError, nodeLabel } from '../../core';
import { StatusBoard, status } from './status';

/** A setting the node cannot run with, as its error line says it. */
export interface SettingProblem {
  property: string;
  text: string;
}

export class NodeBase {
  readonly node: Node;
  readonly board: StatusBoard;
  /** How the node is named in task failures and logs: `name (type id)`, or `type id`. */
  readonly label: string;
  /** Set when the node closes (a redeploy, a stop): work that settles later shows nothing. */
  closed = false;
  private problem?: SettingProblem;
  /** The error inputs fail with, once the bad setting is reported (once). */
  private refused?: ProtocolError;
  private closing?: (removed: boolean) => void | Promise<void>;

  constructor(
    private readonly RED: NodeAPI,
    node: Node,
    config: NodeDef,
  ) {
    RED.nodes.createNode(node, config);
    this.node = node;
    this.board = new StatusBoard(node);
    this.label = nodeLabel(node);
    node.on('close', (removed: boolean, done: () => void) => {
      this.closed = true;
      let work: void | Promise<void> = undefined;
      try {
        work = this.closing?.(removed);
      } finally {
        this.board.close();
      }
      void Promise.resolve(work)
        .catch((err: unknown) => node.error(err))
        .finally(() => done());
    });
  }

  /** What the node frees when it closes (timers, listeners, locks); the base clears the status after it. */
  onClose(fn: (removed: boolean) => void | Promise<void>): void {
    this.closing = fn;
  }

  /**
   * A setting with a fixed list of values: absent (undefined or blank) gives undefined, for the
   * node's default; any other value outside `allowed` refuses the node. `errorKey` names the
   * error line (`value`, `allowed`, `property` are its placeholders), by default `<type>.errors.badSetting`.
   */
  oneOf<T extends string>(property: string, value: unknown, allowed: readonly T[], errorKey = `${this.node.type}.errors.badSetting`): T | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if ((allowed as readonly unknown[]).includes(value)) return value as T;
    this.refuse(property, this.RED._(errorKey, { property, value: typeof value === 'string' ? value : JSON.stringify(value), allowed: allowed.join(', ') }));
    return undefined;
  }

  /** The message property a setting names (`payload` when blank); a path Node-RED cannot read refuses the node. */
  messageProperty(property: string, value: string | undefined): string {
    const path = (value ?? '').trim() || 'payload';
    try {
      this.RED.util.normalisePropertyExpression(path);
    } catch {
      this.refuse(property, this.RED._(`${this.node.type}.errors.badProperty`, { property, value: path }));
    }
    return path;
  }

  /** Any other check of a setting: when `ok` is false the node refuses to run, with `text` (through RED._) as its error line. */
  check(property: string, ok: boolean, text: string): void {
    if (!ok) this.refuse(property, text);
  }

  /**
   * Called once the settings are read. A node with a bad setting shows a red ring naming it and
   * logs one error line (the first problem, on the first call); it gets the error its inputs fail
   * with. Undefined when the settings are fine.
   */
  refusal(): ProtocolError | undefined {
    const problem = this.problem;
    if (!problem || this.refused) return this.refused;
    this.board.now(status.failed(this.RED._(`${this.node.type}.status.badConfig`, { what: problem.property })));
    this.node.error(problem.text);
    this.refused = new ProtocolError(500, problem.text, { field: problem.property, reason: 'internal_error' });
    return this.refused;
  }

  private refuse(property: string, text: string): void {
    this.problem ??= { property, text };
  }
}
