// grove's web UI in a real browser: Debian's chromium driven by playwright-core against a real
// `grove serve` holding the demo family (grove-synth + scripts/demo_family, pushed with the
// CLI: READMEs declare base_model), extra quantized children (so the graph collapses them into
// a group that expands by paging /children), and a model card written to attack the page.
// What the browser shows is checked against what the API answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startHub, tempDir, cleanupTemp, synth, run, assertOk, REPO_ROOT } from '../e2e/lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const NS = 'demo';
const FAMILY = 'llama-tiny';
const EXTRA_QUANTS = 16;  // more than the page's per-parent limit (12): they collapse into a group
const fmtInt = (n) => new Intl.NumberFormat('en-US').format(n);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

let hub, token, familyDir, browser, context, page;
const consoleErrors = [];
const cspViolations = [];
const dialogs = [];

// Every page of `ctx` reports console errors, uncaught exceptions and CSP violations (the
// securitypolicyviolation event, which also fires for violations Chromium does not log).
async function watch(ctx) {
  await ctx.exposeBinding('__groveCspViolation', ({ page: p }, v) => cspViolations.push(`${p.url()}: ${v}`));
  await ctx.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => window.__groveCspViolation(
    `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`)));
  ctx.on('page', (p) => watchPage(p));
}
function watchPage(p) {
  p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${p.url()}: ${m.text()} (${m.location().url}:${m.location().lineNumber})`); });
  p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: uncaught ${e.message}`));
}

async function push(dir, repo) {
  const res = await hub.grove(['push', dir, repo, '-m', `push ${path.basename(dir)}`], { token });
  assertOk(res, `grove push ${repo}`);
}

before(async () => {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  hub = await startHub();
  token = await hub.token(NS);
  const work = await tempDir('grove-browser-');
  familyDir = path.join(work, 'family');
  assertOk(await synth(['family', '--out', familyDir, '--size', 'tiny', '--namespace', NS, '--family', FAMILY]), 'grove-synth family');
  const members = await run(path.join(REPO_ROOT, 'scripts/demo_family'), [familyDir]);
  assertOk(members, 'scripts/demo_family');
  for (const m of members.stdout.trim().split('\n')) await push(path.join(familyDir, m), `${NS}/${FAMILY}-${m}`);
  for (let i = 0; i < EXTRA_QUANTS; i++) {
    const dir = path.join(work, `q${i}`);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'README.md'), `---\nbase_model: ${NS}/${FAMILY}-base\nbase_model_relation: quantized\ntags:\n- gguf\n---\n\n# quant ${i}\n`);
    await push(dir, `${NS}/${FAMILY}-base-q${i}`);
  }
  // A card that tries every way in: script, event handlers, javascript: links (Markdown,
  // raw HTML, entity-encoded), frames, SVG, inline styles.
  const hostile = path.join(work, 'hostile');
  await fs.mkdir(hostile);
  await fs.writeFile(path.join(hostile, 'README.md'), [
    '---', 'license: mit', '---', '', '# Hostile card', '',
    '<script>window.__pwned = "script"; alert("script")</script>', '',
    '<img src="x" onerror="window.__pwned = \'img\'; alert(\'img\')">', '',
    '<img src="does-not-exist.png" alt="missing image">', '',
    '[markdown js link](javascript:window.__pwned=\'md\';alert(1))', '',
    '<a href="javascript:alert(\'raw\')">raw js link</a> <a href="JaVaScRiPt&#58;alert(2)">encoded js link</a>', '',
    '<a href=" javascript:alert(3)">spaced js link</a> <a href="data:text/html,<script>alert(4)</script>">data link</a>', '',
    '<iframe src="javascript:alert(5)"></iframe><svg onload="alert(6)"><circle r="4"/></svg>', '',
    '<div onclick="alert(7)" style="background:red">styled div</div>', '',
    '<details><summary>More</summary>Folded text</details>', '',
    'A [safe link](https://example.com/docs) and **bold** text.', '',
  ].join('\n'));
  await push(hostile, `${NS}/hostile-card`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true, colorScheme: 'light' });
  await watch(context);
  page = await context.newPage();
  page.on('dialog', async (d) => { dialogs.push(`${d.type()}: ${d.message()}`); await d.dismiss(); });
});

after(async () => {
  await browser?.close();
  await hub?.stop();
  await cleanupTemp();
});

const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });

test('home lists every model the API lists, with relation badges, and searches as you type', async () => {
  const models = await hub.json('/api/models?full=true&limit=100&sort=downloads&direction=-1');
  await page.goto(hub.url + '/');
  await page.waitForSelector('[data-testid=model-list] a.card');
  const shown = await page.$$eval('[data-testid=model-list] a.card', (cards) => cards.map((c) => c.dataset.id));
  assert.deepEqual(shown, models.map((m) => m.id));
  const badge = (id) => page.getAttribute(`a.card[data-id="${id}"] .badge.rel`, 'data-relation');
  assert.equal(await badge(`${NS}/${FAMILY}-merge`), 'merge');
  assert.equal(await badge(`${NS}/${FAMILY}-chat-adapter`), 'adapter');
  assert.equal(await badge(`${NS}/${FAMILY}-base-gguf`), 'quantized');
  assert.equal(await badge(`${NS}/${FAMILY}-finetune-full`), 'finetune');
  await shot('home');

  await page.fill('#q', 'finetune-full');
  const expected = (await hub.json('/api/models?search=finetune-full&limit=100')).map((m) => m.id).sort();
  assert.ok(expected.length >= 2, 'search finds the fine-tune and its quantization');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=model-list] a.card').length === n
    && location.search.includes('q=finetune-full'), expected.length);
  const found = await page.$$eval('[data-testid=model-list] a.card', (cards) => cards.map((c) => c.dataset.id));
  assert.deepEqual(found.sort(), expected);

  await page.click(`a.card[data-id="${NS}/${FAMILY}-finetune-full"]`);
  await page.waitForURL(`${hub.url}/${NS}/${FAMILY}-finetune-full`);
});

test('model page: rendered card, parameter count, pull command and Python snippet', async () => {
  const id = `${NS}/${FAMILY}-finetune-full`;
  const info = await hub.json(`/api/models/${id}`);
  await page.waitForSelector('[data-testid=model-card] h1');
  assert.equal(await page.textContent('[data-testid=model-card] h1'), id);
  // The front matter is not shown; the Markdown table and code block are rendered.
  const cardText = await page.textContent('[data-testid=model-card]');
  assert.ok(!cardText.includes('base_model_relation'), 'front matter is not rendered');
  assert.equal(await page.locator('[data-testid=model-card] table td', { hasText: 'LlamaForCausalLM' }).count(), 1);
  assert.ok((await page.textContent('[data-testid=model-card] pre code')).includes(`from_pretrained("${id}")`));
  assert.ok(info.safetensors && info.safetensors.total > 0, 'API has a parameter count');
  assert.ok((await page.getAttribute('[data-testid=params]', 'title')).startsWith(fmtInt(info.safetensors.total)));
  assert.equal(await page.textContent('[data-testid=downloads] b'), fmtInt(info.downloads));
  assert.equal(await page.textContent('aside .copy code'), `grove pull ${id}`);
  const py = await page.textContent('aside .copy pre');
  assert.ok(py.includes(`os.environ["HF_ENDPOINT"] = "${hub.url}"`) && py.includes(`snapshot_download("${id}")`), py);
  // Export buttons: one per quantization, each at the contract's URL for this commit.
  const exports = await page.$$eval('[data-testid=export] a', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(exports.includes(`/api/grove/export/${id}/${info.sha}/Q4_K_M.gguf`), exports.join(' '));
  assert.equal(exports.length, 11);
  await shot('model');
});

test('files tab lists the tree with sizes and LFS badges, and a link downloads the same bytes', async () => {
  const id = `${NS}/${FAMILY}-finetune-full`;
  await page.click('nav.tabs a[data-tab=files]');
  await page.waitForSelector('[data-testid=file-list] tr[data-path]');
  const tree = (await hub.json(`/api/models/${id}/tree/main?recursive=true`)).filter((e) => e.type === 'file');
  const rows = await page.$$eval('[data-testid=file-list] tr[data-path]', (trs) => trs.map((tr) => ({
    path: tr.dataset.path, size: Number(tr.querySelector('td.size').dataset.size), lfs: !!tr.querySelector('.badge.lfs'),
    href: tr.querySelector('td.dl a').getAttribute('href') })));
  assert.deepEqual(rows.map(({ path: p, size, lfs }) => ({ path: p, size, lfs })), tree.map((e) => ({ path: e.path, size: e.size, lfs: !!e.lfs })));
  assert.ok(rows.some((r) => r.lfs) && rows.some((r) => !r.lfs), 'both LFS and plain files');
  for (const file of ['config.json', 'model.safetensors']) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`tr[data-path="${file}"] td.dl a`)]);
    const saved = await download.path();
    const got = await fs.readFile(saved);
    const want = await fs.readFile(path.join(familyDir, 'finetune-full', file));
    assert.equal(got.length, want.length, `${file} size`);
    assert.equal(sha256(got), sha256(want), `${file} bytes`);
  }
});

// Every node and edge of the API's drawing neighbourhood is in the SVG (groups and exports
// get an edge from their parent when the API leaves it implicit).
async function checkGraphAgainstApi(id) {
  const lineage = await hub.json(`/api/grove/lineage/${id}?depth=2&limit=12`);
  await page.waitForSelector(`g.node.current[data-id="${id}"]`);
  const drawnNodes = new Set(await page.$$eval('g.viewport g.nodes > g.node', (gs) => gs.map((g) => g.dataset.id)));
  const drawnEdges = await page.$$eval('path.edge', (ps) => ps.map((p) => `${p.dataset.parent} -> ${p.dataset.child} ${p.dataset.relation}`));
  for (const n of lineage.graph.nodes) assert.ok(drawnNodes.has(n.id), `node ${n.id} drawn`);
  assert.equal(drawnNodes.size, lineage.graph.nodes.length + (lineage.graph.nodes.some((n) => n.id === id) ? 0 : 1));
  const apiEdges = new Set(lineage.graph.edges.map((e) => `${e.parent} -> ${e.child} ${e.relation}`));
  for (const e of apiEdges) assert.ok(drawnEdges.includes(e), `edge ${e} drawn`);
  for (const e of drawnEdges) {
    const child = e.split(' -> ')[1].split(' ')[0];
    const kind = lineage.graph.nodes.find((n) => n.id === child)?.kind;
    assert.ok(apiEdges.has(e) || kind === 'group' || kind === 'export', `drawn edge ${e} comes from the API`);
  }
  return lineage;
}

test('lineage graph matches the API; click through to the base and to a child', async () => {
  const id = `${NS}/${FAMILY}-finetune-full`;
  await page.click('nav.tabs a[data-tab=lineage]');
  const lineage = await checkGraphAgainstApi(id);
  assert.ok(lineage.ancestors.some((a) => a.id === `${NS}/${FAMILY}-base`), 'the base is an ancestor');
  for (const rel of ['adapter', 'merge', 'quantized']) {
    const n = lineage.children[rel] ? lineage.children[rel].count : 0;
    assert.ok(n >= 1, `finetune-full has a ${rel} child`);
    assert.equal(await page.textContent(`[data-testid=lineage-counts] [data-relation=${rel}] b`), fmtInt(n));
  }
  // The merge is drawn with both of its parents.
  const mergeParents = await page.$$eval(`path.edge[data-child="${NS}/${FAMILY}-merge"]`, (ps) => ps.map((p) => p.dataset.parent).sort());
  assert.deepEqual(mergeParents, [`${NS}/${FAMILY}-finetune-full`, `${NS}/${FAMILY}-finetune-partial`]);
  await shot('lineage-finetune');  // the README's docs/lineage.png

  // To the base...
  await page.click(`g.node[data-id="${NS}/${FAMILY}-base"]`);
  await page.waitForURL(`${hub.url}/${NS}/${FAMILY}-base?tab=lineage`);
  const base = await checkGraphAgainstApi(`${NS}/${FAMILY}-base`);
  // ...whose quantizations (1 + EXTRA_QUANTS, more than the limit) are one group with a count.
  const group = base.graph.nodes.find((n) => n.kind === 'group' && n.relation === 'quantized');
  assert.ok(group, 'quantized children are collapsed into a group');
  assert.equal(group.count, base.children.quantized.count);
  const head = page.locator(`g.node.group[data-id="${group.id}"] text.title`);
  assert.equal(await head.textContent(), `${fmtInt(group.count)} quantizations`);
  await shot('lineage');
  // Expanding pages /children into tiles: all of them, none drawn twice.
  await page.click(`g.node.group[data-id="${group.id}"] g.group-head`);
  const drawnQuant = base.graph.edges.filter((e) => e.parent === group.parent && e.relation === 'quantized'
    && base.graph.nodes.find((n) => n.id === e.child)?.kind === 'model').length;
  await page.waitForFunction(([gid, n]) => Number(document.querySelector(`g.node.group[data-id="${gid}"]`)?.dataset.shown) === n,
    [group.id, group.count - drawnQuant]);
  const tile = `${NS}/${FAMILY}-base-q3`;
  await page.waitForSelector(`g.node.tile[data-id="${tile}"]`);

  // ...and down to a child, from its tile.
  await page.click(`g.node.tile[data-id="${tile}"]`);
  await page.waitForURL(`${hub.url}/${tile}?tab=lineage`);
  await page.waitForSelector(`g.node.current[data-id="${tile}"]`);
  assert.equal(await page.locator(`path.edge[data-parent="${NS}/${FAMILY}-base"][data-child="${tile}"]`).count(), 1);
  // Browser back returns to the base's graph.
  await page.goBack();
  await page.waitForSelector(`g.node.current[data-id="${NS}/${FAMILY}-base"]`);
  await page.click(`g.node[data-id="${NS}/${FAMILY}-finetune-partial"]`);
  await page.waitForURL(`${hub.url}/${NS}/${FAMILY}-finetune-partial?tab=lineage`);
});

test('the graph pans and zooms', async () => {
  await page.goto(`${hub.url}/${NS}/${FAMILY}-base?tab=lineage`);
  await page.waitForSelector('g.node.current');
  const transform = () => page.getAttribute('g.viewport', 'transform');
  const box = await page.locator('[data-testid=lineage-graph] svg').boundingBox();
  const t0 = await transform();
  await page.mouse.move(box.x + 40, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + 140, box.y + 90, { steps: 5 });
  await page.mouse.up();
  const t1 = await transform();
  assert.notEqual(t1, t0, 'drag pans');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction((t) => document.querySelector('g.viewport').getAttribute('transform') !== t, t1);
  const scale = Number(/scale\(([\d.]+)\)/.exec(await transform())[1]);
  const scale0 = Number(/scale\(([\d.]+)\)/.exec(t1)[1]);
  assert.ok(scale > scale0, `wheel zooms in (${scale0} -> ${scale})`);
  assert.match(page.url(), /llama-tiny-base\?tab=lineage$/, 'a drag is not a click');
});

test('a hostile model card stays inert', async () => {
  await page.goto(`${hub.url}/${NS}/hostile-card`);
  await page.waitForSelector('[data-testid=model-card] h1');
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], 'no dialog opened');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  const card = page.locator('[data-testid=model-card]');
  assert.equal(await card.locator('script, iframe, svg, style, object, embed').count(), 0);
  assert.equal(await card.locator('[onerror], [onclick], [onload], [style]').count(), 0);
  const handlers = await page.evaluate(() => [...document.querySelectorAll('*')].flatMap((el) =>
    [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${el.localName}[${a.name}]`)));
  assert.deepEqual(handlers, [], 'no event handler attribute anywhere in the page');
  const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(hrefs.every((h) => /^(https?:|\/|#|mailto:)/i.test(h.trim())), `only safe links: ${hrefs.join(' ')}`);
  for (const text of ['markdown js link', 'raw js link', 'encoded js link', 'spaced js link', 'data link']) {
    assert.equal(await card.getByText(text).count(), 1, `"${text}" is kept as text`);
    assert.equal(await card.locator('a', { hasText: text }).count(), 0, `"${text}" is no longer a link`);
  }
  assert.equal(await card.locator('img').count(), 0, 'images that are not files of the repo are not loaded');
  const safe = card.locator('a', { hasText: 'safe link' });
  assert.equal(await safe.getAttribute('href'), 'https://example.com/docs');
  assert.match(await safe.getAttribute('rel'), /noopener/);
  assert.equal(await card.locator('details summary').textContent(), 'More');
  const csp = (await hub.fetch(`/${NS}/hostile-card`)).headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'(;|$)/, 'no inline script allowed by the page');
  assert.deepEqual(cspViolations, [], 'the card makes the CSP refuse nothing: nothing tried to run');
});

test('the hostile card stays inert without the CSP too: the sanitizer, not the CSP, disarms it', async () => {
  const open = await browser.newContext({ bypassCSP: true });
  const p = await open.newPage();
  const seen = [];
  p.on('dialog', async (d) => { seen.push(d.message()); await d.dismiss(); });
  p.on('pageerror', (e) => consoleErrors.push(`${p.url()} (no CSP): uncaught ${e.message}`));
  await p.goto(`${hub.url}/${NS}/hostile-card`);
  await p.waitForSelector('[data-testid=model-card] h1');
  for (const text of ['styled div', 'markdown js link', 'raw js link']) await p.getByText(text).click();
  await p.waitForTimeout(300);
  assert.deepEqual(seen, [], 'no dialog opened');
  assert.equal(await p.evaluate(() => window.__pwned), undefined, 'no script ran');
  assert.equal(p.url(), `${hub.url}/${NS}/hostile-card`, 'clicking the neutralised links goes nowhere');
  await open.close();
});

test('phone screen and dark mode', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  await watch(phone);
  const p = await phone.newPage();
  const pages = { home: '/', model: `/${NS}/${FAMILY}-merge`, lineage: `/${NS}/${FAMILY}-merge?tab=lineage`,
    files: `/${NS}/${FAMILY}-merge?tab=files`, history: `/${NS}/${FAMILY}-merge?tab=history` };
  for (const [name, url] of Object.entries(pages)) {
    await p.goto(hub.url + url);
    await p.waitForSelector(url === '/' ? 'a.card' : 'nav.tabs');
    if (name === 'model') await p.waitForSelector('[data-testid=model-card] h1');
    if (name === 'lineage') await p.waitForSelector('g.node.current');
    if (name === 'files') await p.waitForSelector('[data-testid=file-list] tr[data-path]');
    if (name === 'history') await p.waitForSelector('[data-testid=commits] .commit');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${url}: no horizontal scrolling on a phone (${overflow}px too wide)`);
    // A file name is never broken inside a word when the row has room for it.
    if (name === 'files') {
      const broken = await p.$$eval('[data-testid=file-list] td.path .mono', (els) => els
        .filter((el) => el.textContent.length <= 24 && el.getClientRects().length > 1)
        .map((el) => el.textContent));
      assert.deepEqual(broken, [], 'short file names fit on one line');
    }
    await p.screenshot({ path: path.join(ARTIFACTS, `phone-dark-${name}.png`) });
  }
  const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background in dark mode (${bg})`);
  await phone.close();
  // The laptop view in dark mode too.
  const dark = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'dark' });
  await watch(dark);
  const d = await dark.newPage();
  await d.goto(`${hub.url}/${NS}/${FAMILY}-finetune-full?tab=lineage`);
  await d.waitForSelector('g.node.current');
  await d.screenshot({ path: path.join(ARTIFACTS, 'lineage-dark.png') });
  await dark.close();
});

test('no console errors and no CSP violations on any page', () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(cspViolations, []);
});
