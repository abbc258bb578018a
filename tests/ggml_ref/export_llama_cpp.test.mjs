// GGUF exports loaded by real llama.cpp (node-llama-cpp 3.21.1, CPU, one thread, every load in
// its own child process): tiny generated llama and qwen2 models exported with
// `grove export --local` at F32, F16, Q8_0, Q4_0 and Q4_K_M must load, generate greedily, and
// give next-token distributions that match grove-ref-forward, an independent double-precision
// forward pass with Hugging Face semantics over the safetensors weights. Bounds (specs/gguf.md
// §7.3): F32 KL < 1e-5, F16 < 1e-4, quantized < 1e-3 against the same weights quantized and
// dequantized by llama.cpp, plus a looser bound against the original weights. A GGUF with
// wrongly arranged Q/K rows must fail the F32 bound (the tests prove that it does).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  tempDir, cleanupTemp, synthBase, exportLocal, refForward, llamaEval, maxKL, sharpenAttention, rewriteQK, gguf, T,
} from './lib/gguf_check.mjs';

// Token ids, not text, so tokenization cannot interfere. Vocabulary 1024; 1021-1023 are
// <|endoftext|>, <|im_start|>, <|im_end|>.
const SEQUENCES = [
  [5, 100, 200, 300, 400, 17, 900, 3, 64, 65],
  [1022, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  [7, 7, 7, 7, 512, 7, 7, 7],
];
const GENERATE = 6;

// Upper bounds on max KL(reference ‖ llama.cpp) over all positions.
const BOUNDS = {
  F32: { hf: 1e-5 },
  F16: { hf: 1e-4 },
  Q8_0: { deq: 1e-3, hf: 1e-3 },
  Q4_0: { deq: 1e-3, hf: 5e-2 },
  Q4_K_M: { deq: 1e-3, hf: 5e-2 },
};

const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

function assertLoaded(r, what) {
  assert.ok(r.ok, `${what}: node-llama-cpp exited ${r.code} (signal ${r.signal})\n${r.log.slice(-3000)}`);
}

after(cleanupTemp);

for (const arch of ['llama', 'qwen2']) {
  describe(`${arch}: exports loaded by llama.cpp`, () => {
    let work;
    let model;
    let hfRef;
    before(async () => {
      work = await tempDir(`grove-gguf-${arch}-`);
      model = await synthBase(path.join(work, 'family'), { arch });
      hfRef = await refForward(model, SEQUENCES);
    });

    for (const [quant, bound] of Object.entries(BOUNDS)) {
      test(`${quant}: loads, generates, next-token distributions within bounds`, async (t) => {
        const file = await exportLocal(model, quant, path.join(work, `${arch}-${quant}.gguf`));
        const r = await llamaEval(file, SEQUENCES, { generate: GENERATE });
        assertLoaded(r, `${arch} ${quant}`);
        const { probabilities, greedy, vocab } = r.result;
        assert.equal(vocab, 1024);
        assert.equal(greedy.length, GENERATE, 'greedy generation produced fewer tokens');
        for (const t of greedy) assert.ok(Number.isInteger(t) && t >= 0 && t < vocab, `generated token ${t}`);

        const klHf = maxKL(hfRef, probabilities);
        t.diagnostic(`max KL vs safetensors weights ${klHf.toExponential(2)}`);
        assert.ok(klHf < bound.hf, `${arch} ${quant}: max KL vs the safetensors weights ${klHf.toExponential(2)} ≥ ${bound.hf}`);
        if (bound.deq) {
          const deqRef = await refForward(model, SEQUENCES, { gguf: file });
          const klDeq = maxKL(deqRef, probabilities);
          t.diagnostic(`max KL vs dequantized weights ${klDeq.toExponential(2)}`);
          assert.ok(klDeq < bound.deq, `${arch} ${quant}: max KL vs its dequantized weights ${klDeq.toExponential(2)} ≥ ${bound.deq}`);
        }
        if (quant === 'F32') {
          // Greedy tokens are the reference's argmax at each step, wherever the reference's
          // top two are not within float32 noise of each other.
          const ext = [...SEQUENCES[0], ...greedy.slice(0, -1)];
          const [ref] = await refForward(model, [ext]);
          for (let j = 0; j < greedy.length; j++) {
            const row = ref[SEQUENCES[0].length - 1 + j];
            const best = argmax(row);
            const second = Math.max(...row.filter((_, i) => i !== best));
            if (row[best] - second > 1e-4) assert.equal(greedy[j], best, `greedy token ${j}`);
          }
        }
      });
    }
  });
}

// The generator's weights give almost uniform attention, where positions hardly matter; with
// q_proj and k_proj scaled ×4 a permutation bug moves the distributions far past the bound.
for (const [arch, mode] of [['llama', 'unpermute'], ['qwen2', 'permute']]) {
  test(`${arch}: wrongly arranged Q/K rows (${mode}d) fail the F32 KL bound`, async (t) => {
    const work = await tempDir(`grove-gguf-perm-${arch}-`);
    const model = await sharpenAttention(await synthBase(path.join(work, 'family'), { arch }), path.join(work, 'sharp'));
    const config = JSON.parse(await fs.readFile(path.join(model, 'config.json'), 'utf8'));
    const ref = await refForward(model, SEQUENCES);
    const good = await exportLocal(model, 'F32', path.join(work, 'good.gguf'));
    const bad = await rewriteQK(good, path.join(work, 'bad.gguf'), {
      heads: config.num_attention_heads, kvHeads: config.num_key_value_heads, mode,
    });

    const rGood = await llamaEval(good, SEQUENCES);
    assertLoaded(rGood, `${arch} sharpened F32`);
    const klGood = maxKL(ref, rGood.result.probabilities);
    t.diagnostic(`correct F32 export: max KL ${klGood.toExponential(2)}`);
    assert.ok(klGood < BOUNDS.F32.hf, `correct export: KL ${klGood.toExponential(2)}`);

    const rBad = await llamaEval(bad, SEQUENCES);
    assertLoaded(rBad, `${arch} with ${mode}d Q/K`);  // it still loads: only the numbers are wrong
    const klBad = maxKL(ref, rBad.result.probabilities);
    t.diagnostic(`${mode}d Q/K rows: max KL ${klBad.toExponential(2)}`);
    assert.ok(klBad > 10 * BOUNDS.F32.hf, `${mode}d Q/K rows: KL ${klBad.toExponential(2)} should fail the ${BOUNDS.F32.hf} bound by far`);
  });
}

// The tiny models' rows (128, 352) are not multiples of 256, so their Q4_K_M falls back to
// Q5_0/Q8_0; the small preset (hidden 512) exercises real Q4_K and Q6_K blocks.
test('llama small (hidden 512): Q4_K_M with Q4_K and Q6_K blocks within bounds', async (t) => {
  const work = await tempDir('grove-gguf-small-');
  const model = await synthBase(path.join(work, 'family'), { arch: 'llama', size: 'small' });
  const file = await exportLocal(model, 'Q4_K_M', path.join(work, 'small-Q4_K_M.gguf'));
  const { tensorInfos } = await gguf(file, { allowLocalFile: true });
  const types = new Set(tensorInfos.map((t) => t.dtype));
  assert.ok(types.has(T.Q4_K) && types.has(T.Q6_K), `expected Q4_K and Q6_K tensors, got types ${[...types]}`);

  const r = await llamaEval(file, SEQUENCES, { generate: GENERATE });
  assertLoaded(r, 'llama small Q4_K_M');
  assert.equal(r.result.greedy.length, GENERATE);
  const klHf = maxKL(await refForward(model, SEQUENCES), r.result.probabilities);
  const klDeq = maxKL(await refForward(model, SEQUENCES, { gguf: file }), r.result.probabilities);
  t.diagnostic(`max KL vs safetensors weights ${klHf.toExponential(2)}, vs dequantized weights ${klDeq.toExponential(2)}`);
  assert.ok(klDeq < BOUNDS.Q4_K_M.deq, `max KL vs its dequantized weights ${klDeq.toExponential(2)}`);
  assert.ok(klHf < BOUNDS.Q4_K_M.hf, `max KL vs the safetensors weights ${klHf.toExponential(2)}`);
});
