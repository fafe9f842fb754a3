// The request's pieces given back to the allocator as soon as the body reader is done with them.
//
// Why: Node's HTTP parser copies every piece of a body it reads (up to 64 KiB each) into memory of
// the piece's own, freed only when V8 collects the piece. V8 starts that young collection once
// 32 MiB of such memory has piled up (twice its default semi-space size, a constant no flag
// moves), so a big upload holds up to 32 MiB of pieces read and done with: nearly all of the
// RSS a 1 GiB chunk adds. At 4 MiB chunks, the collections come every few requests and move the
// chunks still being read to the old generation, whose full collections are then most of the CPU.
//
// How: `ArrayBuffer.prototype.transfer(0)` frees a piece's memory at once (the piece, and every
// view of it, empties). Node 22 and later have it; Node 20 (V8 11.3), where a palette install of
// the pack may still run, does not: there nothing is freed early and nothing else changes. A piece is freed only when the
// reader is the request's one consumer (no other 'data' listener saw it) and nothing it gave the
// piece to keeps a view: a field's bytes wait in views until the field ends, a small chunk may be
// the piece itself, a spill's write holds it until written.

type Transfer = (this: ArrayBuffer, newLength?: number) => ArrayBuffer;
const transfer = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer;

/** This Node frees a piece's memory before the garbage collector would. */
export const FREES_EARLY = typeof transfer === 'function';

/** Pieces freed early since the process started (for tests). */
export const earlyFreed = { pieces: 0 };

/**
 * Frees the memory under `piece` now, if `piece` covers all of it; every view of it empties. Node's
 * HTTP parser copies each piece into memory of its own, which nothing else holds once the 'data'
 * event is over; a piece that is a view into bigger memory (a pool, a buffer being filled) is left alone.
 */
export function freeNow(piece: Buffer): void {
  const memory = piece.buffer;
  if (transfer === undefined || piece.byteOffset !== 0 || memory.byteLength !== piece.byteLength || !(memory instanceof ArrayBuffer)) return;
  transfer.call(memory, 0);
  earlyFreed.pieces++;
}

/**
 * One piece of the request and the uses of it still under way: its memory is freed when the last
 * ends, unless one of them keeps the piece (then it is left to the garbage collector). The reader's
 * own use ends when the parser has read the piece.
 */
export class PieceUses {
  private uses = 1;
  private kept = false;

  constructor(private readonly piece: Buffer) {}

  /** A use that ends later (a write): call what this returns when it has. */
  begin(): () => void {
    this.uses++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.end();
    };
  }

  /** A use with no end the reader knows of: the piece is never freed early. */
  keep(): void {
    this.kept = true;
  }

  end(): void {
    if (--this.uses === 0 && !this.kept) freeNow(this.piece);
  }
}
