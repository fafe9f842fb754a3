// The chunks `aiware-sim run` posts: files named on the command line, or every file of a folder,
// each with a MIME type from its extension and its place on the media timeline.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CHUNK_MIME_TYPE } from '../multipart';
import { UsageError } from './options';
import { TEST_FILE_NAMES } from './test-file';

/** Common media and text types by extension; anything else is sent as octet-stream (or `--mime`). */
const MIME_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.text': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.xml': 'application/xml',
  '.json': 'application/json',
  '.vtt': 'text/vtt',
  '.srt': 'application/x-subrip',
  '.ttml': 'application/ttml+xml',
  '.pdf': 'application/pdf',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.svg': 'image/svg+xml',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.oga': 'audio/ogg',
  '.opus': 'audio/opus',
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.avi': 'video/x-msvideo',
  '.mpg': 'video/mpeg',
  '.mpeg': 'video/mpeg',
  '.ts': 'video/mp2t',
};

export function mimeTypeOf(file: string): string {
  return MIME_TYPES[path.extname(file).toLowerCase()] ?? DEFAULT_CHUNK_MIME_TYPE;
}

export interface InputChunk {
  /** Absolute path of the file posted as the chunk. */
  path: string;
  /** As the user named it (relative to a folder given), for tables and the out folder. */
  label: string;
  mimeType: string;
  size: number;
  chunkIndex: number;
  startOffsetMS: number;
  endOffsetMS: number;
}

/**
 * Expands files and folders into chunks, in order: a folder gives its regular files (not its
 * subfolders, nor hidden files such as .DS_Store, nor a test file aiware-test.yaml), sorted by name. Every chunk is `chunkMs` long
 * and follows the previous one on the timeline. Throws UsageError for anything missing or empty.
 */
export function listInputs(args: string[], options: { chunkMs: number; mime?: string }): InputChunk[] {
  const files: { path: string; label: string }[] = [];
  for (const arg of args) {
    const full = path.resolve(arg);
    let stats: fs.Stats;
    try {
      stats = fs.statSync(full);
    } catch {
      throw new UsageError(`input ${arg} does not exist`);
    }
    if (stats.isDirectory()) {
      const names = fs
        .readdirSync(full, { withFileTypes: true })
        // A test file beside the inputs (aiware-sim test's) is no input.
        .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && !(TEST_FILE_NAMES as readonly string[]).includes(entry.name))
        .map((entry) => entry.name)
        .sort();
      if (names.length === 0) throw new UsageError(`input folder ${arg} has no files`);
      for (const name of names) files.push({ path: path.join(full, name), label: path.join(arg, name) });
    } else if (stats.isFile()) {
      files.push({ path: full, label: arg });
    } else {
      throw new UsageError(`input ${arg} is neither a file nor a folder`);
    }
  }
  return files.map((file, i) => ({
    ...file,
    mimeType: options.mime ?? mimeTypeOf(file.path),
    size: fs.statSync(file.path).size,
    chunkIndex: i,
    startOffsetMS: i * options.chunkMs,
    endOffsetMS: (i + 1) * options.chunkMs,
  }));
}
