// grove's own upload route (PUT /api/grove/upload/{ns}/{name}): the body first, its SHA-256 in
// the answer, so `grove push` sends a new file without hashing it beforehand. Also the server's
// direct read of Content-Length bodies (pieces, pipelined requests, a body cut short).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  startHub, cleanupTemp, rawConnect, sleep, sha256, tempDir, writeTree, assertOk, ndjson, lfsEntry, postCommit,
  lfsBatch, readAnswer, treeHashes, waitFor,
} from './lib/hub.mjs';

after(cleanupTemp);

function put(hub, repo, body, token, headers = {}) {
  return hub.fetch(`/api/grove/upload/${repo}`, { method: 'PUT', token, body, headers });
}

test('upload without an oid: answered with its sha256, visible in the repo only after a commit', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  assertOk(await hub.grove(['repo', 'create', 'demo/up'], { token }), 'repo create');
  const buf = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const a = await readAnswer(await put(hub, 'demo/up', buf, token));
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.oid, sha256(buf));
  assert.equal(a.body.size, buf.length);
  assert.equal(a.headers.get('etag'), `"${sha256(buf)}"`);
  // Stored (the LFS batch asks for no upload), but no file of the repo names it yet.
  const obj = await lfsBatch(hub, 'demo/up', a.body.oid, buf.length, { token });
  assert.equal(obj.actions, undefined, 'the hub should already have the object');
  const before = await hub.json('/api/models/demo/up', { token });
  assert.deepEqual(before.siblings, []);
  const c = await postCommit(hub, 'demo/up', ndjson('add w', [lfsEntry('w.bin', a.body.oid, buf.length)]), { token });
  assert.equal(c.status, 200, c.text);
  const got = Buffer.from(await (await hub.fetch('/demo/up/resolve/main/w.bin', { token })).arrayBuffer());
  assert.equal(sha256(got), sha256(buf));
  await hub.stopOk();
});

test('upload without an oid: 401 anonymous, 403 for another namespace or a read token, 400 without a length', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  const other = await hub.token('eve');
  const reader = await hub.token('demo', 'read');
  assertOk(await hub.grove(['repo', 'create', 'demo/up'], { token }), 'repo create');
  const body = Buffer.from('weights');
  assert.equal((await readAnswer(await put(hub, 'demo/up', body))).status, 401);
  assert.equal((await readAnswer(await put(hub, 'demo/up', body, other))).status, 403);
  assert.equal((await readAnswer(await put(hub, 'demo/up', body, reader))).status, 403);
  assert.equal((await readAnswer(await put(hub, 'demo/nope', body, token))).status, 404);
  // A chunked body has no length up front: refused with a message that says so.
  const conn = await rawConnect(hub.port);
  conn.socket.write(`PUT /api/grove/upload/demo/up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
                    'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  await conn.closed;
  assert.match(conn.data(), /^HTTP\/1\.1 400 /);
  assert.match(conn.data(), /Content-Length/);
  await hub.assertAlive();
  await hub.stopOk();
});

test('Content-Length bodies: arriving in pieces, pipelined behind each other, or cut short', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  assertOk(await hub.grove(['repo', 'create', 'demo/up'], { token }), 'repo create');
  const a = crypto.randomBytes(200_000);
  const b = crypto.randomBytes(150_000);
  const head = (len) => `PUT /api/grove/upload/demo/up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
                        `Content-Length: ${len}\r\n\r\n`;
  // Header and the first bytes in one write, the rest later; then a second request written
  // right behind the first body, in the same packet: its bytes must not be taken as body.
  const conn = await rawConnect(hub.port);
  conn.socket.write(Buffer.concat([Buffer.from(head(a.length), 'latin1'), a.subarray(0, 1000)]));
  await sleep(50);
  conn.socket.write(a.subarray(1000, 90_000));
  await sleep(50);
  conn.socket.write(Buffer.concat([a.subarray(90_000), Buffer.from(head(b.length), 'latin1'), b,
                                   Buffer.from('GET /api/grove/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1')]));
  await conn.closed;
  const answers = conn.data().split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 3, conn.data());
  assert.match(answers[0], /^HTTP\/1\.1 200 /);
  assert.ok(answers[0].includes(sha256(a)), answers[0]);
  assert.match(answers[1], /^HTTP\/1\.1 200 /);
  assert.ok(answers[1].includes(sha256(b)), answers[1]);
  assert.match(answers[2], /^HTTP\/1\.1 200 /);

  // A body cut short stores nothing.
  const c = crypto.randomBytes(300_000);
  const cut = await rawConnect(hub.port);
  cut.socket.write(Buffer.concat([Buffer.from(head(c.length), 'latin1'), c.subarray(0, 100_000)]));
  await sleep(100);
  cut.socket.destroy();
  await sleep(200);
  const obj = await lfsBatch(hub, 'demo/up', sha256(c), c.length, { token });
  assert.ok(obj.actions && obj.actions.upload, 'a cut-short upload must not be stored');
  await hub.assertAlive();
  await hub.stopOk();
});

test('grove push sends new files through the route, changed ones through the LFS batch', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  const work = await tempDir('grove-e2e-up-');
  const dir = path.join(work, 'model');
  await writeTree(dir, { 'config.json': '{"a":1}' });
  await fs.writeFile(path.join(dir, 'a.bin'), crypto.randomBytes(12 << 20));
  await fs.writeFile(path.join(dir, 'b.bin'), crypto.randomBytes(5 << 20));
  assertOk(await hub.grove(['push', dir, 'demo/m'], { token }), 'push');
  await waitFor(() => (hub.stdout + hub.stderr).includes('PUT /api/grove/upload/demo/m'), 5000, 'access log');
  const log = () => hub.stdout + hub.stderr;
  assert.equal(log().split('PUT /api/grove/upload/demo/m').length - 1, 2, 'both new LFS files go to the route');
  assert.ok(!log().includes('/info/lfs/objects/batch'), 'no LFS batch for new files');
  // Round trip.
  const out = path.join(work, 'out');
  assertOk(await hub.grove(['pull', 'demo/m', '--local-dir', out], { token }), 'pull');
  assert.deepEqual(await treeHashes(out), await treeHashes(dir));
  // Second push: one file changed at a known path goes through the batch; the other is unchanged.
  await fs.writeFile(path.join(dir, 'b.bin'), crypto.randomBytes(5 << 20));
  const mark = log().length;
  assertOk(await hub.grove(['push', dir, 'demo/m'], { token }), 'second push');
  await waitFor(() => log().slice(mark).includes('/commit/main'), 5000, 'access log of the second push');
  const second = log().slice(mark);
  assert.equal(second.split('/info/lfs/objects/batch').length - 1, 1, second);
  assert.ok(!second.includes('/api/grove/upload/'), second);
  const out2 = path.join(work, 'out2');
  assertOk(await hub.grove(['pull', 'demo/m', '--local-dir', out2], { token }), 'pull');
  assert.deepEqual(await treeHashes(out2), await treeHashes(dir));
  await hub.stopOk();
});
