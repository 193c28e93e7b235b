#!/usr/bin/env bash
# Seeds the fuzz corpora from the spec examples: one file per record value (one per line).
#   fuzz/corpus/decode_canal/       ← canal.jsonl
#   fuzz/corpus/decode_cloudcanal/  ← cloudcanal.jsonl
#   fuzz/corpus/encode_roundtrip/   ← both
# Usage: fuzz/seed.sh [examples-dir]   (default: <repo>/../shared/spec/examples)
# Existing corpus files are kept; seeds are named by content hash, so re-running is idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
examples="${1:-$here/../../shared/spec/examples}"
[[ -d "$examples" ]] || { echo "examples dir not found: $examples" >&2; exit 1; }

split() { # jsonl target...
    local file="$1"; shift
    local n=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ -z "$line" ]] && continue
        local name
        name="seed-$(printf '%s' "$line" | sha1sum | cut -c1-16)"
        for t in "$@"; do
            mkdir -p "$here/corpus/$t"
            printf '%s' "$line" >"$here/corpus/$t/$name"
        done
        n=$((n + 1))
    done <"$file"
    echo "$(basename "$file"): $n seeds → $*"
}

split "$examples/canal.jsonl" decode_canal encode_roundtrip
split "$examples/cloudcanal.jsonl" decode_cloudcanal encode_roundtrip
