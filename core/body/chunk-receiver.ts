// The `chunk` part of a multipart body on its way in: into memory of its own (or the pool's), or
// streamed to a temp file past `memoryChunkBytes`, with backpressure back to the socket.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProtocolError } from '../protocol/errors';
import type { BodyLimits } from './limits';
import { removeQuietly, spillDir, tempName, writeError } from './chunk-file';
import { joinParts } from '../util/own-buffer';
import type { ReceivedChunk } from './received';
import type { ChunkPool } from './chunk-pool';
import type { PieceUses } from './early-free';

/**
 * From this size of bound on, the chunk's buffer is allocated once, at the part's bound, and each
 * piece is copied into it as it arrives; below it, a chunk is often one piece of the socket's read
 * (taken as it is) and the pieces are joined at the end.
 */
export const PREALLOCATE_FROM = 128 * 1024;

/** A buffer allocated at the bound but filled by less than this share is copied to its size, not kept. */
const KEEP_FILLED = 0.75;

/**
 * The `chunk` file part: in memory while it fits in `memoryChunkBytes`; past that, a temp file is
 * opened, what was buffered is written to it, and the rest streams there. The request is paused
 * whenever the file stream's buffer is full (and while the file opens), so the socket stops too.
 *
 * In memory, each byte is copied once between the socket and the chunk's buffer: with a
 * Content-Length the part has a bound (`bound`), the buffer is allocated at it and every piece is
 * copied in as it arrives, so the socket's pieces die young instead of waiting, all of them, for a
 * join at the end (the garbage collector's work at 4 MiB chunks). Without a bound (chunked
 * transfer), or when the part outgrows it, the pieces are kept and joined once at the end. Where
 * Node can, a piece copied in is freed at once, and a piece joined or written to the spill file once
 * the join or the write is done (core/body/early-free.ts).
 */
export class ChunkReceiver {
  /** Pieces held in memory, when there is no preallocated buffer (or it was outgrown). */
  private parts: Buffer[] = [];
  /** Ends this receiver's use of the request's pieces `parts` views: called once the join has copied them. */
  private releases: (() => void)[] = [];
  /** The chunk's buffer, allocated at the part's bound; `size` bytes of it are filled. */
  private into?: Buffer;
  private size = 0;
  private out?: fs.WriteStream;
  /** Why the chunk did not go to the task's own taskTmpDir. */
  private warning?: string;
  private file?: string;
  private opening?: Promise<void>;
  private ended = false;
  private discarded = false;

  constructor(
    private readonly filename: string | undefined,
    private readonly mimeType: string,
    private readonly limits: BodyLimits,
    private readonly spillAtOnce: boolean,
    bound: number | undefined,
    private readonly raw: Record<string, string>,
    /** Pauses and resumes the request: the spill's backpressure. */
    private readonly flow: { pause(): void; resume(): void },
    private readonly done: (chunk: ReceivedChunk) => void,
    private readonly fail: (err: ProtocolError) => void,
    /** The request's piece `write` is given views of now, when it may be freed early. */
    private readonly piece: () => PieceUses | undefined,
    private readonly pool?: ChunkPool,
  ) {
    // Memory of its own (allocUnsafeSlow, never Node's shared pool): a task's msg.payload shares
    // its ArrayBuffer with no other live buffer. Or pooled memory, lent to this chunk alone.
    if (bound !== undefined && bound >= PREALLOCATE_FROM && bound <= limits.memoryChunkBytes) {
      this.into = pool ? pool.take(bound) : Buffer.allocUnsafeSlow(bound);
      this.pooled = pool !== undefined;
    }
  }

  /** `into` is the pool's memory. */
  private pooled = false;

  /** The part's bytes as the parser finds them (views of the socket's pieces), then null at its end. */
  write = (piece: Buffer | null): void => {
    if (piece === null) this.onEnd();
    else this.onData(piece);
  };

  private onData(data: Buffer): void {
    if (this.discarded) return;
    const at = this.size;
    this.size += data.length;
    if (this.out) {
      if (!this.out.write(data, this.piece()?.begin())) this.flow.pause();
      return;
    }
    const into = this.into;
    if (into && this.size <= into.length) {
      into.set(data, at);
    } else {
      if (into) {
        // Bigger than its bound (cannot happen with Node's parser, which stops at Content-Length): held as pieces from here.
        this.parts.push(into.subarray(0, at));
        this.into = undefined;
      }
      this.parts.push(data);
      // Until the join at the end: it copies the parts (the pieces may go then) or takes the only one as it is (its piece stays).
      const release = this.piece()?.begin();
      if (release) this.releases.push(release);
    }
    if (this.opening === undefined && (this.spillAtOnce || this.size > this.limits.memoryChunkBytes)) {
      this.flow.pause();
      this.opening = this.openSpill();
    }
  }

  /** What is held in memory, as pieces, and no longer held here. */
  private takeHeld(): Buffer[] {
    const held = this.into ? [this.into.subarray(0, this.size)] : this.parts;
    this.into = undefined;
    this.parts = [];
    // Whoever takes them now (a spill's writes) holds views: their pieces are left to the garbage collector.
    this.releases = [];
    return held;
  }

  private onEnd(): void {
    this.ended = true;
    if (this.discarded || this.opening !== undefined) {
      // A spill: finished once the file is open (openSpill) and flushed (finishSpill).
      if (this.out) this.finishSpill();
      return;
    }
    const into = this.into;
    let buffer: Buffer;
    if (into && this.pooled) {
      this.into = undefined;
      return this.done({ buffer: this.pool!.finish(into, this.size), pooled: true, size: this.size, filename: this.filename, mimeType: this.mimeType });
    }
    if (into) {
      this.into = undefined;
      // The bound counted the closing boundary and any parts after the chunk: a short tail is
      // zeroed (no stale bytes, maybe another task's, behind msg.payload.buffer), a long one is
      // not kept at all.
      if (this.size >= into.length * KEEP_FILLED) buffer = into.fill(0, this.size).subarray(0, this.size);
      else into.copy((buffer = Buffer.allocUnsafeSlow(this.size)), 0, 0, this.size);
    } else {
      buffer = joinParts(this.parts, this.size);
      // Copied: the pieces it came in are freed now rather than waiting, with the chunk's own
      // memory, for a full collection (at 64 KiB chunks they were half the memory a request left).
      if (buffer !== this.parts[0]) for (const release of this.releases) release();
      this.releases = [];
      this.parts = [];
    }
    this.done({ buffer, size: this.size, filename: this.filename, mimeType: this.mimeType });
  }

  private async openSpill(): Promise<void> {
    let dir = '';
    try {
      const choice = await spillDir(this.limits, this.raw);
      dir = choice.dir;
      this.warning = choice.warning;
      if (this.discarded) return;
      const file = path.join(dir, tempName(this.filename));
      const handle = await fs.promises.open(file, 'wx', 0o600);
      this.file = file;
      if (this.discarded) {
        await handle.close();
        return;
      }
      const out = handle.createWriteStream();
      this.out = out;
      out.on('error', (err) => this.fail(writeError(dir, err)));
      out.on('drain', () => this.flow.resume());
      let ok = true;
      for (const part of this.takeHeld()) ok = out.write(part);
      if (this.ended) this.finishSpill();
      else if (ok) this.flow.resume();
    } catch (err) {
      this.fail(writeError(dir, err as Error));
    }
  }

  private finishSpill(): void {
    const out = this.out!;
    out.end();
    out.once('close', () => {
      if (this.discarded || out.errored) return;
      const chunk: ReceivedChunk = { path: this.file, size: this.size, filename: this.filename, mimeType: this.mimeType, ...(this.warning ? { warning: this.warning } : {}) };
      if (this.size > this.limits.memoryChunkBytes) return this.done(chunk);
      // Spilled at once on its Content-Length, yet small enough for memory after all (big
      // fields): it keeps its promise of an in-memory chunk, and has its file too.
      fs.readFile(this.file!, (err, buffer) => {
        if (this.discarded) return;
        if (err) this.fail(writeError(path.dirname(this.file!), err));
        else this.done({ ...chunk, buffer });
      });
    });
  }

  /** Drops the chunk: closes and removes its temp file, if it has one. Never rejects. */
  async discard(): Promise<void> {
    this.discarded = true;
    // Pooled memory no flow has seen, and no spill is writing from: straight back to the pool.
    const lent = this.pooled && this.opening === undefined ? this.into : undefined;
    this.takeHeld();
    if (lent) this.pool!.reclaim(lent);
    if (this.opening) await this.opening;
    const out = this.out;
    if (out && !out.closed) {
      const closed = new Promise<void>((resolve) => out.once('close', resolve));
      out.destroy();
      await closed;
    }
    if (this.file !== undefined) await removeQuietly(this.file);
  }
}
