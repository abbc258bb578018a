#!/usr/bin/env bash
# Runs grove's browser tests: a real `grove serve`, Debian's chromium driven by playwright-core,
# node's built-in runner. Binaries as in tests/e2e/run.sh ($GROVE_BIN, $GROVE_SYNTH_BIN);
# $CHROMIUM_BIN overrides /usr/bin/chromium. Screenshots go to tests/browser/artifacts/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 2
node --test --test-concurrency=1 "$@" ./*.test.mjs
