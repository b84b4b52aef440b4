#!/usr/bin/env python3
"""Bookkeeping for bench/run.sh: records each load run, computes medians and
prints the table of the bars. Not meant to be run by hand, but it can be
(`report` again on a kept work dir).

    run_report.py record DIR --step S --server NAME --rep N --rc RC --bench OUT.json
                         --cmdstats INFO.txt --server-ticks T --redis-ticks T --hz HZ
                         --loadavg "1 2 3" --seconds S [--bench-cpu-s S]
    run_report.py fact DIR KEY JSON          # facts.json[KEY] = JSON
    run_report.py median DIR STEP SERVER FIELD
    run_report.py report DIR [--out FILE]
"""
import argparse
import json
import os
import statistics
import sys

# What each step expects, to flag anything else.
EXPECTED_CODES = {"reserve_closed": {"200"}, "reserve_open": {"200"}, "status_closed": {"200"},
                  "status_1k": {"200"}, "status_1m": {"200"}, "leave_1m": {"200"},
                  "status_1m_left": {"200"}, "reserve_closed_t1": {"200"}}


def load_runs(d):
    runs = []
    path = os.path.join(d, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    return runs


def load_facts(d):
    path = os.path.join(d, "facts.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def parse_cmdstats(text):
    out = {}
    for line in text.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, rest = line.partition(":")
        fields = dict(kv.split("=", 1) for kv in rest.split(","))
        out[name[len("cmdstat_"):]] = {"calls": int(fields["calls"]), "usec": int(fields["usec"])}
    return out


def field(run, name):
    b = run.get("bench") or {}
    if name == "rps":
        return b.get("throughput_rps")
    if name in ("p50", "p90", "p99", "p99_9", "max"):
        return (b.get("latency_us") or {}).get(name)
    if name == "evalsha_us_per_req":
        ev = run.get("cmdstats", {}).get("evalsha")
        n = run.get("answered") or 0
        return ev["usec"] / n if ev and n else None
    if name == "evalsha_us_per_call":  # the scripts' own cost in Redis, per call
        ev = run.get("cmdstats", {}).get("evalsha")
        return ev["usec"] / ev["calls"] if ev and ev["calls"] else None
    if name == "users_per_call":  # requests answered per EVALSHA: how much coalescing batched
        ev = run.get("cmdstats", {}).get("evalsha")
        n = run.get("answered") or 0
        return n / ev["calls"] if ev and ev["calls"] and n else None
    if name == "cmd_us_per_req":
        n = run.get("answered") or 0
        cs = run.get("cmdstats", {})
        tot = sum(v["usec"] for k, v in cs.items() if not k.startswith("config"))
        return tot / n if n else None
    if name == "redis_cpu_us_per_req":
        n = run.get("answered") or 0
        return run["redis_cpu_s"] * 1e6 / n if n else None
    if name == "server_cpu_us_per_req":
        n = run.get("answered") or 0
        return run["server_cpu_s"] * 1e6 / n if n else None
    if name == "bench_cpu_us_per_req":  # ticketq-bench's own CPU (all its threads, setup included)
        n = run.get("answered") or 0
        return run["bench_cpu_s"] * 1e6 / n if n and run.get("bench_cpu_s") is not None else None
    if name == "bench_cores":  # ticketq-bench's CPU over its measured window: cores it kept busy
        secs = (run.get("bench") or {}).get("seconds")
        return run["bench_cpu_s"] / secs if secs and run.get("bench_cpu_s") is not None else None
    if name == "allocs_per_req":  # heap allocations of the server (libticketq-malloc-count.so)
        n = run.get("answered") or 0
        return run["allocations"] / n if n and run.get("allocations") is not None else None
    if name == "evalsha_calls":
        ev = run.get("cmdstats", {}).get("evalsha")
        return ev["calls"] if ev else None
    raise KeyError(name)


def values(runs, step, server, name):
    vals = []
    for r in runs:
        if r["step"] == step and r["server"] == server and r["rc"] == 0:
            v = field(r, name)
            if v is not None:
                vals.append((r["rep"], v))
    return vals


def median(runs, step, server, name):
    v = [x for _, x in values(runs, step, server, name)]
    return statistics.median(v) if v else None


def paired_ratios(runs, a, b, name):
    """Per-round ratios a/b, pairing runs of the same rep. a, b: (step, server)."""
    va, vb = dict(values(runs, *a, name)), dict(values(runs, *b, name))
    return [va[k] / vb[k] for k in sorted(va) if k in vb and vb[k]]


def cmd_record(a):
    with open(a.bench) as f:
        text = f.read().strip()
    try:
        bench = json.loads(text) if text else None
    except json.JSONDecodeError:
        bench = None
    cmd = ""
    if a.cmdstats and os.path.exists(a.cmdstats):
        with open(a.cmdstats) as f:
            cmd = f.read()
    stderr = ""
    if a.stderr and os.path.exists(a.stderr):
        with open(a.stderr) as f:
            stderr = f.read()[-4000:]
    answered = 0
    if bench:
        answered = sum(v for k, v in bench.get("status_codes", {}).items() if int(k) < 500)
    run = {"step": a.step, "server": a.server, "rep": a.rep, "rc": a.rc, "args": a.args,
           "seconds": a.seconds, "loadavg_before": a.loadavg, "answered": answered,
           "server_cpu_s": a.server_ticks / a.hz, "redis_cpu_s": a.redis_ticks / a.hz,
           "bench_cpu_s": a.bench_cpu_s, "allocations": a.allocations,
           "cmdstats": parse_cmdstats(cmd), "bench": bench, "bench_stderr": stderr}
    with open(os.path.join(a.dir, "runs.jsonl"), "a") as f:
        f.write(json.dumps(run) + "\n")
    # One line for the progress log.
    if bench:
        l = bench["latency_us"]
        extra = ""
        if bench.get("unsent"):
            extra += "  unsent %d" % bench["unsent"]
        if a.step.startswith("reserve") and a.server != "floor":  # the floor has no Redis
            ev = field(run, "evalsha_us_per_req")
            extra += "  redis: %.1f us cpu/req, evalsha %s us/req in %s calls" % (
                field(run, "redis_cpu_us_per_req") or 0, "%.2f" % ev if ev is not None else "-",
                field(run, "evalsha_calls"))
        if a.server in ("ticketq-t1", "floor"):  # bar 10
            extra += "  cpu/req: server %.2f us, ticketq-bench %s us" % (
                field(run, "server_cpu_us_per_req") or 0,
                "%.2f" % field(run, "bench_cpu_us_per_req") if field(run, "bench_cpu_us_per_req") else "-")
            if field(run, "allocs_per_req") is not None:
                extra += ", server allocations/req %.2f" % field(run, "allocs_per_req")
        print("          %.0f req/s  p50 %.3f ms  p99 %.3f ms  max %.3f ms  codes %s  errors %d%s%s"
              % (bench["throughput_rps"], l["p50"] / 1e3, l["p99"] / 1e3, l["max"] / 1e3,
                 json.dumps(bench["status_codes"]), bench["errors_total"], extra,
                 "" if a.rc == 0 else "  EXIT %d" % a.rc), file=sys.stderr)
    else:
        print("          no result (exit %d): %s" % (a.rc, stderr.strip()[-300:]), file=sys.stderr)


def cmd_fact(a):
    facts = load_facts(a.dir)
    facts[a.key] = json.loads(a.value)
    path = os.path.join(a.dir, "facts.json")
    with open(path + ".tmp", "w") as f:
        json.dump(facts, f, indent=1)
    os.replace(path + ".tmp", path)


def cmd_median(a):
    v = median(load_runs(a.dir), a.step, a.server, a.field)
    if v is None:
        sys.exit(1)
    print(v)


def anomalies(runs):
    out = []
    for r in runs:
        who = "%s/%s rep %d" % (r["step"], r["server"], r["rep"])
        b = r.get("bench")
        if r["rc"] != 0:
            out.append("%s: ticketq-bench exit %d %s" % (who, r["rc"], r.get("bench_stderr", "").strip()[-200:]))
        if not b:
            continue
        codes = set(b.get("status_codes", {}))
        odd = codes - EXPECTED_CODES.get(r["step"], {"200"})
        if odd:
            out.append("%s: HTTP codes %s" % (who, {k: b["status_codes"][k] for k in sorted(odd)}))
        if b.get("errors_total"):
            out.append("%s: transport errors %s" % (who, {k: v for k, v in b["errors"].items() if v}))
        if b.get("unsent"):
            out.append("%s: %d requests unsent (server fell behind --rate)" % (who, b["unsent"]))
        if b.get("hard_deadline_hit"):
            out.append("%s: hit --max-time" % who)
        if "setup" in r.get("bench_stderr", "") and "transport errors 0" not in r["bench_stderr"]:
            out.append("%s: setup: %s" % (who, r["bench_stderr"].strip()[-200:]))
    return out


def cmd_report(a):
    runs, facts = load_runs(a.dir), load_facts(a.dir)
    m = lambda step, server, name: median(runs, step, server, name)  # noqa: E731
    rows = []  # bar, measure, value, baseline, ratio, need, verdict, per-round ratios

    def fmt(v, unit):
        if v is None:
            return "-"
        if unit == "rps":
            return "%.0f req/s" % v
        if unit == "n":
            return "%.2f" % v
        if unit == "ms":
            return "%.3f ms" % (v / 1e3)
        if unit == "us":
            return "%.2f us" % v
        if unit == "B":
            return "%.1f B" % v
        if unit == "MB":
            return "%.1f MB" % (v / 1e6)
        return str(v)

    def row(bar, measure, a_val, b_val, unit, need_op, need, per_round=None, info=False, ratio=None):
        if ratio is None and a_val is not None and b_val:
            ratio = a_val / b_val
        verdict = "-"
        if not info and ratio is not None:
            ok = ratio >= need if need_op == ">=" else ratio <= need
            verdict = "PASS" if ok else "FAIL"
        elif not info:
            verdict = "n/a"
        rows.append({"bar": bar, "measure": measure, "value": a_val, "baseline": b_val, "unit": unit,
                     "ratio": ratio,
                     "need": ("%s %.3g%s" % (need_op, need, {"B": " B", "MB": " MB"}.get(unit, ""))) if need_op else "",
                     "verdict": verdict, "per_round": per_round or [],
                     "value_text": fmt(a_val, unit), "baseline_text": fmt(b_val, unit)})

    T, R, B1 = ("reserve_closed", "ticketq"), ("reserve_closed", "reference"), ("reserve_closed", "ticketq-b1")
    row("1", "reserve throughput, closed loop (ticketq / reference)", m(*T, "rps"), m(*R, "rps"), "rps",
        ">=", 1.5, paired_ratios(runs, T, R, "rps"))
    row("1", "reserve p99, closed loop (ticketq / reference)", m(*T, "p99"), m(*R, "p99"), "ms",
        "<=", 1.0, paired_ratios(runs, T, R, "p99"))
    OT, OR = ("reserve_open", "ticketq"), ("reserve_open", "reference")
    rate = facts.get("open_loop_rate")
    row("1", "reserve p99, open loop at %s req/s (ticketq / reference)" % (int(rate) if rate else "?"),
        m(*OT, "p99"), m(*OR, "p99"), "ms", "<=", 1.25, paired_ratios(runs, OT, OR, "p99"))
    ST, SR = ("status_closed", "ticketq"), ("status_closed", "reference")
    row("2", "ticketq status throughput / reference reserve throughput", m(*ST, "rps"), m(*R, "rps"), "rps",
        ">=", 1.0, paired_ratios(runs, ST, R, "rps"))
    row("2", "status throughput, closed loop (ticketq / reference)", m(*ST, "rps"), m(*SR, "rps"), "rps",
        ">=", 1.5, paired_ratios(runs, ST, SR, "rps"))
    S1K, S1M = ("status_1k", "ticketq"), ("status_1m", "ticketq")
    srate = facts.get("status_rate")
    big = facts.get("waiting_big", 1000000)
    # The bar is the cause itself: what a status costs Redis (its process
    # CPU from /proc per status answered, the same open-loop rate so the
    # same batching) with the big line against the small one. EVALSHA usec
    # per call says the same but is wall time, which a busy machine's
    # preemption inflates; the clients' p50 and p99 follow every scheduling
    # hiccup of a shared machine: info.
    row("3", "Redis CPU (/proc) per status, %d waiting / 1,000 waiting (open loop %s req/s)" % (big, srate),
        m(*S1M, "redis_cpu_us_per_req"), m(*S1K, "redis_cpu_us_per_req"), "us", "<=", 1.2,
        paired_ratios(runs, S1M, S1K, "redis_cpu_us_per_req"))
    row("3", "status script in Redis (EVALSHA usec per call), %d waiting / 1,000 waiting (info)" % big,
        m(*S1M, "evalsha_us_per_call"), m(*S1K, "evalsha_us_per_call"), "us", None, None,
        paired_ratios(runs, S1M, S1K, "evalsha_us_per_call"), info=True)
    row("3", "status p50, %d waiting / 1,000 waiting (info)" % big,
        m(*S1M, "p50"), m(*S1K, "p50"), "ms", None, None, paired_ratios(runs, S1M, S1K, "p50"), info=True)
    row("3", "status p99, %d waiting / 1,000 waiting (info)" % big,
        m(*S1M, "p99"), m(*S1K, "p99"), "ms", None, None, paired_ratios(runs, S1M, S1K, "p99"), info=True)
    row("4", "Redis EVALSHA usec per reservation, batch-max default / 1", m(*T, "evalsha_us_per_req"),
        m(*B1, "evalsha_us_per_req"), "us", "<=", 1 / 3, paired_ratios(runs, T, B1, "evalsha_us_per_req"))
    row("4", "reservations per EVALSHA call, batch-max default / 1 (info: the batching bar 4 rests on)",
        m(*T, "users_per_call"), m(*B1, "users_per_call"), "n", None, None,
        paired_ratios(runs, T, B1, "users_per_call"), info=True)
    row("4", "Redis commandstats usec (all commands) per reservation, default / 1 (info)",
        m(*T, "cmd_us_per_req"), m(*B1, "cmd_us_per_req"), "us", None, None,
        paired_ratios(runs, T, B1, "cmd_us_per_req"), info=True)
    row("4", "Redis process CPU (/proc) per reservation, default / 1 (info)", m(*T, "redis_cpu_us_per_req"),
        m(*B1, "redis_cpu_us_per_req"), "us", None, None, paired_ratios(runs, T, B1, "redis_cpu_us_per_req"),
        info=True)
    mem = facts.get("memory") or {}
    per_user = None
    if mem.get("after") is not None and mem.get("before") is not None and mem.get("waiting_added"):
        per_user = (mem["after"] - mem["before"]) / mem["waiting_added"]
    row("5", "Redis used_memory per waiting user at %d waiting" % big, per_user, None, "B", "<=", 160,
        ratio=per_user)
    mem_ttl = facts.get("memory_ttl") or {}
    per_user_ttl = None
    if mem_ttl.get("after") is not None and mem_ttl.get("before") is not None and mem_ttl.get("waiting_added"):
        per_user_ttl = (mem_ttl["after"] - mem_ttl["before"]) / mem_ttl["waiting_added"]
    row("9", "Redis used_memory per waiting user at %d waiting, waiter expiry on" % big, per_user_ttl, None, "B",
        "<=", 250, ratio=per_user_ttl)
    idle = facts.get("idle") or {}
    rss = idle.get("rss_kb") * 1024 if idle.get("rss_kb") else None
    base = idle.get("baseline_rss_kb") * 1024 if idle.get("baseline_rss_kb") else None
    row("6", "ticketq RSS with %s idle keep-alive connections (vs before)" % idle.get("open", "?"), rss, base, "MB",
        "<=", 150, ratio=rss / 1e6 if rss else None)
    per_conn = (rss - base) / idle["open"] if rss and base and idle.get("open") else None
    row("6", "ticketq RSS per idle keep-alive connection", per_conn, None, "B", "<=", 1024, ratio=per_conn)
    T2 = ("status_closed", facts.get("threads2_server", "ticketq"))
    T1 = ("status_closed", "ticketq-t1")
    row("7", "status throughput, ticketq --threads 2 / --threads 1", m(*T2, "rps"), m(*T1, "rps"), "rps",
        ">=", 1.6, paired_ratios(runs, T2, T1, "rps"))
    S1L, L1M = ("status_1m_left", "ticketq"), ("leave_1m", "ticketq")
    nleft = facts.get("leave_count", big // 10)
    row("8", "Redis CPU (/proc) per status at {:,} waiting after {:,} left / at 1,000 (open loop {} req/s)"
        .format(big, nleft, srate), m(*S1L, "redis_cpu_us_per_req"), m(*S1K, "redis_cpu_us_per_req"), "us",
        "<=", 1.2, paired_ratios(runs, S1L, S1K, "redis_cpu_us_per_req"))
    row("8", "status script in Redis (EVALSHA usec per call) at {:,} waiting after {:,} left / at 1,000 (info)"
        .format(big, nleft), m(*S1L, "evalsha_us_per_call"), m(*S1K, "evalsha_us_per_call"), "us", None, None,
        paired_ratios(runs, S1L, S1K, "evalsha_us_per_call"), info=True)
    row("8", "status p50 at {:,} waiting after {:,} left / at 1,000 (info)".format(big, nleft),
        m(*S1L, "p50"), m(*S1K, "p50"), "ms", None, None, paired_ratios(runs, S1L, S1K, "p50"), info=True)
    row("8", "status p99 at {:,} waiting after {:,} left / at 1,000 (info)".format(big, nleft),
        m(*S1L, "p99"), m(*S1K, "p99"), "ms", None, None, paired_ratios(runs, S1L, S1K, "p99"), info=True)
    row("i", "leave throughput, closed loop, {:,} of {:,} waiting (info)".format(nleft, big), m(*L1M, "rps"),
        None, "rps", None, None, info=True)
    row("i", "reference status throughput (info)", m(*SR, "rps"), None, "rps", None, None, info=True)
    row("i", "reserve p50 closed loop, ticketq / reference (info)", m(*T, "p50"), m(*R, "p50"), "ms", None, None,
        paired_ratios(runs, T, R, "p50"), info=True)
    row("i", "server CPU per reserve (/proc), ticketq / reference (info)", m(*T, "server_cpu_us_per_req"),
        m(*R, "server_cpu_us_per_req"), "us", None, None, paired_ratios(runs, T, R, "server_cpu_us_per_req"),
        info=True)
    row("i", "reserve throughput, ticketq --batch-max 1 / reference (info)", m(*B1, "rps"), m(*R, "rps"), "rps",
        None, None, paired_ratios(runs, B1, R, "rps"), info=True)
    # Bar 10: ticketq --threads 1 against the floor server (a fixed-reply
    # epoll responder), the same closed-loop reserves; then status, where
    # ticketq signs no token, and the check that ticketq-bench is not the limit.
    RT1, RF = ("reserve_closed_t1", "ticketq-t1"), ("reserve_closed_t1", "floor")
    row("10", "server CPU per reserve (/proc), ticketq --threads 1 / floor server, closed loop",
        m(*RT1, "server_cpu_us_per_req"), m(*RF, "server_cpu_us_per_req"), "us", "<=", 1.5,
        paired_ratios(runs, RT1, RF, "server_cpu_us_per_req"))
    SF = ("status_closed", "floor")
    row("10", "server CPU per status (/proc), ticketq --threads 1 / floor server (info: no token signing)",
        m(*T1, "server_cpu_us_per_req"), m(*SF, "server_cpu_us_per_req"), "us", None, None,
        paired_ratios(runs, T1, SF, "server_cpu_us_per_req"), info=True)
    # The same runs, counted by libticketq-malloc-count.so (LD_PRELOAD into
    # ticketq-t1): heap allocations per answered request. Status includes
    # its untimed setup (1,000 reserves), under 1 % of its requests.
    row("10", "server heap allocations per reserve, ticketq --threads 1 (info)",
        m(*RT1, "allocs_per_req"), None, "n", None, None, info=True)
    row("10", "server heap allocations per status, ticketq --threads 1 (info)",
        m(*T1, "allocs_per_req"), None, "n", None, None, info=True)
    row("i", "load generator: ticketq-bench reserve throughput against the floor / against ticketq (bar 1) (info)",
        m(*RF, "rps"), m(*T, "rps"), "rps", None, None, paired_ratios(runs, RF, T, "rps"), info=True)
    row("i", "ticketq-bench CPU per reserve, against the floor / against ticketq --threads 1 (info)",
        m(*RF, "bench_cpu_us_per_req"), m(*RT1, "bench_cpu_us_per_req"), "us", None, None,
        paired_ratios(runs, RF, RT1, "bench_cpu_us_per_req"), info=True)

    # The table.
    def ratio_text(r):
        if r["ratio"] is None:
            return "-"
        if r["bar"] in ("5", "9") or r["unit"] == "B":
            return "%.1f B" % r["ratio"]
        if r["bar"] == "6":
            return "%.1f MB" % r["ratio"]
        return "%.3f" % r["ratio"]

    # How far the rounds stray from their median: half their range over the
    # median. A bar whose rounds disagree by more than its margin to the
    # need is decided by noise, not by ticketq.
    def spread_text(r):
        xs = [x for x in r["per_round"] if x]
        if len(xs) < 2:
            return ""
        mid = sorted(xs)[len(xs) // 2]
        return "±%.0f %%" % (50 * (max(xs) - min(xs)) / mid) if mid else ""

    head = ["bar", "measure (medians)", "value", "baseline", "ratio", "need", "verdict", "per round", "spread"]
    body = [[r["bar"], r["measure"], r["value_text"], r["baseline_text"], ratio_text(r), r["need"], r["verdict"],
             " ".join("%.2f" % x for x in r["per_round"]), spread_text(r)] for r in rows]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print(line(b))
    odd = anomalies(runs)
    print()
    if odd:
        print("anomalies:")
        for o in odd:
            print("  - " + o)
    else:
        print("anomalies: none (every reply 200 as expected, no transport errors, nothing unsent)")
    if facts.get("build"):
        b = facts["build"]
        print("binaries: %s (built %s; source dir %s now at %s)" % (b["server"], b["server_built"], b["source_dir"] or "?",
                                                     b["source_rev"]))
    if mem:
        print("memory: used_memory %d -> %d bytes for %d users added (waiting now %s)" % (
            mem["before"], mem["after"], mem["waiting_added"], mem.get("waiting_now")))
    if mem_ttl:
        print("memory with waiter expiry: used_memory %d -> %d bytes for %d users added (waiting now %s)" % (
            mem_ttl["before"], mem_ttl["after"], mem_ttl["waiting_added"], mem_ttl.get("waiting_now")))
    leaves = [facts[k] for k in sorted(facts, key=lambda k: (len(k), k)) if k.startswith("leave_") and k[6:].isdigit()]
    if leaves:
        print("leave: w1m waiting %s (per round: before -> after)" % ", ".join(
            "%d -> %d" % (x["waiting_before"], x["waiting_after"]) for x in leaves))
    if m(*RF, "rps") is not None:
        print("load generator: ticketq-bench (%s threads) reached %.0f req/s against the floor server (reserve, closed"
              " loop), %.2f us of its own CPU per request, %.2f cores busy; ticketq --threads 1 reached %s, ticketq"
              " (bar 1) %s; floor server CPU %.2f us per reserve, %.2f us per status" % (
                  facts.get("config", {}).get("bench_threads", "?"), m(*RF, "rps"),
                  m(*RF, "bench_cpu_us_per_req") or 0, m(*RF, "bench_cores") or 0, fmt(m(*RT1, "rps"), "rps"),
                  fmt(m(*T, "rps"), "rps"), m(*RF, "server_cpu_us_per_req") or 0,
                  m(*SF, "server_cpu_us_per_req") or 0))
    if idle:
        print("idle: %s; ticketq fds %s -> %s; VmRSS %s kB -> %s kB (VmHWM %s kB)" % (
            json.dumps({k: idle.get(k) for k in ("open", "ok", "errors")}), idle.get("fds_before"),
            idle.get("fds_with"), idle.get("baseline_rss_kb"), idle.get("rss_kb"), idle.get("hwm_kb")))
    if a.out:
        doc = {"facts": facts, "results": rows, "anomalies": odd, "runs": runs}
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
        print("raw results: %s" % a.out)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("dir")
    r.add_argument("--step", required=True)
    r.add_argument("--server", required=True)
    r.add_argument("--rep", type=int, required=True)
    r.add_argument("--rc", type=int, required=True)
    r.add_argument("--bench", required=True)
    r.add_argument("--stderr")
    r.add_argument("--cmdstats")
    r.add_argument("--server-ticks", type=int, required=True)
    r.add_argument("--redis-ticks", type=int, required=True)
    r.add_argument("--hz", type=int, required=True)
    r.add_argument("--loadavg", default="")
    r.add_argument("--seconds", type=float, default=0)
    r.add_argument("--args", default="")
    r.add_argument("--bench-cpu-s", type=float, default=None,
                   help="ticketq-bench's own CPU seconds (user + system)")
    r.add_argument("--allocations", type=int, default=None,
                   help="heap allocations the server made during the run (libticketq-malloc-count.so)")
    f = sub.add_parser("fact")
    f.add_argument("dir")
    f.add_argument("key")
    f.add_argument("value")
    md = sub.add_parser("median")
    md.add_argument("dir")
    md.add_argument("step")
    md.add_argument("server")
    md.add_argument("field")
    rp = sub.add_parser("report")
    rp.add_argument("dir")
    rp.add_argument("--out")
    a = ap.parse_args()
    {"record": cmd_record, "fact": cmd_fact, "median": cmd_median, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
