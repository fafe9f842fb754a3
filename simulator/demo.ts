// `npm start`: the example chunk engine, run in a real Node-RED and fed by the toolkit
// simulator with the sample inputs in examples/inputs. Prints each result; exits 0 when every
// chunk was answered, 1 otherwise.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedNodeRed, PACKAGE_ROOT, onOneTab, type FlowConfig } from '../runner/embedded';
import { ToolkitEmulator } from './emulator';

const EXAMPLE = path.join(PACKAGE_ROOT, 'examples', 'chunk-text-to-transcript.json');
const INPUTS = path.join(PACKAGE_ROOT, 'examples', 'inputs');

async function main(): Promise<number> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-demo-'));
  const flows = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowConfig;
  let red: EmbeddedNodeRed | undefined;
  let toolkit: ToolkitEmulator | undefined;
  try {
    toolkit = await ToolkitEmulator.start();
    red = await EmbeddedNodeRed.start({ userDir, flows: onOneTab(flows), logLevel: 'error' });
    console.log(`engine: ${path.relative(process.cwd(), EXAMPLE)} running at ${red.url}/process`);
    let failures = 0;
    let offset = 0;
    for (const file of fs.readdirSync(INPUTS).sort()) {
      const data = fs.readFileSync(path.join(INPUTS, file));
      const item = toolkit.workItem({ startOffsetMS: String(offset), endOffsetMS: String(offset + 5000) });
      offset += 5000;
      const started = Date.now();
      const answer = await toolkit.process(`${red.url}/process`, item, { data, mimeType: 'text/plain', filename: file });
      const ms = Date.now() - started;
      if (answer.status !== 200) {
        failures++;
        console.log(`✗ ${file}: ${answer.status} ${JSON.stringify(answer.body)}`);
        continue;
      }
      const series = (answer.body as { series: { startTimeMs: number; stopTimeMs: number; words: { word: string }[] }[] }).series;
      const words = series.map((s) => `${s.words[0].word}@${s.startTimeMs}`).join(' ');
      console.log(`✓ ${file} (${ms} ms): ${series.length} words: ${words}`);
    }
    console.log(failures === 0 ? 'the engine answered every chunk' : `${failures} chunk(s) failed`);
    return failures === 0 ? 0 : 1;
  } finally {
    await red?.stop();
    await toolkit?.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
