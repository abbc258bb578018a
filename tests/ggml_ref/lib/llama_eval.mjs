// Child process: loads one GGUF with the real llama.cpp of node-llama-cpp and prints, as JSON
// on stdout, the next-token probability distribution after every position of the given token
// sequences, plus a greedy continuation of the first one. Run by lib/gguf_check.mjs in its own
// process because a malformed file can abort llama.cpp (specs/gguf.md §1 item 9).
//
//   node llama_eval.mjs '{"model": "/path.gguf", "sequences": [[1,2,3]], "generate": 4}'
//
// Output: {"vocab": V, "probabilities": [[[p(0..V-1)] per position] per sequence],
//          "greedy": [token ids]}; llama.cpp's log lines go to stderr.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const request = JSON.parse(process.argv[2]);

// CPU only, prebuilt binaries only (never build or download), one thread: on a 2-core machine
// more threads make tiny evaluations seconds slower (specs/gguf.md §7.6).
const llama = await getLlama({
  gpu: false,
  build: "never",
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  maxThreads: 1,
  logLevel: LlamaLogLevel.warn,
  logger: (level, message) => process.stderr.write(`[llama.cpp ${level}] ${message}\n`),
});
const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 });
const longest = Math.max(...request.sequences.map((s) => s.length)) + (request.generate ?? 0);
const context = await model.createContext({ contextSize: Math.max(64, longest + 8), threads: 1, sequences: 1 });
const sequence = context.getSequence();

const probabilities = [];
let vocabSize = 0;
for (const tokens of request.sequences) {
  await sequence.clearHistory();
  const results = await sequence.controlledEvaluate(
    tokens.map((t) => [t, { generateNext: { probabilities: true } }]),
  );
  const rows = [];
  for (const result of results) {
    const map = result?.next?.probabilities;
    if (!map) throw new Error("controlledEvaluate returned no probabilities");
    vocabSize = Math.max(vocabSize, map.size);
    const row = new Array(map.size).fill(0);
    for (const [token, p] of map) row[token] = p;
    rows.push(row);
  }
  probabilities.push(rows);
}

// Greedy generation from the first sequence (temperature 0 = argmax at every step).
const greedy = [];
if (request.generate) {
  await sequence.clearHistory();
  for await (const token of sequence.evaluate(request.sequences[0], { temperature: 0 })) {
    greedy.push(token);
    if (greedy.length >= request.generate) break;
  }
}

process.stdout.write(JSON.stringify({ vocab: vocabSize, probabilities, greedy }) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
