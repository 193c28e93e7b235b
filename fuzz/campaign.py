#!/usr/bin/env python3
"""Fuzzing measured in CPU time: one libFuzzer process at a time, under `nice -n 19`, each session
stopped (SIGINT, so libFuzzer prints its final stats) when the process has used its CPU budget
(user + system time from /proc, read back exactly from wait4's rusage at the end).

    fuzz/campaign.py freeze                   # copy the built fuzz binaries to target/campaign-bin/
    fuzz/campaign.py session TARGET CPU_SEC   # one session
    fuzz/campaign.py run CPU_SEC_PER_TARGET [--session CPU_SEC] [--until HH:MM] [--cmin]
                                              [TARGET...]
                                              # sessions, least-fuzzed target first, until each
                                              # target has CPU_SEC_PER_TARGET in campaign.tsv;
                                              # --until (UTC): no session runs past that time
                                              # (the last one is stopped like a full one, and
                                              # still logged)
    fuzz/campaign.py cmin TARGET...           # minimise corpus/<target>/ (libFuzzer
                                              # -set_cover_merge=1 with the frozen binary; `cargo
                                              # fuzz cmin` runs -merge=1, which keeps ~1/3 more)
    fuzz/campaign.py summary [--md]           # per target totals of campaign.tsv (--md: a
                                              # Markdown table)

`run --cmin` minimises a target's corpus after each of its sessions (never while it is fuzzed).

Binaries are run from target/campaign-bin/ (a copy made by `freeze` after `cargo fuzz build -O
-a`), so a rebuild during a session never swaps the binary under it. Every session appends one
line to campaign.tsv (committed) and keeps libFuzzer's output in logs/ (ignored). A session
that ends with a finding writes the input to artifacts/<target>/; `run` skips that target until
its binary is frozen again (after the fix).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "target/x86_64-unknown-linux-gnu/release")
BIN = os.path.join(HERE, "target/campaign-bin")
TSV = os.path.join(HERE, "campaign.tsv")
TARGETS = [
    "decode_canal",
    "decode_cloudcanal",
    "encode_roundtrip",
    "config_parse",
    "load_response",
    "ddl_parse",
]
DICTS = {
    "decode_canal": "cdc.dict",
    "decode_cloudcanal": "cdc.dict",
    "encode_roundtrip": "cdc.dict",
    "config_parse": "toml.dict",
    "load_response": "load.dict",
    "ddl_parse": "ddl.dict",
}
COLUMNS = [
    "start_utc",
    "target",
    "build",
    "cpu_s",
    "user_s",
    "sys_s",
    "wall_s",
    "execs",
    "execs_per_cpu_s",
    "cov",
    "ft",
    "corpus_files",
    "corpus_bytes",
    "end",
    "artifact",
]
# The binaries are `cargo fuzz build -O -a`: release, ASan, debug assertions and overflow checks.
BUILD_NAME = "O+a"


def freeze():
    os.makedirs(BIN, exist_ok=True)
    for t in TARGETS:
        src = os.path.join(BUILD, t)
        if not os.path.exists(src):
            print(f"{t}: not built", file=sys.stderr)
            continue
        tmp = os.path.join(BIN, f".{t}.tmp")
        shutil.copy2(src, tmp)
        os.replace(tmp, os.path.join(BIN, t))
        print(f"{t}: frozen")


def cpu_of(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def corpus_size(target):
    d = os.path.join(HERE, "corpus", target)
    files = [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []
    return len(files), sum(os.path.getsize(f) for f in files)


def session(target, budget, wall_cap=None, deadline=None):
    wall_cap = wall_cap or max(4 * budget, 600)
    if deadline is not None:
        wall_cap = min(wall_cap, deadline - time.time())
    binary = os.path.join(BIN, target)
    os.makedirs(os.path.join(HERE, "logs"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "artifacts", target), exist_ok=True)
    os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
    start = datetime.now(timezone.utc)
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    log_path = os.path.join(HERE, "logs", f"{target}-{stamp}.log")
    args = [
        "nice", "-n", "19", binary,
        f"-artifact_prefix=artifacts/{target}/",
        f"-dict={DICTS[target]}",
        "-print_final_stats=1",
        "-timeout=20",
        "-rss_limit_mb=2048",
        f"corpus/{target}",
    ]
    env = dict(os.environ, ASAN_OPTIONS="detect_odr_violation=0")
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, env=env)
        stopped = None
        while True:
            try:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                break
            time.sleep(2)
            try:
                used = cpu_of(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if stopped is None and (used >= budget or time.monotonic() - t0 >= wall_cap):
                stopped = "cpu budget" if used >= budget else "wall cap"
                proc.send_signal(signal.SIGINT)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    text = open(log_path, "rb").read().decode("utf-8", "replace")
    stats = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", text, re.M)
    execs = re.search(r"stat::number_of_executed_units: (\d+)", text)
    execs = int(execs.group(1)) if execs else (int(stats[-1][0]) if stats else 0)
    cov, ft = (stats[-1][1], stats[-1][2]) if stats else ("", "")
    written = re.findall(r"Test unit written to (\S+)", text)
    # libFuzzer's slow units are measured in wall time, which means nothing under `nice -n 19`
    # on a busy machine: kept as an artifact to look at, never counted as a finding.
    artifact = [a for a in written if not os.path.basename(a).startswith("slow-unit-")]
    if stopped and not artifact:
        end = stopped
    elif artifact:
        kind = "crash"
        if "ERROR: libFuzzer: timeout" in text:
            kind = "timeout"
        elif "out-of-memory" in text:
            kind = "oom"
        end = kind
    else:
        end = f"exit {proc.returncode}"
    user, sys_ = usage.ru_utime, usage.ru_stime
    cpu = user + sys_
    files, size = corpus_size(target)
    row = [
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        target,
        BUILD_NAME,
        f"{cpu:.1f}",
        f"{user:.1f}",
        f"{sys_:.1f}",
        f"{wall:.0f}",
        str(execs),
        f"{execs / cpu:.0f}" if cpu else "0",
        cov,
        ft,
        str(files),
        str(size),
        end,
        (artifact or written)[-1] if written else "",
    ]
    new = not os.path.exists(TSV)
    with open(TSV, "a") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(row) + "\n")
    print("\t".join(row), flush=True)
    return row


def cmin(target):
    """Replaces corpus/<target>/ by a subset that keeps its features (libFuzzer
    -set_cover_merge=1: a greedy set cover, smaller than -merge=1's), niced like the sessions;
    the corpus is left as it was when the merge fails."""
    corpus = os.path.join(HERE, "corpus", target)
    tmp = os.path.join(HERE, "target", "cmin", target)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    before = corpus_size(target)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = os.path.join(HERE, "logs", f"{target}-cmin-{stamp}.log")
    args = [
        "nice", "-n", "19", os.path.join(BIN, target),
        "-set_cover_merge=1",
        f"-artifact_prefix=artifacts/{target}/",
        "-timeout=20",
        "-rss_limit_mb=2048",
        tmp,
        corpus,
    ]
    env = dict(os.environ, ASAN_OPTIONS="detect_odr_violation=0")
    with open(log_path, "wb") as log:
        rc = subprocess.run(args, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0 or not os.listdir(tmp):
        print(f"{target}: cmin failed (exit {rc}), see {log_path}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = corpus + ".old"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(corpus, old)
    shutil.move(tmp, corpus)
    shutil.rmtree(old)
    after = corpus_size(target)
    print(f"{target}: cmin {before[0]} files / {before[1]} B -> {after[0]} files / {after[1]} B", flush=True)


def read_tsv():
    if not os.path.exists(TSV):
        return []
    with open(TSV) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    return [dict(zip(lines[0], l)) for l in lines[1:]]


def totals():
    out = {t: {"cpu": 0.0, "execs": 0, "sessions": 0, "findings": 0} for t in TARGETS}
    for r in read_tsv():
        t = out.setdefault(r["target"], {"cpu": 0.0, "execs": 0, "sessions": 0, "findings": 0})
        t["cpu"] += float(r["cpu_s"])
        t["execs"] += int(r["execs"])
        t["sessions"] += 1
        t["findings"] += r["end"] in ("crash", "timeout", "oom")
        t["last"] = r
    return out


def blocked(target):
    """The last session of `target` found something and its binary was not frozen since."""
    last = totals()[target].get("last")
    if not last or last["end"] not in ("crash", "timeout", "oom"):
        return False
    started = datetime.strptime(last["start_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return os.path.getmtime(os.path.join(BIN, target)) <= started.timestamp()


def run(per_target, session_cpu, targets, deadline=None, minimise=False):
    while True:
        if deadline is not None and deadline - time.time() < 60:
            print("deadline reached")
            return
        t = totals()
        todo = [x for x in targets if t[x]["cpu"] < per_target and not blocked(x)]
        if not todo:
            print("nothing left to run (done, or blocked by findings)")
            return
        target = min(todo, key=lambda x: t[x]["cpu"])
        session(target, min(session_cpu, per_target - t[target]["cpu"] + 1), deadline=deadline)
        if minimise and not blocked(target):
            cmin(target)


def summary(markdown=False):
    """Per target: sessions, CPU hours, executions, executions per CPU second, the last
    session's coverage (libFuzzer `cov` / `ft` over the whole corpus it loaded and grew), the
    corpus now, and sessions that ended with a finding."""
    head = ["target", "sessions", "cpu_h", "execs", "execs_per_cpu_s", "cov", "ft",
            "corpus_files", "corpus_kb", "findings"]
    rows = []
    for name, t in totals().items():
        last = t.get("last", {})
        rate = t["execs"] / t["cpu"] if t["cpu"] else 0
        files, size = corpus_size(name)
        rows.append([name, str(t["sessions"]), f"{t['cpu'] / 3600:.3f}", str(t["execs"]),
                     f"{rate:.0f}", last.get("cov", ""), last.get("ft", ""), str(files),
                     f"{size / 1024:.0f}", str(t["findings"])])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("| --- |" + " ---: |" * (len(head) - 1))
        for r in rows:
            print("| `" + r[0] + "` | " + " | ".join(r[1:]) + " |")
    else:
        print("\t".join(head))
        for r in rows:
            print("\t".join(r))


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "freeze":
        freeze()
    elif cmd == "session":
        session(rest[0], float(rest[1]))
    elif cmd == "run":
        session_cpu = 900.0
        if "--session" in rest:
            i = rest.index("--session")
            session_cpu = float(rest[i + 1])
            del rest[i : i + 2]
        deadline = None
        if "--until" in rest:
            i = rest.index("--until")
            now = datetime.now(timezone.utc)
            hh, mm = map(int, rest[i + 1].split(":"))
            until = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if until <= now:
                print(f"--until {rest[i + 1]} is in the past", file=sys.stderr)
                return 2
            deadline = until.timestamp()
            del rest[i : i + 2]
        minimise = "--cmin" in rest
        if minimise:
            rest.remove("--cmin")
        per_target = float(rest[0])
        run(per_target, session_cpu, rest[1:] or TARGETS, deadline, minimise)
    elif cmd == "cmin":
        for t in rest or TARGETS:
            cmin(t)
    elif cmd == "summary":
        summary("--md" in rest)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
