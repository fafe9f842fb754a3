// The pack in Node-RED's real editor, in headless Chromium: the palette's labels, every example laid out
// with no node over another (opened from a flow file, and imported against the canvas's edge), imported
// together and deployed, the try-it button pressed on each with its result in the debug sidebar, no node
// invalid or red, and a bad value in the process-in dialog shown with the validator's translated message.
// Skipped, saying so, where Chromium is not installed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { ADMIN_ROOT, deploy as deployFlows, engine } from './support/engine';
import {
  chromiumMissing,
  closeDialogs,
  cutInDialog,
  debugMessage,
  deploy,
  exampleTree,
  importExamples,
  invalidNodes,
  launch,
  layoutProblems,
  openEditor,
  pressButton,
  redStatuses,
  reloadEditor,
  type EditorRED,
} from './support/editor';

const EXAMPLES = fs
  .readdirSync(path.join(PACK_DIR, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

describe('the editor, in headless Chromium', function () {
  this.timeout(120_000);
  let browser: Browser | undefined;
  let page: Page;

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      (skipped: ${missing})`);
      this.skip();
    }
    const { red } = await engine();
    await deployFlows([]);
    browser = await launch();
    page = await openEditor(browser, `${red.url}${ADMIN_ROOT}`);
  });
  afterEach(async function () {
    if (browser) await closeDialogs(page);
  });
  after(async function () {
    await browser?.close();
    await deployFlows([]);
  });

  it('shows the aiWARE palette with translated labels', async function () {
    const labels = await page.$$eval('.red-ui-palette-node[data-palette-type^="aiware-"] .red-ui-palette-label', (els) => els.map((e) => (e.textContent ?? '').replace(/\s+/g, ' ').trim()));
    assert.deepEqual([...labels].sort(), ['heartbeat', 'keys', 'library model', 'pause for callback', 'process in', 'result out']);
  });

  it('lists the examples under Import > Examples with no folder in the tree', async function () {
    const tree = await exampleTree(page);
    assert.deepEqual(
      tree.filter((e) => typeof e === 'string'),
      [],
      'no folders (the sample inputs live in samples/)',
    );
    assert.deepEqual(tree.map((e) => (typeof e === 'string' ? e : e.fn)).sort(), EXAMPLES);
  });

  /** The nodes whose status the last check with statuses measured. */
  const measuredStatuses: string[] = [];
  /** The layout problems of each example on its tab; only the examples that have some. */
  async function problemsByExample(tabs: string[], options?: { statuses?: boolean }): Promise<Record<string, string[]>> {
    const found: Record<string, string[]> = {};
    measuredStatuses.length = 0;
    for (const [i, tab] of tabs.entries()) {
      const { problems, statuses } = await layoutProblems(page, tab, options);
      if (problems.length > 0) found[EXAMPLES[i]] = problems;
      measuredStatuses.push(...statuses);
    }
    return found;
  }

  it('opens every example from a flow file (as the runner runs it) with no node over another, no label cut, each button on the canvas', async function () {
    const { red } = await engine();
    const tabs = EXAMPLES.map((name) => `tab-${name}`);
    const example = (name: string) => JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'examples', `${name}.json`), 'utf8')) as Record<string, unknown>[];
    const flows = EXAMPLES.map((name, i) => example(name).map((n) => ({ ...n, z: tabs[i] })));
    await red.deploy(flows.flatMap((nodes, i) => [{ id: tabs[i], type: 'tab', label: EXAMPLES[i] }, ...nodes]));
    try {
      await reloadEditor(page);
      await page.waitForFunction(
        (ids, counts) => ids.every((z, i) => (window as unknown as { RED: EditorRED }).RED.nodes.filterNodes({ z }).length === counts[i]),
        { timeout: 10_000 },
        tabs,
        flows.map((nodes) => nodes.length),
      );
      assert.deepEqual(await problemsByExample(tabs), {});
    } finally {
      await deployFlows([]);
      await reloadEditor(page);
    }
  });

  it('imports every example together at the canvas edge with nothing over anything, deploys with no node invalid or red, and tries each process-in from its button', async function () {
    const tabs = await importExamples(page, EXAMPLES);
    assert.deepEqual(await problemsByExample(tabs), {});
    assert.deepEqual(await invalidNodes(page), []);
    await deploy(page);
    const processIns = await page.evaluate(() =>
      (window as unknown as { RED: EditorRED }).RED.nodes.filterNodes({ type: 'aiware-process-in' }).map((n) => ({
        id: n.id,
        z: n.z,
        label: `${String((n as { engineType?: string }).engineType)} ${n.url ?? ''}`,
        pauses: (window as unknown as { RED: EditorRED }).RED.nodes.filterNodes({ type: 'aiware-pause-for-callback', z: n.z }).length > 0,
      })),
    );
    assert.equal(processIns.length, EXAMPLES.length);
    await page.evaluate(() => (window as unknown as { RED: EditorRED }).RED.sidebar.show('debug'));
    for (const node of processIns) {
      await pressButton(page, node.id);
      if (node.pauses) {
        // The human-review sample is unsure: its task waits for a reviewer (none is set), the pause node says so.
        await page.waitForFunction(
          (z) => (window as unknown as { RED: EditorRED }).RED.nodes.filterNodes({ type: 'aiware-pause-for-callback', z }).some((n) => (n.status?.text ?? '').startsWith('waiting: 1')),
          { timeout: 15_000 },
          node.z,
        );
        continue;
      }
      const end = await debugMessage(page, node.label, 'try it: complete');
      assert.match(end, /status: "complete"/, `${node.label}: ${end}`);
      await page.waitForFunction((id) => ((window as unknown as { RED: EditorRED }).RED.nodes.node(id)?.status?.text ?? '').startsWith('try it: complete'), { timeout: 10_000 }, node.id);
    }
    assert.deepEqual(await redStatuses(page), []);
    // The statuses the tries left (the pause's waiting count among them) run under no other node.
    assert.deepEqual(await problemsByExample(tabs, { statuses: true }), {});
    assert.ok(measuredStatuses.includes('aiware-pause-for-callback "wait for the reviewer"'), `the pause's status was measured: ${measuredStatuses.join(', ')}`);
    assert.deepEqual((page as Page & { pageErrors?: string[] }).pageErrors, []);
  });

  it("shows a bad value in the process-in dialog with the validator's translated message, and nothing cut off", async function () {
    const id = await page.evaluate(() => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const node = RED.nodes.filterNodes({ type: 'aiware-process-in' })[0];
      RED.workspaces.show(node.z);
      RED.editor.edit(node);
      return node.id;
    });
    assert.ok(id);
    await page.waitForSelector('#node-input-url', { visible: true, timeout: 10_000 });
    // A chunk engine's dialog shows every select, the Answer among them.
    await page.select('#node-input-engineType', 'chunk');
    await page.waitForSelector('#node-input-respond', { visible: true, timeout: 5000 });
    // Every option of every select, every placeholder and every label fits at the dialog's default width.
    const cut = await cutInDialog(page);
    assert.deepEqual(cut.problems, []);
    assert.ok(cut.measured.includes('node-input-respond'), `the Answer dropdown was measured: ${cut.measured.join(', ')}`);

    const check = async (selector: string, value: string, message: RegExp) => {
      await page.$eval(
        selector,
        (el, v) => {
          const input = el as HTMLInputElement;
          input.value = v;
          input.dispatchEvent(new Event('change', { bubbles: true }));
          input.dispatchEvent(new Event('keyup', { bubbles: true }));
        },
        value,
      );
      await page.waitForSelector(`${selector}.input-error`, { timeout: 5000 });
      await page.hover(selector);
      const tip = await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll('.red-ui-popover'))
            .map((e) => e.textContent ?? '')
            .find((t) => t.trim().length > 0) ?? false,
        { timeout: 5000 },
      );
      const text = (await tip.jsonValue()) as string;
      assert.match(text, message);
      assert.doesNotMatch(text, /aiware-process-in\.errors\./, 'a message, not a key');
      await page.mouse.move(5, 5);
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.red-ui-popover')).every((e) => (e as HTMLElement).offsetParent === null), { timeout: 5000 });
    };
    await check('#node-input-url', 'process', /the path must start with \//);
    await check('#node-input-tryPayload', '{bad', /not JSON/);
    await page.click('#node-dialog-cancel');
  });

  it("opens each of the pack's dialogs with nothing cut off: options, placeholders, labels", async function () {
    const types = ['aiware-result-out', 'aiware-heartbeat', 'aiware-pause-for-callback', 'aiware-keys', 'aiware-library-model'];
    const found: Record<string, string[]> = {};
    for (const type of types) {
      await page.evaluate((t) => {
        const RED = (window as unknown as { RED: EditorRED }).RED;
        const node = RED.nodes.filterNodes({ type: t })[0];
        RED.workspaces.show(node.z);
        RED.editor.edit(node);
      }, type);
      await page.waitForSelector('.red-ui-tray #node-input-name', { visible: true, timeout: 10_000 });
      const cut = await cutInDialog(page);
      if (cut.problems.length > 0) found[type] = cut.problems;
      await closeDialogs(page);
    }
    assert.deepEqual(found, {});
  });

  it("shows the pause's callback base as the runtime has it: this Node-RED's own port, not 1880", async function () {
    const { red } = await engine();
    await page.evaluate(() => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const node = RED.nodes.filterNodes({ type: 'aiware-pause-for-callback' })[0];
      RED.workspaces.show(node.z);
      RED.editor.edit(node);
    });
    await page.waitForSelector('#node-input-baseUrl', { visible: true, timeout: 10_000 });
    const placeholder = await page.$eval('#node-input-baseUrl', (el) => (el as HTMLInputElement).placeholder);
    assert.equal(placeholder, `blank: ${red.url}`);
  });

  it('marks an imported process-in with an unknown engine type invalid, saying why', async function () {
    const problems = await page.evaluate(() => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const id = RED.nodes.id();
      RED.nodes.import([{ id, type: 'aiware-process-in', z: RED.nodes.filterNodes({ type: 'aiware-process-in' })[0].z, url: '/odd/process', engineType: 'realtime', x: 600, y: 400, wires: [[]] }], {
        generateIds: false,
      });
      const node = RED.nodes.node(id)!;
      return { valid: node.valid, errors: node.validationErrors };
    });
    assert.equal(problems.valid, false);
    assert.match(JSON.stringify(problems.errors), /engineType/);
  });

  it("gives every node's bad values a message from the pack's own catalog, never a key", async function () {
    const messages = await page.evaluate(() => {
      const RED = (window as unknown as { RED: EditorRED & { nodes: { getType(t: string): { defaults: Record<string, { validate?: (v: unknown, opt: object) => unknown }> } } } }).RED;
      const node = RED.nodes.filterNodes({ type: 'aiware-process-in' })[0];
      const bad: [string, string, unknown][] = [
        ['aiware-process-in', 'engineType', 'realtime'],
        ['aiware-process-in', 'respond', 'later'],
        ['aiware-process-in', 'estimate', 'abc'],
        ['aiware-process-in', 'readyUrl', 'readyz'],
        ['aiware-process-in', 'tryFile', '../secret'],
        ['aiware-process-in', 'tryMime', 'png'],
        ['aiware-process-in', 'tryStart', '-1'],
        ['aiware-process-in', 'tryMetadata', '[]'],
        ['aiware-heartbeat', 'status', 'sometimes'],
        ['aiware-heartbeat', 'failureReason', 'oops'],
        ['aiware-result-out', 'completes', 'maybe'],
      ];
      return bad.map(([type, property, value]) => {
        // As the editor calls it: `this` is a node of that type (for its catalog).
        const self = RED.nodes.filterNodes({ type })[0] ?? node;
        return [type, property, RED.nodes.getType(type).defaults[property].validate!.call(self, value, {})];
      });
    });
    for (const [type, property, message] of messages) {
      assert.equal(typeof message, 'string', `${String(type)}.${String(property)}: ${JSON.stringify(message)}`);
      assert.doesNotMatch(String(message), /^aiware-[a-z-]+\./, `${String(type)}.${String(property)} shows a key: ${String(message)}`);
    }
  });
});
