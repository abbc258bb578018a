// Shared helpers for grove's end-to-end tests: start a real `grove serve` on a free loopback
// port with a fresh data folder, create tokens, run CLI commands, talk raw HTTP, hash trees.
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const GROVE_BIN = process.env.GROVE_BIN || path.join(REPO_ROOT, 'build/cli/grove');
export const SYNTH_BIN = process.env.GROVE_SYNTH_BIN || path.join(REPO_ROOT, 'build/scripts/synth/grove-synth');

const tempDirs = new Set();
let emptyConfigDir;

// A fresh temporary folder, removed by cleanupTemp() (or removeTemp(dir)).
export async function tempDir(prefix = 'grove-e2e-') {
  const base = process.env.GROVE_E2E_TMP || os.tmpdir();
  const dir = await fs.mkdtemp(path.join(base, prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTemp(dir) {
  await fs.rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export async function cleanupTemp() {
  for (const dir of [...tempDirs]) await removeTemp(dir);
  emptyConfigDir = undefined;
}

export async function exists(p) {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

// Runs a command to completion; never rejects on a non-zero exit.
// Returns {code, signal, stdout, stderr, ms}.
export function run(cmd, args, { env = {}, cwd, timeoutMs = 600_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// A config dir with no saved token, so only GROVE_TOKEN / --token count.
async function configDir() {
  if (!emptyConfigDir) emptyConfigDir = await tempDir('grove-e2e-config-');
  return emptyConfigDir;
}

// The environment a CLI command needs to talk to endpoint as token (no saved login).
export async function cliEnv(endpoint, token) {
  const e = { GROVE_CONFIG_DIR: await configDir(), GROVE_TOKEN: token || '' };
  if (endpoint) e.GROVE_ENDPOINT = endpoint;
  return e;
}

// Runs `grove ARGS` against an endpoint. token: string, or null/undefined for none.
export async function grove(args, { endpoint, token, env = {}, timeoutMs } = {}) {
  return run(GROVE_BIN, args, { env: { ...(await cliEnv(endpoint, token)), ...env }, timeoutMs });
}

export function synth(args, opts) {
  return run(SYNTH_BIN, args, opts);
}

// Asserts a finished command succeeded, showing its output when it did not.
export function assertOk(res, what = 'command') {
  assert.equal(res.code, 0, `${what} exited ${res.code} (signal ${res.signal})\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
}

// Starts `grove serve` with a fresh (or given) data folder. Returns a Hub handle.
export async function startHub({ args = [], dataDir, startTimeoutMs = 20_000 } = {}) {
  const data = dataDir || path.join(await tempDir('grove-e2e-hub-'), 'data');
  await fs.mkdir(data, { recursive: true });
  const proc = spawn(GROVE_BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GROVE_CONFIG_DIR: await configDir() },
  });
  const hub = new Hub(proc, data);
  await hub._waitListening(startTimeoutMs);
  return hub;
}

export class Hub {
  constructor(proc, dataDir) {
    this.proc = proc;
    this.dataDir = dataDir;
    this.stdout = '';
    this.stderr = '';
    this.exit = null;
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    proc.stdout.setEncoding('utf8').on('data', (d) => (this.stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      this.stderr += d;
      if (this.stderr.length > 8_000_000) this.stderr = this.stderr.slice(-4_000_000);
    });
  }

  async _waitListening(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = this.stdout.match(/grove listening on (http:\/\/127\.0\.0\.1:(\d+)) \(data in (.*)\)/);
      if (m) {
        this.url = m[1];
        this.port = Number(m[2]);
        assert.ok(this.port > 0, 'listening port must not be 0');
        return;
      }
      if (this.exit) throw new Error(`grove serve exited early (${JSON.stringify(this.exit)}): ${this.stderr}`);
      await sleep(20);
    }
    this.proc.kill('SIGKILL');
    throw new Error(`grove serve did not print its listening line in ${timeoutMs} ms; stdout=${this.stdout} stderr=${this.stderr}`);
  }

  // Peak resident memory of the server so far, in KiB (VmHWM from /proc).
  async peakRssKiB() {
    const status = await fs.readFile(`/proc/${this.proc.pid}/status`, 'utf8');
    const m = status.match(/^VmHWM:\s+(\d+) kB/m);
    assert.ok(m, 'no VmHWM in /proc/<pid>/status');
    return Number(m[1]);
  }

  get pid() {
    return this.proc.pid;
  }

  // `grove token create` on this hub's data folder.
  async token(user, scope = 'write') {
    const res = await run(GROVE_BIN, ['token', 'create', '--data', this.dataDir, '--user', user, '--scope', scope]);
    assertOk(res, `grove token create --user ${user} --scope ${scope}`);
    const token = res.stdout.trim().split(/\s+/).find((w) => w.startsWith('hf_'));
    assert.ok(token, `token create printed no hf_ token: ${res.stdout}`);
    return token;
  }

  // A CLI command against this hub.
  grove(args, { token, env, timeoutMs } = {}) {
    return grove(args, { endpoint: this.url, token, env, timeoutMs });
  }

  // fetch() against this hub; path may be relative. token adds a Bearer header.
  async fetch(p, { token, headers = {}, ...init } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    return fetch(p.startsWith('http') ? p : this.url + p, { ...init, headers: h });
  }

  async json(p, opts) {
    const res = await this.fetch(p, opts);
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${p} → ${res.status}: ${text}`);
    return JSON.parse(text);
  }

  // The head commit sha of a repo's revision (default main), via model info.
  async headSha(repo, { token, rev } = {}) {
    const info = await this.json(`/api/models/${repo}${rev ? `/revision/${encodeURIComponent(rev)}` : ''}`, { token });
    assert.match(info.sha, /^[0-9a-f]{40}$/, `model info sha of ${repo}`);
    return info.sha;
  }

  // Stops with SIGTERM; resolves to {code, signal}. Kills hard after timeoutMs.
  async stop({ timeoutMs = 15_000 } = {}) {
    if (this.exit) return this.exit;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  // Stops and asserts a clean exit (code 0, no signal).
  async stopOk(opts) {
    const r = await this.stop(opts);
    assert.deepEqual(r, { code: 0, signal: null }, `grove serve did not stop cleanly; stderr tail:\n${this.stderr.slice(-3000)}`);
    return r;
  }

  // Is the server still answering? Asserts a 200 from /api/grove/health (falls back to /api/models).
  async assertAlive() {
    let res = await this.fetch('/api/grove/health');
    if (res.status === 404) res = await this.fetch('/api/models');
    await res.arrayBuffer();
    assert.equal(res.status, 200, 'server no longer answers');
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Polls `pred` every 20 ms; fails the test naming `what` after `ms`.
export async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pred()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

// SHA-256 of a file, streamed (never the whole file in memory).
export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

// git blob sha1, computed by git itself.
export async function gitHashObject(file) {
  const res = await run('git', ['hash-object', '--no-filters', file]);
  assertOk(res, 'git hash-object');
  return res.stdout.trim();
}

// { relative/path: sha256 } for every regular file under dir, skipping the given top-level folders.
export async function treeHashes(dir, { ignore = ['.grove'] } = {}) {
  const out = {};
  async function walk(sub) {
    for (const e of await fs.readdir(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (!sub && ignore.includes(e.name)) continue;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) out[rel] = await sha256File(path.join(dir, rel));
      else out[rel] = `<not a regular file>`;
    }
  }
  await walk('');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

// Writes a folder from { 'rel/path': Buffer|string }.
export async function writeTree(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, content);
  }
  return dir;
}

// Writes `bytes` random bytes to file in 1 MiB chunks.
export async function writeRandomFile(file, bytes) {
  const fh = await fs.open(file, 'w');
  try {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, 1 << 20);
      await fh.write(randomBytes(n));
      left -= n;
    }
  } finally {
    await fh.close();
  }
}

// A minimal valid safetensors file: one F32 tensor "w" of the given shape.
export function safetensors(tensors = { w: { dtype: 'F32', shape: [2, 2] } }, { headerOverride } = {}) {
  const sizes = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, F64: 8 };
  const header = {};
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * sizes[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.data_offsets || [off, off + n] };
    off += n;
  }
  let json = Buffer.from(JSON.stringify(headerOverride || header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.alloc(off);
  for (let i = 0; i < off; i++) data[i] = (i * 7 + 3) & 0xff;
  return Buffer.concat([len, json, data]);
}

// Builds an NDJSON commit body: header + entries ({key, value} objects).
export function ndjson(summary, entries = [], { parentCommit } = {}) {
  const header = { summary };
  if (parentCommit) header.parentCommit = parentCommit;
  return [{ key: 'header', value: header }, ...entries].map((l) => JSON.stringify(l)).join('\n') + '\n';
}

export function fileEntry(p, content) {
  return { key: 'file', value: { path: p, content: Buffer.from(content).toString('base64'), encoding: 'base64' } };
}

export function lfsEntry(p, oid, size) {
  const value = { path: p, algo: 'sha256', oid };
  if (size !== undefined) value.size = size;
  return { key: 'lfsFile', value };
}

// POSTs a commit; returns {status, headers, body (parsed JSON or text)}.
export async function postCommit(hub, repo, body, { token, branch = 'main' } = {}) {
  const res = await hub.fetch(`/api/models/${repo}/commit/${encodeURIComponent(branch)}`, {
    method: 'POST',
    token,
    headers: { 'Content-Type': 'application/x-ndjson' },
    body,
  });
  return readAnswer(res);
}

export async function readAnswer(res) {
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body, text };
}

// LFS batch for one object; returns the per-object answer.
export async function lfsBatch(hub, repo, oid, size, { token, ...opts } = {}) {
  const res = await hub.fetch(`/${repo}.git/info/lfs/objects/batch`, {
    method: 'POST',
    token,
    headers: { 'Content-Type': 'application/vnd.git-lfs+json', Accept: 'application/vnd.git-lfs+json' },
    body: JSON.stringify({ operation: 'upload', transfers: opts.transfers || ['basic'], hash_algo: 'sha256', ref: { name: 'main' }, objects: [{ oid, size }] }),
  });
  const a = await readAnswer(res);
  assert.equal(a.status, 200, `LFS batch → ${a.status}: ${a.text}`);
  assert.equal(a.body.objects.length, 1);
  return a.body.objects[0];
}

// Uploads a buffer as an LFS object through batch + PUT to the signed href. Returns its oid.
export async function uploadLfs(hub, repo, buf, { token } = {}) {
  const oid = sha256(buf);
  const obj = await lfsBatch(hub, repo, oid, buf.length, { token });
  assert.equal(obj.oid, oid);
  assert.equal(obj.size, buf.length);
  if (obj.actions && obj.actions.upload) {
    const res = await fetch(obj.actions.upload.href, { method: 'PUT', body: buf });
    const text = await res.text();
    assert.ok(res.status >= 200 && res.status < 300, `PUT upload → ${res.status}: ${text}`);
  }
  return oid;
}

// Raw socket: connect to the hub. Returns {socket, closed: Promise<ms since connect>, data()}.
export function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const closed = new Promise((r) => socket.on('close', () => r(Date.now() - started)));
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed, data: () => data, started }));
    socket.once('error', reject);
  });
}

// Resolves to true if p settles within ms, false otherwise.
export async function within(p, ms) {
  let t;
  const timeout = new Promise((r) => (t = setTimeout(() => r(false), ms)));
  const r = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(t);
  return r;
}
