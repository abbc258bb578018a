// Helpers for the GGUF export tests: generated models, `grove export`, the reference forward
// pass (grove-ref-forward), node-llama-cpp in a child process, KL divergence, the per-tensor type
// mix llama-quantize chooses, and the deliberate Q/K-permutation bugs the tests must catch.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { gguf } from '@huggingface/gguf';
import { run as runCommand } from '../../e2e/lib/hub.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '../../..');
export const GROVE_BIN = process.env.GROVE_BIN || path.join(REPO_ROOT, 'build/cli/grove');
export const SYNTH_BIN = process.env.GROVE_SYNTH_BIN || path.join(REPO_ROOT, 'build/scripts/synth/grove-synth');
// The reference tool sits in the same build tree as grove: <build>/tests/ggml_ref/.
export const REF_BIN =
  process.env.GROVE_REF_FORWARD_BIN || path.join(path.dirname(path.dirname(GROVE_BIN)), 'tests/ggml_ref/grove-ref-forward');
export const GGML_LIB = path.join(REPO_ROOT, 'tests/ggml_ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so');
const LLAMA_EVAL = path.join(HERE, 'llama_eval.mjs');

// ggml type ids (specs/gguf.md §2.4) and llama_ftype values (§5.3).
export const T = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 };
const BLOCK = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 12: [256, 144], 13: [256, 176], 14: [256, 210], 30: [1, 2] };
export const FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15 };
export const typeName = (id) => Object.keys(T).find((k) => T[k] === id) ?? `type ${id}`;

const tempDirs = [];
export async function tempDir(prefix = 'grove-gguf-') {
  const dir = await fs.mkdtemp(path.join(process.env.GROVE_E2E_TMP || os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
export async function cleanupTemp() {
  for (const dir of tempDirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
}

// Runs a command to completion; never rejects on a non-zero exit. {code, signal, stdout, stderr}.
export const run = (cmd, args, { timeoutMs = 300_000, env = {} } = {}) => runCommand(cmd, args, { timeoutMs, env });

export function assertOk(res, what) {
  assert.equal(res.code, 0, `${what} exited ${res.code} (signal ${res.signal})\nstdout: ${res.stdout.slice(-2000)}\nstderr: ${res.stderr.slice(-4000)}`);
}

// Generates the `base` member of a family and returns its folder.
export async function synthBase(outDir, { arch = 'llama', size = 'tiny' } = {}) {
  assertOk(await run(SYNTH_BIN, ['family', '--out', outDir, '--size', size, '--arch', arch, '--members', 'base']), 'grove-synth');
  return path.join(outDir, 'base');
}

export async function exportLocal(dir, quant, out) {
  assertOk(await run(GROVE_BIN, ['export', '--local', dir, '--quant', quant, '-o', out]), `grove export --local ${dir} --quant ${quant}`);
  return out;
}

// Next-token log-probabilities from the reference forward pass, [sequence][position][token].
// With gguf: the weights are that file's, dequantized by llama.cpp (the "deq" reference).
export async function refForward(modelDir, sequences, { gguf: ggufFile } = {}) {
  const args = ['--model', modelDir, ...sequences.flatMap((s) => ['--tokens', s.join(',')])];
  if (ggufFile) args.push('--gguf', ggufFile, '--ggml-lib', GGML_LIB);
  const res = await run(REF_BIN, args);
  assertOk(res, 'grove-ref-forward');
  return JSON.parse(res.stdout).sequences;
}

// Loads a GGUF with node-llama-cpp in a child process. Resolves to {ok, code, signal, log, result}
// where result = {vocab, probabilities[sequence][position][token], greedy[]}.
export async function llamaEval(file, sequences, { generate = 0, timeoutMs = 120_000 } = {}) {
  const res = await run(process.execPath, [LLAMA_EVAL, JSON.stringify({ model: file, sequences, generate })], { timeoutMs });
  const ok = res.code === 0 && res.signal === null;
  return { ok, code: res.code, signal: res.signal, log: res.stderr, result: ok ? JSON.parse(res.stdout) : undefined };
}

// KL(reference ‖ llama.cpp) in nats at each position. llama.cpp's probabilities are float32 and
// sum to 1 only within ~1e-6, which alone would add ±1e-6 to the KL: renormalize in double first.
export function klPerPosition(refLogp, probs) {
  return refLogp.map((lp, i) => {
    const q = probs[i];
    assert.equal(q.length, lp.length, `vocabulary size: llama.cpp ${q.length}, reference ${lp.length}`);
    let z = 0;
    for (const v of q) z += v;
    let kl = 0;
    for (let t = 0; t < lp.length; t++) {
      const p = Math.exp(lp[t]);
      if (p > 0) kl += p * (lp[t] - Math.log(Math.max(q[t] / z, 1e-300)));
    }
    return kl;
  });
}

export function maxKL(refSeqs, probSeqs) {
  return Math.max(...refSeqs.flatMap((r, s) => klPerPosition(r, probSeqs[s])));
}

// Copy of a model folder with every q_proj/k_proj weight multiplied by `factor` (a power of
// two, so BF16 stays exact). The generator's weights (σ 0.02) give nearly uniform attention, in
// which RoPE — and so a wrong Q/K permutation — barely moves the output (KL ~5e-6, under the
// 1e-5 bound); sharper attention makes position matter.
export async function sharpenAttention(srcDir, dstDir, factor = 4) {
  await fs.mkdir(dstDir, { recursive: true });
  const shift = Math.log2(factor);
  assert.ok(Number.isInteger(shift) && shift > 0, 'factor must be a power of two');
  for (const f of await fs.readdir(srcDir)) {
    const buf = await fs.readFile(path.join(srcDir, f));
    if (f.endsWith('.safetensors')) {
      const hl = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + hl).toString());
      for (const [name, t] of Object.entries(header)) {
        if (!/\.(q_proj|k_proj)\.weight$/.test(name)) continue;
        assert.equal(t.dtype, 'BF16', `${name} is ${t.dtype}`);
        for (let o = 8 + hl + t.data_offsets[0]; o < 8 + hl + t.data_offsets[1]; o += 2) {
          const v = buf.readUInt16LE(o);
          if ((v & 0x7f80) === 0 || (v & 0x7f80) === 0x7f80) continue;  // zero/subnormal, inf/nan
          buf.writeUInt16LE(v + (shift << 7), o);  // exponent += shift
        }
      }
    }
    await fs.writeFile(path.join(dstDir, f), buf);
  }
  return dstDir;
}

// Writes a copy of an F32 GGUF with the rows of every attn_q/attn_k tensor (weights and biases)
// regrouped: 'unpermute' turns llama.cpp's interleaved RoPE layout back into HF's half-split one
// (a llama exporter that forgot the permutation); 'permute' applies the llama permutation (a
// qwen2 exporter that wrongly permuted). Offsets come from @huggingface/gguf.
export async function rewriteQK(src, dst, { heads, kvHeads, mode }) {
  const info = await gguf(src, { allowLocalFile: true });
  const buf = await fs.readFile(src);
  let touched = 0;
  for (const t of info.tensorInfos) {
    const m = t.name.match(/^blk\.\d+\.attn_([qk])\.(weight|bias)$/);
    if (!m) continue;
    assert.equal(t.dtype, T.F32, `${t.name} must be F32 to rewrite`);
    const cols = t.shape.length > 1 ? Number(t.shape[0]) : 1;
    const rows = Number(t.shape[t.shape.length - 1]);
    const n = m[1] === 'q' ? heads : kvHeads;
    const hd = rows / n;
    const start = Number(info.tensorDataOffset + t.offset);
    const old = Buffer.from(buf.subarray(start, start + rows * cols * 4));
    for (let h = 0; h < n; h++)
      for (let half = 0; half < 2; half++)
        for (let i = 0; i < hd / 2; i++) {
          const hf = h * hd + half * (hd / 2) + i;  // HF row
          const gg = h * hd + 2 * i + half;  // llama.cpp row
          const [from, to] = mode === 'unpermute' ? [gg, hf] : [hf, gg];
          old.copy(buf, start + to * cols * 4, from * cols * 4, (from + 1) * cols * 4);
        }
    touched++;
  }
  assert.ok(touched > 0, 'no attn_q/attn_k tensors found');
  await fs.writeFile(dst, buf);
  return dst;
}

// llama.cpp's use_more_bits (src/llama-quant.cpp): layers where Q4_K_M spends 6 bits.
const useMoreBits = (i, n) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

// The ggml type llama-quantize would give a tensor (specs/gguf.md §5.3), for an export of an
// HF checkpoint at `quant`. name: GGUF name; dims: GGUF dims (ne0 first); layers: block count.
export function expectedType(quant, name, dims, layers, { tied = false } = {}) {
  if (dims.length < 2 || name.endsWith('_norm.weight') || !name.endsWith('.weight')) return T.F32;
  if (quant === 'F32') return T.F32;
  if (quant === 'F16') return T.F16;
  const ne0 = Number(dims[0]);
  const base = { Q8_0: T.Q8_0, Q4_0: T.Q4_0, Q4_K_M: T.Q4_K }[quant];
  let type = base;
  const isOutput = name === 'output.weight' || (tied && name === 'token_embd.weight');
  if (isOutput) {
    if (ne0 % 256 !== 0) type = T.Q8_0;
    else if (base !== T.Q8_0) type = T.Q6_K;
  } else if (quant === 'Q4_K_M') {
    const layer = Number(name.match(/^blk\.(\d+)\./)?.[1] ?? -1);
    if ((name.endsWith('attn_v.weight') || name.endsWith('ffn_down.weight')) && useMoreBits(layer, layers)) type = T.Q6_K;
  }
  // Row lengths that are not a multiple of the block: llama-quantize's fallbacks.
  if (ne0 % BLOCK[type][0] !== 0) type = { [T.Q4_K]: T.Q5_0, [T.Q5_K]: T.Q5_1, [T.Q6_K]: T.Q8_0 }[type] ?? type;
  if (ne0 % BLOCK[type][0] !== 0) type = T.F16;
  return type;
}

export function tensorBytes(dims, type) {
  const n = dims.reduce((a, b) => a * Number(b), 1);
  const [block, bytes] = BLOCK[type];
  return (n / block) * bytes;
}

// HF tensor name → GGUF tensor name (specs/gguf.md §5.1).
export function ggufName(hf) {
  const global = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
  if (global[hf]) return global[hf];
  const m = hf.match(/^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/);
  assert.ok(m, `unexpected HF tensor ${hf}`);
  const kinds = {
    input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm', 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output', 'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  };
  assert.ok(kinds[m[2]], `unexpected HF tensor ${hf}`);
  return `blk.${m[1]}.${kinds[m[2]]}.${m[3]}`;
}

// {name: shape} of every tensor in a folder's safetensors files.
export async function safetensorsShapes(dir) {
  const out = {};
  for (const f of await fs.readdir(dir)) {
    if (!f.endsWith('.safetensors')) continue;
    const fh = await fs.open(path.join(dir, f));
    try {
      const len = Buffer.alloc(8);
      await fh.read(len, 0, 8, 0);
      const hl = Number(len.readBigUInt64LE(0));
      const json = Buffer.alloc(hl);
      await fh.read(json, 0, hl, 8);
      for (const [name, t] of Object.entries(JSON.parse(json.toString()))) if (name !== '__metadata__') out[name] = t.shape;
    } finally {
      await fh.close();
    }
  }
  return out;
}

export { gguf };
