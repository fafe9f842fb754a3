// The editor's side of Node-RED's comms: a websocket to <admin>/comms that subscribes to topics
// (debug, status/#) and keeps what arrives, as the editor's debug sidebar and node statuses see it.
import WebSocket = require('ws');
import { Conditions } from './conditions';

export interface CommsMessage {
  topic: string;
  data: Record<string, unknown>;
}

export class CommsClient {
  readonly messages: CommsMessage[] = [];
  private readonly conditions = new Conditions();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (raw: Buffer) => {
      const parsed = JSON.parse(raw.toString('utf8')) as CommsMessage | CommsMessage[];
      this.messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      this.conditions.check();
    });
  }

  /** Connects to `adminUrl`/comms and subscribes to `topics`. */
  static async connect(adminUrl: string, topics: string[]): Promise<CommsClient> {
    const socket = new WebSocket(`${adminUrl.replace(/^http/, 'ws')}/comms`);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    for (const topic of topics) socket.send(JSON.stringify({ subscribe: topic }));
    return new CommsClient(socket);
  }

  /** The first message (from now on, or already here) that `matches`, within `timeoutMs`. */
  async waitFor(matches: (m: CommsMessage) => boolean, timeoutMs = 20_000, what = 'a comms message'): Promise<CommsMessage> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; seen: ${JSON.stringify(this.messages.map((m) => m.topic))}`)), timeoutMs);
    });
    try {
      await Promise.race([this.conditions.when(() => this.messages.some(matches)), timeout]);
      return this.messages.find(matches)!;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.socket.close();
  }
}
