#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""httpbench.py - what --http costs and what it serves (issue 21), a
benchmark, not a test.  Run from the project root:

    python3 bench/httpbench.py [--smtpd ./smtpd] [--rounds 5] [--duration 10]
                               [--maildev DIR] [--json FILE]

1. SMTP capture with and without --http: Postfix's smtp-source against
   `smtpd -n -c Sink` and `smtpd -n -c Sink --http ...`, the harness's
   persist (-s 1 -d) and par20 (-s 20) cases, the two servers taking turns
   round after round; medians of msgs/s.
2. wrk (2 threads, 4 connections) on 1,000 stored messages: a list of 50
   (GET /api/v1/messages?limit=50) and one full message
   (GET /api/v1/message/ID), against MailDev 3's GET /api/email?limit=50 and
   GET /api/email/:id on the same 1,000 messages (MailDev from
   ../shared/bench's node packages: run.sh --install-node puts it in
   ~/.cache/smtpd-bench/node; without it those rows are skipped).
3. The wait: a client blocked in GET /api/v1/message/latest?query=...&wait=10
   while smtplib sends the message it waits for: the time from the SMTP
   250 to the HTTP answer, 300 times; p50 and p99.

Needs /usr/sbin/smtp-source (apt-get install postfix) and wrk.  Nothing is
installed or pinned; on a machine shared with other work the numbers move.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HOST = "127.0.0.1"
SMTP_SOURCE = "/usr/sbin/smtp-source"
CASES = (("persist", ["-s", "1", "-d", "-l", "1000"], 3000),
         ("par20", ["-s", "20", "-l", "1000"], 3000))


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


class Proc:
    """A server process, stopped by its PID."""

    def __init__(self, argv, ports, env=None, cwd=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env, cwd=cwd,
                                     start_new_session=True)
        for p in ports:
            wait_port(p)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def smtpd(args, http=False, max_messages="0"):
    port = free_port()
    argv = [args.smtpd, "-n", "-c", "Sink"]
    hport = None
    if http:
        hport = free_port()
        argv += ["--http", "%s:%d" % (HOST, hport), "--max-messages", max_messages]
    p = Proc(argv + ["%s:%d" % (HOST, port)], [port] + ([hport] if hport else []))
    p.port, p.http_port = port, hport
    return p


def source(port, opts, count):
    t = time.monotonic()
    out = subprocess.run([SMTP_SOURCE] + opts + ["-m", str(count), "-f", "a@example.com",
                                                "-t", "b@example.com", "%s:%d" % (HOST, port)],
                         capture_output=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("smtp-source: %s" % out.stderr.decode(errors="replace")[-300:])
    return count / (time.monotonic() - t)


def smtp_rows(args):
    res = {}
    for name, opts, count in CASES:
        runs = {"without --http": [], "with --http": []}
        for r in range(args.rounds):
            order = [False, True] if r % 2 == 0 else [True, False]
            for http in order:
                p = smtpd(args, http=http, max_messages="500")
                try:
                    runs["with --http" if http else "without --http"].append(
                        source(p.port, opts, count))
                finally:
                    p.stop()
        res[name] = {k: statistics.median(v) for k, v in runs.items()}
        print("smtp %-8s without %7.0f  with %7.0f msgs/s  (%.2fx)" % (
            name, res[name]["without --http"], res[name]["with --http"],
            res[name]["with --http"] / res[name]["without --http"]), file=sys.stderr)
    return res


def wrk(url, duration):
    out = subprocess.run(["wrk", "-t2", "-c4", "-d%ds" % duration, url],
                         capture_output=True, timeout=duration + 60)
    for line in out.stdout.decode().splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError("wrk: %s" % out.stdout.decode()[-500:])


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def fill(port, n=1000):
    source(port, ["-s", "5", "-l", "1000"], n)


def wrk_rows(args):
    res = {}
    p = smtpd(args, http=True, max_messages="0")
    try:
        fill(p.port)
        base = "http://%s:%d" % (HOST, p.http_port)
        get_json(base + "/api/v1/search?query=b@example.com&wait=30&count=1000")
        mid = get_json(base + "/api/v1/messages?limit=1")["messages"][0]["ID"]
        res["smtpd list of 50"] = wrk(base + "/api/v1/messages?limit=50", args.duration)
        res["smtpd one message"] = wrk(base + "/api/v1/message/" + mid, args.duration)
    finally:
        p.stop()
    maildev = os.path.join(args.maildev, "node_modules", "maildev", "dist", "bin", "maildev.js")
    if not (shutil.which("node") and os.path.exists(maildev)):
        print("maildev not found in %s: run ../shared/bench/run.sh --install-node" % args.maildev,
              file=sys.stderr)
        return res
    tmp = tempfile.mkdtemp(prefix="httpbench-")
    sport, wport = free_port(), free_port()
    m = Proc(["node", maildev, "--smtp", str(sport), "--ip", HOST, "--web", str(wport),
              "--web-ip", HOST, "--silent"], [sport, wport],
             env=dict(os.environ, TMPDIR=tmp), cwd=tmp)
    try:
        fill(sport)
        base = "http://%s:%d" % (HOST, wport)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lst = get_json(base + "/api/email")
            if len(lst) >= 1000:
                break
            time.sleep(0.2)
        mid = lst[0]["id"]
        res["maildev list of 50"] = wrk(base + "/api/email?limit=50", args.duration)
        res["maildev one message"] = wrk(base + "/api/email/" + mid, args.duration)
    finally:
        m.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def wait_latency(args, n=300):
    p = smtpd(args, http=True, max_messages="500")
    lat = []
    try:
        conn = http.client.HTTPConnection(HOST, p.http_port, timeout=30)
        smtp = smtplib.SMTP(HOST, p.port, timeout=30)
        for i in range(n):
            done = {}

            def waiter():
                conn.request("GET", "/api/v1/message/latest?query=subject:lat%d&wait=10" % i)
                r = conn.getresponse()
                r.read()
                done["t"] = time.perf_counter()
                done["status"] = r.status
            t = threading.Thread(target=waiter)
            t.start()
            time.sleep(0.01)                   # the request is in and blocked
            smtp.sendmail("a@example.com", ["b@example.com"],
                          "Subject: lat%d\r\n\r\nx\r\n" % i)
            t250 = time.perf_counter()         # the 250 after the dot is in
            t.join(30)
            if done.get("status") != 200:
                raise RuntimeError("wait answered %s" % done.get("status"))
            lat.append(max(0.0, done["t"] - t250) * 1000)
        smtp.quit()
        conn.close()
    finally:
        p.stop()
    lat.sort()
    res = {"p50 ms": lat[len(lat) // 2], "p99 ms": lat[int(len(lat) * 0.99) - 1],
           "max ms": lat[-1], "n": n}
    print("wait 250 -> HTTP: p50 %.2f ms, p99 %.2f ms" % (res["p50 ms"], res["p99 ms"]),
          file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smtpd", default="./smtpd")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--maildev", default=os.environ.get(
        "SMTPD_BENCH_NODE", os.path.expanduser("~/.cache/smtpd-bench/node")))
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    for tool in (SMTP_SOURCE,):
        if not os.access(tool, os.X_OK):
            sys.exit("httpbench: %s missing (apt-get install postfix)" % tool)
    if not shutil.which("wrk"):
        sys.exit("httpbench: wrk missing (apt-get install wrk)")
    out = {"smtp": smtp_rows(args), "wrk": wrk_rows(args), "wait": wait_latency(args)}
    w = out["wrk"]
    print("| msgs/s | persist | par20 |\n|---|---|---|")
    for k in ("without --http", "with --http"):
        print("| %s | %.0f | %.0f |" % (k, out["smtp"]["persist"][k], out["smtp"]["par20"][k]))
    print("| ratio | %.2fx | %.2fx |" % tuple(
        out["smtp"][c]["with --http"] / out["smtp"][c]["without --http"]
        for c in ("persist", "par20")))
    print()
    print("| requests/s (wrk -t2 -c4, 1,000 messages) | list of 50 | one message |\n|---|---|---|")
    print("| smtpd --http | %.0f | %.0f |" % (w["smtpd list of 50"], w["smtpd one message"]))
    if "maildev list of 50" in w:
        print("| MailDev 3 | %.0f | %.0f |" % (w["maildev list of 50"], w["maildev one message"]))
        print("| ratio | %.1fx | %.1fx |" % (w["smtpd list of 50"] / w["maildev list of 50"],
                                            w["smtpd one message"] / w["maildev one message"]))
    print()
    print("wait, SMTP 250 -> HTTP answer: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d runs)" % (
        out["wait"]["p50 ms"], out["wait"]["p99 ms"], out["wait"]["max ms"], out["wait"]["n"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
