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

async function showTab(page: Page, label: string): Promise<void> {
  const node = await processInOf(page, label);
  await page.evaluate((id) => {
    const RED = (window as unknown as { RED: EditorRED }).RED;
    RED.workspaces.show(RED.nodes.node(id)!.z);
  }, node.id);
  await page.waitForSelector(`[id="${node.id}"]`, { visible: true, timeout: 10_000 });
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

const SHOTS: Shot[] = [
  {
    file: 'palette.png',
    what: 'the aiWARE category of the palette',
    async take(page) {
      // The aiWARE category alone (the others hidden for the picture only).
      await page.evaluate(() => {
        for (const category of Array.from(document.querySelectorAll<HTMLElement>('.red-ui-palette-category'))) {
          if (!(category.querySelector('.red-ui-palette-header')?.textContent ?? '').includes('aiWARE')) category.style.display = 'none';
        }
      });
      const palette = (await page.$('#red-ui-palette'))!;
      const box = (await palette.boundingBox())!;
      await page.screenshot({ path: path.join(DOCS, 'palette.png'), clip: { x: box.x, y: box.y, width: box.width, height: 380 } });
      await page.evaluate(() => {
        for (const category of Array.from(document.querySelectorAll<HTMLElement>('.red-ui-palette-category'))) category.style.display = '';
      });
    },
  },
  {
    file: 'example-flow.png',
    what: 'an example flow (stream from cache, with its failure paths)',
    async take(page) {
      await showTab(page, 'stream-lines-from-cache');
      // The whole width for the flow: the sidebar closed for this picture.
      await page.evaluate(() => (window as unknown as { RED: { menu: { setSelected(id: string, on: boolean): void } } }).RED.menu.setSelected('menu-item-sidebar', false));
      await page.waitForFunction(() => document.querySelector<HTMLElement>('#red-ui-sidebar')?.offsetParent === null, { timeout: 10_000 });
      await page.evaluate(() => {
        const RED = (window as unknown as { RED: { actions: { invoke(name: string): void } } }).RED;
        RED.actions.invoke('core:zoom-out');
        RED.actions.invoke('core:zoom-out');
      });
      const chart = (await page.$('#red-ui-workspace-chart'))!;
      const box = (await chart.boundingBox())!;
      await page.screenshot({ path: path.join(DOCS, 'example-flow.png'), clip: { x: box.x + 60, y: box.y + 30, width: Math.min(box.width - 75, 980), height: 200 } });
      await page.evaluate(() => {
        const RED = (window as unknown as { RED: { actions: { invoke(name: string): void }; menu: { setSelected(id: string, on: boolean): void } } }).RED;
        RED.actions.invoke('core:zoom-reset');
        RED.menu.setSelected('menu-item-sidebar', true);
      });
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
      await showTab(page, 'human-review');
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
      await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string): void } } }).RED.actions.invoke('core:zoom-out'));
      await page.screenshot({ path: path.join(DOCS, 'human-review.png') });
      await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(name: string): void } } }).RED.actions.invoke('core:zoom-reset'));
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
    await page.setViewport({ width: 1280, height: 660 });
    await importExamples(page, EXAMPLES);
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
