// Node-RED's editor driven by headless Chromium (Debian's package) through puppeteer-core, as an author
// uses it: import the examples, deploy, press a node's button, read the debug sidebar. Shared by the
// browser test and `npm run screenshots`. Every wait is for a condition in the page, with a timeout.
import * as fs from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const PACK_MODULE = '@aiware-nodered/node-red-aiware';

export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

export async function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox; the page is our own editor on loopback.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=1400,900'],
    defaultViewport: { width: 1400, height: 900 },
  });
}

/** Opens the editor at `adminUrl` and waits until it has loaded the pack's node types. */
export async function openEditor(browser: Browser, adminUrl: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`${adminUrl}/`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(
    () => {
      const RED = (window as unknown as { RED?: { nodes?: { getType(t: string): unknown }; workspaces?: { count(): number } } }).RED;
      return !!RED?.nodes?.getType('aiware-process-in') && (RED.workspaces?.count() ?? 0) > 0 && !!document.querySelector('.red-ui-palette-node');
    },
    { timeout: 30_000 },
  );
  (page as Page & { pageErrors?: string[] }).pageErrors = errors;
  return page;
}

/** The pack's examples as the editor's Import > Examples lists them: folders (strings) and flows ({fn}). */
export async function exampleTree(page: Page): Promise<(string | { fn: string })[]> {
  return page.evaluate(async (module) => {
    const res = await fetch(`library/examples/flows/${module}/`, { headers: { Accept: 'application/json' } });
    return (await res.json()) as (string | { fn: string })[];
  }, PACK_MODULE);
}

/** Imports each example (read through the editor's examples library) onto a tab of its own; returns the tab ids. */
export async function importExamples(page: Page, names: string[]): Promise<string[]> {
  return page.evaluate(
    async (module, all) => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const tabs: string[] = [];
      for (const name of all) {
        const res = await fetch(`library/examples/flows/${module}/${name}`, { headers: { Accept: 'application/json' } });
        if (!res.ok) throw new Error(`example ${name}: ${res.status}`);
        const nodes = (await res.json()) as Record<string, unknown>[];
        const tab = { id: RED.nodes.id(), type: 'tab', label: name, disabled: false, info: '' };
        // 100 px in from the edge, as importing at the mouse would place them: a button at x < 0 is out of reach.
        RED.nodes.import([tab, ...nodes.map((n) => ({ ...n, z: tab.id, x: Number(n.x ?? 0) + 100, y: Number(n.y ?? 0) + 20 }))], { generateIds: true });
        tabs.push(tab.id);
      }
      RED.nodes.dirty(true);
      RED.view.redraw(true);
      return tabs;
    },
    PACK_MODULE,
    names,
  );
}

/** What this file uses of the editor's `RED` (in the page). */
export interface EditorRED {
  nodes: {
    id(): string;
    import(nodes: unknown[], options?: object): unknown;
    dirty(value?: boolean): boolean;
    node(id: string): EditorNode | undefined;
    eachNode(fn: (n: EditorNode) => void): void;
    filterNodes(filter: { type?: string; z?: string }): EditorNode[];
  };
  view: { redraw(full?: boolean): void; reveal(id: string, triggerHighlight?: boolean): void };
  workspaces: { show(id: string): void; count(): number };
  sidebar: { show(id: string): void };
  editor: { edit(node: EditorNode): void };
}

export interface EditorNode {
  id: string;
  type: string;
  z: string;
  valid?: boolean;
  validationErrors?: string[];
  status?: { fill?: string; shape?: string; text?: string };
  url?: string;
}

/** Presses Deploy and waits until the editor says the flows are deployed. */
export async function deploy(page: Page): Promise<void> {
  await page.click('#red-ui-header-button-deploy');
  try {
    await page.waitForFunction(() => !(window as unknown as { RED: EditorRED }).RED.nodes.dirty(), { timeout: 30_000 });
  } catch (err) {
    if (process.env.EDITOR_DEBUG_SHOT) await page.screenshot({ path: process.env.EDITOR_DEBUG_SHOT });
    throw err;
  }
}

/** The nodes that are invalid in the editor, with their reasons. */
export async function invalidNodes(page: Page): Promise<{ id: string; type: string; errors?: string[] }[]> {
  return page.evaluate(() => {
    const found: { id: string; type: string; errors?: string[] }[] = [];
    (window as unknown as { RED: EditorRED }).RED.nodes.eachNode((n) => {
      if (n.valid === false) found.push({ id: n.id, type: n.type, errors: n.validationErrors });
    });
    return found;
  });
}

/** The nodes whose status is red (an error), with their text. */
export async function redStatuses(page: Page): Promise<{ id: string; type: string; text?: string }[]> {
  return page.evaluate(() => {
    const found: { id: string; type: string; text?: string }[] = [];
    (window as unknown as { RED: EditorRED }).RED.nodes.eachNode((n) => {
      if (n.status?.fill === 'red') found.push({ id: n.id, type: n.type, text: n.status.text });
    });
    return found;
  });
}

/** Shows the node's tab and clicks the button on its left (as an author presses inject's). */
export async function pressButton(page: Page, nodeId: string): Promise<void> {
  await page.evaluate((id) => {
    const RED = (window as unknown as { RED: EditorRED }).RED;
    RED.workspaces.show(RED.nodes.node(id)!.z);
    // Scrolled into the middle of the canvas: a node near the left edge has its button under the palette.
    RED.view.reveal(id, false);
  }, nodeId);
  const button = `[id="${nodeId}"] .red-ui-flow-node-button-button`;
  await page.waitForSelector(button, { visible: true, timeout: 10_000 });
  // Once the view has scrolled there: the button's middle inside the canvas, and nothing over it.
  await page
    .waitForFunction(
      (selector) => {
        const box = document.querySelector(selector)?.getBoundingClientRect();
        const canvas = document.querySelector('#red-ui-workspace-chart')?.getBoundingClientRect();
        if (!box || !canvas || box.width === 0) return false;
        const x = box.left + box.width / 2;
        const y = box.top + box.height / 2;
        return x > canvas.left && x < canvas.right && y > canvas.top && y < canvas.bottom && document.elementFromPoint(x, y) === document.querySelector(selector);
      },
      { timeout: 10_000 },
      button,
    )
    .catch(async (err: unknown) => {
      const where = await page.evaluate((selector) => {
        const el = document.querySelector(selector);
        const r = el?.getBoundingClientRect();
        const c = document.querySelector('#red-ui-workspace-chart')?.getBoundingClientRect();
        const box = r && { left: r.left, top: r.top, width: r.width, height: r.height };
        const canvas = c && { left: c.left, top: c.top, right: c.right, bottom: c.bottom };
        const over = box ? document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2) : null;
        return { box, canvas, over: over ? `${over.tagName}.${String(over.getAttribute('class'))}` : null };
      }, button);
      throw new Error(`the button of ${nodeId} is not clickable: ${JSON.stringify(where)} (${String(err)})`);
    });
  await page.click(button);
}

/** Waits for a debug sidebar message from `name` whose topic contains `topic`; returns the message's text. */
export async function debugMessage(page: Page, name: string, topic: string, timeoutMs = 30_000): Promise<string> {
  const seen = () =>
    page.evaluate(() =>
      Array.from(document.querySelectorAll('.red-ui-debug-msg')).map(
        (m) => `${m.querySelector('.red-ui-debug-msg-name')?.textContent ?? ''} | ${m.querySelector('.red-ui-debug-msg-topic')?.textContent ?? ''}`,
      ),
    );
  const handle = await page
    .waitForFunction(
      (from, wanted) => {
        for (const msg of Array.from(document.querySelectorAll('.red-ui-debug-msg'))) {
          const topicText = msg.querySelector('.red-ui-debug-msg-topic')?.textContent ?? '';
          const nameText = msg.querySelector('.red-ui-debug-msg-name')?.textContent ?? '';
          if (topicText.includes(wanted) && nameText.includes(from)) return msg.textContent ?? '';
        }
        return false;
      },
      { timeout: timeoutMs },
      name,
      topic,
    )
    .catch(async (err: unknown) => {
      if (process.env.EDITOR_DEBUG_SHOT) await page.screenshot({ path: process.env.EDITOR_DEBUG_SHOT });
      throw new Error(`no debug message "${topic}" from ${name} within ${timeoutMs} ms (${String(err)}); the sidebar has: ${JSON.stringify(await seen())}`);
    });
  return (await handle.jsonValue()) as string;
}
