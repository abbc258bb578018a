// Large files, run on their own (tests/e2e/run.sh --big): memory stays flat while a 1 GiB file
// is pulled, and a 4 GiB + 1 MiB file (past every 32-bit size) round-trips byte-identical.
// Needs ~13 GB of free disk in $GROVE_E2E_TMP (default the system temp folder).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  startHub, tempDir, removeTemp, cleanupTemp, synth, assertOk, sha256File, run, cliEnv, exists, GROVE_BIN,
} from './lib/hub.mjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const LIMIT_KIB = 65536; // 64 MiB

after(cleanupTemp);

// Runs a grove client command under /usr/bin/time; returns the result and max RSS in KiB.
async function timedGrove(hub, token, args) {
  const res = await run('/usr/bin/time', ['-f', 'grove-max-rss-kib=%M', GROVE_BIN, ...args], {
    env: await cliEnv(hub.url, token),
    timeoutMs: 1_800_000,
  });
  const m = res.stderr.match(/grove-max-rss-kib=(\d+)/);
  assert.ok(m, `no max RSS from /usr/bin/time: ${res.stderr}`);
  return { res, rssKiB: Number(m[1]) };
}

async function bigFolder(dir, name, bytes, seed) {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  const gen = await synth(['bigfile', '--out', file, '--bytes', String(bytes), '--seed', String(seed)], { timeoutMs: 1_800_000 });
  assertOk(gen, 'grove-synth bigfile');
  assert.equal((await fs.stat(file)).size, bytes);
  return file;
}

test('memory: pulling a 1 GiB file keeps client and server under 64 MiB', { timeout: 1_800_000 }, async () => {
  const work = await tempDir('grove-e2e-mem-');
  let hub = await startHub();
  const token = await hub.token('demo');
  try {
    const src = path.join(work, 'src');
    const file = await bigFolder(src, 'weights.bin', GiB, 11);
    const want = await sha256File(file);

    const push = await timedGrove(hub, token, ['push', src, 'demo/one-gib']);
    assertOk(push.res, 'push 1 GiB');
    const serverAfterPush = await hub.peakRssKiB();
    console.log(`push of 1 GiB: client max RSS ${push.rssKiB} KiB, server VmHWM ${serverAfterPush} KiB`);

    // grove push sends a new file to grove's own upload route (the LFS one for a changed file).
    const putMs = Number(hub.stderr.match(/"PUT \/api\/grove\/(?:lfs\/)?upload\/[^"]*" 200 \d+ (\d+)ms/)?.[1]);
    assert.ok(putMs >= 0, `no access log line for the upload:\n${hub.stderr.slice(-2000)}`);
    // A fresh server process on the same data, so its peak covers the pull alone.
    await hub.stopOk();
    hub = await startHub({ dataDir: hub.dataDir });
    const out = path.join(work, 'out');
    const pull = await timedGrove(hub, token, ['pull', 'demo/one-gib', '--local-dir', out]);
    assertOk(pull.res, 'pull 1 GiB');
    const serverAfterPull = await hub.peakRssKiB();
    console.log(`pull of 1 GiB: client max RSS ${pull.rssKiB} KiB, server VmHWM ${serverAfterPull} KiB`);
    assert.equal(await sha256File(path.join(out, 'weights.bin')), want, 'pulled 1 GiB file differs');
    const getMs = Number(hub.stderr.match(/"GET \/demo\/one-gib\/resolve\/[^"]*" 200 \d+ (\d+)ms/)?.[1]);
    assert.ok(getMs >= 0, `no access log line for the download:\n${hub.stderr.slice(-2000)}`);
    const rate = (ms) => (1024 / Math.max(ms / 1000, 0.001)).toFixed(0);
    console.log(`server side: upload PUT ${putMs} ms (${rate(putMs)} MiB/s), download GET ${getMs} ms (${rate(getMs)} MiB/s)`);

    assert.ok(pull.rssKiB < LIMIT_KIB, `grove pull peaked at ${pull.rssKiB} KiB (limit ${LIMIT_KIB})`);
    assert.ok(serverAfterPull < LIMIT_KIB, `grove serve peaked at ${serverAfterPull} KiB while serving the pull (limit ${LIMIT_KIB})`);
    assert.ok(push.rssKiB < LIMIT_KIB, `grove push peaked at ${push.rssKiB} KiB (limit ${LIMIT_KIB})`);
    assert.ok(serverAfterPush < LIMIT_KIB, `grove serve peaked at ${serverAfterPush} KiB while receiving the push (limit ${LIMIT_KIB})`);
  } finally {
    await hub.stopOk();
    await removeTemp(work);
    await removeTemp(path.dirname(hub.dataDir));
  }
});

test('a 4 GiB + 1 MiB file round-trips byte-identical', { timeout: 3_600_000 }, async () => {
  const work = await tempDir('grove-e2e-big-');
  const hub = await startHub();
  const dataParent = path.dirname(hub.dataDir);
  const token = await hub.token('demo');
  const bytes = 4 * GiB + MiB;
  try {
    const src = path.join(work, 'src');
    let t = Date.now();
    const file = await bigFolder(src, 'model.bin', bytes, 5);
    const want = await sha256File(file);
    console.log(`generated and hashed ${bytes} bytes in ${Date.now() - t} ms`);

    t = Date.now();
    const push = await hub.grove(['push', src, 'demo/big', '-m', 'big file'], { token, timeoutMs: 1_800_000 });
    assertOk(push, 'push 4 GiB');
    console.log(`push took ${Date.now() - t} ms`);

    const tree = await hub.json('/api/models/demo/big/tree/main?recursive=true');
    const entry = tree.find((e) => e.path === 'model.bin');
    assert.ok(entry, 'tree lacks model.bin');
    assert.equal(entry.size, bytes, 'tree size of a > 4 GiB file');
    assert.equal(entry.lfs?.oid, want);
    assert.equal(entry.lfs?.size, bytes);
    const head = await hub.fetch('/demo/big/resolve/main/model.bin', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes));
    assert.equal(head.headers.get('x-linked-size'), String(bytes));
    assert.equal(head.headers.get('x-linked-etag'), `"${want}"`);
    // A range beyond 4 GiB: the last 16 bytes.
    const tail = await hub.fetch('/demo/big/resolve/main/model.bin', { headers: { Range: `bytes=${bytes - 16}-` } });
    const tailBytes = Buffer.from(await tail.arrayBuffer());
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes ${bytes - 16}-${bytes - 1}/${bytes}`);
    const fh = await fs.open(file, 'r');
    const local = Buffer.alloc(16);
    await fh.read(local, 0, 16, bytes - 16);
    await fh.close();
    assert.deepEqual(tailBytes, local);

    // Free the source before pulling, to halve the disk needed.
    await fs.rm(src, { recursive: true, force: true });
    t = Date.now();
    const out = path.join(work, 'out');
    const pull = await hub.grove(['pull', 'demo/big', '--local-dir', out], { token, timeoutMs: 1_800_000 });
    assertOk(pull, 'pull 4 GiB');
    console.log(`pull took ${Date.now() - t} ms`);
    const got = path.join(out, 'model.bin');
    assert.equal((await fs.stat(got)).size, bytes);
    assert.equal(await sha256File(got), want, 'pulled file differs');
  } finally {
    await hub.stopOk();
    await removeTemp(work);
    await removeTemp(dataParent);
  }
  assert.equal(await exists(work), false);
  assert.equal(await exists(dataParent), false);
});
