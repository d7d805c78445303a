#!/usr/bin/python3
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/soak.py: the load and the checks of bench/soak.sh.  Run by that
# script against a proxy it started; it can also be pointed at any running
# inbatch whose backend has the tables soak.sh creates:
#
#   bench/soak.py --port P --admin-port A --db-port D --proxy-pid PID \
#                 [--clients 1000] [--procs 4] [--seconds 180] [--warmup 15]
#
# CLIENTS connections (PROCS processes, each running CLIENTS/PROCS threads
# with one connection each) run a mix for WARMUP + SECONDS seconds:
#
#   60% lookup       SELECT id, name, owner FROM projects WHERE name = %s
#                    LIMIT 1  (5% of them a key that does not exist); the
#                    row must be exactly the expected one (or none)
#   15% write        INSERT a new counters row, or UPDATE one of its own
#                    rows (n = n + 1); then read it back with the lookup
#                    SELECT id, n FROM counters WHERE id = %s
#   15% transaction  BEGIN; UPDATE own row; SELECT it (must show the
#                    update); a projects lookup; COMMIT or ROLLBACK; then
#                    the counters lookup must show the committed value
#   10% reconnect    close the connection (COM_QUIT, or half the time just
#                    the socket) and open a new one
#
# Each thread owns its counters rows, so it knows every value they must
# have; after the run every row is checked once more directly on MariaDB
# (a lost or doubled write is a wrong answer).  An operation that raises is
# an error; its rows are then unknown and left out of the final check.
#
# The proxy's VmRSS and open descriptors are sampled every 5 s.  Exit 0 on
# PASS, 1 on FAIL (see the verdict line), 2 on a usage or setup problem.

import argparse
import multiprocessing as mp
import os
import queue
import random
import socket
import sys
import threading
import time

import pymysql

# Counter slots, per process, in one shared array.
S_LOOKUP, S_WRITE, S_TXN, S_RECONNECT, S_ERR, S_WRONG, S_CONNECTED, \
    S_CHECKED, NSTAT = range(9)

LOOKUP_SQL = "SELECT id, name, owner FROM projects WHERE name = %s LIMIT 1"
COUNTER_SQL = "SELECT id, n FROM counters WHERE id = %s"
ROWS_PER_CLIENT = 1000  # counters ids of client g: g*1000 .. g*1000+999
MAX_ROWS = 200          # rows a client inserts at most
MAX_MESSAGES = 40       # error messages a process reports

PHASE_WARMUP, PHASE_RUN, PHASE_STOP = 0, 1, 2


class Wrong(Exception):
    """A query succeeded but its answer was not the expected one."""


def connect(args, timeout=30):
    return pymysql.connect(host="127.0.0.1", port=args.port, user="app",
                           password="secret", database="demo",
                           autocommit=True, connect_timeout=timeout,
                           read_timeout=120, write_timeout=120)


class Client:
    def __init__(self, g, args, report):
        self.g = g
        self.args = args
        self.report = report
        self.rnd = random.Random(g * 7919 + os.getpid())
        self.st = [0] * NSTAT
        self.conn = None
        self.rows = {}          # id -> expected n (known for certain)
        self.unknown = set()    # ids whose value an error left unknown
        self.next_row = g * ROWS_PER_CLIENT

    # -- helpers ------------------------------------------------------------

    def error(self, what, e):
        self.st[S_ERR] += 1
        self.report("error", "client %d %s: %s: %s"
                    % (self.g, what, type(e).__name__, e))

    def wrong(self, what, msg):
        self.st[S_WRONG] += 1
        self.report("wrong", "client %d %s: %s" % (self.g, what, msg))

    def drop(self):
        c, self.conn = self.conn, None
        if c is not None:
            try:
                c.close()
            except Exception:
                try:
                    c._force_close()
                except Exception:
                    pass

    def query(self, sql, params=None):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall(), cur.rowcount
        finally:
            cur.close()

    def check_lookup(self):
        k = self.rnd.randint(1, self.args.keys)
        if self.rnd.random() < 0.05:
            key, want = "nokey:%d" % k, ()
        else:
            key, want = "proj:%d" % k, ((k, "proj:%d" % k, "owner%d" % (k % 10)),)
        rows, _ = self.query(LOOKUP_SQL, (key,))
        if tuple(rows) != want:
            raise Wrong("lookup %r returned %r, expected %r" % (key, rows, want))

    def check_counter(self, rid, want):
        rows, _ = self.query(COUNTER_SQL, (rid,))
        if tuple(rows) != ((rid, want),):
            raise Wrong("counter %d read %r, expected n=%d" % (rid, rows, want))

    def own_row(self):
        return self.rnd.choice(list(self.rows))

    # -- operations -----------------------------------------------------------

    def op_lookup(self):
        self.check_lookup()
        self.st[S_LOOKUP] += 1

    def op_insert(self):
        rid = self.next_row
        self.next_row += 1
        self.unknown.add(rid)
        _, n = self.query("INSERT INTO counters (id, owner, n) VALUES (%s, %s, 1)",
                          (rid, self.g))
        if n != 1:
            raise Wrong("INSERT of counter %d affected %d rows" % (rid, n))
        self.unknown.discard(rid)
        self.rows[rid] = 1
        self.check_counter(rid, 1)

    def op_write(self):
        if not self.rows or (len(self.rows) < MAX_ROWS and self.rnd.random() < 0.3):
            self.op_insert()
        else:
            rid = self.own_row()
            want = self.rows.pop(rid) + 1
            self.unknown.add(rid)
            _, n = self.query("UPDATE counters SET n = n + 1 WHERE id = %s", (rid,))
            if n != 1:
                raise Wrong("UPDATE of counter %d affected %d rows" % (rid, n))
            self.unknown.discard(rid)
            self.rows[rid] = want
            self.check_counter(rid, want)
        self.st[S_WRITE] += 1

    def op_txn(self):
        if not self.rows:
            self.op_insert()
        rid = self.own_row()
        old = self.rows.pop(rid)
        self.unknown.add(rid)
        self.conn.begin()
        _, n = self.query("UPDATE counters SET n = n + 1 WHERE id = %s", (rid,))
        if n != 1:
            raise Wrong("UPDATE in transaction affected %d rows" % n)
        # inside the transaction: must see its own uncommitted update
        rows, _ = self.query(COUNTER_SQL, (rid,))
        if tuple(rows) != ((rid, old + 1),):
            raise Wrong("in transaction counter %d read %r, expected n=%d"
                        % (rid, rows, old + 1))
        self.check_lookup()
        if self.rnd.random() < 0.5:
            self.conn.commit()
            want = old + 1
        else:
            self.conn.rollback()
            want = old
        self.unknown.discard(rid)
        self.rows[rid] = want
        # outside it: a (batchable) lookup must see exactly what was kept
        self.check_counter(rid, want)
        self.st[S_TXN] += 1

    def op_reconnect(self):
        if self.rnd.random() < 0.5:
            self.drop()                    # COM_QUIT, then close
        else:
            c, self.conn = self.conn, None
            try:
                c._sock.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass
            c._force_close()               # just the socket
        self.conn = connect(self.args)
        self.st[S_RECONNECT] += 1

    # -- main loop ------------------------------------------------------------

    def run(self, phase):
        self.rnd.random()
        while phase.value != PHASE_STOP:
            try:
                self.conn = connect(self.args)
                break
            except Exception as e:
                self.error("connect", e)
                time.sleep(1)
        else:
            return
        self.st[S_CONNECTED] = 1
        while phase.value != PHASE_STOP:
            r = self.rnd.random()
            if r < 0.60:
                what, op = "lookup", self.op_lookup
            elif r < 0.75:
                what, op = "write", self.op_write
            elif r < 0.90:
                what, op = "transaction", self.op_txn
            else:
                what, op = "reconnect", self.op_reconnect
            try:
                op()
            except Wrong as e:
                self.wrong(what, e)
                self.drop()
            except Exception as e:
                self.error(what, e)
                self.drop()
            if self.conn is None:
                self.st[S_CONNECTED] = 0
                while phase.value != PHASE_STOP:
                    try:
                        self.conn = connect(self.args)
                        self.st[S_CONNECTED] = 1
                        break
                    except Exception as e:
                        self.error("reconnect after failure", e)
                        time.sleep(0.5)
            if self.args.think_ms:
                time.sleep(self.rnd.uniform(0, self.args.think_ms / 1000.0))
        self.drop()
        self.st[S_CONNECTED] = 0


def worker(pidx, first, count, args, shared, phase, msgq):
    threading.stack_size(512 * 1024)
    sent = [0]
    lock = threading.Lock()

    def report(kind, msg):
        with lock:
            if sent[0] >= MAX_MESSAGES:
                return
            sent[0] += 1
        try:
            msgq.put_nowait((kind, msg))
        except Exception:
            pass

    clients = [Client(first + i, args, report) for i in range(count)]
    threads = [threading.Thread(target=c.run, args=(phase,), daemon=True)
               for c in clients]
    base = pidx * NSTAT

    def publish():
        tot = [0] * NSTAT
        for c in clients:
            for i in range(NSTAT):
                tot[i] += c.st[i]
        for i in range(NSTAT):
            shared[base + i] = tot[i]

    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        publish()
        time.sleep(0.5)
    publish()

    # Every row whose value is known must hold it on the server itself.
    try:
        db = pymysql.connect(host="127.0.0.1", port=args.db_port, user="app",
                             password="secret", database="demo",
                             autocommit=True, connect_timeout=30)
        cur = db.cursor()
        cur.execute("SELECT id, n FROM counters WHERE id >= %s AND id < %s",
                    (first * ROWS_PER_CLIENT, (first + count) * ROWS_PER_CLIENT))
        server = dict(cur.fetchall())
        db.close()
        for c in clients:
            for rid, want in c.rows.items():
                c.st[S_CHECKED] += 1
                if rid in c.unknown:
                    continue
                got = server.get(rid)
                if got != want:
                    c.wrong("final check", "counter %d is %r on the server, "
                            "expected %d (lost or doubled write)" % (rid, got, want))
    except Exception as e:
        clients[0].error("final check", e)
    publish()


# ---------------------------------------------------------------------------
# The parent: sampling, reporting, verdict.

def proc_sample(pid):
    """(rss_kb, fds) of the proxy, or None if it is gone."""
    try:
        rss = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds
    except (OSError, ValueError):
        return None


def admin(args, sql):
    c = pymysql.connect(host="127.0.0.1", port=args.admin_port, user="admin",
                        password="admin", autocommit=None, connect_timeout=10,
                        read_timeout=30)
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        c.close()


STAT_NAMES = ("queries_total", "queries_select", "queries_batched", "batches",
              "fallbacks", "backend_lost", "client_errors", "oom_errors",
              "backend_connect_errors", "client_connections_refused")


def proxy_stats(args):
    try:
        rows = admin(args, "SHOW STATS")
    except Exception as e:
        print("soak: SHOW STATS failed: %s" % e, file=sys.stderr)
        return {}
    out = {}
    for r in rows:
        try:
            out[str(r[0])] = int(r[1])
        except (TypeError, ValueError):
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description="inbatch soak load and checks")
    ap.add_argument("--port", type=int, required=True, help="proxy port")
    ap.add_argument("--admin-port", type=int, required=True)
    ap.add_argument("--db-port", type=int, required=True,
                    help="MariaDB port, for the final check")
    ap.add_argument("--proxy-pid", type=int, required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--think-ms", type=float, default=0)
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--print-every", type=float, default=30)
    ap.add_argument("--rss-slack-pct", type=float, default=20)
    ap.add_argument("--rss-slack-mb", type=float, default=16)
    args = ap.parse_args()

    pid = args.proxy_pid
    s0 = proc_sample(pid)
    if s0 is None:
        print("soak: no process %d" % pid, file=sys.stderr)
        return 2
    fd0 = s0[1]
    procs = max(1, min(args.procs, args.clients))

    ctx = mp.get_context("fork")
    shared = ctx.Array("q", procs * NSTAT, lock=False)
    phase = ctx.Value("i", PHASE_WARMUP, lock=False)
    msgq = ctx.Queue()
    workers = []
    first = 0
    for p in range(procs):
        n = args.clients // procs + (1 if p < args.clients % procs else 0)
        w = ctx.Process(target=worker,
                        args=(p, first, n, args, shared, phase, msgq))
        w.start()
        workers.append(w)
        first += n

    printed_msgs = [0]

    def drain():
        while True:
            try:
                kind, msg = msgq.get_nowait()
            except queue.Empty:
                return
            if printed_msgs[0] < 30:
                print("soak: %s: %s" % (kind, msg), file=sys.stderr)
            printed_msgs[0] += 1

    def totals():
        t = [0] * NSTAT
        for p in range(procs):
            for i in range(NSTAT):
                t[i] += shared[p * NSTAT + i]
        return t

    def ops(t):
        return t[S_LOOKUP] + t[S_WRITE] + t[S_TXN] + t[S_RECONNECT]

    hdr = ("%8s %-8s %9s %10s %6s %6s %8s %6s %13s %15s %8s %9s"
           % ("time_s", "point", "ops/s", "ops", "errors", "wrong", "rss_MB",
              "fds", "queries_total", "queries_batched", "batches",
              "fallbacks"))

    def line(label, t_rel, rate, t, sample):
        st = proxy_stats(args)
        rss, fds = sample if sample else (0, 0)
        print("%8.1f %-8s %9.0f %10d %6d %6d %8.1f %6d %13s %15s %8s %9s"
              % (t_rel, label, rate, ops(t), t[S_ERR], t[S_WRONG],
                 rss / 1024.0, fds, st.get("queries_total", "?"),
                 st.get("queries_batched", "?"), st.get("batches", "?"),
                 st.get("fallbacks", "?")), flush=True)
        return st

    proxy_died = False
    samples = []

    def sample():
        nonlocal proxy_died
        s = proc_sample(pid)
        if s is None:
            proxy_died = True
        else:
            samples.append((time.time(), s))
        return s

    print("soak: %d clients in %d processes against 127.0.0.1:%d, proxy pid %d;"
          " warm-up %.0f s, run %.0f s; open fds before any client: %d"
          % (args.clients, procs, args.port, pid, args.warmup, args.seconds,
             fd0), flush=True)

    # Warm-up: until every client is connected and WARMUP has passed.
    t_begin = time.time()
    while True:
        time.sleep(0.5)
        drain()
        if sample() is None:
            break
        conn = totals()[S_CONNECTED]
        if time.time() - t_begin >= args.warmup and conn >= args.clients:
            break
        if time.time() - t_begin >= args.warmup + 60:
            print("soak: only %d of %d clients connected after %.0f s"
                  % (conn, args.clients, time.time() - t_begin), file=sys.stderr)
            break
    warm = samples[-1][1] if samples else None
    t0 = time.time()
    base_tot = totals()
    phase.value = PHASE_RUN
    print(hdr)
    if warm:
        line("start", 0.0, 0, base_tot, warm)

    next_sample = t0 + args.sample_every
    next_print = t0 + args.print_every
    last_print_t, last_print_ops = t0, ops(base_tot)
    last = warm
    while not proxy_died:
        now = time.time()
        if now >= t0 + args.seconds:
            break
        time.sleep(max(0.05, min(next_sample, t0 + args.seconds) - now))
        drain()
        if time.time() >= next_sample:
            next_sample += args.sample_every
            last = sample() or last
        if time.time() >= next_print and time.time() < t0 + args.seconds - 1:
            next_print += args.print_every
            t = totals()
            now = time.time()
            line("run", now - t0, (ops(t) - last_print_ops) / (now - last_print_t),
                 t, last)
            last_print_t, last_print_ops = now, ops(t)

    # End, still under load.
    t_end = time.time()
    end_tot = totals()
    end = sample() or last
    run_ops = ops(end_tot) - ops(base_tot)
    st_end = line("end", t_end - t0, (ops(end_tot) - last_print_ops)
                  / max(t_end - last_print_t, 1e-9), end_tot, end)

    # Disconnect everyone and wait for the workers' final check.
    phase.value = PHASE_STOP
    deadline = time.time() + 120
    for w in workers:
        w.join(max(0.1, deadline - time.time()))
    stuck = [w for w in workers if w.is_alive()]
    for w in stuck:
        w.terminate()
        w.join(5)
    drain()
    fin = totals()

    # Descriptors after the clients left: what was there before any client
    # (every backend connection is a client's own, so none stays).
    pool_conns = None
    client_backends = None
    after = None
    settle_deadline = time.time() + 20
    while not proxy_died:
        try:
            rows = admin(args, "SHOW SERVERS")
            pool_conns = 0
            client_backends = sum(1 for r in rows if r[0] == "backend")
        except Exception as e:
            print("soak: SHOW SERVERS failed: %s" % e, file=sys.stderr)
        time.sleep(0.5)  # let the proxy close the admin connection
        after = sample()
        if after is None:
            break
        if (pool_conns is not None and after[1] <= fd0 + pool_conns) or \
                time.time() > settle_deadline:
            break
        time.sleep(1)
    if after:
        print("%8.1f %-8s %9s %10d %6d %6d %8.1f %6d   (clients gone; %s"
              " client backends left)"
              % (time.time() - t0, "idle", "-", ops(fin), fin[S_ERR],
                 fin[S_WRONG], after[0] / 1024.0, after[1],
                 client_backends), flush=True)

    # Report.
    print()
    print("operations in the run: %d in %.1f s = %.0f ops/s; whole soak incl."
          " warm-up: lookups %d, writes %d, transactions %d, reconnects %d;"
          " counters rows re-checked on the server: %d"
          % (run_ops, t_end - t0, run_ops / max(t_end - t0, 1e-9),
             fin[S_LOOKUP], fin[S_WRITE], fin[S_TXN], fin[S_RECONNECT],
             fin[S_CHECKED]))
    if st_end:
        sel = st_end.get("queries_select", 0)
        bat = st_end.get("queries_batched", 0)
        nb = st_end.get("batches", 0)
        print("proxy: %s; batched %.1f%% of lookups, %.1f lookups per batch"
              % (", ".join("%s=%s" % (k, st_end[k]) for k in STAT_NAMES
                           if k in st_end),
                 100.0 * bat / sel if sel else 0.0, bat / nb if nb else 0.0))
    if printed_msgs[0] > 30:
        print("soak: %d more error messages not shown" % (printed_msgs[0] - 30),
              file=sys.stderr)

    fails = []
    if proxy_died:
        fails.append("the proxy exited")
    if stuck:
        fails.append("%d client processes did not finish" % len(stuck))
    if fin[S_ERR]:
        fails.append("%d errors" % fin[S_ERR])
    if fin[S_WRONG]:
        fails.append("%d wrong answers" % fin[S_WRONG])
    if warm and end:
        slack = max(warm[0] * args.rss_slack_pct / 100.0,
                    args.rss_slack_mb * 1024)
        growth = end[0] - warm[0]
        rss_txt = ("RSS %.1f -> %.1f MB (%+.1f MB, allowed +%.1f)"
                   % (warm[0] / 1024.0, end[0] / 1024.0, growth / 1024.0,
                      slack / 1024.0))
        if growth > slack:
            fails.append("RSS grew: " + rss_txt)
    else:
        rss_txt = "RSS not sampled"
        fails.append(rss_txt)
    if after and pool_conns is not None:
        want_fds = fd0 + pool_conns
        fd_txt = "fds %d before clients, %d after" % (fd0, after[1])
        if after[1] > want_fds:
            fails.append("descriptors not released: " + fd_txt)
        if client_backends:
            fails.append("%d client backend connections left" % client_backends)
    else:
        fd_txt = "fds not checked"
        fails.append(fd_txt)

    print("verdict: %s: %d errors, %d wrong answers, %s, %s%s"
          % ("PASS" if not fails else "FAIL", fin[S_ERR], fin[S_WRONG],
             rss_txt, fd_txt, "" if not fails else "; " + "; ".join(fails)),
          flush=True)
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(main())
