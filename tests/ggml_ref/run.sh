#!/usr/bin/env bash
# Runs the GGUF export tests against real llama.cpp (node-llama-cpp) and @huggingface/gguf,
# one file at a time. Binaries: $GROVE_BIN (default <repo>/build/cli/grove), $GROVE_SYNTH_BIN
# (default <repo>/build/scripts/synth/grove-synth) and $GROVE_REF_FORWARD_BIN (default
# grove-ref-forward in the same build tree as grove). Extra arguments go to node --test.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 2
node --test --test-concurrency=1 "$@" ./*.test.mjs
