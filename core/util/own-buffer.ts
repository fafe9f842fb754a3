// A chunk's bytes in memory of its own. Node's small buffers (Buffer.from, Buffer.concat under
// 4 KiB) are cut from one shared pool: a flow reading msg.payload.buffer would see other
// allocations there, other tasks' fields and chunks among them. The chunk's buffer is never that.

/** `text` as UTF-8 bytes in an ArrayBuffer of their own. */
export function ownBufferFrom(text: string): Buffer {
  const buffer = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'utf8'));
  buffer.write(text, 'utf8');
  return buffer;
}

/** Buffer.allocUnsafe takes from the pool below this size only. */
const POOLED_BELOW = Buffer.poolSize >>> 1;

/**
 * `parts` (`size` bytes in all) as one buffer outside the shared pool. One part that cannot be
 * from the pool is kept as it is: a view of a piece Node's HTTP parser read, which is a copy of
 * this request's bytes alone (the multipart parser's pieces are such views, or its own copies when
 * a piece straddled a boundary search). Anything else is copied once.
 */
export function joinParts(parts: Buffer[], size: number): Buffer {
  if (parts.length === 1 && parts[0].length >= POOLED_BELOW) return parts[0];
  const buffer = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const part of parts) at += part.copy(buffer, at);
  return buffer;
}
