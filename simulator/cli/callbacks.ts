// Pause-for-callback in an `aiware-sim run`: the outside service `--service-delay` turns on (its
// URL in every work item's payload), and what the run shows of it: each pause, wake-up and service
// call as it happens, a section of the summary, and service.json.
import type { ToolkitEmulator } from '../emulator';
import { OutsideService, type ServiceCall, type ServiceRequest } from '../outside-service';
import type { ServiceOptions } from './options';
import { formatMs, plural, short, type Progress } from './report';
import type { TaskOutcome, TaskPlan } from './tasks';

/** The payload key a flow reads the service's address from: `msg.aiware.payload.callbackServiceUrl`. */
export const SERVICE_URL_KEY = 'callbackServiceUrl';

export class CallbackWatch {
  // `task 2 (b.txt)` by task id, for the lines shown.
  private readonly labels = new Map<string, string>();
  private readonly onPaused = (taskId: string): void => this.progress.note(`⏸ ${this.label(taskId)}: paused, waiting for its wake-up`);
  private readonly onWoken = (taskId: string, status: number | undefined): void =>
    this.progress.note(`▶ ${this.label(taskId)}: woken, its /process re-dispatch ${status === undefined ? 'got no answer' : `answered ${status}`}`);
  private readonly onRequest = (request: ServiceRequest): void =>
    this.progress.note(`service: job ${request.id}${request.taskId ? ` from ${this.label(request.taskId)}` : ''}, calling back in ${formatMs(this.options?.delayMs ?? 0)}`);
  private readonly onCall = (call: ServiceCall): void => this.noteCall(call);

  private constructor(
    private readonly toolkit: ToolkitEmulator,
    private readonly progress: Progress,
    private readonly service?: OutsideService,
    private readonly options?: ServiceOptions,
  ) {
    toolkit.on('paused', this.onPaused);
    toolkit.on('woken', this.onWoken);
    service?.on('request', this.onRequest);
    service?.on('call', this.onCall);
  }

  /** Watches the toolkit's pauses; with `options`, starts the outside service too. */
  static async start(toolkit: ToolkitEmulator, progress: Progress, options: ServiceOptions | undefined): Promise<CallbackWatch> {
    const service = options && (await OutsideService.start({ delayMs: options.delayMs, answer: options.answer, fail: options.fail, progress: options.progress }));
    return new CallbackWatch(toolkit, progress, service, options);
  }

  get serviceUrl(): string | undefined {
    return this.service?.url;
  }

  /** The work item's extra payload: the service's URL, naming the task so its calls can be told apart. */
  itemPayload(plan: TaskPlan, taskId: string): Record<string, unknown> {
    this.labels.set(taskId, `task ${plan.n} (${plan.chunk?.label ?? 'no chunk'})`);
    if (!this.service) return {};
    const url = new URL(this.service.url);
    url.searchParams.set('taskId', taskId);
    return { [SERVICE_URL_KEY]: url.href };
  }

  /** The summary's section: each task that paused, was woken or had service calls. */
  summaryLines(outcomes: TaskOutcome[]): string[] {
    const lines: string[] = [];
    const calls = this.service?.calls ?? [];
    for (const o of outcomes) {
      const rec = o.record;
      const mine = calls.filter((call) => call.taskId === o.taskId);
      if (!rec || (rec.paused === 0 && rec.wakeUps.length === 0 && mine.length === 0)) continue;
      const wakeUps = rec.wakeUps.map((w) => w.status ?? 'no answer').join(', ');
      const parts = [`paused ${rec.paused}×`, `woken ${rec.wakeUps.length}×${wakeUps ? ` (/process ${wakeUps})` : ''}`];
      if (mine.length > 0) parts.push(`service: ${mine.map(describeCall).join(', ')}`);
      lines.push(`  ${o.n} ${o.input}: ${parts.join('; ')}`);
    }
    const unknown = calls.filter((call) => call.taskId === undefined || !outcomes.some((o) => o.taskId === call.taskId));
    if (unknown.length > 0) lines.push(`  service calls for no task of this run: ${unknown.map(describeCall).join(', ')}`);
    if (this.service) {
      const pending = this.service.pending;
      lines.unshift(`  service: ${plural(this.service.requests.length, 'job')}, ${plural(calls.length, 'call')}${pending > 0 ? `, ${pending} still due at the end` : ''} (service.json)`);
    }
    return lines.length > 0 ? ['', 'pause and callback', ...lines] : [];
  }

  /** service.json: the settings, every job as received, every call and its answer. */
  serviceReport(): unknown {
    if (!this.service || !this.options) return undefined;
    const iso = (at: number) => new Date(at).toISOString();
    return {
      url: this.service.url,
      delayMs: this.options.delayMs,
      answer: this.options.fail === undefined ? (this.options.answer ?? {}) : undefined,
      fail: this.options.fail,
      progress: this.options.progress,
      pending: this.service.pending,
      requests: this.service.requests.map((r) => ({ ...r, at: iso(r.at) })),
      calls: this.service.calls.map((c) => ({ ...c, at: iso(c.at) })),
    };
  }

  /** Stops listening and stops the service (its calls still due are dropped). */
  async stop(): Promise<void> {
    this.toolkit.off('paused', this.onPaused);
    this.toolkit.off('woken', this.onWoken);
    this.service?.off('request', this.onRequest);
    this.service?.off('call', this.onCall);
    await this.service?.stop();
  }

  private label(taskId: string): string {
    return this.labels.get(taskId) ?? `task ${taskId}`;
  }

  private noteCall(call: ServiceCall): void {
    const who = call.taskId === undefined ? 'service' : `service → ${this.label(call.taskId)}`;
    this.progress.note(`${who}: ${describeCall(call)}`);
    const refused = call.status === undefined || call.status >= 300;
    if (call.kind === 'progress' || !refused || call.taskId === undefined) return;
    // Nothing else will wake it: say so, rather than wait in silence until maxTTL.
    let status: string | undefined;
    try {
      status = this.toolkit.task(call.taskId).status;
    } catch {
      return;
    }
    if (status === 'paused') this.progress.note(`${this.label(call.taskId)} stays paused until its maxTTL: no wake-up is due (Ctrl-C to stop)`);
  }
}

function describeCall(call: ServiceCall): string {
  const answer = call.status === undefined ? `no answer (${short(call.error ?? 'unknown error', 80)})` : String(call.status);
  return `${call.kind} → ${answer}`;
}
