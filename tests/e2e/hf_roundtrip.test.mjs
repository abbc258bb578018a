// Round trips between grove's CLI and the official JS client (@huggingface/hub 2.17.5), both
// ways, byte for byte: a model pushed with `grove push` downloads identical through downloadFile
// and snapshotDownload; a model uploaded with uploadFiles pulls identical with `grove pull`, both
// into a plain folder and into the Hugging Face cache, whose refs → snapshots → blobs chain
// carries exactly the ETags /resolve sends. (pull_cache.test.mjs covers the cache layout of
// grove-pushed models and second pulls; this file covers what crosses clients.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as hf from '@huggingface/hub';
import { startHub, cleanupTemp, tempDir, synth, assertOk, treeHashes, sha256, safetensors } from './lib/hub.mjs';

let hub;
let token;
let modelDir; // grove-synth's base model, pushed with `grove push`
const PUSHED = 'alice/pushed';
const UPLOADED = 'alice/uploaded';
const opts = () => ({ hubUrl: hub.url, accessToken: token });

// Files uploaded with the JS client: small regular ones, a nested one, an LFS safetensors
// file and a binary that preupload also sends through LFS.
const bin = Buffer.alloc(200_000);
for (let i = 0; i < bin.length; i++) bin[i] = (i * 131 + 17) & 0xff;
bin[3] = 0;
const jsFiles = {
  'README.md': '---\nlicense: apache-2.0\n---\n# uploaded with @huggingface/hub\n',
  'config.json': '{"model_type":"llama","hidden_size":32}\n',
  'tokenizer/vocab.txt': 'a\nb\nc\n',
  'model.safetensors': safetensors({ w: { dtype: 'F32', shape: [128, 64] }, b: { dtype: 'F16', shape: [64] } }),
  'extra/blob.bin': bin,
};

// Every regular file under dir, relative path → Buffer.
async function readTree(dir) {
  const out = {};
  for (const rel of Object.keys(await treeHashes(dir))) out[rel] = await fs.readFile(path.join(dir, rel));
  return out;
}

before(async () => {
  hub = await startHub();
  token = await hub.token('alice');
  const work = await tempDir('grove-e2e-hfrt-');
  assertOk(await synth(['family', '--out', path.join(work, 'family'), '--size', 'tiny', '--members', 'base', '--namespace', 'alice']), 'grove-synth');
  modelDir = path.join(work, 'family', 'base');
  assertOk(await hub.grove(['push', modelDir, PUSHED, '-m', 'pushed with grove'], { token }), 'grove push');
  await hf.createRepo({ repo: { type: 'model', name: UPLOADED }, ...opts() });
  await hf.uploadFiles({
    repo: { type: 'model', name: UPLOADED },
    ...opts(),
    commitTitle: 'uploaded with the JS client',
    files: Object.entries(jsFiles).map(([p, c]) => ({ path: p, content: new Blob([c]) })),
  });
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

test('grove push → @huggingface/hub downloadFile: every file byte-identical', async () => {
  const local = await readTree(modelDir);
  assert.ok(Object.keys(local).some((p) => p.endsWith('.safetensors')), 'the model has weights');
  const listed = [];
  for await (const f of hf.listFiles({ repo: PUSHED, recursive: true, ...opts() })) if (f.type === 'file') listed.push(f.path);
  assert.deepEqual(listed.filter((p) => p !== '.gitattributes').sort(), Object.keys(local).sort(), 'the same file set');
  for (const [rel, bytes] of Object.entries(local)) {
    const blob = await hf.downloadFile({ repo: PUSHED, path: rel, ...opts() });
    assert.ok(blob, `${rel} downloads`);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(bytes), `${rel} byte-identical`);
  }
});

test('grove push → @huggingface/hub snapshotDownload: the snapshot equals the pushed folder', async () => {
  const cacheDir = await tempDir('grove-e2e-hfrt-js-cache-');
  const snapshot = await hf.snapshotDownload({ repo: PUSHED, cacheDir, ...opts() });
  const commit = await hub.headSha(PUSHED);
  assert.equal(path.basename(snapshot), commit);
  // The snapshot holds symlinks into blobs/: read through them.
  const want = await treeHashes(modelDir);
  const names = (await fs.readdir(snapshot, { recursive: true })).filter((n) => n !== '.gitattributes');
  const got = {};
  for (const rel of names) if ((await fs.stat(path.join(snapshot, rel))).isFile()) got[rel] = sha256(await fs.readFile(path.join(snapshot, rel)));
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want));
  for (const rel of Object.keys(want)) assert.equal(got[rel], want[rel], `${rel} byte-identical`);
});

test('@huggingface/hub upload → grove pull --local-dir: byte-identical', async () => {
  const out = await tempDir('grove-e2e-hfrt-pull-');
  assertOk(await hub.grove(['pull', UPLOADED, '--local-dir', out], { token }), 'grove pull --local-dir');
  const got = await treeHashes(out);
  delete got['.gitattributes'];
  const want = Object.fromEntries(Object.entries(jsFiles).map(([p, c]) => [p, sha256(Buffer.from(c))]).sort(([a], [b]) => (a < b ? -1 : 1)));
  assert.deepEqual(got, want);
});

test('@huggingface/hub upload → grove pull into the HF cache: refs → snapshots → blobs named by the resolve ETags', async () => {
  const home = await tempDir('grove-e2e-hfrt-home-');
  assertOk(await hub.grove(['pull', UPLOADED], { token, env: { HF_HOME: home, HF_HUB_CACHE: '' } }), 'grove pull into the cache');
  const repoDir = path.join(home, 'hub', 'models--alice--uploaded');
  const commit = (await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).trim();
  assert.equal(commit, await hub.headSha(UPLOADED), 'refs/main holds the head commit');
  const snapshot = path.join(repoDir, 'snapshots', commit);
  for (const [rel, content] of Object.entries(jsFiles)) {
    const link = path.join(snapshot, rel);
    const target = await fs.readlink(link);
    // What /resolve sends (X-Linked-Etag, else ETag) is the blob's name, the same ETag the JS
    // client reads from its Range probe.
    const head = await hub.fetch(`/${UPLOADED}/resolve/main/${rel}`, { method: 'HEAD' });
    const etag = (head.headers.get('x-linked-etag') || head.headers.get('etag')).replaceAll('"', '');
    const info = await hf.fileDownloadInfo({ repo: UPLOADED, path: rel, ...opts() });
    assert.equal(info.etag.replaceAll('"', ''), etag, `${rel}: the JS client sees the same ETag`);
    assert.equal(target, '../'.repeat(2 + rel.split('/').length - 1) + `blobs/${etag}`, `${rel}: relative link to blobs/<etag>`);
    assert.equal(path.resolve(path.dirname(link), target), path.join(repoDir, 'blobs', etag));
    assert.equal(sha256(await fs.readFile(link)), sha256(Buffer.from(content)), `${rel}: byte-identical through the link`);
  }
  // The JS client's own snapshot of the same repo agrees on commit and blob names.
  const jsCache = await tempDir('grove-e2e-hfrt-js-cache2-');
  const jsSnapshot = await hf.snapshotDownload({ repo: UPLOADED, cacheDir: jsCache, ...opts() });
  assert.equal(path.basename(jsSnapshot), commit);
  const blobsGrove = (await fs.readdir(path.join(repoDir, 'blobs'))).sort();
  const blobsJs = (await fs.readdir(path.join(jsCache, 'models--alice--uploaded', 'blobs'))).sort();
  assert.deepEqual(blobsGrove, blobsJs, 'grove pull and the JS client name the blobs alike');
});
