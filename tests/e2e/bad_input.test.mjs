// Hostile and broken input: every case checks the exact status and error, then that the
// server still answers and data pushed earlier is still pullable byte-identical.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  startHub, tempDir, cleanupTemp, assertOk, treeHashes, writeTree, safetensors, ndjson, fileEntry, lfsEntry,
  postCommit, readAnswer, lfsBatch, uploadLfs, sha256, rawConnect, within, sleep,
} from './lib/hub.mjs';

let hub;
let demo; // write token of user demo
let work;
let fixture; // local folder pushed to demo/fixture
const REPO = 'demo/fixture';
let fixtureHashes;

before(async () => {
  hub = await startHub();
  demo = await hub.token('demo');
  work = await tempDir('grove-e2e-bad-');
  fixture = await writeTree(path.join(work, 'fixture'), {
    'config.json': '{"model_type":"llama","hidden_size":8}\n',
    'model.safetensors': safetensors({ 'a.weight': { dtype: 'F32', shape: [4, 4] }, 'b.bias': { dtype: 'BF16', shape: [4] } }),
    'README.md': '---\nlicense: mit\n---\n# fixture\n',
    'sub/notes.txt': 'hello\n',
  });
  fixtureHashes = await treeHashes(fixture);
  assertOk(await hub.grove(['push', fixture, REPO], { token: demo }), 'push fixture');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

let pulls = 0;
// The server answers and the fixture pulls back byte-identical.
async function assertHealthy(h = hub) {
  await h.assertAlive();
  const out = path.join(work, `check-${++pulls}`);
  const res = await h.grove(['pull', REPO, '--local-dir', out], { token: demo });
  assertOk(res, 'pull after bad input');
  const got = await treeHashes(out);
  for (const [rel, sha] of Object.entries(fixtureHashes)) assert.equal(got[rel], sha, `${rel} changed`);
  await fs.rm(out, { recursive: true, force: true });
}

function assertError(a, status, code, messagePattern) {
  assert.equal(a.status, status, `expected ${status}, got ${a.status}: ${a.text}`);
  if (code) assert.equal(a.headers.get('x-error-code'), code, `X-Error-Code for ${a.text}`);
  assert.equal(typeof a.body, 'object', `error body should be JSON: ${a.text}`);
  assert.equal(typeof a.body.error, 'string', `error body should carry {"error"}: ${a.text}`);
  assert.ok(a.body.error.length > 0);
  if (messagePattern) assert.match(a.body.error, messagePattern);
}

describe('bad paths in a commit', () => {
  const cases = [
    ['dot-dot', '../escape.txt'],
    ['dot-dot inside', 'a/../../b.txt'],
    ['dot-dot segment', 'a/..'],
    ['absolute', '/etc/passwd'],
    ['NUL', 'a\u0000b.txt'],
    ['backslash', 'dir\\file.txt'],
    ['backslash dot-dot', '..\\..\\x.txt'],
  ];
  for (const [name, p] of cases) {
    test(`file path with ${name} → 400`, async () => {
      const head = await hub.headSha(REPO);
      const a = await postCommit(hub, REPO, ndjson(`bad ${name}`, [fileEntry(p, 'x')]), { token: demo });
      assertError(a, 400);
      assert.equal(await hub.headSha(REPO), head, 'branch head moved');
      // Same for an lfsFile entry naming a stored object, and for a deletedFile.
      const payload = Buffer.from('lfs payload for bad path test');
      const oid = await uploadLfs(hub, REPO, payload, { token: demo });
      const b = await postCommit(hub, REPO, ndjson('bad lfs path', [lfsEntry(p, oid, payload.length)]), { token: demo });
      assertError(b, 400);
      const c = await postCommit(hub, REPO, ndjson('bad delete', [{ key: 'deletedFile', value: { path: p } }]), { token: demo });
      assertError(c, 400);
      assert.equal(await hub.headSha(REPO), head, 'branch head moved');
      await assertHealthy();
    });
  }
});

test('grove push of a folder with a backslash in a file name fails clearly', async () => {
  const dir = await writeTree(path.join(work, 'backslash'), { 'ok.txt': 'fine\n', 'bad\\name.txt': 'nope\n' });
  const res = await hub.grove(['push', dir, 'demo/backslash'], { token: demo });
  assert.notEqual(res.code, 0, `push should fail: ${res.stdout}`);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one-line error expected: ${res.stderr}`);
  assert.match(lines[0], /^grove: /);
  assert.match(lines[0], /bad\\name\.txt/, 'message names the file');
  // Nothing was created or committed.
  const info = await readAnswer(await hub.fetch('/api/models/demo/backslash/tree/main', { token: demo }));
  assert.equal(info.status, 404);
  await assertHealthy();
});

// Builds a safetensors file from a raw header object and a data length.
function rawSafetensors(header, dataLen, { claimedHeaderLen } = {}) {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(claimedHeaderLen ?? json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataLen, 1)]);
}

describe('malformed safetensors committed via LFS → 400, head unchanged', () => {
  const cases = [
    ['header length beyond the file', () => rawSafetensors({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 8, { claimedHeaderLen: 1_000_000 })],
    ['header length is huge (u64 overflow bait)', () => rawSafetensors({}, 0, { claimedHeaderLen: 0xffffffffffff0000n })],
    ['tensor range past the end of the data', () => rawSafetensors({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8)],
    ['tensor range end before start', () => rawSafetensors({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8)],
    ['overlapping tensor ranges', () => rawSafetensors({
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    }, 24)],
    ['dtype/shape mismatch with the range', () => rawSafetensors({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 8] } }, 8)],
    ['header is not JSON', () => {
      const body = Buffer.from('{not json at all');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(body.length));
      return Buffer.concat([len, body]);
    }],
    ['file shorter than 8 bytes', () => Buffer.from([1, 2, 3])],
  ];
  for (const [name, make] of cases) {
    test(name, async () => {
      const buf = make();
      const head = await hub.headSha(REPO);
      const oid = await uploadLfs(hub, REPO, buf, { token: demo });
      const a = await postCommit(hub, REPO, ndjson(`bad st: ${name}`, [lfsEntry('broken.safetensors', oid, buf.length)], { parentCommit: head }), { token: demo });
      assertError(a, 400, null, /safetensors/i);
      assert.equal(await hub.headSha(REPO), head, 'branch head moved');
      const r = await readAnswer(await hub.fetch(`/${REPO}/resolve/main/broken.safetensors`, { method: 'GET' }));
      assert.equal(r.status, 404);
      await assertHealthy();
    });
  }

  test('control: a valid safetensors file commits (200)', async () => {
    const buf = safetensors({ x: { dtype: 'F16', shape: [3, 5] } });
    const c = await readAnswer(await hub.fetch('/api/repos/create', {
      method: 'POST', token: demo, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'control', organization: 'demo', type: 'model' }),
    }));
    assert.equal(c.status, 200, c.text);
    const oid = await uploadLfs(hub, 'demo/control', buf, { token: demo });
    const b = await postCommit(hub, 'demo/control', ndjson('ok', [lfsEntry('ok.safetensors', oid, buf.length)]), { token: demo });
    assert.equal(b.status, 200, b.text);
    assert.match(b.body.commitOid, /^[0-9a-f]{40}$/);
    const r = await hub.fetch('/demo/control/resolve/main/ok.safetensors');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), buf);
    // A commit to a repo that does not exist: RepoNotFound.
    const m = await postCommit(hub, 'demo/no-such-repo', ndjson('ok', [lfsEntry('ok.safetensors', oid, buf.length)]), { token: demo });
    assertError(m, 404, 'RepoNotFound');
  });
});

test('commit naming an LFS object never uploaded → 400', async () => {
  const head = await hub.headSha(REPO);
  const missing = sha256(Buffer.from('never uploaded ' + Date.now()));
  const a = await postCommit(hub, REPO, ndjson('missing', [lfsEntry('w.bin', missing, 10)]), { token: demo });
  assertError(a, 400, null, /never uploaded|not.*(stored|found|uploaded)/i);
  // Announced in the batch but never PUT: still not there.
  const buf = Buffer.from('announced but not sent');
  await lfsBatch(hub, REPO, sha256(buf), buf.length, { token: demo });
  const b = await postCommit(hub, REPO, ndjson('announced only', [lfsEntry('w.bin', sha256(buf), buf.length)]), { token: demo });
  assertError(b, 400);
  // Malformed oid.
  const c = await postCommit(hub, REPO, ndjson('bad oid', [lfsEntry('w.bin', 'ABC', 3)]), { token: demo });
  assertError(c, 400);
  assert.equal(await hub.headSha(REPO), head);
  await assertHealthy();
});

test('commit naming an LFS object with the wrong size → 400', async () => {
  const head = await hub.headSha(REPO);
  const buf = Buffer.from('some lfs bytes of a known size');
  const oid = await uploadLfs(hub, REPO, buf, { token: demo });
  const a = await postCommit(hub, REPO, ndjson('wrong size', [lfsEntry('w.bin', oid, buf.length + 1)]), { token: demo });
  assertError(a, 400);
  assert.equal(await hub.headSha(REPO), head);
  await assertHealthy();
});

test('upload whose bytes do not match the oid is refused', async () => {
  const buf = Buffer.from('the real content');
  const obj = await lfsBatch(hub, REPO, sha256(buf), buf.length, { token: demo });
  const href = obj.actions.upload.href;
  const res = await fetch(href, { method: 'PUT', body: Buffer.from('the fake content') });
  await res.arrayBuffer();
  assert.equal(res.status, 400);
  const a = await postCommit(hub, REPO, ndjson('after bad upload', [lfsEntry('w.bin', sha256(buf), buf.length)]), { token: demo });
  assertError(a, 400);
  await assertHealthy();
});

test('unknown repo, revision and file → 404 (401 when anonymous) with the right X-Error-Code', async () => {
  for (const p of ['/api/models/demo/nope', '/api/models/demo/nope/tree/main', '/demo/nope/resolve/main/config.json', '/api/models/nobody/nope/revision/main']) {
    for (const method of ['GET', 'HEAD']) {
      if (method === 'HEAD' && !p.includes('/resolve/')) continue;
      // specs/hf-protocol.md §2.5: 401 to an anonymous caller, 404 to a signed-in one.
      for (const [token, status] of [[undefined, 401], [demo, 404]]) {
        const a = await readAnswer(await hub.fetch(p, { method, token }));
        assert.equal(a.status, status, `${method} ${p} ${token ? 'signed in' : 'anonymous'}`);
        assert.equal(a.headers.get('x-error-code'), 'RepoNotFound', `${method} ${p}`);
        if (method === 'GET') assert.equal(typeof a.body.error, 'string');
      }
    }
  }
  for (const p of [`/api/models/${REPO}/revision/no-such-branch`, `/api/models/${REPO}/tree/no-such-branch`,
    `/${REPO}/resolve/no-such-branch/config.json`, `/${REPO}/resolve/${'0'.repeat(40)}/config.json`]) {
    const a = await readAnswer(await hub.fetch(p));
    assertError(a, 404, 'RevisionNotFound');
  }
  const head = await hub.headSha(REPO);
  for (const method of ['GET', 'HEAD']) {
    const a = await readAnswer(await hub.fetch(`/${REPO}/resolve/main/no/such/file.bin`, { method }));
    assert.equal(a.status, 404, method);
    assert.equal(a.headers.get('x-error-code'), 'EntryNotFound', method);
    assert.equal(a.headers.get('x-repo-commit'), head, `${method}: EntryNotFound carries X-Repo-Commit`);
  }
  await assertHealthy();
});

test('push with no token → 401, with a read-only token → 403', async () => {
  const head = await hub.headSha(REPO);
  const body = ndjson('anon', [fileEntry('anon.txt', 'x')]);
  const a = await postCommit(hub, REPO, body, {});
  assertError(a, 401);
  const readTok = await hub.token('demo', 'read');
  const b = await postCommit(hub, REPO, body, { token: readTok });
  assertError(b, 403);
  const other = await hub.token('mallory');
  const c = await postCommit(hub, REPO, body, { token: other });
  assertError(c, 403);
  const bogus = await postCommit(hub, REPO, body, { token: 'hf_notarealtoken' });
  assertError(bogus, 401);
  // The LFS batch and preupload need the same rights.
  const batch = await readAnswer(await hub.fetch(`/${REPO}.git/info/lfs/objects/batch`, {
    method: 'POST', headers: { 'Content-Type': 'application/vnd.git-lfs+json' },
    body: JSON.stringify({ operation: 'upload', objects: [{ oid: sha256(Buffer.from('z')), size: 1 }] }),
  }));
  assert.equal(batch.status, 401, batch.text);
  // The CLI says so and exits non-zero.
  const cliAnon = await hub.grove(['push', fixture, 'demo/anon-push']);
  assert.notEqual(cliAnon.code, 0);
  assert.match(cliAnon.stderr, /^grove: .*(auth|token|401)/im);
  const changed = await writeTree(path.join(work, 'changed-fixture'), { 'new.txt': 'new\n' });
  const cliRead = await hub.grove(['push', changed, REPO], { token: readTok });
  assert.notEqual(cliRead.code, 0);
  assert.match(cliRead.stderr, /^grove: .*(read-only|write|403|denied|forbidden)/im);
  const cliOther = await hub.grove(['push', changed, REPO], { token: other });
  assert.notEqual(cliOther.code, 0);
  assert.match(cliOther.stderr, /^grove: /m);
  assert.equal(await hub.headSha(REPO), head);
  await assertHealthy();
});

test('private repo is invisible (RepoNotFound: 401 anonymous, 404 signed in) to anonymous and other users, visible to its owner', async () => {
  const repo = 'demo/secret';
  const create = await hub.grove(['repo', 'create', repo, '--private'], { token: demo });
  assertOk(create, 'grove repo create --private');
  const dir = await writeTree(path.join(work, 'secret'), { 'config.json': '{"secret":true}\n', 'model.safetensors': safetensors() });
  assertOk(await hub.grove(['push', dir, repo], { token: demo }), 'push to private repo');
  const other = await hub.token('eve');
  const paths = [`/api/models/${repo}`, `/api/models/${repo}/revision/main`, `/api/models/${repo}/tree/main?recursive=true`,
    `/${repo}/resolve/main/config.json`, `/${repo}/resolve/main/model.safetensors`];
  for (const p of paths) {
    for (const [who, tok] of [['anonymous', undefined], ['eve', other]]) {
      const a = await readAnswer(await hub.fetch(p, { token: tok }));
      // The same answer as for a repo that does not exist: 401 anonymous, 404 signed in, never 403.
      assert.equal(a.status, tok ? 404 : 401, `${who} ${p} → ${a.status}`);
      assert.equal(a.headers.get('x-error-code'), 'RepoNotFound', `${who} ${p}`);
      assert.doesNotMatch(a.text, /secret":true/);
    }
    const mine = await readAnswer(await hub.fetch(p, { token: demo }));
    assert.equal(mine.status, 200, `owner ${p}: ${mine.text}`);
  }
  // Not listed for others either.
  const list = await hub.json('/api/models?author=demo');
  assert.ok(!list.some((m) => m.id === repo), 'private repo listed to anonymous');
  const listEve = await hub.json('/api/models', { token: other });
  assert.ok(!listEve.some((m) => m.id === repo), 'private repo listed to another user');
  // Pull: owner gets it, eve gets a one-line failure.
  const out = path.join(work, 'secret-pull');
  assertOk(await hub.grove(['pull', repo, '--local-dir', out], { token: demo }), 'owner pull');
  assert.equal(await fs.readFile(path.join(out, 'config.json'), 'utf8'), '{"secret":true}\n');
  const evePull = await hub.grove(['pull', repo, '--local-dir', path.join(work, 'eve-pull')], { token: other });
  assert.notEqual(evePull.code, 0);
  assert.match(evePull.stderr.trim(), /^grove: [^\n]*$/);
  await assertHealthy();
});

test('Range bytes=<size>- → 416 with Content-Range bytes */<size>', async () => {
  const size = (await fs.stat(path.join(fixture, 'model.safetensors'))).size;
  const a = await readAnswer(await hub.fetch(`/${REPO}/resolve/main/model.safetensors`, { headers: { Range: `bytes=${size}-` } }));
  assert.equal(a.status, 416);
  assert.equal(a.headers.get('content-range'), `bytes */${size}`);
  const b = await readAnswer(await hub.fetch(`/${REPO}/resolve/main/model.safetensors`, { headers: { Range: `bytes=${size + 100}-${size + 200}` } }));
  assert.equal(b.status, 416);
  assert.equal(b.headers.get('content-range'), `bytes */${size}`);
  // The last byte is still fine.
  const c = await hub.fetch(`/${REPO}/resolve/main/model.safetensors`, { headers: { Range: `bytes=${size - 1}-` } });
  const cb = Buffer.from(await c.arrayBuffer());
  assert.equal(c.status, 206);
  assert.equal(c.headers.get('content-range'), `bytes ${size - 1}-${size - 1}/${size}`);
  assert.equal(cb.length, 1);
  await assertHealthy();
});

test('bad signature on an upload URL → 403', async () => {
  const buf = Buffer.from('signed upload content ' + Date.now());
  const obj = await lfsBatch(hub, REPO, sha256(buf), buf.length, { token: demo });
  const href = new URL(obj.actions.upload.href);
  const sig = href.searchParams.get('sig');
  assert.ok(sig, `upload href has a sig: ${href}`);
  const tamper = (u, k, v) => {
    const x = new URL(u);
    x.searchParams.set(k, v);
    return x.toString();
  };
  const flipped = sig.slice(0, -1) + (sig.at(-1) === '0' ? '1' : '0');
  for (const bad of [tamper(href, 'sig', flipped), tamper(href, 'exp', String(Number(href.searchParams.get('exp')) + 1000)),
    tamper(href, 'size', String(buf.length + 1)), tamper(href, 'exp', '1')]) {
    const res = await fetch(bad, { method: 'PUT', body: buf });
    const text = await res.text();
    assert.equal(res.status, 403, `PUT ${bad} → ${res.status}: ${text}`);
  }
  // Signed for another oid: the path names the object.
  const other = sha256(Buffer.from('other'));
  const moved = href.toString().replace(sha256(buf), other);
  const res = await fetch(moved, { method: 'PUT', body: buf });
  await res.arrayBuffer();
  assert.equal(res.status, 403);
  // Nothing got stored: the commit is still refused.
  const a = await postCommit(hub, REPO, ndjson('after bad sig', [lfsEntry('s.bin', sha256(buf), buf.length)]), { token: demo });
  assertError(a, 400);
  // The genuine URL still works.
  const ok = await fetch(href, { method: 'PUT', body: buf });
  await ok.arrayBuffer();
  assert.equal(ok.status, 200);
  await assertHealthy();
});

test('commit with a stale parentCommit → 412', async () => {
  const repo = 'demo/parents';
  const dir = await writeTree(path.join(work, 'parents'), { 'a.txt': 'one\n' });
  assertOk(await hub.grove(['push', dir, repo], { token: demo }));
  const first = await hub.headSha(repo);
  const ok = await postCommit(hub, repo, ndjson('second', [fileEntry('a.txt', 'two\n')], { parentCommit: first }), { token: demo });
  assert.equal(ok.status, 200, ok.text);
  const second = ok.body.commitOid;
  assert.equal(await hub.headSha(repo), second);
  const stale = await postCommit(hub, repo, ndjson('stale', [fileEntry('a.txt', 'three\n')], { parentCommit: first }), { token: demo });
  assertError(stale, 412);
  assert.equal(await hub.headSha(repo), second, 'stale commit moved the branch');
  const r = await hub.fetch(`/${repo}/resolve/main/a.txt`);
  assert.equal(await r.text(), 'two\n');
  await assertHealthy();
});

test('malformed NDJSON commits → 400', async () => {
  const head = await hub.headSha(REPO);
  const bodies = [
    'not json\n',
    JSON.stringify({ key: 'file', value: { path: 'x.txt', content: 'eA==', encoding: 'base64' } }) + '\n', // no header first
    ndjson('no content', [{ key: 'file', value: { path: 'x.txt' } }]),
    ndjson('bad base64', [{ key: 'file', value: { path: 'x.txt', content: '!!!', encoding: 'base64' } }]),
    ndjson('unknown key', [{ key: 'renameEverything', value: { path: 'x.txt' } }]),
  ];
  for (const body of bodies) {
    const a = await postCommit(hub, REPO, body, { token: demo });
    assertError(a, 400);
  }
  assert.equal(await hub.headSha(REPO), head);
  await assertHealthy();
});

describe('limits on a server with --max-body 1048576 --read-timeout 2', () => {
  let small;
  let tok;
  before(async () => {
    small = await startHub({ args: ['--max-body', '1048576', '--read-timeout', '2'] });
    tok = await small.token('demo');
    const dir = await writeTree(path.join(work, 'small-fixture'), { 'a.txt': 'kept\n' });
    assertOk(await small.grove(['push', dir, 'demo/kept'], { token: tok }));
  });
  after(async () => {
    if (small) await small.stopOk();
  });

  async function smallHealthy() {
    await small.assertAlive();
    const r = await small.fetch('/demo/kept/resolve/main/a.txt');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'kept\n');
  }

  test('request body over the limit → 413', async () => {
    const head = await small.headSha('demo/kept');
    const big = ndjson('too big', [fileEntry('big.txt', Buffer.alloc(1536 * 1024, 0x61))]); // ~2 MB of base64
    assert.ok(big.length > 2_000_000);
    // Raw socket: the server may answer before reading the whole body.
    const c = await rawConnect(small.port);
    c.socket.write(`POST /api/models/demo/kept/commit/main HTTP/1.1\r\nHost: 127.0.0.1:${small.port}\r\n` +
      `Authorization: Bearer ${tok}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(big)}\r\n\r\n`);
    c.socket.write(big);
    const closed = await within(c.closed, 10_000);
    const data = c.data();
    c.socket.destroy();
    assert.match(data, /^HTTP\/1\.1 413 /, `answer: ${data.slice(0, 300)}`);
    assert.ok(closed || data.length > 0);
    // Also through fetch with a body under the limit but a Content-Length lie is not possible; a JSON body:
    const json = await readAnswer(await small.fetch('/api/repos/create', {
      method: 'POST', token: tok, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'x', organization: 'demo', pad: 'y'.repeat(1_100_000) }),
    }).catch((e) => ({ status: -1, headers: new Headers(), text: async () => String(e) })));
    assert.equal(json.status, 413, json.text);
    assert.equal(await small.headSha('demo/kept'), head);
    await smallHealthy();
  });

  test('stalling clients are dropped after the read timeout; others are served meanwhile', async () => {
    const halfHeaders = await rawConnect(small.port);
    halfHeaders.socket.write(`GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:${small.port}\r\nUser-Agent: stall`);
    const shortBody = await rawConnect(small.port);
    shortBody.socket.write(`POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1:${small.port}\r\n` +
      `Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"content"`);
    await sleep(300);
    // A normal request during the stall is fast.
    const t0 = Date.now();
    const r = await small.fetch('/demo/kept/resolve/main/a.txt');
    assert.equal(await r.text(), 'kept\n');
    assert.ok(Date.now() - t0 < 1000, `normal request took ${Date.now() - t0} ms during the stall`);
    const [a, b] = await Promise.all([
      within(halfHeaders.closed, 6000).then((ok) => (ok ? halfHeaders.closed : null)),
      within(shortBody.closed, 6000).then((ok) => (ok ? shortBody.closed : null)),
    ]);
    halfHeaders.socket.destroy();
    shortBody.socket.destroy();
    assert.ok(a !== null, 'half-header connection was not closed within 6 s');
    assert.ok(b !== null, 'short-body connection was not closed within 6 s');
    assert.ok(a >= 1500, `half-header connection closed after ${a} ms, before the 2 s timeout`);
    assert.ok(b >= 1500, `short-body connection closed after ${b} ms, before the 2 s timeout`);
    assert.ok(a <= 5500 && b <= 5500, `closed after ${a} / ${b} ms; expected ~2 s`);
    await smallHealthy();
  });
});
