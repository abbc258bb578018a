// Lineage end to end: push a small family whose READMEs declare their bases (plus an adapter,
// a merge, a GGUF quantization, a `--base` flag and a parent that arrives later), then check
// /api/grove/lineage, its children pages, model info's lineage fields, list filters and the
// `grove lineage` tree against what was pushed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startHub, tempDir, cleanupTemp, synth, assertOk } from './lib/hub.mjs';

let hub;
let token;
let otherToken;
let work;
const BASE = 'demo/llama-tiny-base';
const FT = 'demo/llama-tiny-finetune-full';

async function folder(name, files) {
  const dir = path.join(work, name);
  await fs.mkdir(dir, { recursive: true });
  for (const [p, content] of Object.entries(files)) await fs.writeFile(path.join(dir, p), content);
  return dir;
}

const card = (front) => `---\n${front}\n---\n# model\n`;

async function push(dir, repo, extra = [], tok = token) {
  const res = await hub.grove(['push', dir, repo, ...extra], { token: tok });
  assertOk(res, `grove push ${repo}`);
}

before(async () => {
  hub = await startHub();
  token = await hub.token('demo');
  otherToken = await hub.token('other');
  work = await tempDir('grove-e2e-lineage-');
  const fam = path.join(work, 'family');
  assertOk(await synth(['family', '--out', fam, '--size', 'tiny', '--seed', '3', '--namespace', 'demo',
    '--members', 'base,finetune-full']), 'grove-synth family');
  await push(path.join(fam, 'base'), BASE);
  await push(path.join(fam, 'finetune-full'), FT); // its README declares base_model: demo/llama-tiny-base
  await push(await folder('lora', {
    'README.md': card(`base_model: ${FT}\nlibrary_name: peft`),
    'adapter_config.json': JSON.stringify({ base_model_name_or_path: FT, r: 8 }),
  }), 'demo/tiny-lora');
  await push(await folder('gguf', {
    'README.md': card(`base_model: ${FT}`),
    'model-Q4_0.gguf': Buffer.from('GGUF\x03\x00\x00\x00not really weights'),
  }), 'demo/tiny-gguf');
  await push(await folder('merge', {
    'README.md': card(`base_model:\n  - ${FT}\n  - other/late-base`),
  }), 'demo/tiny-merge');
  await push(await folder('flagged', { 'notes.txt': 'no card here' }), 'demo/tiny-flagged', ['--base', `${BASE}@main`]);
  await push(await folder('deep', { 'README.md': card('base_model: demo/tiny-merge') }), 'demo/tiny-deep');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

test('the base: children by relation with counts, descendants, drawing', async () => {
  const l = await hub.json(`/api/grove/lineage/${BASE}`);
  assert.equal(l.id, BASE);
  assert.equal(l.node.id, BASE);
  assert.equal(l.node.present, true);
  assert.ok(l.node.params > 0, 'parameter count from the safetensors headers');
  assert.deepEqual(l.ancestors, []);
  assert.equal(l.children.finetune.count, 2); // finetune-full (card) and tiny-flagged (--base)
  assert.deepEqual(l.children.finetune.first.map((c) => c.id).sort(), [FT, 'demo/tiny-flagged']);
  assert.equal(l.children.adapter, undefined);
  // FT, flagged, lora, gguf, merge, deep
  assert.equal(l.descendants, 6);
  const ids = l.graph.nodes.map((n) => n.id).sort();
  assert.deepEqual(ids, [BASE, FT, 'demo/tiny-flagged', 'demo/tiny-gguf', 'demo/tiny-lora', 'demo/tiny-merge',
    'other/late-base'].sort(), 'depth 2 draws the grandchildren and the merge\'s other parent');
  const edge = (p, c) => l.graph.edges.find((e) => e.parent === p && e.child === c);
  assert.equal(edge(BASE, FT).relation, 'finetune');
  assert.equal(edge(BASE, FT).source, 'declared');
  assert.equal(edge(BASE, 'demo/tiny-flagged').source, 'flag');
  assert.equal(edge(FT, 'demo/tiny-lora').relation, 'adapter');
  assert.equal(edge(FT, 'demo/tiny-gguf').relation, 'quantized');
  assert.equal(edge(FT, 'demo/tiny-merge').relation, 'merge');
  assert.equal(edge('other/late-base', 'demo/tiny-merge').relation, 'merge');
  assert.equal(l.graph.nodes.find((n) => n.id === 'other/late-base').present, false);
  assert.equal(l.graph.truncated, false);
  const deeper = await hub.json(`/api/grove/lineage/${BASE}?depth=3`);
  assert.ok(deeper.graph.nodes.some((n) => n.id === 'demo/tiny-deep'));
});

test('a deep model: ancestors to the roots, nearest first, each once', async () => {
  const l = await hub.json('/api/grove/lineage/demo/tiny-deep');
  assert.deepEqual(l.ancestors.map((a) => [a.id, a.depth, a.relation, a.child, a.present]), [
    ['demo/tiny-merge', 1, 'finetune', 'demo/tiny-deep', true],
    [FT, 2, 'merge', 'demo/tiny-merge', true],
    ['other/late-base', 2, 'merge', 'demo/tiny-merge', false],
    [BASE, 3, 'finetune', FT, true],
  ]);
  assert.deepEqual(l.edges_in.map((e) => [e.parent, e.relation, e.source]), [['demo/tiny-merge', 'finetune', 'declared']]);
});

test('edges of all sources: the adapter config infers an edge next to the card', async () => {
  const l = await hub.json('/api/grove/lineage/demo/tiny-lora');
  assert.deepEqual(l.edges_in.map((e) => [e.parent, e.relation, e.source]).sort(),
    [[FT, 'adapter', 'declared'], [FT, 'adapter', 'inferred']]);
  const flagged = await hub.json('/api/grove/lineage/demo/tiny-flagged');
  assert.equal(flagged.edges_in[0].source, 'flag');
  assert.equal(flagged.edges_in[0].parentRevision, 'main');
});

test('a parent named before it exists resolves when it is pushed', async () => {
  let l = await hub.json('/api/grove/lineage/demo/tiny-merge');
  assert.equal(l.ancestors.find((a) => a.id === 'other/late-base').present, false);
  await push(await folder('late', { 'README.md': card('license: mit') }), 'other/late-base', [], otherToken);
  l = await hub.json('/api/grove/lineage/demo/tiny-merge');
  assert.equal(l.ancestors.find((a) => a.id === 'other/late-base').present, true);
  const late = await hub.json('/api/grove/lineage/other/late-base');
  assert.equal(late.children.merge.count, 1);
  assert.equal(late.descendants, 2); // the merge and its child
});

test('children pages follow the cursor (next URL and Link header)', async () => {
  const seen = [];
  let url = `/api/grove/lineage/${FT}/children?limit=1`;
  for (let i = 0; i < 10 && url; i++) {
    const res = await hub.fetch(url);
    assert.equal(res.status, 200);
    const page = await res.json();
    assert.ok(page.items.length <= 1);
    seen.push(...page.items.map((c) => `${c.relation}:${c.id}`));
    if (page.next) {
      assert.match(page.next, /^http:\/\/127\.0\.0\.1:\d+\/api\/grove\/lineage\//);
      assert.equal(res.headers.get('link'), `<${page.next}>; rel="next"`);
    }
    url = page.next;
  }
  assert.deepEqual(seen.sort(), ['adapter:demo/tiny-lora', 'merge:demo/tiny-merge', 'quantized:demo/tiny-gguf']);
  const q = await hub.json(`/api/grove/lineage/${FT}/children?relation=quantized`);
  assert.deepEqual(q.items.map((c) => c.id), ['demo/tiny-gguf']);
  assert.equal(q.next, null);
  const bad = await hub.fetch(`/api/grove/lineage/${FT}/children?relation=cousin`);
  assert.equal(bad.status, 400);
});

test('model info: expand=baseModels and childrenModelCount; list filters by relation', async () => {
  const info = await hub.json(`/api/models/demo/tiny-gguf?expand=baseModels&expand=childrenModelCount`);
  assert.deepEqual(info.baseModels, { relation: 'quantized', models: [{ id: FT }] });
  assert.equal(info.childrenModelCount, 0);
  const ft = await hub.json(`/api/models/${FT}`);
  assert.equal(ft.childrenModelCount, 3);
  assert.deepEqual(ft.baseModels, { relation: 'finetune', models: [{ id: BASE }] });
  const quantized = await hub.json(`/api/models?filter=base_model:quantized:${FT}`);
  assert.deepEqual(quantized.map((m) => m.id), ['demo/tiny-gguf']);
  const all = await hub.json(`/api/models?filter=base_model:${FT}`);
  assert.deepEqual(all.map((m) => m.id).sort(), ['demo/tiny-gguf', 'demo/tiny-lora', 'demo/tiny-merge']);
});

test('unknown repos and bad parameters get clear errors', async () => {
  const res = await hub.fetch('/api/grove/lineage/nobody/nothing', { token });
  assert.equal(res.status, 404);
  assert.equal((await hub.fetch('/api/grove/lineage/nobody/nothing')).status, 401, 'anonymous: 401 RepoNotFound');
  assert.equal(res.headers.get('x-error-code'), 'RepoNotFound');
  assert.equal((await hub.fetch(`/api/grove/lineage/${BASE}?depth=deep`)).status, 400);
  const bad = await hub.grove(['push', work, 'demo/x', '--base', 'not a repo'], { token });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--base/);
});

test('grove lineage prints the tree; --json is the API answer', async () => {
  const res = await hub.grove(['lineage', FT, '--depth', '2']);
  assertOk(res, 'grove lineage');
  const out = res.stdout;
  assert.match(out, /Ancestors\n {2}↑ demo\/llama-tiny-base {3}\(finetune of demo\/llama-tiny-finetune-full\)/);
  assert.match(out, /● demo\/llama-tiny-finetune-full .*4 descendants/);
  assert.match(out, /Children: 1 adapter, 1 merge, 1 quantization/);
  assert.match(out, /├─ adapter: demo\/tiny-lora/);
  assert.match(out, /merge: demo\/tiny-merge\n.*└─ finetune: demo\/tiny-deep/);
  const json = await hub.grove(['lineage', 'demo/tiny-deep', '--json']);
  assertOk(json, 'grove lineage --json');
  assert.equal(JSON.parse(json.stdout).ancestors.length, 4);
  const missing = await hub.grove(['lineage', 'nobody/nothing']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /not found/i);
});

// Counts, children lists, the drawing and childrenModelCount never reveal a private child to
// anyone but its namespace; turning it public (settings) shows it to everyone.
test('a private child is counted and drawn only for its owner', async () => {
  const SECRET = 'other/secret-ft';
  const created = await hub.fetch('/api/repos/create', { token: otherToken, method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'secret-ft', private: true }) });
  assert.equal(created.status, 200, await created.text());
  await push(await folder('secret', { 'README.md': card(`base_model: ${BASE}`) }), SECRET, [], otherToken);

  const seenBy = async (tok) => {
    const l = await hub.json(`/api/grove/lineage/${BASE}`, { token: tok });
    const page = await hub.json(`/api/grove/lineage/${BASE}/children?relation=finetune`, { token: tok });
    const info = await hub.json(`/api/models/${BASE}?expand=childrenModelCount`, { token: tok });
    const listed = (ids) => ids.includes(SECRET);
    return { count: l.children.finetune.count, descendants: l.descendants, info: info.childrenModelCount,
      first: listed(l.children.finetune.first.map((c) => c.id)), drawn: listed(l.graph.nodes.map((n) => n.id)),
      paged: listed(page.items.map((c) => c.id)) };
  };
  const hidden = { count: 2, descendants: 6, info: 2, first: false, drawn: false, paged: false };
  const shown = { count: 3, descendants: 7, info: 3, first: true, drawn: true, paged: true };
  assert.deepEqual(await seenBy(undefined), hidden, 'anonymous');
  assert.deepEqual(await seenBy(token), hidden, 'another user');
  assert.deepEqual(await seenBy(otherToken), shown, 'the owner');
  assert.equal((await hub.fetch(`/api/grove/lineage/${SECRET}`, { token })).status, 404);

  const settings = (priv) => hub.fetch(`/api/repos/models/${SECRET}/settings`, { token: otherToken, method: 'PUT',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ private: priv }) });
  assert.equal((await settings(false)).status, 200);
  assert.deepEqual(await seenBy(undefined), shown, 'public now');
  assert.equal((await settings(true)).status, 200);
  assert.deepEqual(await seenBy(token), hidden, 'private again');
});
