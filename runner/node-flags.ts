// How Node should start the runner: the image's ENTRYPOINT gives these before main.js, and the
// simulator (RunnerProcess) and the bench start it the same way.
//
// --initial-old-space-size=128: V8 counts a chunk's memory (external, outside its heap) toward
// the old generation's limit and runs a full collection whenever the limit is reached. The
// runner's heap is small (~25 MiB), so the limit V8 derives from it is reached after a few 4 MiB
// chunks: a full collection every ~7 requests, and after an idle spell, when V8's memory reducer
// has lowered the limit further, as many even with recycled chunk memory. Starting the old
// generation's limit at 128 MiB (memory V8 may grow into, not memory taken) cuts them by a third:
// at 4 MiB chunks, 13.2 → 8.1 ms of CPU a request, peak RSS 231 → 244 MiB; with recycleChunks, no
// full collection even after an idle spell (see the README). The flag cannot be set once Node
// runs (v8.setFlagsFromString comes after the heap is configured) and NODE_OPTIONS may not carry it.
//
// --harmony-rab-gsab-transfer, on Node 20 only (V8 11.3, where the feature is complete but staged;
// V8 11.4 shipped it, and a V8 that has dropped the flag makes Node refuse to start): ArrayBuffer.prototype.transfer, with which
// the pack frees each piece of a request as soon as it has read it (core/early-free.ts) instead of
// leaving up to 32 MiB of them to the garbage collector.

/** V8 before 11.4 has ArrayBuffer.prototype.transfer only behind its flag. */
export function transferNeedsFlag(v8 = process.versions.v8): boolean {
  const [major, minor] = v8.split('.').map(Number);
  return major === 11 && minor < 4;
}

export const RUNNER_NODE_FLAGS: readonly string[] = Object.freeze(['--initial-old-space-size=128', ...(transferNeedsFlag() ? ['--harmony-rab-gsab-transfer'] : [])]);
