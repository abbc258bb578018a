// The server process itself: graceful shutdown with open connections, and access logs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startHub, cleanupTemp, rawConnect, within, sleep, writeTree, tempDir, assertOk, waitFor } from './lib/hub.mjs';

after(cleanupTemp);

function get(port, target, { keepAlive = true } = {}) {
  return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
}

test('SIGTERM with an idle keep-alive connection open: exits 0 within a few seconds', async () => {
  const hub = await startHub();
  const c = await rawConnect(hub.port);
  c.socket.write(get(hub.port, '/api/models'));
  await waitFor(() => /\r\n\r\n/.test(c.data()), 5000, 'first response');
  assert.match(c.data(), /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(c.data(), /connection: close/i, 'server should keep the connection alive');
  // Still open and usable for a second request.
  const before = c.data().length;
  c.socket.write(get(hub.port, '/api/models'));
  await waitFor(() => c.data().length > before && /HTTP\/1\.1 200 /.test(c.data().slice(before)), 5000, 'second response');
  await sleep(100);
  const t0 = Date.now();
  hub.proc.kill('SIGTERM');
  const exitedInTime = await within(hub.exited, 5000);
  const took = Date.now() - t0;
  if (!exitedInTime) hub.proc.kill('SIGKILL');
  const r = await hub.exited;
  assert.ok(exitedInTime, `grove serve still running 5 s after SIGTERM; stderr tail:\n${hub.stderr.slice(-2000)}`);
  assert.deepEqual(r, { code: 0, signal: null });
  console.log(`# shutdown with an idle keep-alive connection took ${took} ms`);
  assert.ok(await within(c.closed, 2000), 'the idle connection was not closed');
  c.socket.destroy();
  // Nothing listens any more.
  await assert.rejects(fetch(`${hub.url}/api/models`));
});

test('SIGTERM while idle with no connections: exits 0 fast', async () => {
  const hub = await startHub();
  const t0 = Date.now();
  const r = await hub.stop({ timeoutMs: 5000 });
  assert.deepEqual(r, { code: 0, signal: null }, hub.stderr.slice(-2000));
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test('SIGTERM during a download lets it finish, then exits 0', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  const work = await tempDir('grove-e2e-srv-');
  // Large enough that the answer cannot fit in loopback socket buffers (a few MB): otherwise
  // the server finishes sending before SIGTERM and rightly exits at once.
  const buf = Buffer.alloc(64 << 20);
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  const dir = await writeTree(path.join(work, 'm'), { 'weights.bin': buf });
  assertOk(await hub.grove(['push', dir, 'demo/m'], { token }));
  // Read the response slowly: pause the socket so the server is mid-send at SIGTERM.
  const c = await rawConnect(hub.port);
  c.socket.write(get(hub.port, '/demo/m/resolve/main/weights.bin', { keepAlive: true }));
  await waitFor(() => c.data().length > 1000, 5000, 'download start');
  c.socket.pause();
  hub.proc.kill('SIGTERM');
  await sleep(300);
  assert.equal(hub.exit, null, 'server exited while a response was in flight');
  c.socket.resume();
  const exited = await within(hub.exited, 15_000);
  if (!exited) hub.proc.kill('SIGKILL');
  assert.ok(exited, 'server did not exit after the in-flight download');
  assert.deepEqual(await hub.exited, { code: 0, signal: null });
  await within(c.closed, 2000);
  const raw = Buffer.from(c.data(), 'latin1');
  const sep = raw.indexOf('\r\n\r\n');
  const body = raw.subarray(sep + 4);
  assert.equal(body.length, buf.length, 'the in-flight download was cut short');
  assert.ok(body.equals(buf), 'the in-flight download differs');
});

test('requests are logged to stderr (method, path, status)', async () => {
  const hub = await startHub();
  try {
    const r1 = await fetch(`${hub.url}/api/models`);
    await r1.arrayBuffer();
    const r2 = await fetch(`${hub.url}/api/models/nobody/missing-repo-xyz`);
    await r2.arrayBuffer();
    assert.equal(r2.status, 401, 'anonymous RepoNotFound');
    await waitFor(() => /missing-repo-xyz/.test(hub.stderr), 3000, 'access log line');
    const lines = hub.stderr.split('\n');
    const l1 = lines.find((l) => /GET \/api\/models"? 200/.test(l) || (l.includes('GET /api/models') && / 200 /.test(l) && !l.includes('missing')));
    const l2 = lines.find((l) => l.includes('GET /api/models/nobody/missing-repo-xyz'));
    assert.ok(l1, `no access log line for GET /api/models 200:\n${hub.stderr}`);
    assert.ok(l2, `no access log line for the 401:\n${hub.stderr}`);
    assert.match(l2, /\b401\b/);
    assert.match(l2, /127\.0\.0\.1/);
    // Logs go to stderr only: stdout has just the listening line.
    assert.equal(hub.stdout.trim().split('\n').length, 1, `stdout: ${hub.stdout}`);
    // A token in the Authorization header never reaches the log.
    const token = await hub.token('demo');
    const r3 = await fetch(`${hub.url}/api/whoami-v2`, { headers: { Authorization: `Bearer ${token}` } });
    await r3.arrayBuffer();
    await waitFor(() => /whoami-v2/.test(hub.stderr), 3000, 'whoami log line');
    assert.ok(!hub.stderr.includes(token), 'token leaked into the log');
  } finally {
    await hub.stopOk();
  }
});
