// Storage faults through a real server: `grove serve` killed with SIGKILL at random points of
// `grove push` (20 runs), then restarted: `grove fsck` is clean, every committed file pulls back
// byte-identical and nothing is half-visible. Then gc from the CLI while pushes run through the
// server, and the storage stats API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  startHub, tempDir, cleanupTemp, synth, assertOk, treeHashes, sleep, run, cliEnv, GROVE_BIN,
} from './lib/hub.mjs';

let work;
let familyDir;
const members = ['base', 'finetune-full'];

before(async () => {
  work = await tempDir('grove-e2e-faults-');
  familyDir = path.join(work, 'family');
  assertOk(await synth(['family', '--out', familyDir, '--size', 'tiny', '--seed', '11', '--members', members.join(',')]),
    'grove-synth family');
});

after(async () => {
  await cleanupTemp();
});

// `grove <args>` on a data folder (no server needed).
function offline(args) {
  return run(GROVE_BIN, args, { timeoutMs: 120_000 });
}

async function fsckClean(data, what) {
  const res = await offline(['fsck', '--data', data]);
  assertOk(res, `grove fsck after ${what}`);
  assert.match(res.stdout, /\bclean\b/, `fsck after ${what}: ${res.stdout}`);
}

// The files of a repo's main head other than .gitattributes, or null when the repo is missing.
async function headFiles(hub, token, repo) {
  const res = await hub.fetch(`/api/models/${repo}/tree/main?recursive=true`, { token });
  const text = await res.text();
  if (res.status === 404) return null;
  assert.equal(res.status, 200, `tree of ${repo}: ${text}`);
  return JSON.parse(text).filter((e) => e.type === 'file' && e.path !== '.gitattributes').map((e) => e.path).sort();
}

// Pulls a repo and compares it with the folder it was pushed from.
async function assertPullsBack(hub, token, repo, member) {
  const out = path.join(work, 'pulled', repo.replace('/', '_') + '-' + Math.random().toString(36).slice(2));
  const res = await hub.grove(['pull', repo, '--local-dir', out], { token });
  assertOk(res, `grove pull ${repo}`);
  const want = await treeHashes(path.join(familyDir, member));
  const got = await treeHashes(out);
  delete got['.gitattributes'];
  assert.deepEqual(got, want, `${repo} does not pull back as ${member}`);
  await fs.rm(out, { recursive: true, force: true });
}

test('kill -9 during pushes: fsck clean, committed files intact, nothing half-visible', async () => {
  const data = path.join(await tempDir('grove-e2e-crash-'), 'data');
  let hub = await startHub({ dataDir: data });
  const token = await hub.token('demo');
  // How long an undisturbed push takes, to aim the kills inside pushes.
  const t0 = Date.now();
  assertOk(await hub.grove(['push', path.join(familyDir, 'base'), 'demo/warmup', '-m', 'warm up'], { token }), 'warm-up push');
  const pushMs = Math.max(200, Date.now() - t0);
  const want = {};
  for (const m of members) want[m] = Object.keys(await treeHashes(path.join(familyDir, m))).sort();

  const committed = [];
  const runs = 20;
  for (let i = 0; i < runs; ++i) {
    const member = members[i % members.length];
    const repo = `demo/crash-${i}`;
    const push = spawn(GROVE_BIN, ['push', path.join(familyDir, member), repo, '-m', `push ${i}`], {
      env: { ...process.env, ...(await cliEnv(hub.url, token)) },
      stdio: 'ignore',
    });
    const pushDone = new Promise((resolve) => push.on('exit', (code) => resolve(code)));
    await sleep(Math.floor(Math.random() * pushMs * 1.2));
    hub.proc.kill('SIGKILL');
    await hub.exited;
    const pushCode = await pushDone;
    await fsckClean(data, `kill ${i}`);
    hub = await startHub({ dataDir: data });
    const files = await headFiles(hub, token, repo);
    // All or nothing: a head with files has every file of the member.
    if (files && files.length > 0) {
      assert.deepEqual(files, want[member], `run ${i}: head of ${repo} is half there`);
      await assertPullsBack(hub, token, repo, member);
      committed.push([repo, member]);
    } else {
      assert.notEqual(pushCode, 0, `run ${i}: push exited 0 but ${repo} has no files`);
    }
  }
  // Every commit made in any run is still intact at the end, after gc too.
  await hub.stopOk();
  const gc = await offline(['gc', '--data', data, '--grace', '0']);
  assertOk(gc, 'grove gc');
  await fsckClean(data, 'gc');
  hub = await startHub({ dataDir: data });
  for (const [repo, member] of committed) await assertPullsBack(hub, token, repo, member);
  await hub.stopOk();
  console.log(`# ${runs} kills at random points of ${pushMs} ms pushes; ${committed.length} pushes had committed`);
});

test('gc from the CLI while pushes run through the server keeps every commit intact', async () => {
  const hub = await startHub();
  const token = await hub.token('demo');
  assertOk(await hub.grove(['push', path.join(familyDir, 'base'), 'demo/g-base', '-m', 'base'], { token }), 'push base');
  assertOk(await hub.grove(['push', path.join(familyDir, 'finetune-full'), 'demo/g-ft', '-m', 'ft', '--base', 'demo/g-base'], { token }),
    'push fine-tune');
  // The base goes away; its frames the fine-tune deltas against must stay.
  const del = await hub.fetch('/api/repos/delete', {
    token, method: 'DELETE', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'model', name: 'g-base', organization: 'demo' }),
  });
  assert.equal(del.status, 200, `delete repo: ${await del.text()}`);
  await sleep(2100);  // older than the grace period below

  const dry = await offline(['gc', '--data', hub.dataDir, '--grace', '2', '--dry-run']);
  assertOk(dry, 'grove gc --dry-run');
  assert.match(dry.stdout, /dry run: would unlink [1-9]\d* files/);  // the base's own files
  // One real run first: the base's own files go now, so no push below races their unlinking
  // through the LFS batch API's "already stored" answer.
  const first = await offline(['gc', '--data', hub.dataDir, '--grace', '2']);
  assertOk(first, 'grove gc');
  assert.match(first.stdout, /unlinked [1-9]\d* files/);
  let stopGc = false;
  const gcLoop = (async () => {
    let n = 0;
    while (!stopGc) {
      const res = await offline(['gc', '--data', hub.dataDir, '--grace', '2']);
      assertOk(res, `grove gc ${n}`);
      ++n;
      await sleep(100);
    }
    return n;
  })();
  const pushed = [];
  for (let i = 0; i < 6; ++i) {
    const member = members[i % 2];
    const repo = `demo/g-${i}`;
    assertOk(await hub.grove(['push', path.join(familyDir, member), repo, '-m', `push ${i}`], { token }), `push ${repo}`);
    pushed.push([repo, member]);
  }
  stopGc = true;
  const gcRuns = await gcLoop;
  assert.ok(gcRuns >= 2, `gc ran ${gcRuns} times`);
  await sleep(2100);
  assertOk(await offline(['gc', '--data', hub.dataDir, '--grace', '2']), 'final gc');
  await fsckClean(hub.dataDir, 'gc during pushes');
  for (const [repo, member] of [...pushed, ['demo/g-ft', 'finetune-full']]) await assertPullsBack(hub, token, repo, member);

  // Storage stats: the API and the CLI agree, and the family is stored well under its size.
  const api = await hub.json('/api/grove/storage', { token });
  assert.ok(api.total.raw_bytes > 0 && api.total.stored_bytes > 0);
  assert.ok(api.total.stored_bytes < api.total.raw_bytes, JSON.stringify(api.total));
  const ft = api.repos.find((r) => r.repo === 'demo/g-ft');
  assert.ok(ft, `repos: ${JSON.stringify(api.repos.map((r) => r.repo))}`);
  for (const k of ['dedup', 'codec', 'delta']) assert.equal(typeof ft.saved_by[k], 'number');
  const cli = await offline(['storage', 'stats', '--data', hub.dataDir, '--json']);
  assertOk(cli, 'grove storage stats --json');
  assert.deepEqual(JSON.parse(cli.stdout).total, api.total);
  await hub.stopOk();
});
