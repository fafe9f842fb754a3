// How Node should start the runner: the image's ENTRYPOINT gives these before main.js, and the
// simulator (RunnerProcess), the bench and the test suite start it the same way. One place:
// test/dockerfile.test.ts fails when the Dockerfile's ENTRYPOINT says otherwise.
//
// --initial-old-space-size=128: V8 counts a chunk's memory (external, outside its heap) toward
// the old generation's limit and runs a full collection whenever the limit is reached. The
// runner's heap is small (~25 MiB), so the limit V8 derives from it is reached after a few 4 MiB
// chunks: a full collection every ~7 requests, and after an idle spell, when V8's memory reducer
// has lowered the limit further, as many even with recycled chunk memory. Starting the old
// generation's limit at 128 MiB (memory V8 may grow into, not memory taken) cuts them by a third
// (docs/performance.md, the heap flag). The flag cannot be set once Node runs
// (v8.setFlagsFromString comes after the heap is configured) and NODE_OPTIONS may not carry it.
//
// The runner needs Node 22.9 or later (Node-RED 5), whose V8 has ArrayBuffer.prototype.transfer
// natively: the pack frees each piece of a request as soon as it has read it (core/body/early-free.ts)
// with no flag. Node 20 needed --harmony-rab-gsab-transfer for it, which Node 22+ refuses.

export const RUNNER_NODE_FLAGS: readonly string[] = Object.freeze(['--initial-old-space-size=128']);
