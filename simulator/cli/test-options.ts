// `aiware-sim test`'s flags, checked and turned into one typed object before anything starts; the
// test files are read and checked here too, so a bad one stops the command before an engine starts.
import * as path from 'node:path';
import { UsageError, existingFile, httpUrl, integer, type EngineTarget } from './options';
import { readTestFile, testFileOf, type TestFile } from './test-file';

export interface TestOptions {
  files: TestFile[];
  /** `--runtime` or `--engine-url`: in place of each file's runtime. */
  engine?: EngineTarget;
  /** For the runner each file's runtime starts. */
  runner: { runnerScript?: string; engineId: string; buildId: string; shareFolder?: string };
  /** `--concurrency`: in place of each file's. */
  concurrency?: number;
  grep?: RegExp;
  update: boolean;
  watch: boolean;
  junit?: string;
  out?: string;
  readyTimeoutMs: number;
  heartbeatTimeoutMs: number;
  retries: number;
  verbose: boolean;
}

export interface RawTestOptions {
  runtime?: string;
  engineUrl?: string;
  readyUrl?: string;
  runner?: string;
  engineId: string;
  buildId: string;
  shareFolder?: string;
  concurrency?: string;
  grep?: string;
  update?: boolean;
  watch?: boolean;
  junit?: string;
  out?: string;
  readyTimeout: string;
  heartbeatTimeout: string;
  retries: string;
  verbose?: boolean;
}

export function parseTestOptions(args: string[], raw: RawTestOptions): TestOptions {
  if (raw.engineUrl !== undefined && raw.runtime !== undefined) throw new UsageError('give either --engine-url or --runtime, not both');
  let engine: EngineTarget | undefined;
  if (raw.engineUrl !== undefined) {
    const processUrl = httpUrl('--engine-url', raw.engineUrl);
    const readyUrl = raw.readyUrl === undefined ? new URL('/readyz', processUrl.origin) : httpUrl('--ready-url', raw.readyUrl);
    if (raw.runner !== undefined) throw new UsageError('--runner goes with a runtime file, not --engine-url');
    engine = { kind: 'url', processUrl: processUrl.href, readyUrl: readyUrl.href };
  } else if (raw.readyUrl !== undefined) {
    throw new UsageError('--ready-url goes with --engine-url');
  }
  const runner = {
    runnerScript: raw.runner === undefined ? undefined : existingFile('--runner', raw.runner),
    engineId: raw.engineId,
    buildId: raw.buildId,
    shareFolder: raw.shareFolder === undefined ? undefined : path.resolve(raw.shareFolder),
  };
  if (raw.runtime !== undefined) engine = { kind: 'runtime', runtimeFile: existingFile('--runtime', raw.runtime), ...runner };
  let grep: RegExp | undefined;
  if (raw.grep !== undefined) {
    try {
      grep = new RegExp(raw.grep);
    } catch (err) {
      throw new UsageError(`--grep: ${(err as Error).message}`);
    }
  }
  if (raw.update && raw.watch) throw new UsageError('give either --update or --watch, not both: a watch that updates what it compares would always pass');
  const files = (args.length > 0 ? args : ['.']).map((arg) => readTestFile(testFileOf(arg)));
  for (const file of files) {
    if (!engine && !file.runtime)
      throw new UsageError(`test file ${path.relative(process.cwd(), file.file) || file.file} names no runtime: give it one, or --runtime <flow.json>, or --engine-url <url>`);
  }
  return {
    files,
    engine,
    runner,
    concurrency: raw.concurrency === undefined ? undefined : integer('--concurrency', raw.concurrency, 1),
    grep,
    update: raw.update === true,
    watch: raw.watch === true,
    junit: raw.junit === undefined ? undefined : path.resolve(raw.junit),
    out: raw.out === undefined ? undefined : path.resolve(raw.out),
    readyTimeoutMs: integer('--ready-timeout', raw.readyTimeout, 1) * 1000,
    heartbeatTimeoutMs: integer('--heartbeat-timeout', raw.heartbeatTimeout, 0) * 1000,
    retries: integer('--retries', raw.retries, 0),
    verbose: raw.verbose === true,
  };
}
