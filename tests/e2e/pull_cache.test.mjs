// `grove pull` without --local-dir writes the Hugging Face cache layout (spec §7): blobs named
// by the ETag /resolve sends, snapshots/<commit>/<path> as relative symlinks to them, and
// refs/<rev> holding the commit; a second pull of the same revision transfers nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startHub, cleanupTemp, tempDir, assertOk, writeTree, sha256, safetensors } from './lib/hub.mjs';

let hub;
let token;
const repo = 'alice/cached';
const files = {
  'config.json': '{"model_type":"llama"}\n',
  'README.md': '---\nlicense: mit\n---\n# cached\n',
  'model.safetensors': safetensors({ w: { dtype: 'F32', shape: [64, 64] } }),
  'sub/dir/tokenizer.json': '{"vocab":{}}\n',
};

before(async () => {
  hub = await startHub();
  token = await hub.token('alice');
  const src = await writeTree(await tempDir('grove-e2e-cache-src-'), files);
  assertOk(await hub.grove(['push', src, repo, '-m', 'first'], { token }), 'push');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

test('pull into HF_HOME writes blobs, refs and relative snapshot symlinks', async () => {
  const home = await tempDir('grove-e2e-hfhome-');
  const env = { HF_HOME: home, HF_HUB_CACHE: '' };
  const first = await hub.grove(['pull', repo], { token, env });
  assertOk(first, 'pull into the cache');
  const commit = await hub.headSha(repo);
  const repoDir = path.join(home, 'hub', 'models--alice--cached');
  assert.equal(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), commit);
  const snapshot = path.join(repoDir, 'snapshots', commit);
  assert.ok(first.stdout.includes(snapshot), `pull names the snapshot folder: ${first.stdout}`);
  for (const [rel, content] of Object.entries(files)) {
    const link = path.join(snapshot, rel);
    const target = await fs.readlink(link);
    const head = await hub.fetch(`/${repo}/resolve/main/${rel}`, { method: 'HEAD' });
    const etag = (head.headers.get('x-linked-etag') || head.headers.get('etag')).replaceAll('"', '');
    const depth = rel.split('/').length - 1;
    assert.equal(target, '../'.repeat(2 + depth) + `blobs/${etag}`, `symlink of ${rel}`);
    assert.deepEqual(await fs.readFile(link), Buffer.from(content), `content of ${rel}`);
  }
  assert.equal(path.basename(await fs.realpath(path.join(snapshot, 'model.safetensors'))), sha256(files['model.safetensors']));
  const blobs = await fs.readdir(path.join(repoDir, 'blobs'));
  assert.ok(!blobs.some((b) => b.endsWith('.incomplete')), `no partial blobs left: ${blobs}`);

  // Again: nothing moves, and a pull by commit id writes no ref for it.
  const second = await hub.grove(['pull', repo], { token, env });
  assertOk(second, 'second pull');
  assert.match(second.stdout, /nothing transferred/);
  const byCommit = await hub.grove(['pull', `${repo}@${commit}`], { token, env });
  assertOk(byCommit, 'pull by commit');
  assert.match(byCommit.stdout, /nothing transferred/);
  assert.deepEqual(await fs.readdir(path.join(repoDir, 'refs')), ['main']);
});

test('HF_HUB_CACHE wins over HF_HOME, and a missing blob is fetched again', async () => {
  const cache = await tempDir('grove-e2e-hubcache-');
  const env = { HF_HOME: '/nonexistent-grove-e2e', HF_HUB_CACHE: cache };
  assertOk(await hub.grove(['pull', repo], { token, env }), 'pull into HF_HUB_CACHE');
  const blobsDir = path.join(cache, 'models--alice--cached', 'blobs');
  const st = sha256(files['model.safetensors']);
  await fs.rm(path.join(blobsDir, st));
  const again = await hub.grove(['pull', repo], { token, env });
  assertOk(again, 'pull after losing a blob');
  assert.match(again.stdout, /Pulled 1 files/);
  assert.equal(sha256(await fs.readFile(path.join(blobsDir, st))), st);
});
