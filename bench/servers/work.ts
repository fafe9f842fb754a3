// The per-request "engine" work, the same in all seven servers (bare's handler, every flow's
// function node): build a minimal VTN transcript that names the chunk's size (so a wrong or
// missing chunk shows in the answer).

/** A one-word transcript; `bytes-<size>` proves the whole chunk reached the handler. */
export function transcriptFor(size: number): Record<string, unknown> {
  return {
    validationContracts: ['transcript'],
    series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: `bytes-${size}`, confidence: 1 }] }],
  };
}

// Function nodes get the very same function as source text, so the Node-RED servers do not do
// less (or more) work than the bare one.
const TRANSCRIPT_SOURCE = `const transcriptFor = ${transcriptFor.toString()};`;

/** Function node after aiware-process-in: the chunk's size is in msg.aiware.chunk. */
export const AIWARE_FUNCTION = `${TRANSCRIPT_SOURCE}
msg.payload = transcriptFor(msg.aiware.chunk ? msg.aiware.chunk.size : 0);
return msg;`;

/** Function node after http in (upload on): multer puts the file parts in msg.req.files. */
export const HTTPIN_FUNCTION = `${TRANSCRIPT_SOURCE}
const file = (msg.req.files || []).find((f) => f.fieldname === 'chunk');
msg.payload = transcriptFor(file ? file.size : 0);
return msg;`;

/** Function node for the memory run: the flow decides the chunk needs no output (204). */
export const IGNORE_FUNCTION = `msg.ignoreChunk = true;
return msg;`;
