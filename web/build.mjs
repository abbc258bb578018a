// Bundles src/ into one script and one stylesheet with esbuild, and writes the HTML shell that
// loads them by content hash (so browsers may cache them for good). Run by CMake at build time:
//   node build.mjs --out DIR
// Everything comes from node_modules as the committed package-lock.json pins it; nothing is
// fetched at run time.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outIndex = process.argv.indexOf('--out');
if (outIndex < 0 || !process.argv[outIndex + 1]) {
  console.error('usage: node build.mjs --out DIR');
  process.exit(2);
}
const out = process.argv[outIndex + 1];
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, write: false, charset: 'ascii', legalComments: 'none', logLevel: 'warning' };
const [js, css] = await Promise.all([
  build({ ...common, entryPoints: [join(here, 'src/main.js')], format: 'iife', target: ['es2020'] }),
  build({ ...common, entryPoints: [join(here, 'src/app.css')], loader: { '.css': 'css' } }),
]);
const jsText = js.outputFiles[0].text;
const cssText = css.outputFiles[0].text;
const hash = (s) => createHash('sha256').update(s).digest('hex').slice(0, 12);
const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('{{APP_JS}}', `/-/app.js?v=${hash(jsText)}`)
  .replace('{{APP_CSS}}', `/-/app.css?v=${hash(cssText)}`);
writeFileSync(join(out, 'app.js'), jsText);
writeFileSync(join(out, 'app.css'), cssText);
writeFileSync(join(out, 'index.html'), html);
console.log(`web: app.js ${jsText.length} bytes, app.css ${cssText.length} bytes`);
