// `aiware-sim check <runtime file>`: a build runtime checked before it is deployed, by the runner's
// own code (runner/check.ts), one line per problem naming the node, a summary line, an exit code
// for CI. Exit codes, those of every aiware-sim command (cli/exit.ts): 0 no error (warnings
// allowed, unless --strict), 3 problems found (the flow or the build is wrong), 2 a bad command
// line, 1 the check itself failed.
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { checkRuntime, type CheckProblem, type CheckReport } from '@aiware-nodered/node-red-runner/dist/check';
import { loadConfig, DEFAULTS } from '@aiware-nodered/node-red-runner/dist/config';
import { plural, shown } from './report';
import { EXIT } from './exit';

export const CHECK_EXIT = { clean: EXIT.ok, failed: EXIT.failed, problems: EXIT.flowError, usage: EXIT.usage } as const;

/** A bad `check` command line (commander has said why, or the message says it): exit 2, as every command's. */
export class CheckUsageError extends Error {
  readonly exitCode = CHECK_EXIT.usage;

  constructor(message: string) {
    super(message);
    this.name = 'CheckUsageError';
  }
}

interface RawCheckOptions {
  manifest?: string | false;
  shareFolder?: string;
  processUrl: string;
  readyUrl: string;
  strict?: boolean;
  json?: boolean;
}

const HELP = `
Checks, without starting anything or using the network:
  the file        read by the runner's loader: JSON, a flow export or {flows, credentials?, modules?, settings?}, ids once each
  settings        only Node-RED settings a build may set (not the runner's own: userDir, logging...), the pack's aiware ones typed
  node types      each node's type is Node-RED's core, the pack's, a subflow of the file, or registered by a module it names
  modules         names and specs as the runner resolves them: a version or range, or a local tarball that exists
  aiware-process-in   exactly one serves POST /process (the runner's rule), its readiness path that of VERITONE_WEBHOOK_READY
  manifest        "runtime": "nodeRed", and engineMode (chunk, stream, batch) that of the process-in
  credentials     none in clear: plain credentials, secret-named properties (password, token, apiKey...), logins in module specs

Examples:
  $ aiware-sim check build/runtime.json
  $ aiware-sim check build/runtime.json --manifest build/manifest.json --json
  $ aiware-sim check runtime.json --share-folder /cache/automate-share

Exit codes: 0 no problem (warnings allowed, unless --strict); 3 problems found; 2 a bad command line;
1 the check itself failed.`;

/** The `check` command; `onCode` receives its exit code. */
export function checkCommand(onCode: (code: number) => void): Command {
  return new Command('check')
    .description('Check a build runtime file before it is deployed: what the runner would refuse, and what a deployment should not carry.')
    .argument('<runtime>', 'the build runtime file (what AIWARE_BUILD_RUNTIME names)')
    .option('--manifest <file>', "the engine's manifest.json (default: manifest.json beside the runtime file, when there)")
    .option('--no-manifest', 'do not read a manifest')
    .option('--share-folder <dir>', 'AIWARE_AUTOMATE_SHARE_FOLDER: read the node types of an installed module set there')
    .option('--process-url <url>', 'VERITONE_WEBHOOK_PROCESS the runner will get', DEFAULTS.process)
    .option('--ready-url <url>', 'VERITONE_WEBHOOK_READY the runner will get', DEFAULTS.ready)
    .option('--strict', 'warnings fail the check too')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .exitOverride((err: CommanderError) => {
      // Help and version are not errors; anything else on this command line is a usage error.
      if (err.exitCode === 0) throw err;
      throw new CheckUsageError(err.message);
    })
    .action(async (runtime: string, raw: RawCheckOptions) => onCode(await runCheck(runtime, raw)));
}

/** Checks, prints, and gives the exit code. */
export async function runCheck(runtime: string, raw: RawCheckOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let paths: { process: string; ready: string };
  try {
    // The runner's own reading of the two variables: same URL rules, same port.
    const config = loadConfig({ AIWARE_BUILD_RUNTIME: runtime, VERITONE_WEBHOOK_PROCESS: raw.processUrl, VERITONE_WEBHOOK_READY: raw.readyUrl });
    paths = { process: config.process.path, ready: config.ready.path };
  } catch (err) {
    const message = errorMessage(err)
      .replace(/VERITONE_WEBHOOK_PROCESS/g, '--process-url')
      .replace(/VERITONE_WEBHOOK_READY/g, '--ready-url');
    process.stderr.write(`error: ${message}\n`);
    return CHECK_EXIT.usage;
  }
  let report: CheckReport;
  try {
    report = await checkRuntime(runtime, {
      manifest: raw.manifest === false ? false : raw.manifest,
      processPath: paths.process,
      readyPath: paths.ready,
      shareFolder: raw.shareFolder,
    });
  } catch (err) {
    process.stderr.write(`aiware-sim check: ${errorMessage(err)}\n`);
    return CHECK_EXIT.failed;
  }
  const errors = report.problems.filter((p) => p.severity === 'error').length;
  const warnings = report.problems.length - errors;
  const code = errors > 0 || (raw.strict && warnings > 0) ? CHECK_EXIT.problems : CHECK_EXIT.clean;
  if (raw.json) {
    out.write(`${JSON.stringify({ ...report, ok: code === CHECK_EXIT.clean, errors, warnings, exitCode: code }, null, 2)}\n`);
  } else {
    const file = shown(report.file);
    for (const problem of report.problems) out.write(`${file}: ${formatProblem(problem)}\n`);
    out.write(`${file}: ${formatSummary(report, errors, warnings)}\n`);
  }
  return code;
}

/** `error: <id> "<name>" (<type>): <what is wrong> [kind/code]`, or the place instead of the node. */
export function formatProblem(problem: CheckProblem): string {
  const node = problem.node;
  const subject = node ? `${node.id}${node.name !== undefined ? ` ${JSON.stringify(node.name)}` : ''}${node.type !== undefined ? ` (${node.type})` : ''}: ` : problem.where ? `${problem.where}: ` : '';
  return `${problem.severity}: ${subject}${problem.message} [${problem.kind}/${problem.code}]`;
}

export function formatSummary(report: CheckReport, errors: number, warnings: number): string {
  const verdict = errors + warnings === 0 ? 'ok' : [plural(errors, 'error'), ...(warnings > 0 ? [plural(warnings, 'warning')] : [])].join(', ');
  if (!report.read) return verdict;
  const manifest = report.manifest ? `manifest ${shown(path.resolve(report.manifest))}` : 'no manifest';
  return `${verdict} (${plural(report.nodes, 'node')} of ${plural(report.types.length, 'type')}, ${plural(report.modules.length, 'module')}, ${manifest})`;
}
