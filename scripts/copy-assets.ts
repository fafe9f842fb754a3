// Node-RED loads each node's .html (and locales/, icons/) from beside its compiled .js,
// so the build mirrors those files from nodes/ into dist/nodes/.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const from = path.join(root, 'nodes');
const to = path.join(root, 'dist', 'nodes');

function copyAssets(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const src = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      copyAssets(src);
    } else if (!entry.name.endsWith('.ts')) {
      const dest = path.join(to, path.relative(from, src));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
    }
  }
}

copyAssets(from);
