// What the body reader hands on: the fields as strings and the chunk, in memory or in a temp file.

export interface ReceivedChunk {
  /** Why a spilled chunk is not in the request's taskTmpDir (outside the allowed roots, not there), for a warning. */
  warning?: string;
  /** The bytes, when the chunk is in memory. */
  buffer?: Buffer;
  /** The temp file holding the bytes, when the chunk spilled to disk (or `chunkToFile` wrote it). The caller removes it. */
  path?: string;
  size: number;
  /** The bytes are pooled memory (`recycleChunks`): hand them back with `ChunkPool.reclaim` when the chunk's task ends. */
  pooled?: boolean;
  /** The part's filename. */
  filename?: string;
  /**
   * The part's content type, without parameters (the parser drops them): a charset travels in the
   * `chunkMimeType` field. Absent for a chunk that came as a JSON or urlencoded string.
   */
  mimeType?: string;
}

export interface ReceivedBody {
  /** Every field but the chunk, as strings; a repeated name keeps its last value. */
  raw: Record<string, string>;
  chunk?: ReceivedChunk;
  bytesRead: number;
}
