// What a second, independent GGUF parser (@huggingface/gguf 0.4.6) reads from each export of the
// tiny generated llama and qwen2 models: the hyperparameters from config.json with the types
// llama.cpp demands (u32 integers, f32 floats), the BPE vocabulary of tokenizer.json, the chat
// template and special ids, and a tensor list with the expected names, reversed shapes, the
// per-tensor types of llama-quantize's mix, and ggml's contiguous aligned layout.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  tempDir, cleanupTemp, synthBase, exportLocal, gguf, expectedType, tensorBytes, ggufName, safetensorsShapes,
  FILE_TYPE, typeName,
} from './lib/gguf_check.mjs';

const QUANTS = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_K_M'];
const U32 = 4;
const F32 = 6;
const STRING = 8;
const ARRAY = 9;

after(cleanupTemp);

for (const arch of ['llama', 'qwen2']) {
  describe(`${arch}: GGUF metadata and tensor list`, () => {
    let work;
    let model;
    let config;
    let tokenizer;
    let tokenizerConfig;
    let shapes;
    before(async () => {
      work = await tempDir(`grove-gguf-meta-${arch}-`);
      model = await synthBase(path.join(work, 'family'), { arch });
      const read = async (f) => JSON.parse(await fs.readFile(path.join(model, f), 'utf8'));
      config = await read('config.json');
      tokenizer = await read('tokenizer.json');
      tokenizerConfig = await read('tokenizer_config.json');
      shapes = await safetensorsShapes(model);
    });

    for (const quant of QUANTS) {
      test(`${quant}`, async () => {
        const file = await exportLocal(model, quant, path.join(work, `${quant}.gguf`));
        const { typedMetadata: md, tensorInfos, tensorDataOffset } = await gguf(file, { allowLocalFile: true, typedMetadata: true });
        const kv = (key, type) => {
          assert.ok(md[key], `missing ${key}`);
          if (type !== undefined) assert.equal(md[key].type, type, `${key} has GGUF type ${md[key].type}, expected ${type}`);
          return md[key].value;
        };

        // Hyperparameters.
        assert.equal(kv('general.architecture', STRING), arch);
        assert.equal(kv(`${arch}.context_length`, U32), config.max_position_embeddings);
        assert.equal(kv(`${arch}.embedding_length`, U32), config.hidden_size);
        assert.equal(kv(`${arch}.block_count`, U32), config.num_hidden_layers);
        assert.equal(kv(`${arch}.feed_forward_length`, U32), config.intermediate_size);
        assert.equal(kv(`${arch}.attention.head_count`, U32), config.num_attention_heads);
        assert.equal(kv(`${arch}.attention.head_count_kv`, U32), config.num_key_value_heads);
        assert.equal(kv(`${arch}.attention.layer_norm_rms_epsilon`, F32), Math.fround(config.rms_norm_eps));
        assert.equal(kv(`${arch}.rope.freq_base`, F32), Math.fround(config.rope_theta));
        if (md[`${arch}.rope.dimension_count`]) assert.equal(kv(`${arch}.rope.dimension_count`, U32), config.hidden_size / config.num_attention_heads);
        assert.equal(kv('general.file_type', U32), FILE_TYPE[quant]);
        if (md['general.quantization_version']) assert.equal(kv('general.quantization_version', U32), 2);
        const alignment = md['general.alignment'] ? kv('general.alignment', U32) : 32;
        assert.ok(alignment > 0 && (alignment & (alignment - 1)) === 0, `alignment ${alignment}`);

        // Tokenizer: byte-level BPE, every id's string and the merges as tokenizer.json has them.
        assert.equal(kv('tokenizer.ggml.model', STRING), 'gpt2');
        assert.equal(typeof kv('tokenizer.ggml.pre', STRING), 'string');
        const tokens = kv('tokenizer.ggml.tokens', ARRAY);
        assert.equal(md['tokenizer.ggml.tokens'].subType, STRING);
        assert.equal(tokens.length, config.vocab_size, 'token count');
        const expectedTokens = new Array(config.vocab_size);
        for (const [s, id] of Object.entries(tokenizer.model.vocab)) expectedTokens[id] = s;
        for (const a of tokenizer.added_tokens) expectedTokens[a.id] = a.content;
        for (let id = 0; id < config.vocab_size; id++) {
          if (expectedTokens[id] !== undefined) assert.equal(tokens[id], expectedTokens[id], `token ${id}`);
        }
        assert.equal(new Set(tokens).size, tokens.length, 'token strings must be unique (llama.cpp aborts otherwise)');
        const merges = kv('tokenizer.ggml.merges', ARRAY);
        const expectedMerges = tokenizer.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
        assert.deepEqual(merges, expectedMerges, 'merges');
        if (md['tokenizer.ggml.token_type']) {
          const types = kv('tokenizer.ggml.token_type', ARRAY);
          assert.equal(types.length, config.vocab_size);
          for (const a of tokenizer.added_tokens) if (a.special) assert.equal(types[a.id], 3, `token ${a.id} (${a.content}) should be CONTROL`);
          assert.equal(types[0], 1, 'token 0 should be NORMAL');
        }
        assert.equal(kv('tokenizer.ggml.bos_token_id', U32), config.bos_token_id);
        assert.equal(kv('tokenizer.ggml.eos_token_id', U32), config.eos_token_id);
        assert.equal(kv('tokenizer.chat_template', STRING), tokenizerConfig.chat_template);

        // Tensors: exactly the mapped HF tensors, dims reversed, types of the mix, contiguous.
        const expectedNames = Object.keys(shapes).map(ggufName).sort();
        assert.deepEqual(tensorInfos.map((t) => t.name).sort(), expectedNames, 'tensor names');
        const hfByGguf = Object.fromEntries(Object.keys(shapes).map((n) => [ggufName(n), n]));
        let offset = 0n;
        for (const t of tensorInfos) {
          const dims = t.shape.map(Number);
          assert.deepEqual(dims, [...shapes[hfByGguf[t.name]]].reverse(), `${t.name} dims`);
          const want = expectedType(quant, t.name, dims, config.num_hidden_layers, { tied: !shapes['lm_head.weight'] });
          assert.equal(typeName(t.dtype), typeName(want), `${t.name} type`);
          assert.equal(t.offset, offset, `${t.name} offset (ggml wants each tensor right after the previous, padded)`);
          const bytes = BigInt(tensorBytes(dims, t.dtype));
          offset += ((bytes + BigInt(alignment) - 1n) / BigInt(alignment)) * BigInt(alignment);
        }
        assert.equal(tensorDataOffset % BigInt(alignment), 0n, 'data section aligned');
        const { size } = await fs.stat(file);
        assert.equal(BigInt(size), tensorDataOffset + offset, 'file size = data start + padded tensors');
      });
    }
  });
}
