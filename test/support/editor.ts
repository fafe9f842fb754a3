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
  await editorLoaded(page);
  (page as Page & { pageErrors?: string[] }).pageErrors = errors;
  return page;
}

/** Loads the editor again (it reads the deployed flows as it starts) and waits as openEditor does. */
export async function reloadEditor(page: Page): Promise<void> {
  await page.reload({ waitUntil: 'domcontentloaded' });
  await editorLoaded(page);
}

async function editorLoaded(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const RED = (window as unknown as { RED?: { nodes?: { getType(t: string): unknown }; workspaces?: { count(): number } } }).RED;
      return !!RED?.nodes?.getType('aiware-process-in') && (RED.workspaces?.count() ?? 0) > 0 && !!document.querySelector('.red-ui-palette-node');
    },
    { timeout: 30_000 },
  );
}

/** The pack's examples as the editor's Import > Examples lists them: folders (strings) and flows ({fn}). */
export async function exampleTree(page: Page): Promise<(string | { fn: string })[]> {
  return page.evaluate(async (module) => {
    const res = await fetch(`library/examples/flows/${module}/`, { headers: { Accept: 'application/json' } });
    return (await res.json()) as (string | { fn: string })[];
  }, PACK_MODULE);
}

/**
 * Imports each example onto a tab of its own as Import > Examples does (the flow read through the editor's
 * examples library, hanging from the mouse until a click drops it), dropped against the canvas's top-left
 * corner: the editor keeps every node box on the canvas, and nothing else. Returns the tab ids.
 */
export async function importExamples(page: Page, names: string[]): Promise<string[]> {
  const tabs: string[] = [];
  for (const name of names) {
    const chart = await page.$eval('#red-ui-workspace-chart', (el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, top: r.top };
    });
    await page.mouse.move(chart.left + 200, chart.top + 200);
    tabs.push(
      await page.evaluate(
        async (module, example) => {
          const RED = (window as unknown as { RED: EditorRED }).RED;
          const res = await fetch(`library/examples/flows/${module}/${example}`, { headers: { Accept: 'application/json' } });
          if (!res.ok) throw new Error(`example ${example}: ${res.status}`);
          const nodes = (await res.json()) as Record<string, unknown>[];
          const tab = { id: RED.nodes.id(), type: 'tab', label: example, disabled: false, info: '' };
          RED.nodes.import([tab]);
          RED.workspaces.show(tab.id);
          RED.view.importNodes(nodes, { generateIds: true, notify: false });
          return tab.id;
        },
        PACK_MODULE,
        name,
      ),
    );
    // Dragged to the corner (the editor stops each node box at the edge) and dropped there.
    await page.mouse.move(chart.left + 10, chart.top + 10, { steps: 5 });
    await page.mouse.click(chart.left + 10, chart.top + 10);
    await page.waitForFunction(() => (window as unknown as { RED: EditorRED }).RED.view.state() === 0, { timeout: 5000 });
  }
  return tabs;
}

/** The least room between two node boxes: side by side for the wire between them, one above the other for a status line. */
export const GAP_X = 30;
export const GAP_Y = 20;

/**
 * What a user would see wrong in the flow on tab `z` as the editor draws it, one line each: two node boxes
 * closer than GAP_X side by side and GAP_Y one above the other (so overlapping too); a label that is not the
 * node's label or spills out of its box; a button (process-in's try-it) left of the canvas; with `statuses`,
 * a status text over another node or status (`statuses` names the nodes whose status was there to measure).
 * Boxes are read from the SVG, in the canvas's own pixels.
 */
export async function layoutProblems(page: Page, z: string, options: { statuses?: boolean } = {}): Promise<{ problems: string[]; statuses: string[] }> {
  await page.evaluate((tab) => (window as unknown as { RED: EditorRED }).RED.workspaces.show(tab), z);
  // Drawn: every node of the tab has its box and its width.
  await page.waitForFunction(
    (tab) => (window as unknown as { RED: EditorRED }).RED.nodes.filterNodes({ z: tab }).every((n) => n.w !== undefined && document.getElementById(n.id)?.querySelector('rect.red-ui-flow-node')),
    { timeout: 10_000, polling: 'raf' },
    z,
  );
  return page.evaluate(
    (tab, withStatuses, gapX, gapY) => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const origin = document.querySelector('#red-ui-workspace-chart > svg')!.getBoundingClientRect();
      const scale = RED.view.scale();
      interface Box {
        left: number;
        top: number;
        right: number;
        bottom: number;
      }
      const box = (el: Element): Box => {
        const r = el.getBoundingClientRect();
        const at = (v: number, o: number) => Math.round((v - o) / scale);
        return { left: at(r.left, origin.left), top: at(r.top, origin.top), right: at(r.right, origin.left), bottom: at(r.bottom, origin.top) };
      };
      const nodes = RED.nodes.filterNodes({ z: tab }).map((n) => {
        const g = document.getElementById(n.id)!;
        const label = RED.utils.getNodeLabel(n, n.type);
        const status = g.querySelector<SVGGElement>('.red-ui-flow-node-status-group');
        const button = g.querySelector('.red-ui-flow-node-button');
        return {
          name: `${n.type} "${label}"`,
          label,
          box: box(g.querySelector('rect.red-ui-flow-node')!),
          text: g.querySelector('.red-ui-flow-node-label'),
          button: button ? box(button) : undefined,
          status: status && status.style.display !== 'none' && (status.textContent ?? '') !== '' ? box(status) : undefined,
        };
      });
      const problems: string[] = [];
      const statuses = withStatuses ? nodes.filter((n) => n.status).map((n) => n.name) : [];
      const apart = (a: Box, b: Box) => ({ x: Math.max(b.left - a.right, a.left - b.right), y: Math.max(b.top - a.bottom, a.top - b.bottom) });
      nodes.forEach((a, i) => {
        for (const b of nodes.slice(i + 1)) {
          const d = apart(a.box, b.box);
          if (d.x < 0 && d.y < 0) problems.push(`${a.name} and ${b.name} overlap by ${-d.x} x ${-d.y} px`);
          else if (d.x < gapX && d.y < gapY) problems.push(`${a.name} and ${b.name} are ${Math.max(d.x, d.y)} px apart`);
        }
        const drawn = (a.text?.textContent ?? '').trim();
        if (a.text?.classList.contains('hide')) {
          // A node drawn without its label (a link node's default) has none to cut.
        } else if (drawn !== a.label) problems.push(`${a.name} shows the label "${drawn}"`);
        else if (a.text && box(a.text).right > a.box.right) problems.push(`${a.name}: its label ends ${box(a.text).right - a.box.right} px outside its box`);
        if (a.button && a.button.left < 0) problems.push(`${a.name}: its button is ${-a.button.left} px left of the canvas`);
        if (withStatuses && a.status) {
          for (const b of nodes) {
            if (b === a) continue;
            for (const [what, other] of [
              ['node', b.box],
              ['status', b.status],
            ] as const) {
              if (!other) continue;
              const d = apart(a.status, other);
              if (d.x < 0 && d.y < 0) problems.push(`the status of ${a.name} runs under the ${what} of ${b.name}`);
            }
          }
        }
      });
      return { problems, statuses };
    },
    z,
    options.statuses === true,
    GAP_X,
    GAP_Y,
  );
}

/**
 * What is cut off or broken in the open edit dialog, one line each: an option wider than its select, a
 * placeholder wider than its field, a label on two lines or with its field pushed under it. `measured` lists the selects and fields measured.
 */
export async function cutInDialog(page: Page): Promise<{ problems: string[]; measured: string[] }> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const measured: string[] = [];
    const context = document.createElement('canvas').getContext('2d')!;
    const shown = (el: HTMLElement) => el.offsetParent !== null;
    const px = (v: string) => parseFloat(v) || 0;
    // The text box is the field less its padding (and a select's arrow, about 24px), with 15 % to spare:
    // the editor's sans-serif is another font on another machine, and Debian's is not the widest.
    const fits = (el: HTMLElement, text: string, less: number) => {
      const style = getComputedStyle(el);
      context.font = style.font;
      const room = Math.floor((el.clientWidth - px(style.paddingLeft) - px(style.paddingRight) - less) * 0.85);
      const width = Math.round(context.measureText(text).width);
      return width <= room ? undefined : `${width}px in ${room}px`;
    };
    for (const select of Array.from(document.querySelectorAll<HTMLSelectElement>('.red-ui-tray select')).filter(shown)) {
      measured.push(select.id);
      for (const option of Array.from(select.options)) {
        const over = fits(select, option.text, 24);
        if (over) problems.push(`${select.id}: the option "${option.text}" (${over})`);
      }
    }
    for (const field of Array.from(document.querySelectorAll<HTMLInputElement>('.red-ui-tray input[placeholder], .red-ui-tray textarea[placeholder]')).filter(shown)) {
      if (!field.id.startsWith('node-input-') || field.placeholder === '') continue;
      measured.push(field.id);
      const over = fits(field, field.placeholder, 0);
      if (over) problems.push(`${field.id}: the placeholder "${field.placeholder}" (${over})`);
    }
    for (const label of Array.from(document.querySelectorAll<HTMLLabelElement>('.red-ui-tray .form-row > label')).filter(shown)) {
      // The tops of its line boxes: a label on two lines has two.
      const range = document.createRange();
      range.selectNodeContents(label);
      const tops = Array.from(range.getClientRects())
        .filter((r) => r.width > 0)
        .map((r) => r.top)
        .sort((a, b) => a - b);
      const lines = tops.filter((top, i) => i === 0 || top - tops[i - 1] > 8).length;
      if (lines > 1) problems.push(`the label "${(label.textContent ?? '').trim()}" takes ${lines} lines`);
      // Its field beside it, not pushed onto the next line.
      const field = label.htmlFor ? document.getElementById(label.htmlFor) : null;
      if (field && shown(field) && field.getBoundingClientRect().top >= label.getBoundingClientRect().bottom) {
        problems.push(`the field of "${(label.textContent ?? '').trim()}" is under its label, not beside it`);
      }
    }
    return { problems, measured };
  });
}

/** Cancels every open edit dialog (a test that failed may have left one open), the top one first. */
export async function closeDialogs(page: Page): Promise<void> {
  for (let open = await page.$$eval('.red-ui-tray', (t) => t.length); open > 0; open--) {
    await page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('.red-ui-tray #node-dialog-cancel')).pop()?.click());
    await page.waitForFunction((left) => document.querySelectorAll('.red-ui-tray').length < left, { timeout: 5000 }, open);
  }
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
  view: {
    redraw(full?: boolean): void;
    reveal(id: string, triggerHighlight?: boolean): void;
    importNodes(nodes: unknown[], options?: object): void;
    /** The mouse mode: 0 when nothing hangs from the mouse. */
    state(): number;
    scale(): number;
  };
  workspaces: { show(id: string): void; count(): number };
  utils: { getNodeLabel(node: EditorNode, fallback?: string): string };
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
  /** Drawn width, once the editor has drawn the node. */
  w?: number;
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
