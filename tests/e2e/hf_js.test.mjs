// The official JS client, @huggingface/hub 2.17.5 (pinned in package.json), against a real
// grove on loopback with only hubUrl changed: account, repos, uploads, listings, downloads
// (whole, ranged, snapshot into a cache dir), commits, deletes, and the error cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as hf from '@huggingface/hub';
import { startHub, cleanupTemp, tempDir, sha256, exists, lfsBatch, postCommit, ndjson, lfsEntry } from './lib/hub.mjs';

let hub;
let alice;
let bob;
const repo = { type: 'model', name: 'alice/js-model' };
const readme = '---\nbase_model: demo/llama-tiny-base\nlicense: apache-2.0\n---\n# JS model\n';
const config = JSON.stringify({ model_type: 'llama', hidden_size: 64 }, null, 2) + '\n';
// Binary content: preupload marks it LFS, so it travels through the LFS batch API.
const weights = Buffer.alloc(300_000);
for (let i = 0; i < weights.length; i++) weights[i] = (i * 31 + 7) & 0xff;
weights[0] = 0;

// The git blob sha1 of a buffer, as git computes it.
function gitBlobSha1(buf) {
  return import('node:crypto').then(({ createHash }) =>
    createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex'));
}

const opts = (accessToken) => ({ hubUrl: hub.url, accessToken });

async function rejectsWith(promise, status, what) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, `${what}: expected HTTP ${status}, got ${e.statusCode} (${e.message})`);
    return true;
  });
}

before(async () => {
  hub = await startHub();
  alice = await hub.token('alice');
  bob = await hub.token('bob');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

test('whoAmI names the token owner', async () => {
  const me = await hf.whoAmI(opts(alice));
  assert.equal(me.name, 'alice');
  assert.equal(me.type, 'user');
  assert.ok(me.auth && me.auth.accessToken, 'whoAmI carries auth.accessToken');
});

test('createRepo, and again is a conflict', async () => {
  const made = await hf.createRepo({ repo, ...opts(alice) });
  assert.match(made.repoUrl, /\/alice\/js-model$/);
  await rejectsWith(hf.createRepo({ repo, ...opts(alice) }), 409, 'second createRepo');
});

test('uploadFiles commits regular and LFS files', async () => {
  const commit = await hf.uploadFiles({
    repo,
    ...opts(alice),
    commitTitle: 'Add model files',
    files: [
      { path: 'README.md', content: new Blob([readme]) },
      { path: 'config.json', content: new Blob([config]) },
      { path: 'weights/model.bin', content: new Blob([weights]) },
    ],
  });
  assert.match(commit.commit.oid, /^[0-9a-f]{40}$/);
  assert.equal(await hub.headSha('alice/js-model'), commit.commit.oid);
});

test('listFiles recursive shows sizes, git oids and LFS oids', async () => {
  const files = [];
  for await (const f of hf.listFiles({ repo, recursive: true, ...opts(alice) })) files.push(f);
  const byPath = Object.fromEntries(files.filter((f) => f.type === 'file').map((f) => [f.path, f]));
  assert.equal(byPath['README.md'].size, Buffer.byteLength(readme));
  assert.equal(byPath['README.md'].oid, await gitBlobSha1(Buffer.from(readme)));
  assert.equal(byPath['config.json'].oid, await gitBlobSha1(Buffer.from(config)));
  const w = byPath['weights/model.bin'];
  assert.ok(w, `weights/model.bin missing from ${Object.keys(byPath)}`);
  assert.equal(w.size, weights.length);
  assert.equal(w.lfs.oid, sha256(weights));
  assert.ok(files.some((f) => f.type === 'directory' && f.path === 'weights'), 'the weights folder is listed');
});

test('modelInfo reports the repo and its lineage', async () => {
  const info = await hf.modelInfo({ name: 'alice/js-model', additionalFields: ['cardData', 'sha'], ...opts(alice) });
  assert.equal(info.name, 'alice/js-model');
  assert.equal(info.private, false);
  assert.match(info.sha, /^[0-9a-f]{40}$/);
  assert.deepEqual([info.cardData.base_model].flat(), ['demo/llama-tiny-base']);
});

test('fileDownloadInfo: size and ETag (sha256 for LFS, git blob sha1 otherwise)', async () => {
  const lfs = await hf.fileDownloadInfo({ repo, path: 'weights/model.bin', ...opts(alice) });
  assert.equal(lfs.size, weights.length);
  assert.equal(lfs.etag.replaceAll('"', ''), sha256(weights));
  const small = await hf.fileDownloadInfo({ repo, path: 'config.json', ...opts(alice) });
  assert.equal(small.size, Buffer.byteLength(config));
  assert.equal(small.etag.replaceAll('"', ''), await gitBlobSha1(Buffer.from(config)));
  assert.equal(await hf.fileDownloadInfo({ repo, path: 'nope.txt', ...opts(alice) }), null, 'missing file → null');
});

test('downloadFile whole and by Range', async () => {
  const blob = await hf.downloadFile({ repo, path: 'weights/model.bin', ...opts(alice) });
  assert.equal(blob.size, weights.length);
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), weights);
  // A slice of the lazy blob is one Range request.
  const slice = Buffer.from(await blob.slice(1000, 5000).arrayBuffer());
  assert.deepEqual(slice, weights.subarray(1000, 5000));
  const cfg = await hf.downloadFile({ repo, path: 'config.json', ...opts(alice) });
  assert.equal(await cfg.text(), config);
  assert.equal(await hf.downloadFile({ repo, path: 'nope.txt', ...opts(alice) }), null);
});

test('snapshotDownload into a cache dir gives the same bytes', async () => {
  const cacheDir = await tempDir('grove-e2e-hfcache-');
  const snapshot = await hf.snapshotDownload({ repo, cacheDir, ...opts(alice) });
  const sha = await hub.headSha('alice/js-model');
  assert.equal(snapshot, path.join(cacheDir, 'models--alice--js-model', 'snapshots', sha));
  assert.equal(await fs.readFile(path.join(snapshot, 'README.md'), 'utf8'), readme);
  assert.equal(await fs.readFile(path.join(snapshot, 'config.json'), 'utf8'), config);
  assert.deepEqual(await fs.readFile(path.join(snapshot, 'weights/model.bin')), weights);
  assert.equal((await fs.readFile(path.join(cacheDir, 'models--alice--js-model', 'refs', 'main'), 'utf8')).trim(), sha);
  assert.ok(await exists(path.join(cacheDir, 'models--alice--js-model', 'blobs', sha256(weights))), 'LFS blob named by sha256');
});

test('listCommits shows the upload', async () => {
  const commits = [];
  for await (const c of hf.listCommits({ repo, ...opts(alice) })) commits.push(c);
  assert.ok(commits.length >= 1);
  assert.equal(commits[0].oid, await hub.headSha('alice/js-model'));
  assert.equal(commits[0].title, 'Add model files');
});

test('deleteFile removes the file from the next revision', async () => {
  await hf.deleteFile({ repo, path: 'config.json', ...opts(alice) });
  const paths = [];
  for await (const f of hf.listFiles({ repo, recursive: true, ...opts(alice) })) paths.push(f.path);
  assert.ok(!paths.includes('config.json'), `config.json still listed: ${paths}`);
  assert.ok(paths.includes('README.md'));
  assert.equal(await hf.fileDownloadInfo({ repo, path: 'config.json', ...opts(alice) }), null);
});

test('errors: bad token 401, other namespace 403, missing repo 404', async () => {
  await rejectsWith(hf.whoAmI(opts('hf_not_a_real_token_at_all')), 401, 'whoAmI with a bad token');
  await rejectsWith(
    hf.uploadFiles({ repo, ...opts('hf_not_a_real_token_at_all'), files: [{ path: 'x.txt', content: new Blob(['x']) }] }),
    401, 'upload with a bad token');
  await rejectsWith(
    hf.uploadFiles({ repo, ...opts(bob), files: [{ path: 'x.txt', content: new Blob(['x']) }] }),
    403, 'bob uploading to alice/');
  await rejectsWith(hf.createRepo({ repo: { type: 'model', name: 'alice/bobs' }, ...opts(bob) }), 403, 'bob creating alice/bobs');
  await rejectsWith(hf.modelInfo({ name: 'alice/missing', ...opts(alice) }), 404, 'modelInfo of a missing repo');
  await rejectsWith(
    hf.uploadFiles({ repo: { type: 'model', name: 'alice/missing' }, ...opts(alice), files: [{ path: 'x.txt', content: new Blob(['x']) }] }),
    404, 'upload to a missing repo');
  assert.equal(await hf.repoExists({ repo: { type: 'model', name: 'alice/missing' }, ...opts(alice) }), false);
});

test('deleteRepo, then the repo is gone', async () => {
  await rejectsWith(hf.deleteRepo({ repo, ...opts(bob) }), 403, 'bob deleting alice/js-model');
  await hf.deleteRepo({ repo, ...opts(alice) });
  await rejectsWith(hf.modelInfo({ name: 'alice/js-model', ...opts(alice) }), 404, 'modelInfo after deleteRepo');
  assert.equal(await hf.repoExists({ repo, ...opts(alice) }), false);
});

test('multipart LFS upload of a file above the threshold (JS client, then by hand)', async () => {
  // A second hub whose threshold is lowered to 4 MiB, so a 20 MB file goes in 5 parts.
  const threshold = 4 << 20;
  const small = await startHub({ args: ['--multipart-threshold', String(threshold)] });
  try {
    const token = await small.token('alice');
    const o = { hubUrl: small.url, accessToken: token };
    const r = { type: 'model', name: 'alice/multipart' };
    await hf.createRepo({ repo: r, ...o });
    const big = Buffer.alloc(20_000_000);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    // The batch answer: completion href, chunk_size and ceil(size/chunk) ascending part keys.
    const obj = await lfsBatch(small, 'alice/multipart', sha256(big), big.length, { token, transfers: ['basic', 'multipart'] });
    const header = obj.actions.upload.header;
    assert.equal(header.chunk_size, String(threshold));
    const keys = Object.keys(header).filter((k) => /^[0-9]+$/.test(k));
    assert.deepEqual(keys, ['00001', '00002', '00003', '00004', '00005']);
    assert.match(obj.actions.upload.href, /\/api\/grove\/lfs\/complete\//);
    // A client that asks only for "basic" (grove push) gets one PUT URL, whatever the size.
    const basic = await lfsBatch(small, 'alice/multipart', sha256(big), big.length, { token });
    assert.equal(basic.actions.upload.header, undefined);
    assert.match(basic.actions.upload.href, /\/api\/grove\/lfs\/upload\//);

    await hf.uploadFiles({ repo: r, ...o, files: [{ path: 'big.bin', content: new Blob([big]) }] });
    const blob = await hf.downloadFile({ repo: r, path: 'big.bin', ...o });
    assert.equal(blob.size, big.length);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(big));
    const info = await hf.fileDownloadInfo({ repo: r, path: 'big.bin', ...o });
    assert.equal(info.etag.replaceAll('"', ''), sha256(big));

    // By hand: parts, a wrong completion, then the right one.
    const other = Buffer.from(big.subarray(0, 9_000_000));
    other[5] ^= 0xff;
    const oid = sha256(other);
    const b = (await lfsBatch(small, 'alice/multipart', oid, other.length, { token, transfers: ['basic', 'multipart'] })).actions.upload;
    const partKeys = Object.keys(b.header).filter((k) => /^[0-9]+$/.test(k));
    assert.equal(partKeys.length, 3);
    const etags = [];
    for (const [i, k] of partKeys.entries()) {
      const slice = other.subarray(i * threshold, (i + 1) * threshold);
      const res = await fetch(b.header[k], { method: 'PUT', body: slice });
      assert.equal(res.status, 200, await res.text());
      assert.equal(res.headers.get('etag'), `"${sha256(slice)}"`);
      etags.push(res.headers.get('etag'));
    }
    // A part of the wrong size is refused.
    const wrong = await fetch(b.header['00001'], { method: 'PUT', body: other.subarray(0, 10) });
    assert.equal(wrong.status, 400);
    await wrong.text();
    // Not visible before completion: a commit naming it is refused.
    let c = await postCommit(small, 'alice/multipart', ndjson('early', [lfsEntry('other.bin', oid, other.length)]), { token });
    assert.equal(c.status, 400, c.text);
    const complete = (parts) =>
      fetch(b.href, { method: 'POST', headers: { 'Content-Type': 'application/vnd.git-lfs+json' }, body: JSON.stringify({ oid, parts }) });
    let res = await complete(etags.slice(0, 2).map((etag, i) => ({ partNumber: i + 1, etag })));
    assert.equal(res.status, 400, 'a completion missing a part is refused');
    await res.text();
    res = await complete([etags[1], etags[0], etags[2]].map((etag, i) => ({ partNumber: i + 1, etag })));
    assert.equal(res.status, 400, 'parts out of order do not add up to the oid');
    await res.text();
    res = await fetch(b.href.replace(/sig=[0-9a-f]+/, 'sig=00'), { method: 'POST', body: JSON.stringify({ oid, parts: [] }) });
    assert.equal(res.status, 403, 'a forged signature is refused');
    await res.text();
    res = await complete(etags.map((etag, i) => ({ partNumber: i + 1, etag })));
    assert.equal(res.status, 200, await res.text());
    c = await postCommit(small, 'alice/multipart', ndjson('by hand', [lfsEntry('other.bin', oid, other.length)]), { token });
    assert.equal(c.status, 200, c.text);
    const got = await small.fetch('/alice/multipart/resolve/main/other.bin', { token });
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), oid);
  } finally {
    await small.stopOk();
  }
});
