// Claimed waits whose task runs on from them. Their files stay until the task has ended and posted
// its last heartbeat, so that a restart before then resumes the task again from the saved callback;
// a later pause of the same task supersedes them.
import { errorMessage } from '../protocol/errors';
import type { Task } from '../task/task';
import type { WaitStore } from './wait-store';

export class ResumedWaits {
  private readonly byTask = new Map<Task, string[]>();

  constructor(
    private readonly store: WaitStore,
    private readonly warn: (text: string) => void,
  ) {}

  /** The wait `waitId` was resumed (or failed) into `task`: kept while the task is open. */
  add(task: Task, waitId: string): void {
    if (task.isOpen) this.byTask.set(task, [...(this.byTask.get(task) ?? []), waitId]);
    else void this.forget([waitId]);
  }

  /** The task waits again: a restart resumes the new wait, not these. */
  superseded(task: Task): void {
    const earlier = this.byTask.get(task);
    if (!earlier) return;
    this.byTask.delete(task);
    void this.forget(earlier);
  }

  /** The task has ended: once its last post is out, nothing is left to resume. */
  ended(task: Task): void {
    const waits = this.byTask.get(task);
    if (!waits) return;
    this.byTask.delete(task);
    void task.flushed().then(() => this.forget(waits));
  }

  /** Removes the waits' files (their claims stay, so late calls hear 409). */
  private async forget(waitIds: string[]): Promise<void> {
    for (const id of waitIds) await this.store.remove(id).catch((err: unknown) => this.warn(`wait ${id}: ${errorMessage(err)}`));
  }
}
