// The documentation against the code it describes: every RUNNER_* variable the code reads, every
// node property (the editor's defaults, labels and help), every aiware-sim option and every setting
// the pack reads is on its page with its default; every relative link lands on a file and a heading
// that exist; no page cites a document outside the repository; the README stays short.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Command } from 'commander';
import { main } from '@aiware-nodered/aiware-sim/dist/cli';
import { DEFAULTS } from '@aiware-nodered/node-red-runner/dist/config';
import { DEFAULT_LIMITS, DEFAULT_RETRY, DEFAULT_TASK_SETTINGS } from '../core';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The pages a reader of the repository or of a package meets. */
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  'runner/README.md',
  'simulator/README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The TypeScript sources under `dir` (no tests, no builds, no declarations). */
function sources(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, at), { withFileTypes: true })) {
      const rel = path.join(at, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(rel);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(rel);
    }
  };
  walk(dir);
  return found;
}

/** Markdown without its fenced code blocks (a link or a heading in a code block is neither). */
const prose = (md: string): string => md.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');

/** The part of a page under `## <heading>`, up to the next heading of that level or above. */
function section(md: string, heading: string): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l === `## ${heading}`);
  assert.ok(start >= 0, `no section "## ${heading}"`);
  const end = lines.findIndex((l, i) => i > start && /^#{1,2} /.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** A table's rows as cells (header and separator rows included; `\|` is a pipe inside a cell). */
function rows(md: string): string[][] {
  return md
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

/** The row whose first cell is `` `name` `` (or starts with it, for `--flag <value>`). */
function rowOf(md: string, name: string): string[] | undefined {
  return rows(md).find((cells) => cells[0] === `\`${name}\``);
}

/** GitHub's anchor for a heading. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, text] of prose(md).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  return found;
}

describe('the documentation', function () {
  describe('docs/runner.md', function () {
    const page = read('docs/runner.md');
    const code = ['runner', 'simulator', 'core', 'nodes'].flatMap(sources).map(read).join('\n');
    const named = new Set([...code.matchAll(/\bRUNNER_[A-Z_]+\b/g)].map((m) => m[0]));
    // Names the code declares are constants (RUNNER_NODE_FLAGS, RUNNER_SETTINGS…), not variables.
    const constants = new Set([...code.matchAll(/\b(?:const|let|var|function|class)\s+(RUNNER_[A-Z_]+)\b/g)].map((m) => m[1]));
    const variables = [...named].filter((n) => !constants.has(n)).sort();
    // The runner's defaults, by variable: the name in camel case is its key in DEFAULTS.
    const defaults = new Map<string, string>([
      ['RUNNER_WORKDIR', DEFAULTS.workRoot],
      ['VERITONE_WEBHOOK_PROCESS', DEFAULTS.process],
      ['VERITONE_WEBHOOK_READY', DEFAULTS.ready],
    ]);
    for (const [key, value] of Object.entries(DEFAULTS)) {
      const variable = variables.find(
        (v) =>
          v
            .replace(/^RUNNER_/, '')
            .replace(/_/g, '')
            .toLowerCase() === key.toLowerCase(),
      );
      if (variable) defaults.set(variable, String(value));
    }

    it('finds the variables and the constants in the code', function () {
      assert.ok(variables.length >= 15, variables.join(', '));
      assert.ok(constants.has('RUNNER_NODE_FLAGS'), 'RUNNER_NODE_FLAGS is a constant');
    });

    it('has every RUNNER_* variable the code reads, with its default', function () {
      for (const variable of variables) {
        const row = rowOf(page, variable);
        assert.ok(row, `docs/runner.md has no row for ${variable}`);
        assert.ok(row[1] !== '' && row[1] !== undefined, `${variable} has no default in docs/runner.md`);
      }
    });

    it('gives each default the code has as the code has it', function () {
      assert.ok(defaults.size >= 10, `${[...defaults.keys()].join(', ')}`);
      for (const [variable, value] of defaults) {
        const row = rowOf(page, variable);
        assert.ok(row, `docs/runner.md has no row for ${variable}`);
        assert.ok(row[1].includes(value), `${variable}: docs/runner.md says "${row[1]}", the code's default is ${value}`);
      }
    });

    it('lists no constant as a variable, and no variable the code does not read', function () {
      const documented = rows(page)
        .map((cells) => /^`(RUNNER_[A-Z_]+)`$/.exec(cells[0])?.[1])
        .filter((n): n is string => n !== undefined);
      for (const name of documented) assert.ok(variables.includes(name), `docs/runner.md lists ${name}, which the code does not read as a variable`);
    });
  });

  describe('docs/nodes.md', function () {
    const page = read('docs/nodes.md');
    const types = fs.readdirSync(path.join(ROOT, 'nodes')).filter((d) => d.startsWith('aiware-'));

    interface Editor {
      defaults: Record<string, { value: unknown }>;
      labels: Map<string, string>;
      help: string;
    }

    /** What the editor has of a node: registerType's defaults (run as the editor runs them), the dialog's labels, the help. */
    function editor(type: string): Editor {
      const html = read(`nodes/${type}/${type}.html`);
      let defaults: Editor['defaults'] | undefined;
      const validator = () => () => true;
      const RED = {
        nodes: { registerType: (_t: string, def: { defaults: Editor['defaults'] }) => (defaults = def.defaults) },
        validators: { typedInput: validator, number: validator, regex: validator },
        settings: {},
        _: (key: string) => key,
      };
      for (const [, script] of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) vm.runInNewContext(script, { RED, $: () => undefined });
      assert.ok(defaults, `${type}: registerType not called`);
      const locale = JSON.parse(read(`nodes/${type}/locales/en-US/${type}.json`)) as Record<string, { label: Record<string, unknown> }>;
      const labels = new Map<string, string>();
      for (const [, property, key] of html.matchAll(/<label for="node-input-(\w+)"[^>]*>.*?data-i18n="[\w-]+\.label\.(\w+)"/g)) {
        const text = locale[type].label[key];
        if (typeof text === 'string') labels.set(property, text);
      }
      const help = new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`).exec(html)?.[1];
      assert.ok(help, `${type}: no help`);
      return { defaults, labels, help };
    }

    it('has a section for each of the six nodes', function () {
      assert.equal(types.length, 6, types.join(', '));
      for (const type of types) section(page, type);
    });

    for (const type of types) {
      it(`has every property of ${type} with the editor's default and label`, function () {
        const { defaults, labels } = editor(type);
        const text = section(page, type);
        for (const [property, { value }] of Object.entries(defaults)) {
          const row = rowOf(text, property);
          assert.ok(row, `docs/nodes.md, ${type}: no row for the property ${property}`);
          const [, label, documented] = row;
          if (value === '') assert.match(documented, /^blank\b/, `${type}.${property}: the editor's default is blank, docs/nodes.md says "${documented}"`);
          else assert.ok(documented.startsWith(`\`${String(value)}\``), `${type}.${property}: the editor's default is ${JSON.stringify(value)}, docs/nodes.md says "${documented}"`);
          const editorLabel = labels.get(property);
          if (editorLabel !== undefined) assert.equal(label, editorLabel, `${type}.${property}: the dialog's label`);
        }
        // And nothing the node does not have.
        const header = rows(text).findIndex((cells) => cells[0] === 'property');
        assert.ok(header >= 0, `${type}: no property table`);
        for (const cells of rows(text).slice(header + 2)) {
          const name = /^`(\w+)`$/.exec(cells[0])?.[1];
          if (name === undefined || cells.length !== 4) continue;
          assert.ok(name in defaults, `docs/nodes.md, ${type}: ${name} is not a property of the node`);
        }
      });

      it(`names every message property the help of ${type} names`, function () {
        const { help } = editor(type);
        const text = section(page, type);
        const named = [...help.matchAll(/<dt[^>]*>\s*([^<]+?)\s*<span class="property-type">/g)].flatMap((m) => m[1].split(/,\s*/));
        assert.ok(named.length > 0, `${type}: the help names no message property`);
        for (const name of named) assert.ok(text.includes(`msg.${name}`), `docs/nodes.md, ${type}: msg.${name} (in the node's help) is not described`);
      });
    }
  });

  describe('docs/simulator.md', function () {
    const page = read('docs/simulator.md');

    /** The CLI's commander program, as `aiware-sim` builds it: caught at parseAsync, so nothing runs. */
    async function program(): Promise<Command> {
      let caught: Command | undefined;
      const catchIt = (command: Command): Promise<Command> => {
        caught = command;
        return Promise.resolve(command);
      };
      const prototype = Command.prototype as unknown as Record<string, unknown>;
      const parseAsync = prototype.parseAsync;
      prototype.parseAsync = function (this: Command) {
        return catchIt(this);
      };
      try {
        await main(['node', 'aiware-sim']);
      } finally {
        prototype.parseAsync = parseAsync;
      }
      assert.ok(caught, 'the CLI built no program');
      return caught;
    }

    it('has every command, option and argument of aiware-sim with its default', async function () {
      const cli = await program();
      const commands = cli.commands.map((c) => c.name());
      assert.deepEqual([...commands].sort(), ['check', 'new', 'run', 'test']);
      let checked = 0;
      for (const command of cli.commands) {
        const text = section(page, `\`aiware-sim ${command.name()}\``);
        for (const argument of command.registeredArguments) {
          const shown = argument.required ? `<${argument.name()}${argument.variadic ? '...' : ''}>` : `[${argument.name()}${argument.variadic ? '...' : ''}]`;
          assert.ok(rowOf(text, shown), `docs/simulator.md, aiware-sim ${command.name()}: no row for ${shown}`);
        }
        for (const option of command.options) {
          const row = rowOf(text, option.flags);
          assert.ok(row, `docs/simulator.md, aiware-sim ${command.name()}: no row for ${option.flags}`);
          const documented = row[1];
          assert.ok(documented !== '' && documented !== undefined, `aiware-sim ${command.name()} ${option.flags}: no default in docs/simulator.md`);
          if (option.defaultValue !== undefined && !option.negate) {
            assert.ok(
              documented.startsWith(`\`${String(option.defaultValue)}\``),
              `aiware-sim ${command.name()} ${option.flags}: the default is ${JSON.stringify(option.defaultValue)}, docs/simulator.md says "${documented}"`,
            );
          }
          checked++;
        }
        // And no option the command does not have.
        for (const cells of rows(text)) {
          const flag = /^`(--[\w-]+)/.exec(cells[0])?.[1];
          if (flag)
            assert.ok(
              command.options.some((o) => o.long === flag),
              `docs/simulator.md, aiware-sim ${command.name()}: ${flag} is not an option of it`,
            );
        }
      }
      assert.ok(checked > 40, `only ${checked} options`);
    });
  });

  describe('docs/settings.md', function () {
    const page = read('docs/settings.md');
    const core = sources('core').map(read).join('\n');

    /** The members of an interface declared somewhere in core/. */
    function members(name: string): string[] {
      const body = new RegExp(`export interface ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(core)?.[1];
      assert.ok(body, `core/ declares no interface ${name}`);
      return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]);
    }

    it("has every setting of the pack's aiware section, with its default", function () {
      const defaults = new Map<string, unknown>([
        ...Object.entries(DEFAULT_TASK_SETTINGS),
        ...Object.entries(DEFAULT_LIMITS),
        ...Object.entries(DEFAULT_RETRY).map(([key, value]): [string, unknown] => [`retry.${key}`, value]),
      ]);
      const keys = new Set([...defaults.keys(), ...members('AiwareSettings'), ...members('BodyLimits'), ...members('TaskSettings')]);
      keys.delete('retry');
      for (const must of ['finalHeartbeatGraceMs', 'maxFields', 'tmpDir', 'flowEndGraceMs', 'recycleChunks', 'host']) assert.ok(keys.has(must), must);
      const text = section(page, "The pack's own: `aiware`");
      for (const key of keys) {
        const row = rowOf(text, key);
        assert.ok(row, `docs/settings.md has no row for aiware.${key}`);
        if (defaults.has(key)) assert.ok(row[1].includes(String(defaults.get(key))), `aiware.${key}: the default is ${String(defaults.get(key))}, docs/settings.md says "${row[1]}"`);
        else assert.ok(row[1] !== '', `aiware.${key} has no default in docs/settings.md`);
      }
    });

    it('has every Node-RED setting the nodes read', function () {
      const nodes = sources('nodes').map(read).join('\n');
      const used = new Set<string>();
      for (const [, literal] of nodes.matchAll(/RED\.settings as unknown as \{([^}]*)\}/g)) for (const [, key] of literal.matchAll(/(\w+)\??:/g)) used.add(key);
      used.delete('aiware');
      assert.ok(used.size >= 5, [...used].join(', '));
      const text = section(page, "Node-RED's own settings the pack reads");
      for (const key of used) assert.ok(text.includes(`\`${key}\``), `docs/settings.md does not say what the pack does with Node-RED's ${key}`);
    });
  });

  describe('every page', function () {
    it('cites no document outside the repository', function () {
      const outside: [RegExp, string][] = [
        [/\bSPEC\b/, 'the SPEC'],
        [/\bseeds?\b/i, 'a seed document'],
        [/\bissue #?\d+/i, 'an issue by number'],
        [/\.\.\/shared\b/, '../shared'],
      ];
      for (const page of PAGES) {
        const text = read(page);
        for (const [pattern, what] of outside) {
          const line = text.split('\n').findIndex((l) => pattern.test(l));
          assert.equal(line, -1, `${page}:${line + 1} cites ${what}: ${text.split('\n')[line]}`);
        }
      }
    });

    it('links only to files and headings that exist', function () {
      const repository = /^https:\/\/github\.com\/aiware-nodered\/node-red-aiware\/blob\/main\/([^#]+)(#.*)?$/;
      let links = 0;
      for (const page of PAGES) {
        for (const [, target] of prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
          const own = repository.exec(target);
          if (!own && /^[a-z]+:/i.test(target)) continue;
          const [file, anchor] = own
            ? [path.join(ROOT, own[1]), own[2]?.slice(1)]
            : ((t) => [t[0] === '' ? path.join(ROOT, page) : path.resolve(ROOT, path.dirname(page), t[0]), t[1]])(target.split('#'));
          const where = `${page}: ${target}`;
          assert.ok(fs.existsSync(file), `${where}: no such file`);
          if (anchor) {
            assert.ok(file.endsWith('.md'), `${where}: an anchor in a file that is not Markdown`);
            assert.ok(anchors(fs.readFileSync(file, 'utf8')).has(anchor), `${where}: no heading with that anchor`);
          }
          links++;
        }
      }
      assert.ok(links > 50, `only ${links} links`);
    });

    it("ships the pages in the palette tarball, and not the README's pictures", function () {
      const { files } = JSON.parse(read('package.json')) as { files: string[] };
      assert.ok(files.includes('docs/*.md'), `package.json files: ${files.join(', ')}`);
      assert.ok(!files.some((f) => f === 'docs' || f === 'docs/' || (f.startsWith('docs/') && !f.endsWith('.md'))), `package.json files: ${files.join(', ')}`);
    });

    it('keeps the README under 8 KiB', function () {
      const size = fs.statSync(path.join(ROOT, 'README.md')).size;
      assert.ok(size <= 8192, `README.md is ${size} bytes`);
    });
  });
});
