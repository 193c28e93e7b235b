#!/usr/bin/env bash
# Seeds the fuzz corpora. One file per seed, named by content hash: re-running is idempotent and
# existing corpus files are kept.
#   corpus/decode_canal/       ← shared/spec/examples/canal.jsonl (one record value per line)
#   corpus/decode_cloudcanal/  ← shared/spec/examples/cloudcanal.jsonl
#   corpus/encode_roundtrip/   ← both
#   corpus/config_parse/       ← perf/demo/example-job.toml, the jobs of tests/config.rs (each
#                                snippet on top of its MINIMAL job), README.md's ```toml blocks
#   corpus/ddl_parse/          ← the `sql` of the examples' DDL messages (`--@db.table` first
#                                line), the SQL strings of tests/ddl_*.rs and src/ddl/tests/
#   corpus/load_response/      ← Stream Load answers of starrocks.md §2 and response.rs' tests
# Usage: fuzz/seed.sh [examples-dir]   (default: <repo>/../shared/spec/examples)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
examples="${1:-$repo/../shared/spec/examples}"
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

python3 - "$here" "$repo" "$examples" <<'PY'
import glob, hashlib, json, os, re, sys

here, repo, examples = sys.argv[1:4]

def write(target, text):
    data = text.encode()
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

# Rust string literals: "…" (with escapes) and r"…" / r#"…"#.
LIT = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)
def literals(path):
    src = open(path, encoding="utf-8").read()
    for m in LIT.finditer(src):
        if m.group(2) is not None:
            yield m.group(2)
        else:
            s = m.group(3)
            s = re.sub(r"\\\n\s*", "", s)  # line continuations
            try:
                yield json.loads('"' + s.replace("\\'", "'") + '"')
            except Exception:
                yield s

# config_parse
n = 0
write("config_parse", open(os.path.join(repo, "perf/demo/example-job.toml")).read()); n += 1
tests = os.path.join(repo, "tests/config.rs")
minimal = None
for lit in literals(tests):
    if "[source]" in lit and minimal is None:
        minimal = lit
for lit in literals(tests):
    if "\n" not in lit and "=" not in lit:
        continue
    write("config_parse", lit if "[source]" in lit else (minimal or "") + lit + "\n"); n += 1
readme = open(os.path.join(repo, "README.md"), encoding="utf-8").read()
for block in re.findall(r"```toml\n(.*?)```", readme, re.S):
    write("config_parse", block); n += 1
print(f"config_parse: {n} seeds")

# ddl_parse
n = 0
for f in ("canal.jsonl", "cloudcanal.jsonl"):
    for line in open(os.path.join(examples, f), encoding="utf-8"):
        try:
            d = json.loads(line)
        except Exception:
            continue
        if isinstance(d, dict) and isinstance(d.get("sql"), str) and d["sql"]:
            db = d.get("database") or d.get("db") or "shop"
            table = d.get("table") or "orders"
            write("ddl_parse", f"--@{db}.{table}\n{d['sql']}"); n += 1
DDL = re.compile(r"\s*(alter|create|drop|rename|truncate)\s", re.I)
for path in glob.glob(os.path.join(repo, "tests/ddl_*.rs")) + glob.glob(os.path.join(repo, "src/ddl/tests/*.rs")):
    for lit in literals(path):
        if DDL.match(lit):
            write("ddl_parse", lit); n += 1
print(f"ddl_parse: {n} seeds")

# load_response
answers = [
    ("", '{"TxnId":1042,"Label":"cdc-orders-p3","Status":"Success","Message":"OK","NumberTotalRows":800,"NumberLoadedRows":800,"NumberFilteredRows":0,"NumberUnselectedRows":0,"LoadBytes":183920,"LoadTimeMs":231}'),
    ("200\n", '{"Status":"Publish Timeout","Message":"Publish timeout. The data will be visible after a while"}'),
    ("200\n", '{"TxnId":1,"Label":"l","Status":"Label Already Exists","ExistingJobStatus":"FINISHED","Message":"Label [l] has already been used."}'),
    ("200\n", '{"TxnId":1,"Label":"l","Status":"Label Already Exists","ExistingJobStatus":"RUNNING","Message":"Label [l] has already been used."}'),
    ("200\n", '{"TxnId":-1,"Status":"Fail","Message":"Label [l] has already been used."}'),
    ("200\n", '{"Status":"Fail","Message":"Failed to load data into tablet 1, because of too many versions, current/limit: 1001/1000."}'),
    ("200\n", '{"Status":"Fail","Message":"current running txns on db 10 is 1000, larger than limit 1000"}'),
    ("200\n", '{"Status":"Fail","Message":"Memory of Fragment 1 exceed limit"}'),
    ("200\n", '{"Status":"Fail","Message":"too many filtered rows","NumberTotalRows":3,"NumberLoadedRows":2,"NumberFilteredRows":1,"ErrorURL":"http://be:8040/api/_load_error_log?file=error_log_1_2"}'),
    ("200 accept\n", '{"Status":"Success","Message":"OK","NumberLoadedRows":2,"NumberFilteredRows":1,"ErrorURL":"http://be:8040/api/_load_error_log?file=e"}'),
    ("200\n", '{"Status":"Success","Message":"OK","NumberLoadedRows":2,"NumberFilteredRows":1,"ErrorURL":"http://be:8040/api/_load_error_log?file=e"}'),
    ("200\n", '{"status":"FAILED","code":"1","msg":"Access denied for user root","message":"Access denied"}'),
    ("401\n", '{"status":"FAILED","code":"1","msg":"Access denied","message":"Access denied"}'),
    ("200\n", '{"Status":"FAILED","Message":"class com.starrocks.common.DdlException: There is no 100-continue header"}'),
    ("200\n", '{"status":"FAILED","msg":"No backend alive."}'),
    ("200\n", '{"status":"FAILED","msg":"No database selected."}'),
    ("200\n", '{"Status":"Fail","Message":"unknown table \\"shop.orders\\""}'),
    ("200\n", '{"Status":"Fail","Message":"primary key size exceed the limit."}'),
    ("200\n", '{"Status":"Fail","Message":"[E1008]Reached timeout=30000ms"}'),
    ("200\n", "{}"),
    ("200\n", ""),
    ("307\n", ""),
    ("404\n", "<html><body>Not Found</body></html>"),
    ("500\n", "Internal Server Error"),
    ("503\n", '{"Status":"Success"}'),
    ("403\n", "forbidden"),
]
for header, body in answers:
    write("load_response", header + body)
print(f"load_response: {len(answers)} seeds")
PY
