// `npm run screenshots`: regenerates the README's pictures in docs/ with the browser the editor test uses
// (Debian's Chromium through puppeteer-core): the palette, an example flow, and the try-it result in the
// debug sidebar. A real Node-RED with the editor on loopback, in a temp user directory, every example
// imported onto a tab of its own and deployed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedNodeRed } from '@aiware-nodered/node-red-runner';
import type { Page } from 'puppeteer-core';
import { chromiumMissing, debugMessage, deploy, importExamples, launch, openEditor, pressButton, type EditorRED } from '../test/support/editor';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = path.join(ROOT, 'docs');
const EXAMPLES = fs
  .readdirSync(path.join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

const VIEWPORT = { width: 1280, height: 660 };

/** One picture: what to show, then where to clip. */
interface Shot {
  file: string;
  what: string;
  /** Undefined when the picture cannot be taken in this build (said, and skipped). */
  unavailable?: (page: Page) => Promise<string | undefined>;
  take(page: Page): Promise<void>;
}

const processInOf = (page: Page, tab: string) =>
  page.evaluate((label) => {
    const RED = (window as unknown as { RED: EditorRED & { nodes: { workspace(id: string): unknown; eachWorkspace(fn: (ws: { id: string; label: string }) => void): void } } }).RED;
    let id = '';
    RED.nodes.eachWorkspace((ws) => {
      if (ws.label === label) id = ws.id;
    });
    const node = RED.nodes.filterNodes({ type: 'aiware-process-in', z: id })[0];
    return { id: node.id, label: `${String((node as { engineType?: string }).engineType)} ${node.url ?? ''}` };
  }, tab);

/** Shows the example's tab; returns its id. */
async function showTab(page: Page, label: string): Promise<string> {
  const node = await processInOf(page, label);
  const z = await page.evaluate((id) => {
    const RED = (window as unknown as { RED: EditorRED }).RED;
    const tab = RED.nodes.node(id)!.z;
    RED.workspaces.show(tab);
    return tab;
  }, node.id);
  await page.waitForSelector(`[id="${node.id}"]`, { visible: true, timeout: 10_000 });
  return z;
}

/** The flow on tab `z` as drawn (node boxes, ports, buttons, statuses shown), in page pixels. */
function flowBox(page: Page, z: string): Promise<{ left: number; top: number; right: number; bottom: number }> {
  return page.evaluate((tab) => {
    const parts = '.red-ui-flow-node, .red-ui-flow-port, .red-ui-flow-node-button, .red-ui-flow-node-status-group';
    const boxes = (window as unknown as { RED: EditorRED }).RED.nodes
      .filterNodes({ z: tab })
      .flatMap((n) => Array.from(document.getElementById(n.id)!.querySelectorAll(parts)))
      .map((el) => el.getBoundingClientRect())
      .filter((b) => b.width > 0 && b.height > 0);
    return {
      left: Math.min(...boxes.map((b) => b.left)),
      top: Math.min(...boxes.map((b) => b.top)),
      right: Math.max(...boxes.map((b) => b.right)),
      bottom: Math.max(...boxes.map((b) => b.bottom)),
    };
  }, z);
}

/**
 * Zooms out until the whole flow on tab `z` shows in the canvas, not under a sidebar (Node-RED 5's right
 * sidebar lies over the canvas), scrolled to its top-left corner.
 */
async function fitFlow(page: Page, z: string): Promise<void> {
  for (;;) {
    await page.evaluate(() => {
      const chart = document.querySelector('#red-ui-workspace-chart')!;
      chart.scrollLeft = 0;
      chart.scrollTop = 0;
    });
    const room = await page.evaluate(() => {
      const chart = document.querySelector('#red-ui-workspace-chart')!.getBoundingClientRect();
      const sidebar = document.querySelector('#red-ui-sidebar')?.getBoundingClientRect();
      return { right: Math.min(chart.right, sidebar && sidebar.width > 0 ? sidebar.left : Infinity) - 16, bottom: chart.bottom - 16 };
    });
    const flow = await flowBox(page, z);
    if (flow.right <= room.right && flow.bottom <= room.bottom) return;
    const scale = await page.evaluate(() => (window as unknown as { RED: EditorRED }).RED.view.scale());
    if (scale <= 0.5) throw new Error(`the flow on ${z} does not fit the canvas at zoom ${scale}`);
    await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string): void } } }).RED.actions.invoke('core:zoom-out'));
    await page.waitForFunction((was) => (window as unknown as { RED: EditorRED }).RED.view.scale() < was, { timeout: 5000 }, scale);
    // Drawn at the new scale before it is measured again.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  }
}

async function zoomReset(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string): void } } }).RED.actions.invoke('core:zoom-reset'));
  await page.waitForFunction(() => (window as unknown as { RED: EditorRED }).RED.view.scale() === 1, { timeout: 5000 });
}

/** Settled: no status still in flight (statuses are coalesced over 250 ms), no notification or shade over the editor. */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      let busy = false;
      (window as unknown as { RED: EditorRED }).RED.nodes.eachNode((n) => {
        if (n.status?.fill === 'yellow') busy = true;
      });
      const shown = (selector: string) => Array.from(document.querySelectorAll(selector)).some((e) => (e as HTMLElement).offsetParent !== null && getComputedStyle(e).opacity !== '0');
      return !busy && !shown('.red-ui-notification') && !shown('#red-ui-full-shade') && !shown('.red-ui-editor-shade');
    },
    { timeout: 15_000 },
  );
}

/** Opens or closes the sidebars (the palette's too) and waits until the canvas has the width that leaves. */
async function sidebars(page: Page, open: boolean): Promise<void> {
  const before = await page.$eval('#red-ui-workspace-chart', (el) => el.getBoundingClientRect().width);
  await page.evaluate((state) => {
    const RED = (window as unknown as { RED: { actions: { invoke(name: string, state: boolean): void } } }).RED;
    RED.actions.invoke('core:toggle-sidebar', state);
    RED.actions.invoke('core:toggle-palette', state);
  }, open);
  await page.waitForFunction(
    (wider, was) => {
      const now = document.querySelector('#red-ui-workspace-chart')!.getBoundingClientRect().width;
      return wider ? now > was + 200 : now < was - 200;
    },
    { timeout: 10_000 },
    !open,
    before,
  );
}

const SHOTS: Shot[] = [
  {
    file: 'palette.png',
    what: 'the aiWARE category of the palette',
    async take(page) {
      // The aiWARE category alone (the others hidden for the picture only).
      await page.evaluate(() => {
        for (const category of Array.from(document.querySelectorAll<HTMLElement>('.red-ui-palette-category'))) {
          if ((category.querySelector('.red-ui-palette-header')?.textContent ?? '').includes('aiWARE')) continue;
          // Its own display kept to put back: the editor hides some categories itself.
          category.dataset.shotDisplay = category.style.display;
          category.style.display = 'none';
        }
      });
      // Node-RED 5 gives the palette half of its left sidebar: a taller window, until every aiWARE node shows.
      await page.setViewport({ width: 1280, height: 900 });
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll('.red-ui-palette-node[data-palette-type^="aiware-"]')).every((node) => {
            const r = node.getBoundingClientRect();
            return r.height > 0 && node.contains(document.elementFromPoint(r.left + r.width / 2, r.bottom - 2));
          }),
        { timeout: 10_000 },
      );
      const clip = await page.evaluate(() => {
        const palette = document.querySelector('#red-ui-palette')!.getBoundingClientRect();
        const bottom = Math.max(...Array.from(document.querySelectorAll('.red-ui-palette-node[data-palette-type^="aiware-"]')).map((n) => n.getBoundingClientRect().bottom));
        return { x: palette.left, y: palette.top, width: palette.width, height: bottom - palette.top + 16 };
      });
      await page.screenshot({ path: path.join(DOCS, 'palette.png'), clip });
      await page.evaluate(() => {
        for (const category of Array.from(document.querySelectorAll<HTMLElement>('.red-ui-palette-category[data-shot-display]'))) {
          category.style.display = category.dataset.shotDisplay!;
          delete category.dataset.shotDisplay;
        }
      });
      await page.setViewport(VIEWPORT);
    },
  },
  {
    file: 'example-flow.png',
    what: 'an example flow (stream from cache, with its failure paths)',
    async take(page) {
      const z = await showTab(page, 'stream-lines-from-cache');
      // The whole width for the flow: the sidebars (Node-RED 5 has one each side) closed for this picture.
      await sidebars(page, false);
      await fitFlow(page, z);
      const flow = await flowBox(page, z);
      await page.screenshot({ path: path.join(DOCS, 'example-flow.png'), clip: { x: flow.left - 16, y: flow.top - 16, width: flow.right - flow.left + 32, height: flow.bottom - flow.top + 32 } });
      await zoomReset(page);
      await sidebars(page, true);
    },
  },
  {
    file: 'try-it.png',
    what: "the try-it result in the debug sidebar (the image example's button)",
    async take(page) {
      await showTab(page, 'chunk-image-objects');
      const node = await processInOf(page, 'chunk-image-objects');
      await page.evaluate(() => (window as unknown as { RED: EditorRED }).RED.sidebar.show('debug'));
      await pressButton(page, node.id);
      await debugMessage(page, node.label, 'try it: complete');
      // The result opened, as an author would click it.
      await page.evaluate(() => {
        const result = Array.from(document.querySelectorAll('.red-ui-debug-msg')).find((m) => m.querySelector('.red-ui-debug-msg-topic')?.textContent?.includes('result 1'));
        result?.querySelector<HTMLElement>('.red-ui-debug-msg-object-header, .red-ui-debug-msg-element')?.click();
      });
      await settled(page);
      await page.screenshot({ path: path.join(DOCS, 'try-it.png') });
    },
  },
  {
    file: 'human-review.png',
    what: 'the human-review flow paused for its callback (its try-it button pressed)',
    async take(page) {
      const z = await showTab(page, 'human-review');
      const node = await processInOf(page, 'human-review');
      await page.evaluate(() => (window as unknown as { RED: EditorRED }).RED.sidebar.show('debug'));
      await pressButton(page, node.id);
      await page.waitForFunction(
        () => {
          const RED = (window as unknown as { RED: EditorRED }).RED;
          return RED.nodes.filterNodes({ type: 'aiware-pause-for-callback' }).some((n) => ((n as { status?: { text?: string } }).status?.text ?? '').startsWith('waiting'));
        },
        { timeout: 15_000 },
      );
      await settled(page);
      // The whole flow beside the debug sidebar: a wider window, the palette's sidebar closed.
      await page.setViewport({ ...VIEWPORT, width: 1600 });
      await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string, state: boolean): void } } }).RED.actions.invoke('core:toggle-palette', false));
      await fitFlow(page, z);
      await page.screenshot({ path: path.join(DOCS, 'human-review.png') });
      await zoomReset(page);
      await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string, state: boolean): void } } }).RED.actions.invoke('core:toggle-palette', true));
      await page.setViewport(VIEWPORT);
    },
  },
];

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(`cannot take pictures: ${missing}`);
  fs.mkdirSync(DOCS, { recursive: true });
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-screenshots-'));
  const red = await EmbeddedNodeRed.start({
    userDir,
    settings: {
      httpAdminRoot: '/admin',
      disableEditor: false,
      editorTheme: { tours: false, palette: { catalogues: [] } },
      telemetry: { enabled: false, updateNotification: false },
      logging: { console: { level: 'warn', metrics: false, audit: false } },
    },
  });
  const browser = await launch();
  try {
    const page = await openEditor(browser, `${red.url}/admin`);
    await page.setViewport(VIEWPORT);
    const tabs = await importExamples(page, EXAMPLES);
    // Dropped against the canvas's corner; 40 px in for the pictures.
    await page.evaluate((ids) => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      for (const node of ids.flatMap((z) => RED.nodes.filterNodes({ z })) as unknown as { x: number; y: number; dirty: boolean }[]) {
        node.x += 40;
        node.y += 40;
        node.dirty = true;
      }
      RED.view.redraw(true);
    }, tabs);
    await deploy(page);
    await settled(page);
    for (const shot of SHOTS) {
      const why = await shot.unavailable?.(page);
      if (why) {
        console.log(`skipped docs/${shot.file} (${shot.what}): ${why}`);
        continue;
      }
      await shot.take(page);
      console.log(`wrote docs/${shot.file}: ${shot.what}`);
    }
  } finally {
    await browser.close();
    await red.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
