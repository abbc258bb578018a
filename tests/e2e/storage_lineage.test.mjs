// Storage meets lineage through a real server: `grove push --base` sends X-Grove-Base on its LFS
// uploads, so the store encodes the fine-tune as deltas at ingest (no standalone copy waiting for
// gc), and the hub records what the store measured as a "detected" lineage edge with its
// similarity. A wrong declared base is refused by the store's sampling and records nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startHub, tempDir, cleanupTemp, synth, assertOk, sleep } from './lib/hub.mjs';

let hub;
let token;
let work;
const BASE = 'demo/llama-tiny-base';

before(async () => {
  hub = await startHub();
  token = await hub.token('demo');
  work = await tempDir('grove-e2e-storage-lineage-');
  assertOk(await synth(['family', '--out', path.join(work, 'fam'), '--size', 'tiny', '--seed', '5', '--namespace', 'demo',
    '--members', 'base,finetune-full']), 'grove-synth family');
  // Same shapes, unrelated weights: a base that does not explain anything.
  assertOk(await synth(['family', '--out', path.join(work, 'other'), '--size', 'tiny', '--seed', '77', '--namespace', 'demo',
    '--members', 'base']), 'grove-synth family (unrelated)');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

async function push(dir, repo, extra = []) {
  const res = await hub.grove(['push', dir, repo, ...extra], { token });
  assertOk(res, `grove push ${repo}`);
}

async function packBytes() {
  return (await hub.json('/api/grove/storage', { token })).total.pack_bytes;
}

function detected(lineage) {
  return lineage.edges_in.filter((e) => e.source === 'detected');
}

test('push --base: deltas at ingest and a detected edge; a wrong base records none', async () => {
  await push(path.join(work, 'fam', 'base'), BASE);
  const afterBase = await packBytes();
  // Wrong base first: the hub re-encodes commits one at a time, in order, so once the good
  // edge below shows up this one has been measured too.
  await push(path.join(work, 'other', 'base'), 'demo/unrelated', ['--base', BASE]);
  const afterUnrelated = await packBytes();
  await push(path.join(work, 'fam', 'finetune-full'), 'demo/tuned', ['--base', BASE]);
  const afterTuned = await packBytes();

  let edges = [];
  for (let i = 0; i < 300 && edges.length === 0; i++) {
    edges = detected(await hub.json('/api/grove/lineage/demo/tuned'));
    if (edges.length === 0) await sleep(100);
  }
  assert.equal(edges.length, 1, 'no detected edge for the fine-tune');
  assert.equal(edges[0].parent, BASE);
  assert.equal(edges[0].relation, 'finetune');
  assert.ok(edges[0].similarity > 0.5 && edges[0].similarity <= 1, `similarity ${edges[0].similarity}`);
  assert.equal(detected(await hub.json('/api/grove/lineage/demo/unrelated')).length, 0,
    'a wrong declared base must not become a detected edge');

  // Encoded against the base at upload: the fine-tune added well under what a standalone copy
  // costs (the unrelated model, same shapes, stored standalone), and no re-encoding was needed.
  const standalone = afterUnrelated - afterBase;
  const tuned = afterTuned - afterUnrelated;
  assert.ok(tuned < standalone * 0.8, `fine-tune added ${tuned} bytes, a standalone copy ${standalone}`);
  assert.equal(await packBytes(), afterTuned, 'the store re-encoded the fine-tune after its commit');
});
