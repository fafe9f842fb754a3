// The extra Node-RED node packages a build names in its runtime file (`modules`), installed once
// per organisation into AIWARE_AUTOMATE_SHARE_FOLDER and loaded from there by every engine of it.
// Several engines (processes, or containers sharing the folder) may start at the same moment:
// one installs, the others wait for it and reuse its folder.
//
// Layout, under <shareFolder>/nodered-modules/:
//   <key>/                    a complete set: package.json, node_modules/, .complete.json
//   <key>.lock/               proper-lockfile's lock while someone installs <key>
//   <key>.tmp-<pid>-<random>/ an install in progress (or left by a crashed one)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lockfile from 'proper-lockfile';
import { sleep, syncDir, syncTree, writeFileDurably } from '@aiware-nodered/node-red-aiware';

/** The folder under the share folder that holds one folder per module set. */
export const MODULES_FOLDER = 'nodered-modules';
/** Written last into a set's folder: only a folder with it is trusted. */
export const COMPLETE_MARKER = '.complete.json';

export interface ModuleLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EnsureModulesOptions {
  /** npm name → version or range (anything npm accepts), or a path to a local tarball. */
  modules: Record<string, string>;
  /** AIWARE_AUTOMATE_SHARE_FOLDER. */
  shareFolder: string;
  log?: ModuleLog;
  /** The npm command; default 'npm'. */
  npm?: string;
  /** How long to wait for another process's install of the same set; default 10 min. */
  lockTimeoutMs?: number;
  /** Relative tarball paths resolve against this; default the working directory. */
  baseDir?: string;
  /** npm is stopped after this long; default 10 min. */
  installTimeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over; default 30 s. */
  lockStaleMs?: number;
}

export interface EnsuredModules {
  /**
   * The folder whose node_modules/ holds the modules: give it to Node-RED's `nodesDir`.
   * Undefined when the build names no modules (nothing was touched).
   */
  dir: string | undefined;
  /** True if this call ran npm, false if it reused a complete folder (or there was nothing to do). */
  installed: boolean;
}

/**
 * Why a set could not be made ready: `invalid` a name or spec npm would refuse, `tarball` a local
 * tarball that cannot be read, `lock` another install held the set too long (or the lock could
 * not be taken), `install` npm failed or the folder could not be written.
 */
export type ModuleInstallReason = 'invalid' | 'tarball' | 'lock' | 'install';

export class ModuleInstallError extends Error {
  constructor(
    message: string,
    readonly reason: ModuleInstallReason,
    /** The modules of the set, `name@spec` with credentials redacted. */
    readonly modules: string[],
    /** The last lines of npm's stderr (redacted), when npm ran. */
    readonly stderrTail = '',
  ) {
    super(message);
    this.name = 'ModuleInstallError';
  }
}

const DEFAULT_LOCK_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_INSTALL_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_LOCK_STALE_MS = 30_000;
const STDERR_TAIL_LINES = 20;
const SILENT: ModuleLog = { info: () => undefined, warn: () => undefined };

/** Credentials a spec or npm's output may carry: URL user info, `_authToken=` and the like. */
export function redactSecrets(text: string): string {
  return text.replace(/\/\/[^\s/@]+@/g, '//***@').replace(/\b(_authToken|_auth|_password|password|token)=[^\s&"']+/gi, '$1=***');
}

/** One module of a build as the runner installs it. */
export interface ResolvedModule {
  name: string;
  /** What goes into package.json: the spec, or `file:<absolute path>` for a tarball. */
  install: string;
  /** What goes into the key: the spec, or the tarball's content hash. */
  identity: string;
  /** For logs and errors. */
  shown: string;
  /** The local tarball's absolute path, when the spec names one. */
  tarball?: string;
}

// npm's rules, loosely: lower/upper case for old packages, no leading dot or underscore, an
// optional scope. Anything else would fail in npm with a worse message, or escape node_modules/.
const NPM_NAME = /^(?:@[a-z0-9~-][\w.~-]*\/)?[a-z0-9~-][\w.~-]*$/i;
// As npm-package-arg: a spec that looks like a path, or names a tarball file, is a local file.
const LOOKS_LIKE_PATH = /^(?:\.{1,2}[\\/]|[\\/]|~[\\/]|[a-zA-Z]:[\\/])/;
const TARBALL_FILE = /\.(?:tgz|tar\.gz|tar)$/i;

function localPath(spec: string, baseDir: string): string | undefined {
  let p: string;
  if (spec.startsWith('file:')) p = spec.startsWith('file://') ? fileURLToPath(spec) : spec.slice('file:'.length);
  else if (LOOKS_LIKE_PATH.test(spec) || (TARBALL_FILE.test(spec) && !spec.includes(':'))) p = spec;
  else return undefined;
  if (p === '~' || p.startsWith('~/')) p = path.join(os.homedir(), p.slice(1));
  return path.resolve(baseDir, p);
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One module resolved as the runner installs it, or why it cannot be: a name or spec npm would refuse, a tarball that is not there. */
export type ModuleResolution = { module: ResolvedModule; refused?: undefined } | { refused: { reason: ModuleInstallReason; why: string }; module?: undefined };

/** Resolves one `name → spec` of a build's modules without npm or the network (a local tarball is read and hashed). */
export async function resolveModule(name: string, spec: unknown, baseDir: string): Promise<ModuleResolution> {
  const refuse = (reason: ModuleInstallReason, why: string): ModuleResolution => ({ refused: { reason, why } });
  if (!NPM_NAME.test(name) || name.length > 214) return refuse('invalid', `"${name}" is not an npm package name`);
  if (typeof spec !== 'string' || spec.trim() === '' || /[\r\n]/.test(spec)) return refuse('invalid', `"${name}" needs a version, a range or a tarball path`);
  const file = localPath(spec.trim(), baseDir);
  if (file === undefined) return { module: { name, install: spec.trim(), identity: spec.trim(), shown: `${name}@${redactSecrets(spec.trim())}` } };
  const stat = await fs.stat(file).catch(() => undefined);
  // A folder would be linked, not copied: the set would break when the folder goes away.
  if (!stat) return refuse('tarball', `${name}: the local tarball ${file} does not exist`);
  if (!stat.isFile()) return refuse('tarball', `${name}: ${file} is not a tarball (pack the folder with npm pack)`);
  let hash: string;
  try {
    hash = await sha256OfFile(file);
  } catch (err) {
    return refuse('tarball', `${name}: cannot read ${file}: ${(err as Error).message}`);
  }
  // The content, not the path, identifies it: a rebuilt tarball gets a new folder.
  return { module: { name, install: `file:${file}`, identity: `tarball sha256:${hash}`, shown: `${name}@file:${file}`, tarball: file } };
}

async function resolveModules(modules: Record<string, string>, baseDir: string): Promise<ResolvedModule[]> {
  const shownAll = Object.entries(modules).map(([n, s]) => `${n}@${redactSecrets(String(s))}`);
  // Sorted by code unit, not locale: the key must not depend on the machine's language.
  const names = Object.keys(modules).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const resolved: ResolvedModule[] = [];
  for (const name of names) {
    const result = await resolveModule(name, modules[name], baseDir);
    if (result.refused) throw new ModuleInstallError(`cannot install Node-RED modules: ${result.refused.why}`, result.refused.reason, shownAll);
    resolved.push(result.module);
  }
  return resolved;
}

function keyOf(resolved: ResolvedModule[]): string {
  // Native add-ons built by install scripts only run on the platform and Node ABI that built them,
  // and containers with other images may share the folder: those are part of the set.
  const canonical = JSON.stringify({
    format: 1,
    runtime: `${process.platform}-${process.arch}-abi${process.versions.modules}`,
    modules: Object.fromEntries(resolved.map((m) => [m.name, m.identity])),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** The folder name of a module set under `<shareFolder>/nodered-modules/` (16 hex digits). */
export async function moduleSetKey(modules: Record<string, string>, baseDir = process.cwd()): Promise<string> {
  return keyOf(await resolveModules(modules, baseDir));
}

interface Marker {
  key: string;
  modules: string[];
  versions: Record<string, string>;
  installedAt: string;
}

async function readMarker(dir: string, key: string): Promise<Marker | undefined> {
  try {
    const marker = JSON.parse(await fs.readFile(path.join(dir, COMPLETE_MARKER), 'utf8')) as Marker;
    return marker?.key === key ? marker : undefined;
  } catch {
    return undefined;
  }
}

/** The folder of the build's module set in the share folder when it is installed and complete (no npm, no lock). */
export async function installedModuleSet(modules: Record<string, string>, shareFolder: string, baseDir = process.cwd()): Promise<string | undefined> {
  const key = keyOf(await resolveModules(modules, baseDir));
  const dir = path.join(path.resolve(shareFolder), MODULES_FOLDER, key);
  return (await readMarker(dir, key)) ? dir : undefined;
}

/**
 * Makes the module set ready in the share folder and says where: reuses a complete folder
 * (no npm, no network), or installs it, once, however many engines start together.
 */
export async function ensureModules(options: EnsureModulesOptions): Promise<EnsuredModules> {
  const modules = options.modules ?? {};
  if (Object.keys(modules).length === 0) return { dir: undefined, installed: false };
  const log = options.log ?? SILENT;
  const resolved = await resolveModules(modules, options.baseDir ?? process.cwd());
  const key = keyOf(resolved);
  const root = path.join(path.resolve(options.shareFolder), MODULES_FOLDER);
  const dir = path.join(root, key);
  const shown = resolved.map((m) => m.shown);
  const reuse = (marker: Marker, waitedMs?: number): EnsuredModules => {
    log.info({ dir, modules: shown, versions: marker.versions, installedAt: marker.installedAt, waitedMs }, 'node modules: reusing the installed set');
    return { dir, installed: false };
  };

  // The common start: the set is there. The marker is only ever published whole, so no lock.
  const ready = await readMarker(dir, key);
  if (ready) return reuse(ready);

  try {
    await fs.mkdir(root, { recursive: true });
  } catch (err) {
    throw new ModuleInstallError(`cannot install Node-RED modules ${shown.join(', ')}: cannot create ${root}: ${(err as Error).message}`, 'install', shown);
  }
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const stale = options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS;
  const started = Date.now();
  let waiting = false;
  for (;;) {
    let compromised: Error | undefined;
    const abort = new AbortController();
    let release: () => Promise<void>;
    try {
      // Retries are ours (below), so a waiter also notices a marker published meanwhile.
      release = await lockfile.lock(dir, {
        realpath: false,
        stale,
        retries: 0,
        // proper-lockfile's default throws from a timer and kills the process. Another process
        // judged us dead and took the set over: stop npm (it will clear our temp folder) and
        // go back to waiting for the set.
        onCompromised: (err) => {
          compromised = err;
          abort.abort();
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new ModuleInstallError(`cannot install Node-RED modules ${shown.join(', ')}: cannot lock ${dir}: ${(err as Error).message}`, 'lock', shown);
      }
      if (!waiting) log.info({ dir, modules: shown }, 'node modules: another engine is installing the set, waiting for it');
      waiting = true;
      if (Date.now() - started >= lockTimeoutMs) {
        throw new ModuleInstallError(`cannot install Node-RED modules ${shown.join(', ')}: another process held ${dir}.lock for more than ${Math.round(lockTimeoutMs / 1000)} s`, 'lock', shown);
      }
      // Jittered, so waiters started together do not poll in step.
      await sleep(200 + Math.floor(Math.random() * 300));
      const marker = await readMarker(dir, key);
      if (marker) return reuse(marker, Date.now() - started);
      continue;
    }

    try {
      // The holder before us may have finished between our look and our lock.
      const marker = await readMarker(dir, key);
      if (marker) return reuse(marker, Date.now() - started);
      await clearLeftovers(root, key, dir, log);
      const t0 = Date.now();
      log.info({ dir, modules: shown }, 'node modules: installing the set');
      const versions = await install({
        root,
        key,
        dir,
        resolved,
        shown,
        npm: options.npm ?? 'npm',
        timeoutMs: options.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
        signal: abort.signal,
        lost: () => compromised,
      });
      log.info({ dir, modules: shown, versions, ms: Date.now() - t0 }, 'node modules: installed the set');
      return { dir, installed: true };
    } catch (err) {
      if (compromised && Date.now() - started < lockTimeoutMs) {
        log.warn({ dir, modules: shown, err: redactSecrets(compromised.message) }, 'node modules: lost the install lock to another process, waiting for it');
        waiting = true;
        continue;
      }
      throw err;
    } finally {
      // A compromised lock is already released (and perhaps someone else's now): leave it be.
      if (!compromised) await release().catch(() => undefined);
    }
  }
}

/** Under the lock, anything but a complete set is a crashed install's: remove it. */
async function clearLeftovers(root: string, key: string, dir: string, log: ModuleLog): Promise<void> {
  for (const entry of await fs.readdir(root)) {
    if (!entry.startsWith(`${key}.tmp-`)) continue;
    log.warn({ folder: path.join(root, entry) }, 'node modules: removing an interrupted install');
    await fs.rm(path.join(root, entry), { recursive: true, force: true });
  }
  const stat = await fs.stat(dir).catch(() => undefined);
  if (stat) {
    log.warn({ folder: dir }, 'node modules: removing a set folder without its completion marker');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

interface InstallJob {
  root: string;
  key: string;
  dir: string;
  resolved: ResolvedModule[];
  shown: string[];
  npm: string;
  timeoutMs: number;
  signal: AbortSignal;
  lost: () => Error | undefined;
}

/** npm into a private temp folder, flushed to disk, marker last, then one rename publishes folder and marker. */
async function install(job: InstallJob): Promise<Record<string, string>> {
  const tmp = path.join(job.root, `${job.key}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fail = (why: string, stderrTail = ''): ModuleInstallError =>
    new ModuleInstallError(`cannot install Node-RED modules ${job.shown.join(', ')}: ${why}${stderrTail ? `\n${stderrTail}` : ''}`, 'install', job.shown, stderrTail);
  try {
    await fs.mkdir(tmp);
    const pkg = {
      name: `aiware-nodered-modules-${job.key}`,
      private: true,
      description: 'Node-RED modules installed by the aiWARE runner; do not edit (the folder is shared)',
      dependencies: Object.fromEntries(job.resolved.map((m) => [m.name, m.install])),
    };
    await fs.writeFile(path.join(tmp, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    await runNpm(job, tmp, fail);
    const versions: Record<string, string> = {};
    for (const m of job.resolved) {
      try {
        const installed = JSON.parse(await fs.readFile(path.join(tmp, 'node_modules', m.name, 'package.json'), 'utf8')) as { version?: string };
        versions[m.name] = installed.version ?? '';
      } catch {
        throw fail(`npm reported success but node_modules/${m.name} is missing`);
      }
    }
    const marker: Marker = { key: job.key, modules: job.shown, versions, installedAt: new Date().toISOString() };
    // Durable, mark last: after a power cut a set with its mark is a whole set.
    await syncTree(tmp);
    await writeFileDurably(path.join(tmp, COMPLETE_MARKER), `${JSON.stringify(marker, null, 2)}\n`, tmp, 0o644);
    // Never publish after losing the lock: the new holder may be clearing our folder.
    if (job.lost()) throw fail('lost the install lock');
    try {
      await fs.rename(tmp, job.dir);
      await syncDir(job.root);
    } catch (err) {
      throw fail(`cannot move the install into ${job.dir}: ${(err as Error).message}`);
    }
    return versions;
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof ModuleInstallError) throw err;
    throw fail((err as Error).message);
  }
}

// npm and the packages' install scripts get what npm needs (its config and credentials, proxies,
// CA certificates, compilers for native add-ons), not the engine's own variables.
const NPM_ENV =
  /^(?:PATH|HOME|USER|LOGNAME|SHELL|TMPDIR|TMP|TEMP|LANG|LC_[A-Z]+|TZ|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY|XDG_[A-Z_]+|PYTHON|CC|CXX|MAKEFLAGS|npm_config_.+)$/i;

function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => NPM_ENV.test(name)));
}

function runNpm(job: InstallJob, tmp: string, fail: (why: string, stderrTail?: string) => ModuleInstallError): Promise<void> {
  // Install scripts stay on: node packages may build native add-ons or fetch binaries in them.
  // No package-lock: the folder is written once and never installed into again; the marker
  // records the versions.
  const args = ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock', '--no-update-notifier', '--prefix', tmp];
  return new Promise<void>((resolve, reject) => {
    // Its own process group, so a kill also reaches the install scripts npm started.
    const child = spawn(job.npm, args, { cwd: tmp, env: npmEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-16_384);
    });
    let stopped: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (why: string): void => {
      if (stopped || child.exitCode !== null || child.pid === undefined) return;
      stopped = why;
      const kill = (signal: NodeJS.Signals): void => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          child.kill(signal);
        }
      };
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), 5_000);
    };
    const timer = setTimeout(() => stop(`npm did not finish within ${Math.round(job.timeoutMs / 1000)} s`), job.timeoutMs);
    const onAbort = (): void => stop('lost the install lock');
    if (job.signal.aborted) onAbort();
    job.signal.addEventListener('abort', onAbort);
    const settle = (): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      job.signal.removeEventListener('abort', onAbort);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      settle();
      reject(fail(err.code === 'ENOENT' ? `the npm command "${job.npm}" was not found` : `cannot run ${job.npm}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      settle();
      if (code === 0 && !stopped) return resolve();
      const tail = redactSecrets(stderr).trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
      reject(fail(stopped ?? `npm exited with ${code ?? signal}`, tail));
    });
  });
}
