// The secrets of the tasks open now, indexed so a text is scrubbed of all of them in one pass whose
// cost does not grow with their number: every Node-RED log line of the runner goes through it, and
// with 1000 open tasks a scan of each task's tokens per line showed in a loaded profile.
//
// How: a secret of length L is found by its last k-grams. Cut the text into windows of k characters
// at multiples of k; an occurrence of the secret (L ≥ 2k − 1) holds at least one whole window, and
// the last one it holds starts at an offset in [L − 2k + 1, L − k] of the secret. So each secret is
// filed under its k k-grams at those offsets, and a text costs one map look-up per window (per k in
// use: at most MAX_K − 1 of them) plus a check of each candidate. The ends of tokens (a JWT's
// signature, a random id) are what differ between tasks, so a window rarely has more than one.
import { secretsOf, type ProcessFieldName } from './fields';

/** The longest window: secrets of 2 × 8 − 1 = 15 characters or more use it. */
const MAX_K = 8;
/** Shorter secrets (4 characters at least, see `secretsOf`) use half their length, rounded up, but at least 2. */
const MIN_K = 2;

interface Entry {
  secret: string;
  /** Where the window lies in the secret. */
  offset: number;
}

export class SecretIndex {
  /** How many open tasks hold each secret: two tasks of one job may share a token. */
  private readonly counts = new Map<string, number>();
  /** By window length k, then by k-gram: the secrets filed under it. */
  private readonly grams = new Map<number, Map<string, Entry[]>>();

  get size(): number {
    return this.counts.size;
  }

  /** Adds the secret fields of a task (see `secretsOf`). */
  addFields(fields: Partial<Record<ProcessFieldName, unknown>>): void {
    for (const secret of secretsOf(fields)) this.add(secret);
  }

  /** Removes what `addFields` added for the same fields. */
  removeFields(fields: Partial<Record<ProcessFieldName, unknown>>): void {
    for (const secret of secretsOf(fields)) this.remove(secret);
  }

  /** Secrets shorter than 4 characters are left out, as `secretsOf` leaves them out: they would scrub ordinary words. */
  add(secret: string): void {
    if (secret.length < 4) return;
    const count = this.counts.get(secret) ?? 0;
    this.counts.set(secret, count + 1);
    if (count > 0) return;
    const k = windowOf(secret);
    let byGram = this.grams.get(k);
    if (!byGram) this.grams.set(k, (byGram = new Map<string, Entry[]>()));
    for (let offset = secret.length - 2 * k + 1; offset <= secret.length - k; offset++) {
      const gram = secret.slice(offset, offset + k);
      const entries = byGram.get(gram);
      if (entries) entries.push({ secret, offset });
      else byGram.set(gram, [{ secret, offset }]);
    }
  }

  remove(secret: string): void {
    const count = this.counts.get(secret);
    if (count === undefined) return;
    if (count > 1) {
      this.counts.set(secret, count - 1);
      return;
    }
    this.counts.delete(secret);
    const k = windowOf(secret);
    const byGram = this.grams.get(k);
    if (!byGram) return;
    for (let offset = secret.length - 2 * k + 1; offset <= secret.length - k; offset++) {
      const gram = secret.slice(offset, offset + k);
      const entries = byGram.get(gram);
      if (!entries) continue;
      const at = entries.findIndex((e) => e.secret === secret && e.offset === offset);
      if (at === -1) continue;
      if (entries.length === 1) byGram.delete(gram);
      else entries.splice(at, 1);
    }
    if (byGram.size === 0) this.grams.delete(k);
  }

  /** `text` with every indexed secret replaced by `[redacted]` (overlapping ones as one). */
  scrub(text: string): string {
    if (this.counts.size === 0) return text;
    let found: [number, number][] | undefined;
    for (const [k, byGram] of this.grams) {
      if (text.length < 2 * k - 1) continue;
      for (let at = 0; at + k <= text.length; at += k) {
        const entries = byGram.get(text.slice(at, at + k));
        if (!entries) continue;
        for (const { secret, offset } of entries) {
          const start = at - offset;
          if (start >= 0 && text.startsWith(secret, start)) (found ??= []).push([start, start + secret.length]);
        }
      }
    }
    if (!found) return text;
    found.sort((a, b) => a[0] - b[0]);
    let out = '';
    let done = 0;
    for (const [start, end] of found) {
      if (end <= done) continue;
      if (start >= done) out += text.slice(done, start) + '[redacted]';
      done = end;
    }
    return out + text.slice(done);
  }
}

function windowOf(secret: string): number {
  return Math.max(MIN_K, Math.min(MAX_K, Math.ceil(secret.length / 2)));
}
