#!/usr/bin/env python3
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/hostile.py: honest clients beside hostile ones for a bounded time.
# Started by bench/hostile.sh, which owns the servers; this only connects.
#
# Hostile load (each in its own threads, all loopback, all bounded in time):
#   preauth   connections that never log in, reopened when closed
#   slowloris one byte at a time inside a packet, on the client, admin and
#             metrics ports
#   noread    lookups of 16 KiB rows pipelined, answers never read
#   pipeline  commands stacked behind SELECT SLEEP()
#   churn     new lookup shapes and session settings on every statement
#   garbage   random bytes, then close
# Honest clients look up known rows and check every answer.
#
# Prints one line per sample, then a table: honest p50/p99 latency and
# errors, proxy RSS and fds at start, peak and end, backend connections at
# peak, and the RSS bound the configured limits allow.  Exit status 1 when
# an honest client saw an error or a wrong answer, or a bound was passed.

import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

import pymysql

stop = threading.Event()
lock = threading.Lock()
honest_lat = []
honest_err = []
hostile_ops = {}


def count(kind, n=1):
    with lock:
        hostile_ops[kind] = hostile_ops.get(kind, 0) + n


def packet(payload, seq=0):
    n = len(payload)
    return bytes([n & 0xFF, (n >> 8) & 0xFF, n >> 16, seq]) + payload


def proc_sample(pid):
    """(RSS in KiB, open fds) of <pid>, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, StopIteration):
        return None


def connect(args, **kw):
    a = dict(host="127.0.0.1", port=args.port, user="app", password="secret",
             database="demo", autocommit=True, connect_timeout=10,
             read_timeout=30, write_timeout=30)
    a.update(kw)
    return pymysql.connect(**a)


def honest(args, i):
    rng = random.Random(i)
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = connect(args)
            k = rng.randint(1, args.keys)
            t0 = time.monotonic()
            with conn.cursor() as cur:
                cur.execute("SELECT id, owner FROM projects WHERE name = "
                            "'proj:%d' LIMIT 1" % k)
                rows = cur.fetchall()
            dt = time.monotonic() - t0
            with lock:
                honest_lat.append(dt)
            if rows != ((k, "owner%d" % (k % 10)),):
                with lock:
                    honest_err.append("wrong answer for %d: %r" % (k, rows))
        except pymysql.err.MySQLError as e:
            with lock:
                honest_err.append(repr(e))
            conn = None
            time.sleep(0.05)
        time.sleep(rng.random() * 0.004)
    if conn:
        conn.close()


def preauth(args, n):
    socks = []
    while not stop.is_set():
        while len(socks) < n and not stop.is_set():
            try:
                socks.append(socket.create_connection(("127.0.0.1",
                                                       args.port), 2))
                count("preauth")
            except OSError:
                break
        time.sleep(0.2)
        alive = []
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        socks = alive
    for s in socks:
        s.close()


def slowloris(args, port, payload_first):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), 2)
        except OSError:
            time.sleep(0.2)
            continue
        count("slowloris")
        data = payload_first
        try:
            for b in data:
                if stop.is_set():
                    break
                s.send(bytes([b]))
                time.sleep(0.5)
            while not stop.is_set():
                s.send(b"x")
                time.sleep(0.5)
        except OSError:
            pass
        s.close()


def noread(args, table):
    while not stop.is_set():
        try:
            conn = connect(args)
        except pymysql.err.MySQLError:
            time.sleep(0.2)
            continue
        sock = conn._sock
        sock.setblocking(False)
        end = time.monotonic() + 5
        i = 0
        while time.monotonic() < end and not stop.is_set():
            try:
                sock.send(packet(("\x03SELECT pad FROM %s WHERE name = "
                                  "'w%d'" % (table, i % 64 + 1)).encode()))
                i += 1
                count("noread")
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
        sock.close()


def pipeline(args):
    while not stop.is_set():
        try:
            conn = connect(args)
        except pymysql.err.MySQLError:
            time.sleep(0.2)
            continue
        sock = conn._sock
        try:
            sock.sendall(packet(b"\x03SELECT SLEEP(2)"))
            sock.setblocking(False)
            big = packet(b"\x03SELECT 1 -- " + b"y" * 200000)
            end = time.monotonic() + 2
            while time.monotonic() < end and not stop.is_set():
                try:
                    sock.send(big)
                    count("pipeline")
                except BlockingIOError:
                    time.sleep(0.01)
        except OSError:
            pass
        sock.close()


def churn(args, i):
    rng = random.Random(1000 + i)
    conn = None
    n = 0
    while not stop.is_set():
        try:
            if conn is None:
                conn = connect(args)
            with conn.cursor() as cur:
                if n % 3 == 0:
                    cur.execute("SET time_zone = '+%02d:%02d'"
                                % (rng.randint(0, 12), rng.choice((0, 30))))
                cur.execute("SELECT id, %d AS c%d FROM projects WHERE name = "
                            "'proj:%d'" % (n, n, rng.randint(1, 100)))
                cur.fetchall()
            n += 1
            count("churn")
        except pymysql.err.MySQLError:
            conn = None
            time.sleep(0.05)
    if conn:
        conn.close()


def garbage(args):
    rng = random.Random(7)
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", args.port), 2)
            s.settimeout(1)
            try:
                s.recv(256)
            except OSError:
                pass
            s.send(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4000))))
            count("garbage")
            s.close()
        except OSError:
            pass
        time.sleep(0.02)


def threads_connected(args):
    try:
        c = pymysql.connect(host="127.0.0.1", port=args.db_port, user="root",
                            password="", connect_timeout=5)
        with c.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            v = int(cur.fetchone()[1])
        c.close()
        return v
    except pymysql.err.MySQLError:
        return None


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--admin-port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--db-port", type=int, required=True)
    ap.add_argument("--proxy-pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--honest", type=int, default=16)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--wide-table", default="wide")
    ap.add_argument("--rss-bound-kb", type=int, required=True)
    ap.add_argument("--backend-bound", type=int, required=True)
    args = ap.parse_args()

    base_threads = threads_connected(args) or 0
    start = proc_sample(args.proxy_pid)
    work = []
    for i in range(args.honest):
        work.append(threading.Thread(target=honest, args=(args, i)))
    work.append(threading.Thread(target=preauth, args=(args, 300)))
    login_hdr = packet(b"\x85\xa6\x3f\x20" + b"\0" * 60, 1)
    for port, first in ((args.port, login_hdr), (args.admin_port, login_hdr),
                        (args.metrics_port, b"GET /metrics HTTP/1.1\r\n")):
        for _ in range(4):
            work.append(threading.Thread(target=slowloris,
                                         args=(args, port, first)))
    for _ in range(4):
        work.append(threading.Thread(target=noread,
                                     args=(args, args.wide_table)))
    for _ in range(2):
        work.append(threading.Thread(target=pipeline, args=(args,)))
    for i in range(4):
        work.append(threading.Thread(target=churn, args=(args, i)))
    work.append(threading.Thread(target=garbage, args=(args,)))
    for t in work:
        t.daemon = True
        t.start()

    peak_rss, peak_fds, peak_be = start[0], start[1], 0
    t0 = time.monotonic()
    print("%6s %10s %6s %10s %8s %8s" % ("t", "rss_kb", "fds", "backends",
                                        "honest", "errors"), flush=True)
    while time.monotonic() - t0 < args.seconds:
        time.sleep(1)
        s = proc_sample(args.proxy_pid)
        if s is None:
            print("hostile: the proxy exited", file=sys.stderr)
            break
        be = (threads_connected(args) or base_threads) - base_threads
        peak_rss, peak_fds = max(peak_rss, s[0]), max(peak_fds, s[1])
        peak_be = max(peak_be, be)
        with lock:
            n_ok, n_err = len(honest_lat), len(honest_err)
        print("%6.1f %10d %6d %10d %8d %8d" % (time.monotonic() - t0, s[0],
                                              s[1], be, n_ok, n_err),
              flush=True)
    stop.set()
    for t in work:
        t.join(10)
    time.sleep(2)
    end = proc_sample(args.proxy_pid)

    with lock:
        lat, errs = list(honest_lat), list(honest_err)
    print()
    print("| measure | start | peak | end | bound |")
    print("|---|---|---|---|---|")
    print("| proxy RSS (MiB) | %.1f | %.1f | %s | %.1f |" % (
        start[0] / 1024, peak_rss / 1024,
        "%.1f" % (end[0] / 1024) if end else "gone",
        args.rss_bound_kb / 1024))
    print("| proxy fds | %d | %d | %s | |" % (start[1], peak_fds,
                                            end[1] if end else "gone"))
    print("| backend connections (MariaDB threads above baseline) | 0 | %d "
          "| | %d |" % (peak_be, args.backend_bound))
    print()
    print("honest clients: %d lookups, p50 %.2f ms, p99 %.2f ms, %d errors"
          % (len(lat), pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3, len(errs)))
    print("hostile operations: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(hostile_ops.items())))
    for e in errs[:10]:
        print("  honest error: %s" % e)
    fails = []
    if errs:
        fails.append("%d honest errors" % len(errs))
    if not lat:
        fails.append("no honest lookup completed")
    if end is None:
        fails.append("the proxy exited")
    if peak_rss > args.rss_bound_kb:
        fails.append("RSS above its bound")
    if peak_be > args.backend_bound:
        fails.append("backend connections above their bound")
    print("verdict: %s" % ("PASS" if not fails else "FAIL: " + "; ".join(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
