// GGUF export route, bad input: models grove cannot export (unsupported architecture, a tensor
// missing from the shards, a shape that contradicts config.json, no tokenizer) and requests it
// cannot answer (unknown quantization, repo or revision) each get a 4xx with a JSON message
// saying what is wrong — decided before any GGUF byte is sent — and the server stays up and
// still exports a good model.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startHub, tempDir, cleanupTemp, assertOk, synth, readAnswer } from './lib/hub.mjs';

let hub;
let token;
let work;
let good; // folder of the tiny llama base
const NS = 'demo';

// Copies a model folder, then applies edit(dir).
async function variant(name, edit) {
  const dir = path.join(work, name);
  await fs.cp(good, dir, { recursive: true });
  await edit(dir);
  return dir;
}

async function editJson(file, change) {
  const j = JSON.parse(await fs.readFile(file, 'utf8'));
  change(j);
  await fs.writeFile(file, JSON.stringify(j, null, 2) + '\n');
}

// Rewrites a single-file safetensors without the named tensor (offsets recomputed).
async function dropTensor(file, drop) {
  const buf = await fs.readFile(file);
  const hl = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hl).toString());
  assert.ok(header[drop], `${drop} not in ${file}`);
  const out = {};
  const parts = [];
  let off = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') {
      out[name] = t;
      continue;
    }
    if (name === drop) continue;
    const data = buf.subarray(8 + hl + t.data_offsets[0], 8 + hl + t.data_offsets[1]);
    out[name] = { ...t, data_offsets: [off, off + data.length] };
    parts.push(data);
    off += data.length;
  }
  let json = Buffer.from(JSON.stringify(out));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await fs.writeFile(file, Buffer.concat([len, json, ...parts]));
}

async function push(dir, name) {
  assertOk(await hub.grove(['push', dir, `${NS}/${name}`, '-m', `push ${name}`], { token }), `push ${name}`);
}

// GET the export route; returns {status, headers, body, text, bytes}.
async function exportRequest(repo, quant, rev = 'main') {
  const res = await hub.fetch(`/api/grove/export/${repo}/${rev}/${quant}.gguf`, { token });
  return readAnswer(res);
}

function assertRefused(a, status, pattern) {
  assert.equal(a.status, status, `expected ${status}, got ${a.status}: ${a.text.slice(0, 300)}`);
  assert.ok(!a.text.startsWith('GGUF'), 'no GGUF bytes may be sent with an error');
  assert.match(a.headers.get('content-type') || '', /json/, 'error is JSON');
  assert.equal(typeof a.body?.error, 'string', `error body should carry {"error"}: ${a.text}`);
  assert.match(a.body.error, pattern);
}

before(async () => {
  hub = await startHub();
  token = await hub.token(NS);
  work = await tempDir('grove-e2e-export-bad-');
  assertOk(await synth(['family', '--out', path.join(work, 'family'), '--size', 'tiny', '--members', 'base']), 'grove-synth');
  good = path.join(work, 'family', 'base');
  await push(good, 'good');

  await push(await variant('gpt2', (d) => editJson(path.join(d, 'config.json'), (c) => {
    c.architectures = ['GPT2LMHeadModel'];
    c.model_type = 'gpt2';
  })), 'unsupported-arch');
  await push(await variant('missing', (d) => dropTensor(path.join(d, 'model.safetensors'), 'model.layers.3.mlp.up_proj.weight')), 'missing-tensor');
  await push(await variant('shape', (d) => editJson(path.join(d, 'config.json'), (c) => {
    c.intermediate_size += 32;
  })), 'bad-shape');
  await push(await variant('notok', (d) => fs.rm(path.join(d, 'tokenizer.json'))), 'no-tokenizer');
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

describe('refused before streaming, server stays up', () => {
  const cases = [
    ['unsupported architecture', 'unsupported-arch', 'Q8_0', 422, /architecture.*(GPT2LMHeadModel|gpt2)/i],
    ['a tensor missing from the shards', 'missing-tensor', 'Q8_0', 422, /model\.layers\.3\.mlp\.up_proj\.weight|blk\.3\.ffn_up/],
    ['a shape that does not match config.json', 'bad-shape', 'Q4_0', 422, /shape[\s\S]*384/i],
    ['no tokenizer', 'no-tokenizer', 'Q8_0', 422, /tokenizer/i],
    ['an unknown quantization name', 'good', 'Q9_9', 400, /Q9_9|quant/i],
  ];
  for (const [what, name, quant, status, pattern] of cases) {
    test(what, async () => {
      assertRefused(await exportRequest(`${NS}/${name}`, quant), status, pattern);
      await hub.assertAlive();
    });
  }

  test('an unknown repo or revision is a 404', async () => {
    assertRefused(await exportRequest(`${NS}/no-such-model`, 'Q8_0'), 404, /./);
    assertRefused(await exportRequest(`${NS}/good`, 'Q8_0', 'no-such-branch'), 404, /./);
  });

  test('after all that, a good model still exports', async () => {
    const res = await hub.fetch(`/api/grove/export/${NS}/good/main/Q8_0.gguf`, { token });
    assert.equal(res.status, 200);
    const length = Number(res.headers.get('content-length'));
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(length > 0, 'Content-Length known up front');
    assert.equal(body.length, length);
    assert.equal(body.subarray(0, 4).toString('latin1'), 'GGUF');
  });
});
