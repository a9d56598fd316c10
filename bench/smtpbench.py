#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Throughput of ./smtpd -n -c Sink against Postfix's smtp-sink.

Started by bench/bench.sh (which checks the tools first); run
`bench/bench.sh --help` for the options.  Standard library only.

For every case (one smtp-source command line) a fresh copy of each of the
two servers is started on its own free 127.0.0.1 port.  Then the servers
take turns: each round runs smtp-source once against each server, and the
server that goes first alternates from round to round, so that both share
the machine's background noise.  The servers are pinned (taskset) to the
first allowed CPU, smtp-source and this script to the second one, so the
client always sits on another core than the server, as a remote client
would (unpinned single-session rates are bimodal).

Figures:
  msgs/s   messages / wall seconds of one smtp-source run; the table shows
           the median over the rounds.  A run counts only if smtp-source
           exits 0 having sent every message (without -A it stops at the
           first reply that is not 2xx/354).
  CPU      the server's utime+stime from /proc/PID/stat (all its threads),
           summed over the rounds, per 1000 delivered messages, in ms.
           Summing over rounds keeps the 10 ms tick from rounding a short
           run to zero.
Every process started here is stopped by its PID (SIGTERM, then SIGKILL
after 3 s); every wait has a bound and the whole run a time limit.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"
PORT_RANGE = (22000, 22999)          # ports tried for the servers
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
TICK = os.sysconf("SC_CLK_TCK")
BUSY_WARN = 20          # % of one CPU used by others before a case: warn

# (column, smtp-source options, messages per run in a full run)
CASES = [
    ("persist", ["-s", "1", "-d", "-l", "1000"], 3000),
    ("1/conn", ["-s", "1", "-l", "1000"], 1000),
    ("par20", ["-s", "20", "-l", "1000"], 3000),
    ("par200", ["-s", "200", "-l", "1000"], 2000),
    ("100KB", ["-s", "1", "-d", "-l", "100000"], 1500),
]
# rounds per case, message-count factor, cap per smtp-source run (s),
# limit for the whole run (s)
MODES = {
    "full": dict(rounds=7, scale=1.0, cap=30.0, limit=900),
    "quick": dict(rounds=3, scale=0.4, cap=10.0, limit=150),
}


def say(msg):
    print(msg, file=sys.stderr, flush=True)


class Abort(Exception):
    pass


def on_signal(signum, frame):
    raise Abort(f"stopped by signal {signum}")


# ---------------------------------------------------------------- /proc

def cpu_seconds(pid):
    """utime+stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()   # after "(comm) "
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14, 15


def listen_drops():
    """TcpExt ListenDrops (machine-wide) from /proc/net/netstat."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[0::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenDrops", 0))
    return 0


def busy_percent(seconds):
    """CPU used by everything on the machine over `seconds` of this script
    sleeping, in % of one CPU (100 = one core fully busy), from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]) - v[3] - v[4], time.monotonic()   # minus idle, iowait
    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    return round(100.0 * (b1 - b0) / TICK / (t1 - t0))


# ---------------------------------------------------------------- ports

def free_port(taken):
    """A 127.0.0.1 port in PORT_RANGE that binds now and is not in taken."""
    lo, hi = PORT_RANGE
    start = random.randint(lo, hi)
    for i in range(hi - lo + 1):
        port = lo + (start - lo + i) % (hi - lo + 1)
        if port in taken:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, port))
        except OSError:
            continue
        finally:
            s.close()
        taken.add(port)
        return port
    raise Abort(f"no free port in {lo}-{hi}")


# ---------------------------------------------------------------- servers

class Server:
    """One running server process, stopped by its PID only."""

    def __init__(self, key, title, argv, port, cpu, logdir):
        self.key, self.title, self.port = key, title, port
        self.log = os.path.join(logdir, f"{key}-{port}.log")
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv   # taskset execs: same PID
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.exit_status = None

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-300:].decode(errors="replace").strip()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=10.0):
        """Until the server greets with 220 and answers QUIT with 221."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise Abort(f"{self.title} exited at start "
                            f"(status {self.proc.returncode}): {self.tail()}")
            try:
                with socket.create_connection((HOST, self.port), 2) as s:
                    s.settimeout(2)
                    f = s.makefile("rb")
                    greet = f.readline(1024)
                    if not greet.startswith(b"220"):
                        raise OSError(f"greeting {greet[:60]!r}")
                    s.sendall(b"QUIT\r\n")
                    bye = f.readline(1024)
                    if not bye.startswith(b"221"):
                        raise OSError(f"QUIT reply {bye[:60]!r}")
                time.sleep(0.1)
                return
            except OSError as e:
                last = str(e)
                time.sleep(0.05)
        raise Abort(f"{self.title} not ready within {timeout:.0f} s: {last}")

    def cpu(self):
        try:
            return cpu_seconds(self.pid)
        except (OSError, ValueError, IndexError):
            return None

    def rss_kb(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def stop(self):
        """SIGTERM to the PID; SIGKILL after 3 s.  Records the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.exit_status = self.proc.returncode
        return self.exit_status


# ---------------------------------------------------------------- client

def smtp_source(port, args, count, cap, cpu):
    """One smtp-source run.  Returns a dict; 'error' is None on success."""
    argv = [SMTP_SOURCE, "-c", "-M", "bench.example", "-f",
            "bench@bench.example", "-t", "sink@bench.example",
            *args, "-m", str(count), f"{HOST}:{port}"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    drops0 = listen_drops()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()                                 # SIGKILL to its PID
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:                     # interrupted: stop it
            proc.kill()
            proc.wait(timeout=10)
    secs = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # -c prints "1\r2\r...N\r\n": a message is counted when its "." is
    # sent, so the count means "delivered" only when the exit status is 0.
    counts = re.findall(rb"\d+", out)
    sent = int(counts[-1]) if counts else 0
    error = None
    if timed_out:
        error = f"TIMEOUT after {cap:.0f} s ({sent}/{count} sent)"
    elif proc.returncode != 0:
        msg = err.decode(errors="replace").strip().splitlines() or ["?"]
        error = f"smtp-source exit {proc.returncode}: {msg[-1]} ({sent}/{count} sent)"
    elif sent != count:
        error = f"only {sent}/{count} sent"
    return dict(seconds=round(secs, 4),
                messages=0 if error else count,
                msgs_per_s=None if error else round(count / secs, 1),
                client_cpu_s=round(ru1.ru_utime + ru1.ru_stime
                                   - ru0.ru_utime - ru0.ru_stime, 3),
                listen_drops=listen_drops() - drops0,
                timeout=timed_out, error=error)


# ---------------------------------------------------------------- the run

def ratio(a, b):
    return round(a / b, 3) if a and b else None


def run_case(case, servers_spec, mode, cpus, logdir, ports):
    key, args, full_count = case
    count = max(50, int(full_count * mode["scale"]))
    srv_cpu, cli_cpu = cpus
    started = []
    result = dict(smtp_source_args=args, messages_per_run=count, servers={})
    result["background_cpu_percent"] = busy_percent(0.5)
    if result["background_cpu_percent"] >= BUSY_WARN:
        say(f"  {key:8} warning: the machine is busy before the run: "
            f"{result['background_cpu_percent']}% of a CPU used by other processes")
    try:
        for skey, title, argv_of in servers_spec:
            port = free_port(ports)
            started.append(Server(skey, title, argv_of(port), port, srv_cpu, logdir))
        for s in started:
            s.wait_ready()
            result["servers"][s.key] = dict(runs=[], failed=None)
        for rnd in range(mode["rounds"]):
            order = started[rnd % 2:] + started[:rnd % 2]    # who goes first
            for s in order:
                cell = result["servers"][s.key]
                if cell["failed"]:
                    continue
                if not s.alive():
                    cell["failed"] = f"server exited (status {s.proc.returncode}): {s.tail()}"
                    continue
                c0 = s.cpu()
                run = smtp_source(s.port, args, count, mode["cap"], cli_cpu)
                c1 = s.cpu()
                run["server_cpu_s"] = (round(c1 - c0, 3)
                                       if c0 is not None and c1 is not None else None)
                run["round"] = rnd + 1
                cell["runs"].append(run)
                if run["error"] and not s.alive():
                    run["error"] += (f"; server exited (status {s.proc.returncode}): "
                                     f"{s.tail()}")
                rate = f"{run['msgs_per_s']:8.0f} msg/s" if run["msgs_per_s"] else run["error"]
                say(f"  {key:8} round {rnd + 1}  {s.title:18} {rate}   "
                    f"server cpu {run['server_cpu_s']} s   "
                    f"smtp-source cpu {run['client_cpu_s']} s   "
                    f"listen drops {run['listen_drops']}")
                if run["error"]:
                    cell["failed"] = run["error"]   # skip its later rounds
                time.sleep(0.1)
        for s in started:
            cell = result["servers"][s.key]
            cell["end_rss_kb"] = s.rss_kb()
    finally:
        for s in started:
            status = s.stop()
            if s.key in result["servers"]:
                result["servers"][s.key]["exit_status_on_sigterm"] = status
    # summaries
    for skey, cell in result["servers"].items():
        runs = [r for r in cell["runs"] if not r["error"]]
        rates = [r["msgs_per_s"] for r in runs]
        cell["msgs_per_s"] = round(statistics.median(rates), 1) if rates and not cell["failed"] else None
        cpu_s = [r["server_cpu_s"] for r in runs if r["server_cpu_s"] is not None]
        msgs = sum(r["messages"] for r in runs)
        cell["cpu_ms_per_1000"] = (round(1e6 * sum(cpu_s) / msgs, 1)
                                   if msgs and cpu_s and not cell["failed"] else None)
        cell["spread"] = round(max(rates) / min(rates), 3) if len(rates) > 1 else None
    ours, sink = (result["servers"].get(k, {}) for k in ("project", "smtp-sink"))
    result["ratio_msgs_per_s"] = ratio(ours.get("msgs_per_s"), sink.get("msgs_per_s"))
    result["ratio_cpu_per_msg"] = ratio(ours.get("cpu_ms_per_1000"),
                                        sink.get("cpu_ms_per_1000"))
    return result


def cell_text(cell, field, fmt):
    if cell is None:
        return "-"
    if cell.get("failed"):
        return "TIMEOUT" if "TIMEOUT" in cell["failed"] else "FAIL"
    v = cell.get(field)
    return "-" if v is None else fmt.format(v)


def report(res, titles):
    keys = list(res["cases"])
    w = 10
    out = []

    def table(head, field, fmt, ratio_field, ratio_label):
        out.append(head)
        out.append(f"{'server':20}" + "".join(f"{k:>{w}}" for k in keys))
        out.append("-" * (20 + w * len(keys)))
        for skey, title in titles:
            out.append(f"{title:20}" + "".join(
                f"{cell_text(res['cases'][k]['servers'].get(skey), field, fmt):>{w}}"
                for k in keys))
        out.append(f"{ratio_label:20}" + "".join(
            f"{(format(res['cases'][k][ratio_field], '.2f') + 'x') if res['cases'][k][ratio_field] else 'n/a':>{w}}"
            for k in keys))

    rounds = res["rounds"]
    table("Throughput, messages/second, median of %d round%s (higher is better)"
          % (rounds, "" if rounds == 1 else "s"), "msgs_per_s", "{:.0f}", "ratio_msgs_per_s", "ours/smtp-sink")
    spreads = []
    for k in keys:
        s = [c.get("spread") for c in res["cases"][k]["servers"].values()]
        s = [x for x in s if x]
        spreads.append(f"{max(s):.2f}x" if s else "n/a")
    out.append(f"{'spread, max/min':20}" + "".join(f"{x:>{w}}" for x in spreads))
    out.append("")
    table("Server CPU (utime+stime), ms per 1000 messages (lower is better)",
          "cpu_ms_per_1000", "{:.0f}", "ratio_cpu_per_msg", "ours/smtp-sink")
    out.append("")
    problems = []
    for k in keys:
        for skey, cell in res["cases"][k]["servers"].items():
            if cell.get("failed"):
                problems.append(f"  {k} {skey}: {cell['failed']}")
    if problems:
        out.append("Failures:")
        out.extend(problems)
        out.append("")
    busy = max((res["cases"][k].get("background_cpu_percent", 0) for k in keys),
               default=0)
    if busy >= BUSY_WARN:
        out.append(f"Warning: other processes were using up to {busy}% of a CPU "
                   f"(measured before each case);\nthe figures are noisy and may "
                   f"favour one server. Rerun on a quiet machine.")
    st = res.get("project_exit_status_on_sigterm")
    if st:
        out.append(f"Note: ./smtpd exited with status {st} on SIGTERM (expected 0; "
                   f"negative = killed by that signal)")
    summary = " ".join(
        f"{k}={res['cases'][k]['ratio_msgs_per_s'] or 'n/a'}" for k in keys)
    out.append(f"SUMMARY ours/smtp-sink msgs/s: {summary}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(
        prog="bench/bench.sh",
        description="smtp-source throughput: ./smtpd -n -c Sink vs Postfix smtp-sink.")
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds, 0.4x the messages, 10 s cap per run (< 60 s)")
    ap.add_argument("--smtpd", default="./smtpd", help="the project's binary (default ./smtpd)")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON to FILE")
    ap.add_argument("--rounds", type=int, help="runs per case and server (default 7; 3 with --quick)")
    ap.add_argument("--cases", help="comma-separated subset of: "
                    + ",".join(c[0] for c in CASES))
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    a = ap.parse_args()

    mode = dict(MODES["quick" if a.quick else "full"])
    if a.rounds:
        mode["rounds"] = max(1, min(a.rounds, 50))
    cases = CASES
    if a.cases:
        want = a.cases.split(",")
        bad = [w for w in want if w not in [c[0] for c in CASES]]
        if bad:
            ap.error(f"unknown case(s): {','.join(bad)}")
        cases = [c for c in CASES if c[0] in want]

    smtpd = a.smtpd
    if os.sep not in smtpd:
        smtpd = "./" + smtpd
    if not (os.path.isfile(smtpd) and os.access(smtpd, os.X_OK)):
        say(f"bench: {smtpd} is not built (run `make` first, or pass --smtpd PATH)")
        return 2
    smtpd = os.path.abspath(smtpd)
    as_root = ["-u", "nobody"] if os.geteuid() == 0 else []   # smtp-sink refuses root
    servers_spec = [
        ("project", "project smtpd",
         lambda port: [smtpd, "-n", "-c", "Sink", f"{HOST}:{port}"]),
        # -m 2000: smtp-sink serves only 256 sessions at once by default
        ("smtp-sink", "postfix smtp-sink",
         lambda port: [SMTP_SINK, *as_root, "-m", "2000", f"{HOST}:{port}", "1024"]),
    ]
    titles = [(k, t) for k, t, _ in servers_spec]

    allowed = sorted(os.sched_getaffinity(0))
    if a.no_pin or len(allowed) < 2 or not shutil.which("taskset"):
        cpus = (None, None)
    else:
        cpus = (allowed[0], allowed[1])
        os.sched_setaffinity(0, {allowed[1]})       # this script beside smtp-source

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(mode["limit"])

    logdir = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                          f"smtpd-bench-{os.getpid()}")
    os.makedirs(logdir, exist_ok=True)
    pin = ("no pinning" if cpus[0] is None else
           f"servers on CPU {cpus[0]}, smtp-source on CPU {cpus[1]}")
    say(f"bench: {smtpd} vs {SMTP_SINK}; {pin}; {mode['rounds']} rounds; "
        f"logs in {logdir}")
    res = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        host=platform.node(), kernel=platform.release(),
        cpus_online=os.cpu_count(), pinning=None if cpus[0] is None else
        dict(servers=cpus[0], smtp_source=cpus[1]),
        mode="quick" if a.quick else "full", rounds=mode["rounds"],
        smtpd=smtpd, smtp_sink=SMTP_SINK, smtp_source=SMTP_SOURCE,
        servers=dict(titles), cases={})
    t0 = time.monotonic()
    aborted = None
    ports = set()
    try:
        for case in cases:
            res["cases"][case[0]] = run_case(case, servers_spec, mode, cpus,
                                             logdir, ports)
    except Abort as e:
        aborted = str(e)
    finally:
        signal.alarm(0)
    res["seconds"] = round(time.monotonic() - t0, 1)
    statuses = [c["servers"].get("project", {}).get("exit_status_on_sigterm")
                for c in res["cases"].values()]
    bad = sorted({s for s in statuses if s not in (0, None)})
    res["project_exit_status_on_sigterm"] = bad[0] if bad else 0
    if aborted:
        res["aborted"] = aborted
    if res["cases"]:
        print(report(res, titles), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        say(f"bench: wrote {a.json}")
    if aborted:
        say(f"bench: aborted: {aborted}")
        return 1
    shutil.rmtree(logdir, ignore_errors=True)
    failed = any(c.get("failed") for r in res["cases"].values()
                 for c in r["servers"].values())
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
