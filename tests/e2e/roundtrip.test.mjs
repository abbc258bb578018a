// Round trips through the CLI: push a synthetic model family, pull it back byte-identical,
// incremental pushes, old revisions, resumed pulls, and the /resolve headers clients rely on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  startHub, tempDir, cleanupTemp, synth, assertOk, treeHashes, sha256File, gitHashObject, exists, sleep,
  GROVE_BIN, writeRandomFile,
} from './lib/hub.mjs';

let hub;
let token;
let work;
let familyDir;
let family; // family name, e.g. llama-tiny
let members = [];
const repoOf = (member) => `demo/${family}-${member}`;

before(async () => {
  hub = await startHub();
  token = await hub.token('demo');
  work = await tempDir('grove-e2e-rt-');
  familyDir = path.join(work, 'family');
  const res = await synth(['family', '--out', familyDir, '--size', 'tiny', '--seed', '7', '--namespace', 'demo']);
  assertOk(res, 'grove-synth family');
  members = (await fs.readdir(familyDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  // Family name default: <arch>-<size>; the README's repo ids are NS/<family>-<member>.
  family = 'llama-tiny';
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

test('grove-synth wrote the whole tiny family', () => {
  for (const m of ['base', 'finetune-full', 'finetune-partial', 'lora-merged', 'base-resharded', 'base-fp16', 'unrelated'])
    assert.ok(members.includes(m), `member ${m} missing; got ${members.join(', ')}`);
});

test('push every member, pull every model back byte-identical', async () => {
  for (const m of members) {
    const res = await hub.grove(['push', path.join(familyDir, m), repoOf(m), '-m', `add ${m}`], { token });
    assertOk(res, `grove push ${m}`);
    assert.match(res.stdout, /Pushed \d+ files/, `push ${m} stdout: ${res.stdout}`);
    assert.match(res.stdout, /commit [0-9a-f]{40}/);
  }
  for (const m of members) {
    const out = path.join(work, 'pulled', m);
    const res = await hub.grove(['pull', repoOf(m), '--local-dir', out], { token });
    assertOk(res, `grove pull ${m}`);
    const want = await treeHashes(path.join(familyDir, m));
    const got = await treeHashes(out);
    assert.ok(Object.keys(want).length >= 5, `member ${m} has too few files`);
    // Pushing adds .gitattributes on the hub side for LFS paths; compare the pushed files,
    // and only allow .gitattributes as an extra file.
    const extra = Object.keys(got).filter((k) => !(k in want));
    assert.deepEqual(extra.filter((k) => k !== '.gitattributes'), [], `unexpected files pulled for ${m}`);
    for (const [rel, h] of Object.entries(want)) assert.equal(got[rel], h, `${m}/${rel} differs after round trip`);
    assert.equal(await exists(path.join(out, '.grove')), false, 'pull left its .grove folder behind');
  }
  // Anonymous pull of a public model works too.
  const anon = path.join(work, 'pulled-anon');
  assertOk(await hub.grove(['pull', repoOf('base'), '--local-dir', anon]), 'anonymous pull');
  const want = await treeHashes(path.join(familyDir, 'base'));
  const got = await treeHashes(anon);
  for (const [rel, h] of Object.entries(want)) assert.equal(got[rel], h, `anonymous pull: ${rel} differs`);
});

test('unchanged push is up to date and makes no commit', async () => {
  const repo = repoOf('base');
  const before = await hub.headSha(repo);
  const res = await hub.grove(['push', path.join(familyDir, 'base'), repo], { token });
  assertOk(res, 'second push');
  assert.match(res.stdout, /Everything up to date/);
  assert.doesNotMatch(res.stdout, /Pushed/);
  assert.equal(await hub.headSha(repo), before, 'branch head moved on an unchanged push');
});

test('changed file makes a new commit; @old still gives the old content', async () => {
  const repo = repoOf('finetune-partial');
  const src = path.join(work, 'changed');
  await fs.cp(path.join(familyDir, 'finetune-partial'), src, { recursive: true });
  const oldSha = await hub.headSha(repo);
  const oldConfig = await fs.readFile(path.join(src, 'config.json'));
  const config = JSON.parse(oldConfig.toString());
  config.grove_e2e_marker = 42;
  await fs.writeFile(path.join(src, 'config.json'), JSON.stringify(config, null, 2));
  const res = await hub.grove(['push', src, repo, '-m', 'change config'], { token });
  assertOk(res, 'push of changed folder');
  assert.match(res.stdout, /Pushed 1 files/, `only config.json should travel: ${res.stdout}`);
  const newSha = await hub.headSha(repo);
  assert.notEqual(newSha, oldSha);
  assert.ok(res.stdout.includes(newSha), 'push output names the new commit');

  const oldOut = path.join(work, 'old-rev');
  assertOk(await hub.grove(['pull', `${repo}@${oldSha}`, '--local-dir', oldOut], { token }), 'pull @old');
  assert.deepEqual(await fs.readFile(path.join(oldOut, 'config.json')), oldConfig);
  const newOut = path.join(work, 'new-rev');
  assertOk(await hub.grove(['pull', repo, '--local-dir', newOut], { token }), 'pull main');
  assert.equal(JSON.parse(await fs.readFile(path.join(newOut, 'config.json'), 'utf8')).grove_e2e_marker, 42);
  // Everything else is the same as the old revision.
  const a = await treeHashes(oldOut);
  const b = await treeHashes(newOut);
  for (const k of Object.keys(a)) if (k !== 'config.json') assert.equal(b[k], a[k], `${k} changed between revisions`);
  // The old revision resolves by its full sha in the API too.
  const info = await hub.json(`/api/models/${repo}/revision/${oldSha}`);
  assert.equal(info.sha, oldSha);
});

test('tree listing and model info show the files', async () => {
  const repo = repoOf('base-resharded');
  const dir = path.join(familyDir, 'base-resharded');
  const local = await treeHashes(dir);
  const tree = await hub.json(`/api/models/${repo}/tree/main?recursive=true`);
  assert.ok(Array.isArray(tree));
  const byPath = Object.fromEntries(tree.filter((e) => e.type === 'file').map((e) => [e.path, e]));
  for (const [rel, h] of Object.entries(local)) {
    const e = byPath[rel];
    assert.ok(e, `tree lacks ${rel}`);
    const st = await fs.stat(path.join(dir, rel));
    assert.equal(e.size, st.size, `tree size of ${rel}`);
    assert.match(e.oid, /^[0-9a-f]{40}$/, `tree oid of ${rel}`);
    if (rel.endsWith('.safetensors')) {
      assert.ok(e.lfs, `${rel} should be an LFS file`);
      assert.equal(e.lfs.oid, h, `lfs.oid of ${rel} is the content sha256`);
      assert.equal(e.lfs.size, st.size);
    } else if (rel.endsWith('.json') && st.size < 100_000) {
      assert.equal(e.oid, await gitHashObject(path.join(dir, rel)), `oid of regular file ${rel} is its git blob sha1`);
    }
  }
  assert.ok(Object.keys(local).filter((k) => k.endsWith('.safetensors')).length >= 2, 'resharded member has >= 2 shards');
  const info = await hub.json(`/api/models/${repo}`);
  assert.equal(info.id, repo);
  assert.match(info.sha, /^[0-9a-f]{40}$/);
  const siblings = (info.siblings || []).map((s) => s.rfilename);
  for (const rel of Object.keys(local)) assert.ok(siblings.includes(rel), `model info siblings lack ${rel}`);
});

test('resolve headers, ETags and Range', async () => {
  const repo = repoOf('base');
  const dir = path.join(familyDir, 'base');
  const names = await fs.readdir(dir);
  const st = names.find((n) => n.endsWith('.safetensors'));
  assert.ok(st, 'base has a safetensors file');
  const stPath = path.join(dir, st);
  const size = (await fs.stat(stPath)).size;
  const sha = await sha256File(stPath);
  const head = await hub.fetch(`/${repo}/resolve/main/${st}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  const commit = head.headers.get('x-repo-commit');
  assert.match(commit ?? '', /^[0-9a-f]{40}$/, 'X-Repo-Commit');
  assert.equal(commit, await hub.headSha(repo));
  assert.equal(head.headers.get('etag'), `"${sha}"`);
  assert.equal(head.headers.get('x-linked-etag'), `"${sha}"`);
  assert.equal(head.headers.get('x-linked-size'), String(size));
  assert.equal(head.headers.get('accept-ranges'), 'bytes');
  assert.equal(head.headers.get('content-length'), String(size));

  const r0 = await hub.fetch(`/${repo}/resolve/main/${st}`, { headers: { Range: 'bytes=0-0' } });
  const b0 = Buffer.from(await r0.arrayBuffer());
  assert.equal(r0.status, 206);
  assert.equal(r0.headers.get('content-range'), `bytes 0-0/${size}`);
  assert.equal(b0.length, 1);
  const content = await fs.readFile(stPath);
  assert.equal(b0[0], content[0]);

  const r1 = await hub.fetch(`/${repo}/resolve/main/${st}`, { headers: { Range: 'bytes=10-19' } });
  const b1 = Buffer.from(await r1.arrayBuffer());
  assert.equal(r1.status, 206);
  assert.equal(r1.headers.get('content-range'), `bytes 10-19/${size}`);
  assert.deepEqual(b1, content.subarray(10, 20));

  // Full GET: the whole content.
  const full = await hub.fetch(`/${repo}/resolve/main/${st}`);
  assert.equal(full.status, 200);
  assert.deepEqual(Buffer.from(await full.arrayBuffer()), content);

  // A regular (small) file: ETag is the git blob sha1, no X-Linked-*.
  const cfg = path.join(dir, 'config.json');
  const h2 = await hub.fetch(`/${repo}/resolve/main/config.json`, { method: 'HEAD' });
  assert.equal(h2.status, 200);
  assert.equal(h2.headers.get('etag'), `"${await gitHashObject(cfg)}"`);
  assert.equal(h2.headers.get('x-linked-etag'), null);
  assert.equal(h2.headers.get('x-linked-size'), null);
  assert.match(h2.headers.get('x-repo-commit') ?? '', /^[0-9a-f]{40}$/);
  assert.equal(h2.headers.get('content-length'), String((await fs.stat(cfg)).size));
  // By commit sha as revision as well.
  const h3 = await hub.fetch(`/${repo}/resolve/${commit}/config.json`, { method: 'HEAD' });
  assert.equal(h3.status, 200);
  assert.equal(h3.headers.get('x-repo-commit'), commit);
});

test('pull resumes after being killed mid-download', async () => {
  const src = path.join(work, 'big-src');
  await fs.mkdir(src, { recursive: true });
  const big = path.join(src, 'weights.bin');
  const bytes = 200 * 1024 * 1024;
  const gen = await synth(['bigfile', '--out', big, '--bytes', String(bytes), '--seed', '3']);
  if (gen.code !== 0) await writeRandomFile(big, bytes); // fallback if bigfile is unavailable
  assert.equal((await fs.stat(big)).size, bytes);
  await fs.writeFile(path.join(src, 'config.json'), '{"model_type":"blob"}\n');
  const repo = 'demo/resume-test';
  assertOk(await hub.grove(['push', src, repo], { token, timeoutMs: 300_000 }), 'push 200 MB folder');

  const out = path.join(work, 'resume-out');
  const downloads = path.join(out, '.grove', 'downloads');
  let killedAt = -1;
  for (let attempt = 0; attempt < 4 && killedAt < 0; attempt++) {
    await fs.rm(out, { recursive: true, force: true });
    const child = spawn(GROVE_BIN, ['pull', repo, '--local-dir', out], {
      env: { ...process.env, GROVE_ENDPOINT: hub.url, GROVE_TOKEN: token, GROVE_CONFIG_DIR: work },
      stdio: 'ignore',
    });
    let exited = false;
    child.on('exit', () => (exited = true));
    while (!exited) {
      let parts = [];
      try {
        parts = (await fs.readdir(downloads)).filter((n) => n.endsWith('.part'));
      } catch {}
      let sizes = [];
      for (const p of parts) {
        try {
          sizes.push((await fs.stat(path.join(downloads, p))).size);
        } catch {}
      }
      // Only weights.bin's part counts: config.json's (22 bytes) is 'partial' too but is done at once.
      const partial = sizes.find((s) => s >= 1024 * 1024 && s < bytes);
      if (partial !== undefined) {
        child.kill('SIGKILL');
        killedAt = partial;
        break;
      }
      await sleep(2);
    }
    await new Promise((r) => (exited ? r() : child.on('exit', r)));
  }
  assert.ok(killedAt > 0, 'could not interrupt the pull while a .part file was partly written');
  const parts = (await fs.readdir(downloads)).filter((n) => n.endsWith('.part'));
  assert.ok(parts.length >= 1, 'the killed pull left a .part file');
  assert.ok(!(await exists(path.join(out, 'weights.bin'))) || (await fs.stat(path.join(out, 'weights.bin'))).size === bytes);

  const res = await hub.grove(['pull', repo, '--local-dir', out], { token, timeoutMs: 300_000 });
  assertOk(res, 'resumed pull');
  assert.match(res.stdout, /resuming/i, `stdout should mention resuming: ${res.stdout}`);
  assert.equal(await sha256File(path.join(out, 'weights.bin')), await sha256File(big));
  assert.equal(await exists(path.join(out, '.grove')), false);
  // Rerun on a complete folder: nothing to do.
  const again = await hub.grove(['pull', repo, '--local-dir', out], { token });
  assertOk(again, 'pull of a complete folder');
  assert.match(again.stdout, /up to date/i);
});
