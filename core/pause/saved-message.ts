// A flow's message as pause-for-callback keeps it: plain JSON (on disk, or in a wake-up URL's
// `data`), Buffers tagged so they come back as Buffers, live handles left out. A message's own key
// that could be read as the tag (`$buffer`, `$$buffer`…) is escaped with one more `$`, so an object
// of the flow's that is exactly `{ "$buffer": "…" }` comes back as that object, not as a Buffer.

/** Properties never saved: the `http in` node's request and response are sockets, not data. */
export const LIVE_HANDLES: readonly string[] = ['req', 'res'];

/** How a Buffer is written: an object with this one key, its bytes in base64. */
const BUFFER_TAG = '$buffer';

export type SavedMessage = Record<string, unknown>;

export class UnsavableMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsavableMessageError';
  }
}

/**
 * The parts of `msg` to keep: all of it (less live handles and `skip`) when `keep` is empty, else
 * only the properties named. Throws, naming the property, for what JSON cannot hold (a loop).
 */
export function saveMessage(msg: Record<string, unknown>, keep: readonly string[] = [], skip: readonly string[] = []): SavedMessage {
  const names = keep.length > 0 ? keep.filter((name) => name in msg) : Object.keys(msg).filter((name) => !LIVE_HANDLES.includes(name));
  const saved: SavedMessage = {};
  for (const name of names) {
    if (skip.includes(name)) continue;
    const value = msg[name];
    if (value === undefined || typeof value === 'function') continue;
    try {
      saved[name] = JSON.parse(JSON.stringify(value, tagBuffers)) as unknown;
    } catch (err) {
      throw new UnsavableMessageError(`msg.${name} cannot be saved for the callback: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return saved;
}

/** The saved message as the flow had it: tagged Buffers are Buffers again. */
export function restoreMessage(saved: SavedMessage): Record<string, unknown> {
  return JSON.parse(JSON.stringify(saved), untagBuffers) as Record<string, unknown>;
}

/** The tag's key with any number of `$` before it: a message's own such key is escaped. */
const TAG_LIKE = /^\$+buffer$/;
/** An escaped key: one `$` more than the message had. */
const ESCAPED = /^\$\$+buffer$/;

// JSON.stringify has already turned a Buffer into `{type: 'Buffer', data}` when the replacer sees
// it; the holder still has the Buffer itself.
function tagBuffers(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  // A Uint8Array other than a Buffer (what some libraries make) comes back as a Buffer, a Uint8Array too.
  if (raw instanceof Uint8Array) return { [BUFFER_TAG]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).some((name) => TAG_LIKE.test(name))) {
    // A copy with those keys escaped; JSON.stringify goes on into the copy (its values are the same).
    const escaped: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) escaped[TAG_LIKE.test(name) ? `$${name}` : name] = inner;
    return escaped;
  }
  return value;
}

// Bottom-up, as JSON.parse calls it: an object's values are restored before the object is seen.
function untagBuffers(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const tagged = (value as Record<string, unknown>)[BUFFER_TAG];
    if (keys.length === 1 && typeof tagged === 'string') return Buffer.from(tagged, 'base64');
    if (keys.some((name) => ESCAPED.test(name))) {
      const unescaped: Record<string, unknown> = {};
      for (const name of keys) unescaped[ESCAPED.test(name) ? name.slice(1) : name] = (value as Record<string, unknown>)[name];
      return unescaped;
    }
  }
  return value;
}
