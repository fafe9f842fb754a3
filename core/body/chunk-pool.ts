// Chunk memory used again from task to task (the `recycleChunks` setting, off by default).
//
// Why: a chunk of a few MiB read into memory of its own is a new ArrayBuffer per request, and V8
// answers that much new external memory with full (mark-compact) collections of the whole heap:
// on Node-RED's heap, at 4 MiB chunks and 10 connections, one every ~7 requests, ~2.5 ms of CPU a
// request (bench/RESULTS.md, `node dist/bench/profile.js runner 4194304`). Memory that stays
// allocated is no new external memory: with it the runner's full collections all but stop, and
// the chunk is copied into pages already mapped.
//
// How it stays safe: the flow gets a Buffer over pooled memory, and when the chunk's task ends
// (completed or failed; not paused on the platform, whose call-out may carry the chunk on) that
// memory is *transferred* back to the pool (`structuredClone(memory, { transfer: [memory] })`):
// every view the flow may still hold on it, msg.payload, a slice of it, its `.buffer`, becomes
// empty (length 0) and can never show another task's bytes. The price is the rule: **with
// recycleChunks on, a chunk's bytes are valid until its task ends**. A flow that keeps them longer
// (in context, for a later task) copies them first: `Buffer.from(msg.payload)`. A write the flow
// started with the chunk and did not wait for (a file or socket write still under way when the
// task ends) holds the memory itself, not a view: the next chunk may be written over it. That is
// the case the rule exists for.

const MiB = 1024 * 1024;

/** Memory is handed out in whole MiB, so chunks of nearby sizes share it. */
const GRAIN = MiB;

export interface ChunkPoolOptions {
  /** Free memory kept for the next chunks, at most (bytes). Past it, reclaimed memory is left to the garbage collector. */
  maxIdleBytes: number;
  /** Free memory unused this long is let go (ms): an engine gone quiet gives its memory back. */
  idleMs: number;
}

export const DEFAULT_POOL_OPTIONS: Readonly<ChunkPoolOptions> = Object.freeze({ maxIdleBytes: 64 * MiB, idleMs: 30_000 });

interface Free {
  memory: ArrayBuffer;
  since: number;
}

export class ChunkPool {
  private readonly options: ChunkPoolOptions;
  /** Free memory, smallest first. */
  private free: Free[] = [];
  private freeBytes = 0;
  /** Memory handed out and not yet reclaimed: only this is ever taken back. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private trimmer?: NodeJS.Timeout;
  /** Counters for tests and the bench. */
  readonly stats = { taken: 0, reused: 0, reclaimed: 0 };

  constructor(options: Partial<ChunkPoolOptions> = {}) {
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
  }

  /** Memory for a chunk of at most `bound` bytes: a Buffer of `bound` bytes at the start of pooled memory. */
  take(bound: number): Buffer {
    this.stats.taken++;
    const at = this.free.findIndex((entry) => entry.memory.byteLength >= bound);
    let memory: ArrayBuffer;
    if (at === -1) {
      memory = new ArrayBuffer(Math.ceil(bound / GRAIN) * GRAIN);
    } else {
      memory = this.free.splice(at, 1)[0].memory;
      this.freeBytes -= memory.byteLength;
      this.stats.reused++;
    }
    this.lent.add(memory);
    return Buffer.from(memory, 0, bound);
  }

  /**
   * The chunk `buffer` (over memory from `take`) as the flow gets it: its first `size` bytes, the
   * rest of the memory zeroed, so `msg.payload.buffer` shows nothing of an earlier chunk.
   */
  finish(buffer: Buffer, size: number): Buffer {
    const memory = buffer.buffer as ArrayBuffer;
    new Uint8Array(memory, size).fill(0);
    return Buffer.from(memory, 0, size);
  }

  /**
   * Takes back the memory under `buffer`, at the end of its task: every view of it empties. Memory
   * the pool did not lend, or lent and already took back, is left alone.
   */
  reclaim(buffer: Buffer): void {
    const memory = buffer.buffer as ArrayBuffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    let back: ArrayBuffer;
    try {
      back = structuredClone(memory, { transfer: [memory] });
    } catch {
      return; // already transferred by the flow itself (to a worker): nothing to take back
    }
    this.stats.reclaimed++;
    if (this.freeBytes + back.byteLength > this.options.maxIdleBytes) return;
    const entry = { memory: back, since: Date.now() };
    const at = this.free.findIndex((other) => other.memory.byteLength >= back.byteLength);
    if (at === -1) this.free.push(entry);
    else this.free.splice(at, 0, entry);
    this.freeBytes += back.byteLength;
    this.trimLater();
  }

  /** Free memory held now (bytes). */
  get idleBytes(): number {
    return this.freeBytes;
  }

  /** Lets all free memory go (a node closing, a test). */
  clear(): void {
    this.free = [];
    this.freeBytes = 0;
    clearInterval(this.trimmer);
    this.trimmer = undefined;
  }

  private trimLater(): void {
    if (this.trimmer) return;
    this.trimmer = setInterval(() => this.trim(), this.options.idleMs);
    this.trimmer.unref();
  }

  private trim(): void {
    const before = Date.now() - this.options.idleMs;
    this.free = this.free.filter((entry) => {
      if (entry.since > before) return true;
      this.freeBytes -= entry.memory.byteLength;
      return false;
    });
    if (this.free.length === 0) this.clear();
  }
}
