#!/usr/bin/env bash
# Runs grove's end-to-end tests with node's built-in runner, one file at a time.
#   tests/e2e/run.sh          every *.test.mjs except big_file.test.mjs
#   tests/e2e/run.sh --big    only big_file.test.mjs (needs ~10 GB of free disk)
# Binaries: $GROVE_BIN (default <repo>/build/cli/grove) and $GROVE_SYNTH_BIN
# (default <repo>/build/scripts/synth/grove-synth). Extra arguments go to node --test.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 2

big=0
args=()
for a in "$@"; do
  if [[ "$a" == "--big" ]]; then big=1; else args+=("$a"); fi
done

files=()
if (( big )); then
  files=(big_file.test.mjs)
else
  for f in *.test.mjs; do
    [[ "$f" == "big_file.test.mjs" ]] && continue
    files+=("$f")
  done
fi

node --test --test-concurrency=1 "${args[@]}" "${files[@]}"
exit $?
