# SPDX-License-Identifier: BSD-2-Clause
# Exactness: an adversarial differential suite for the batcher.
#
# Every case is a small script over a few sessions: plain sessions (app,
# autocommit on, nothing changed) and adversarial ones that first change
# their session in ways inbatch may not see, then everybody fires the same
# lookup shape in one barrier-released burst.  The same script is run twice:
# once directly against MariaDB with every session's statements run alone
# (sequentially), once through inbatch with the bursts concurrent.  Every
# statement's full outcome must be identical: raw column definitions, rows,
# warning count, affected rows, error code and message, and the meaningful
# server status bits.  In window mode the bursts must also really have been
# batched (SHOW STATS), so that the comparison exercises the batcher.

import os
import struct
import threading
import time

import pymysql
import pytest
from pymysql.constants import CLIENT, COMMAND

from conftest import APP_PASSWORD, APP_USER, DB, DIRECT, Endpoint, tail
from test_batching import WINDOW, delta, stats

# Server status bits a client can rely on.  Plan- and timing-dependent bits
# (NO_INDEX_USED, NO_GOOD_INDEX_USED, QUERY_WAS_SLOW, LAST_ROW_SENT) are left
# out on purpose: they describe how the server ran the statement, not what
# it answered.
ST_IN_TRANS = 0x0001
ST_AUTOCOMMIT = 0x0002
ST_MORE_RESULTS = 0x0008
ST_NO_BACKSLASH_ESCAPES = 0x0200
ST_IN_TRANS_READONLY = 0x2000
STATUS_MASK = (ST_IN_TRANS | ST_AUTOCOMMIT | ST_MORE_RESULTS
               | ST_NO_BACKSLASH_ESCAPES | ST_IN_TRANS_READONLY)

N_PLAIN = 4
READ_TIMEOUT = 20
MODES = ["window", "adaptive"]
# adaptive, with a second batch of a shape sent beside the statement in
# flight as soon as three lookups gather (batch_busy_keys): bursts of
# N_PLAIN sessions then overlap
BUSY_MODES = MODES + ["adaptive-busy"]


# --- specs -------------------------------------------------------------------

class S:
    """An adversarial session: setup, one lookup per burst, follow-ups."""

    def __init__(self, name, lookups, setup=(), follow=(), user=APP_USER,
                 password=APP_PASSWORD, charset="utf8mb4", late=False,
                 **connect_kw):
        self.name = name
        self.lookups = [lookups] if isinstance(lookups, str) else \
            list(lookups)
        self.setup = list(setup)
        self.follow = list(follow)
        self.user = user
        self.password = password
        self.charset = charset
        self.late = late
        self.connect_kw = connect_kw


class Case:
    """One scenario.

    root_setup/root_teardown: statements run as root in ibtest around each
    of the two runs (setup must be idempotent: DROP ... IF EXISTS first).
    plain: per burst, a lookup or a list of lookups (plain session i runs
    list[i % len]); None: plain sessions sit that burst out.
    script: steps, default setup, burst 0, follow:
      ("setup",) ("follow",) ("burst", b) ("root", [sql]) ("open", [name])
      ("do", name, [sql]) ("ps", name, sql)  (a binary-protocol statement)
      ("cmd", name, what)  (a command that is not a statement, run_cmd)
    prove: burst indexes whose plain sessions must be batched in window
    mode (default: every burst the plain sessions take part in whose direct
    answers are not errors); answers of several rows count only with
    multi_rows (their lookups are sorted without ties).
    """

    def __init__(self, cid, root_setup, sessions, plain, script=None,
                 root_teardown=(), users=None, plain_user=APP_USER,
                 plain_password=APP_PASSWORD, plain_charset="utf8mb4",
                 prove=None, globals_=(), n_plain=N_PLAIN, multi_rows=False):
        self.cid = cid
        self.root_setup = list(root_setup)
        self.root_teardown = list(root_teardown)
        self.sessions = sessions
        self.plain = [p if p is None or isinstance(p, list) else [p]
                      for p in (plain if isinstance(plain, list) and plain
                                and (plain[0] is None
                                     or isinstance(plain[0], list))
                                else [plain])]
        self.script = script or [("setup",), ("burst", 0), ("follow",)]
        self.users = users or {}
        self.plain_user = plain_user
        self.plain_password = plain_password
        self.plain_charset = plain_charset
        self.prove = prove
        self.globals = list(globals_)
        self.n_plain = n_plain
        self.multi_rows = multi_rows


# --- running -----------------------------------------------------------------

def _fields(res):
    if res is None or not getattr(res, "fields", None):
        return None
    return tuple((f.name, f.org_name, f.table_name, f.org_table, f.db,
                  f.type_code, f.charsetnr, f.length, f.flags, f.scale)
                 for f in res.fields)


def run_stmt(conn, sql):
    """Run <sql> on <conn>: its complete, comparable outcome."""
    if conn is None:
        return ("no connection",)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows = tuple(cur.fetchall())
        res = cur._result
        fields = _fields(res)
        return ("ok", fields, rows,
                res.warning_count if res else 0,
                None if fields else (res.affected_rows if res else None),
                None if fields else (res.insert_id if res else None),
                conn.server_status & STATUS_MASK)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0], e.args[1] if len(e.args) > 1 else None)
    except Exception as e:  # a protocol surprise is a difference too
        return ("exception", type(e).__name__, str(e)[:200])


def prepare(conn, sql):
    """COM_STMT_PREPARE of <sql>: its statement id, the response read."""
    conn._execute_command(COMMAND.COM_STMT_PREPARE, sql)
    data = conn._read_packet().get_all_data()
    stmt_id = struct.unpack("<I", data[1:5])[0]
    ncols, nparams = struct.unpack("<HH", data[5:9])
    for n in (nparams, ncols):
        if n:
            for _ in range(n + 1):  # definitions and their EOF
                conn._read_packet()
    return stmt_id


def run_cmd(conn, what):
    """A command that is not a statement: ping, init_db (to ibtest),
    statistics, reset (COM_RESET_CONNECTION), or prepare_close
    (COM_STMT_PREPARE of SELECT 1, then COM_STMT_CLOSE)."""
    try:
        if what == "ping":
            conn.ping(reconnect=False)
        elif what == "init_db":
            conn.select_db(DB)
        elif what == "statistics":
            conn._execute_command(COMMAND.COM_STATISTICS, b"")
            conn._read_packet()
        elif what == "reset":
            conn._execute_command(0x1f, b"")  # COM_RESET_CONNECTION
            conn._read_ok_packet()
        elif what == "prepare_close":
            stmt_id = prepare(conn, "SELECT 1")
            conn._execute_command(COMMAND.COM_STMT_CLOSE,
                                  struct.pack("<I", stmt_id))
        else:
            raise AssertionError("bad command %r" % what)
        return ("ok-cmd",)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0], e.args[1] if len(e.args) > 1 else None)
    except Exception as e:
        return ("exception", type(e).__name__, str(e)[:200])


def run_ps(conn, sql):
    """COM_STMT_PREPARE + COM_STMT_EXECUTE + COM_STMT_CLOSE of a statement
    without parameters or result set, by hand (pymysql has no server-side
    prepared statements)."""
    try:
        stmt_id = prepare(conn, sql)
        conn._execute_command(COMMAND.COM_STMT_EXECUTE,
                              struct.pack("<IBI", stmt_id, 0, 1))
        pkt = conn._read_packet()
        data = pkt.get_all_data()
        if data[0] != 0:
            return ("unexpected", data[:16])
        ok = pymysql.protocol.OKPacketWrapper(pkt)
        conn.server_status = ok.server_status
        conn._execute_command(COMMAND.COM_STMT_CLOSE,
                              struct.pack("<I", stmt_id))
        return ("ok-ps", ok.affected_rows, ok.warning_count,
                ok.server_status & STATUS_MASK)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0], e.args[1] if len(e.args) > 1 else None)
    except Exception as e:
        return ("exception", type(e).__name__, str(e)[:200])


def connect(ep, user, password, charset, **kw):
    args = dict(host=ep.host, port=ep.port, user=user, password=password,
                database=DB, charset=charset, autocommit=True,
                connect_timeout=10, read_timeout=READ_TIMEOUT)
    args.update(kw)
    return pymysql.connect(**args)


class Run:
    """One execution of a case's script against one endpoint."""

    def __init__(self, case, ep, mariadb, concurrent, stats_ep=None):
        self.case = case
        self.ep = ep
        self.mariadb = mariadb
        self.concurrent = concurrent
        self.stats_ep = stats_ep
        self.out = []          # [(label, outcome)]
        self.conns = {}        # session name -> connection
        self.bursts = {}       # burst index -> (n plain, stats delta)
        self.root = None

    def plain_names(self):
        return ["plain%d" % i for i in range(self.case.n_plain)]

    def open(self, name):
        c = self.case
        try:
            if name.startswith("plain"):
                conn = connect(self.ep, c.plain_user, c.plain_password,
                               c.plain_charset)
            else:
                s = self.spec(name)
                conn = connect(self.ep, s.user, s.password, s.charset,
                               **s.connect_kw)
            self.out.append(("%s connect" % name, ("ok",)))
        except pymysql.err.MySQLError as e:
            conn = None
            self.out.append(("%s connect" % name,
                             ("error", e.args[0],
                              e.args[1] if len(e.args) > 1 else None)))
        self.conns[name] = conn

    def spec(self, name):
        for s in self.case.sessions:
            if s.name == name:
                return s
        raise KeyError(name)

    def do(self, name, sql):
        self.out.append(("%s: %s" % (name, sql),
                         run_stmt(self.conns.get(name), sql)))

    def burst(self, b):
        c = self.case
        jobs = []
        plain = c.plain[b] if b < len(c.plain) else None
        if plain:
            for i, name in enumerate(self.plain_names()):
                jobs.append((name, plain[i % len(plain)]))
        for s in c.sessions:
            if b < len(s.lookups) and s.lookups[b] is not None \
                    and s.name in self.conns:
                jobs.append((s.name, s.lookups[b]))
        results = [None] * len(jobs)
        s0 = stats(self.stats_ep) if self.stats_ep else None
        if self.concurrent:
            barrier = threading.Barrier(len(jobs))

            def work(i):
                try:
                    barrier.wait(30)
                except threading.BrokenBarrierError:
                    pass
                results[i] = run_stmt(self.conns.get(jobs[i][0]), jobs[i][1])

            threads = [threading.Thread(target=work, args=(i,), daemon=True)
                       for i in range(len(jobs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(READ_TIMEOUT + 30)
            hung = [jobs[i][0] for i, t in enumerate(threads) if t.is_alive()]
            assert not hung, "burst %d of %s hung in %s" % (b, c.cid, hung)
        else:
            for i, (name, sql) in enumerate(jobs):
                results[i] = run_stmt(self.conns.get(name), sql)
        if s0 is not None:
            s1 = stats(self.stats_ep)
            self.bursts[b] = (sum(1 for n, _ in jobs if n.startswith("plain")),
                              {k: delta(s0, s1, k) for k in
                               ("batches", "queries_batched", "fallbacks")})
        for (name, sql), r in zip(jobs, results):
            self.out.append(("%s burst %d: %s" % (name, b, sql), r))

    def root_do(self, sqls):
        if self.root is None:
            self.root = self.mariadb.connect(database=DB,
                                             read_timeout=READ_TIMEOUT)
        for sql in sqls:
            self.out.append(("root: %s" % sql, run_stmt(self.root, sql)))

    def execute(self):
        c = self.case
        for name in self.plain_names():
            self.open(name)
        for s in c.sessions:
            if not s.late:
                self.open(s.name)
        for step in c.script:
            self.step(step)

    def step(self, step):
        c = self.case
        kind = step[0]
        if kind == "setup":
            for s in c.sessions:
                if s.name in self.conns:
                    for sql in s.setup:
                        self.do(s.name, sql)
        elif kind == "follow":
            for s in c.sessions:
                if s.name in self.conns:
                    for sql in s.follow:
                        self.do(s.name, sql)
        elif kind == "burst":
            self.burst(step[1])
        elif kind == "root":
            self.root_do(step[1])
        elif kind == "open":
            for name in step[1]:
                self.open(name)
        elif kind == "do":
            for sql in step[2]:
                self.do(step[1], sql)
        elif kind == "ps":
            self.out.append(("%s: PS %s" % (step[1], step[2]),
                             run_ps(self.conns.get(step[1]), step[2])))
        elif kind == "cmd":
            self.out.append(("%s: command %s" % (step[1], step[2]),
                             run_cmd(self.conns.get(step[1]), step[2])))
        else:
            raise AssertionError("bad step %r" % (step,))

    def close(self):
        for conn in list(self.conns.values()) + [self.root]:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass


def root_run(mariadb, sqls, check=True):
    conn = mariadb.connect(database=DB)
    try:
        for sql in sqls:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
            except pymysql.err.MySQLError:
                if check:
                    raise
    finally:
        conn.close()


def run_case(case, mariadb, ep, concurrent, stats_ep):
    saved = {}
    if case.globals:
        for g in case.globals:
            saved[g] = mariadb.query("SELECT @@GLOBAL.%s" % g)[0][0]
    root_run(mariadb, case.root_teardown, check=False)
    root_run(mariadb, case.root_setup)
    r = Run(case, ep, mariadb, concurrent, stats_ep)
    try:
        r.execute()
    finally:
        r.close()
        for g, v in saved.items():
            root_run(mariadb, ["SET GLOBAL %s = %s" % (g, pymysql.converters
                                                       .escape_string(v)
                                                       .join("''"))],
                     check=False)
        root_run(mariadb, case.root_teardown, check=False)
    return r


def check_case(case, mode, inbatch_factory, mariadb):
    """Run <case> directly and through a proxy in <mode>; every statement
    must answer alike.  Returns the endpoint it went through."""
    users = {APP_USER: APP_PASSWORD, "root": ""}
    users.update(case.users)
    if mode == "window":
        proxy = inbatch_factory(users=users, **WINDOW)
    elif mode == "adaptive-busy":
        proxy = inbatch_factory(users=users, batch_mode="adaptive",
                                batch_busy_keys=3)
    else:
        proxy = inbatch_factory(users=users, batch_mode="adaptive")
    direct = Endpoint(mariadb.port, kind="direct")
    want = run_case(case, mariadb, direct, False, None)
    if os.environ.get("IB_EXACT_DUMP"):
        # a debugging aid: the oracle transcripts of every case
        with open(os.environ["IB_EXACT_DUMP"], "a") as f:
            f.write("== %s\n" % case.cid)
            for label, o in want.out:
                f.write("%s\n    %r\n" % (label, o[:1] + o[2:4]
                                         if o[0] == "ok" else o))
    stats_ep = proxy if (mode == "window" and proxy.kind == "proxy") \
        else None
    got = run_case(case, mariadb, proxy, True, stats_ep)
    bad = []
    assert len(got.out) == len(want.out), (got.out, want.out)
    for (label, g), (_, w) in zip(got.out, want.out):
        if g != w:
            bad.append("%s\n    proxy:  %r\n    direct: %r" % (label, g, w))
    if proxy.kind == "proxy" and proxy.proc.poll() is not None:
        bad.append("inbatch exited with %s:\n%s"
                   % (proxy.proc.returncode, tail(proxy.log_path)))
    assert not bad, "%s [%s]: %d statement(s) differ from MariaDB run " \
        "alone:\n%s" % (case.cid, mode, len(bad), "\n".join(bad[:12]))
    if stats_ep is None:
        return proxy
    # the plain sessions of each burst really went through the batcher
    not_batched = []
    for b, (nplain, d) in sorted(got.bursts.items()):
        if case.prove is not None and b not in case.prove:
            continue
        if nplain == 0:
            continue
        plain_out = [w for label, w in want.out
                     if label.startswith("plain")
                     and (" burst %d: " % b) in label]
        if any(o[0] != "ok" for o in plain_out):
            continue  # the plain answer is an error: nothing to batch
        # a key with several rows runs alone (their order is the
        # lookup's own): only the others must be batched
        single = sum(1 for o in plain_out
                     if case.multi_rows or len(o[2]) <= 1)
        if single < 2:
            continue
        if d["batches"] < 1 or d["queries_batched"] < single - 1:
            not_batched.append("burst %d: %d plain sessions, %r"
                               % (b, nplain, d))
    assert not not_batched, "%s: plain sessions not batched (exact, but " \
        "the case did not exercise the batcher):\n%s" % (
            case.cid, "\n".join(not_batched))
    return proxy


# --- data helpers ------------------------------------------------------------

PEOPLE = [(1, "alice", 10, "2020-06-01 12:00:00", "n1"),
          (2, "bob", 20, "2020-06-02 12:00:00", "n2"),
          (3, "carol", 30, "2020-06-03 12:00:00", None),
          (4, "dave", 40, "2020-06-04 12:00:00", "n4"),
          (5, "erin", 50, "2020-06-05 12:00:00", "n5")]
NAMES = ["alice", "bob", "carol", "dave"]


def people(t, extra="", versioning=""):
    """Statements creating table <t> with the PEOPLE rows."""
    return ["DROP TABLE IF EXISTS `%s`" % t,
            "CREATE TABLE `%s` (id INT PRIMARY KEY, name VARCHAR(20) NULL, "
            "v INT NOT NULL, ts TIMESTAMP NULL, note VARCHAR(20) NULL, "
            "KEY (name)%s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4%s"
            % (t, extra, versioning),
            "INSERT INTO `%s` (id, name, v, ts, note) VALUES %s" % (
                t, ", ".join("(%d, '%s', %d, '%s', %s)" % (
                    i, n, v, ts, "NULL" if note is None else "'%s'" % note)
                    for i, n, v, ts, note in PEOPLE))]


def lk(t, name, cols="id, v, note", rest=""):
    return "SELECT %s FROM %s WHERE name = '%s'%s" % (cols, t, name, rest)


def plain_lk(t, cols="id, v, note", rest=""):
    return [lk(t, n, cols, rest) for n in NAMES]


def drop(*tables):
    return ["DROP TABLE IF EXISTS %s" % ", ".join(tables)]


CASES = []


def case(*a, **kw):
    CASES.append(Case(*a, **kw))


# --- 1. roles and privileges ---------------------------------------------------

ROLE_USERS = {"app2": "pw2"}
case("role-set-none",
     people("ex_role") + people("ex_role_o") + [
         "CREATE ROLE ex_r_sel",
         "GRANT SELECT ON ibtest.ex_role TO ex_r_sel",
         "CREATE USER app2@'%' IDENTIFIED BY 'pw2'",
         "GRANT SELECT ON ibtest.ex_role_o TO app2@'%'",
         "GRANT ex_r_sel TO app2@'%'",
         "SET DEFAULT ROLE ex_r_sel FOR app2@'%'"],
     [S("X", lk("ex_role", "alice"), setup=["SET ROLE NONE"],
        follow=["SELECT CURRENT_ROLE()"], user="app2", password="pw2")],
     plain_lk("ex_role"), users=ROLE_USERS, plain_user="app2",
     plain_password="pw2",
     root_teardown=["DROP USER IF EXISTS app2@'%'",
                    "DROP ROLE IF EXISTS ex_r_sel"] + drop("ex_role",
                                                           "ex_role_o"))

# the role gives the whole table, the account itself only some columns
case("role-none-column-privileges",
     people("ex_rolc") + [
         "CREATE ROLE ex_r_selc",
         "GRANT SELECT ON ibtest.ex_rolc TO ex_r_selc",
         "CREATE USER app2@'%' IDENTIFIED BY 'pw2'",
         "GRANT SELECT (id, name, note) ON ibtest.ex_rolc TO app2@'%'",
         "GRANT ex_r_selc TO app2@'%'",
         "SET DEFAULT ROLE ex_r_selc FOR app2@'%'"],
     [S("X", [lk("ex_rolc", "alice", "id, note"),
              lk("ex_rolc", "alice", "id, v")],
        setup=["SET ROLE NONE"], user="app2", password="pw2"),
      S("Y", [lk("ex_rolc", "bob", "id, note"), "SELECT * FROM ex_rolc "
              "WHERE name = 'bob'"], setup=["SET ROLE NONE"], user="app2",
        password="pw2")],
     [plain_lk("ex_rolc", "id, note"), plain_lk("ex_rolc", "id, v")],
     script=[("setup",), ("burst", 0), ("burst", 1)],
     users=ROLE_USERS, plain_user="app2", plain_password="pw2",
     root_teardown=["DROP USER IF EXISTS app2@'%'",
                    "DROP ROLE IF EXISTS ex_r_selc"] + drop("ex_rolc"))

# two accounts with different column privileges on the same table
case("column-privileges-two-users",
     people("ex_colp") + people("ex_colp_o") + [
         "CREATE USER app5@'%' IDENTIFIED BY 'pw5'",
         "GRANT SELECT ON ibtest.ex_colp_o TO app5@'%'",
         "GRANT SELECT (id, name) ON ibtest.ex_colp TO app5@'%'"],
     [S("X", lk("ex_colp", "alice", "id, v"), user="app5", password="pw5"),
      S("Y", "SELECT * FROM ex_colp WHERE name = 'bob'", user="app5",
        password="pw5"),
      S("Z", lk("ex_colp", "carol", "id"), user="app5", password="pw5")],
     [lk("ex_colp", n, "id, v") for n in NAMES],
     users={"app5": "pw5"},
     root_teardown=["DROP USER IF EXISTS app5@'%'"] + drop("ex_colp",
                                                           "ex_colp_o"))

# pool staleness: a privilege revoked after the plain sessions logged in
case("revoke-then-new-session",
     people("ex_rev") + people("ex_rev_o") + [
         "CREATE USER app3@'%' IDENTIFIED BY 'pw3'",
         "GRANT SELECT ON ibtest.ex_rev_o TO app3@'%'",
         "GRANT SELECT ON ibtest.ex_rev TO app3@'%'"],
     [S("X", [None, lk("ex_rev", "alice")], user="app3", password="pw3",
        late=True)],
     [plain_lk("ex_rev"), plain_lk("ex_rev")],
     script=[("burst", 0),
             ("root", ["REVOKE SELECT ON ibtest.ex_rev FROM app3@'%'"]),
             ("open", ["X"]), ("burst", 1)],
     users={"app3": "pw3"}, plain_user="app3", plain_password="pw3",
     root_teardown=["DROP USER IF EXISTS app3@'%'"] + drop("ex_rev",
                                                           "ex_rev_o"))

# and the other way: a privilege granted after the sessions logged in
case("grant-then-new-session",
     people("ex_grt") + people("ex_grt_o") + [
         "CREATE USER app3@'%' IDENTIFIED BY 'pw3'",
         "GRANT SELECT ON ibtest.ex_grt_o TO app3@'%'"],
     [S("X", [None, lk("ex_grt", "alice")], user="app3", password="pw3",
        late=True)],
     [plain_lk("ex_grt"), plain_lk("ex_grt")],
     script=[("burst", 0),
             ("root", ["GRANT SELECT ON ibtest.ex_grt TO app3@'%'"]),
             ("open", ["X"]), ("burst", 1)],
     users={"app3": "pw3"}, plain_user="app3", plain_password="pw3",
     root_teardown=["DROP USER IF EXISTS app3@'%'"] + drop("ex_grt",
                                                           "ex_grt_o"))


# --- 2. isolation ----------------------------------------------------------------

ISO_SETUPS = [
    ("autocommit0", ["SET autocommit=0"]),
    ("autocommit0-read-committed",
     ["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
      "SET autocommit=0"]),
    ("start-transaction", ["START TRANSACTION"]),
    ("consistent-snapshot", ["START TRANSACTION WITH CONSISTENT SNAPSHOT"]),
]
for _label, _setup in ISO_SETUPS:
    case("isolation-snapshot-" + _label,
         people("ex_iso"),
         [S("X", [lk("ex_iso", "alice"), lk("ex_iso", "alice"),
                  lk("ex_iso", "alice")],
            setup=_setup)],
         [plain_lk("ex_iso"), plain_lk("ex_iso"), plain_lk("ex_iso")],
         script=[("setup",), ("burst", 0),
                 ("do", "X", ["SELECT @@in_transaction"]),
                 ("root", ["UPDATE ex_iso SET v = v + 1 WHERE name = "
                           "'alice'"]),
                 ("burst", 1), ("do", "X", ["COMMIT"]), ("burst", 2)],
         root_teardown=drop("ex_iso"))

case("isolation-serializable-shared-lock",
     people("ex_ser"),
     [S("X", lk("ex_ser", "alice"),
        setup=["SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
               "SET autocommit=0"])],
     plain_lk("ex_ser"),
     script=[("setup",), ("burst", 0),
             ("root", ["SET SESSION innodb_lock_wait_timeout = 1",
                       "UPDATE ex_ser SET v = v + 1 WHERE name = 'alice'"]),
             ("do", "X", ["ROLLBACK"])],
     root_teardown=drop("ex_ser"))

case("isolation-read-uncommitted",
     people("ex_ru"),
     [S("X", [lk("ex_ru", "alice"), lk("ex_ru", "alice")],
        setup=["SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"])],
     [plain_lk("ex_ru"), plain_lk("ex_ru")],
     script=[("setup",),
             ("root", ["BEGIN",
                       "UPDATE ex_ru SET v = 999 WHERE name = 'alice'"]),
             ("burst", 0), ("root", ["ROLLBACK"]), ("burst", 1)],
     root_teardown=drop("ex_ru"))

case("isolation-read-only-transaction",
     people("ex_ro"),
     [S("X", lk("ex_ro", "alice"), setup=["START TRANSACTION READ ONLY"],
        follow=["UPDATE ex_ro SET v = 1 WHERE id = 1", "COMMIT"]),
      S("Y", lk("ex_ro", "bob"),
        setup=["SET SESSION TRANSACTION READ ONLY", "SET autocommit=0"],
        follow=["UPDATE ex_ro SET v = 1 WHERE id = 2", "ROLLBACK"])],
     plain_lk("ex_ro"), root_teardown=drop("ex_ro"))


# --- 3. session changes not visible in the text ---------------------------------

TMP_DEF = "ex_tmp (id INT, name VARCHAR(20), v INT, note VARCHAR(20))"
TMP_INS = "INSERT INTO ex_tmp VALUES (1, 'alice', -1, 'temp'), " \
    "(9, 'bob', -2, 'temp')"
TEMP_VARIANTS = [
    ("exec-comment", ["/*!CREATE TEMPORARY TABLE %s*/" % TMP_DEF, TMP_INS]),
    ("mariadb-comment", ["/*M!CREATE TEMPORARY TABLE %s*/" % TMP_DEF,
                         TMP_INS]),
    ("versioned-comment", ["/*!100000 CREATE TEMPORARY TABLE %s */"
                           % TMP_DEF, TMP_INS]),
    ("set-statement", ["SET STATEMENT sql_mode='' FOR CREATE TEMPORARY "
                       "TABLE %s" % TMP_DEF, TMP_INS]),
    ("prepare-execute", ["PREPARE s FROM 'CREATE TEMPORARY TABLE %s'"
                         % TMP_DEF, "EXECUTE s", "DEALLOCATE PREPARE s",
                         TMP_INS]),
    ("execute-immediate", ["EXECUTE IMMEDIATE 'CREATE TEMPORARY TABLE %s'"
                           % TMP_DEF, TMP_INS]),
    ("procedure", ["CALL ex_mk_tmp()"]),
    ("procedure-comment", ["/*!CALL ex_mk_tmp()*/"]),
]
for _label, _setup in TEMP_VARIANTS:
    case("temp-table-shadows-" + _label,
         people("ex_tmp") + [
             "DROP PROCEDURE IF EXISTS ex_mk_tmp",
             "CREATE PROCEDURE ex_mk_tmp() BEGIN CREATE TEMPORARY TABLE %s; "
             "%s; END" % (TMP_DEF, TMP_INS)],
         [S("X", [lk("ex_tmp", "alice"), lk("ex_tmp", "bob")],
            setup=_setup)],
         [plain_lk("ex_tmp"), plain_lk("ex_tmp")],
         script=[("setup",), ("burst", 0), ("burst", 1)],
         root_teardown=["DROP PROCEDURE IF EXISTS ex_mk_tmp"]
         + drop("ex_tmp"))

TZ_LOOKUP = lk("ex_tz", "alice", "id, ts")
TZ_VARIANTS = [
    ("prepared-set", [("do", ["PREPARE s FROM 'SET time_zone = "
                              "''+05:00'''", "EXECUTE s",
                              "DEALLOCATE PREPARE s"])]),
    ("execute-immediate", [("do", ["EXECUTE IMMEDIATE 'SET time_zone = "
                                   "''+05:00'''"])]),
    ("binary-protocol-set", [("ps", "SET time_zone = '+05:00'")]),
    ("exec-comment-set", [("do", ["/*!SET time_zone = '+05:00'*/"])]),
    ("procedure", [("do", ["CALL ex_set_tz()"])]),
    ("function-in-select", [("do", ["SELECT ex_set_tz_f()"])]),
]
for _label, _steps in TZ_VARIANTS:
    _script = [("do", "X", st[1]) if st[0] == "do" else ("ps", "X", st[1])
               for st in _steps]
    case("time-zone-hidden-" + _label,
         people("ex_tz") + [
             "DROP PROCEDURE IF EXISTS ex_set_tz",
             "CREATE PROCEDURE ex_set_tz() SET time_zone = '+05:00'",
             "DROP FUNCTION IF EXISTS ex_set_tz_f",
             "CREATE FUNCTION ex_set_tz_f() RETURNS INT BEGIN "
             "SET time_zone = '+05:00'; RETURN 1; END"],
         [S("X", [TZ_LOOKUP, TZ_LOOKUP], follow=["SELECT @@time_zone"])],
         [[lk("ex_tz", n, "id, ts") for n in NAMES]] * 2,
         script=[("burst", 0)] + _script + [("burst", 1), ("follow",)],
         root_teardown=["DROP PROCEDURE IF EXISTS ex_set_tz",
                        "DROP FUNCTION IF EXISTS ex_set_tz_f"]
         + drop("ex_tz"))

# the session turns our trackers off, then changes what a lookup returns:
# nothing the server says afterwards would tell
TRACKERS_OFF = ("session_track_system_variables = '', "
                "session_track_state_change = OFF, "
                "session_track_schema = OFF")
for _label, _off in [
        ("set", ["SET " + TRACKERS_OFF]),
        ("set-session", ["SET SESSION " + TRACKERS_OFF.replace(
            ", ", ", SESSION ")]),
        ("execute-immediate", ["EXECUTE IMMEDIATE CONCAT('SET session', "
                               "'_track_system_variables = , "
                               "session', '_track_state_change = OFF')"])]:
    case("trackers-off-then-time-zone-" + _label,
         people("ex_tkoff"),
         [S("X", [TZ_LOOKUP.replace("ex_tz", "ex_tkoff")] * 2,
            setup=_off + ["SET time_zone = '+05:00'"],
            follow=["SELECT @@time_zone"])],
         [[lk("ex_tkoff", n, "id, ts") for n in NAMES]] * 2,
         script=[("setup",), ("burst", 0), ("burst", 1), ("follow",)],
         root_teardown=drop("ex_tkoff"))

# a batch may skip the lookup's own run while the join's column
# definitions are those it ran beside; a change made directly on the
# server, which inbatch never sees, changes the definitions
KEPT_DDL = [
    ("type", "MODIFY v BIGINT NOT NULL"),
    ("length", "MODIFY note VARCHAR(40) NULL"),
    ("charset", "MODIFY note VARCHAR(20) CHARACTER SET latin1 NULL"),
    ("unsigned", "MODIFY v INT UNSIGNED NOT NULL"),
    ("unique", "ADD UNIQUE KEY (v)"),
    ("not-null", "MODIFY note VARCHAR(20) NOT NULL DEFAULT ''"),
    ("new-column", "ADD COLUMN extra INT NOT NULL DEFAULT 7"),
    ("rename", "RENAME COLUMN note TO remark"),
    ("drop", "DROP COLUMN ts"),
    ("drop-index", "DROP INDEX name"),
]
# a sorted join loses key flags: sorted shapes keep nothing (columns
# without key flags, so that the join and the lookup look alike at first)
for _label, _ddl in KEPT_DDL + [("sorted-unique", "ADD UNIQUE KEY (v)"),
                                ("sorted-index", "ADD INDEX (note)")]:
    _sorted = _label.startswith("sorted")
    case("kept-definitions-then-" + _label,
         people("ex_kept"),
         [],
         [plain_lk("ex_kept", "v, note" if _sorted else "*",
                   " ORDER BY id" if _sorted else "")] * 5,
         script=[("burst", 0), ("burst", 1), ("burst", 2),
                 ("root", ["ALTER TABLE ex_kept " + _ddl]),
                 ("burst", 3), ("burst", 4)],
         root_teardown=drop("ex_kept"))

# the key column itself changed directly on the server, between the
# probe and the next bursts: YEAR reads an integer literal as a year, a
# join compares it as an integer; the join's own key column tells
for _label, _ddl in [("year", "MODIFY v YEAR NOT NULL"),
                     ("year-nullable", "MODIFY v YEAR NULL")]:
    case("key-column-then-" + _label,
         people("ex_keyty"),
         [],
         [["SELECT id, name FROM ex_keyty WHERE v = %d" % v
           for v in (10, 20, 30, 40)]] * 4,
         script=[("burst", 0), ("burst", 1),
                 ("root", ["ALTER TABLE ex_keyty " + _ddl]),
                 ("burst", 2), ("burst", 3)],
         prove=[0, 1], root_teardown=drop("ex_keyty"))

case("time-zone-global-changed-new-session",
     people("ex_tzg"),
     [S("X", [None, lk("ex_tzg", "alice", "id, ts")], late=True,
        follow=["SELECT @@time_zone"]),
      S("Y", [None, lk("ex_tzg", "bob", "id, ts")], late=True)],
     [[lk("ex_tzg", n, "id, ts") for n in NAMES]] * 2,
     script=[("burst", 0), ("root", ["SET GLOBAL time_zone = '+05:00'"]),
             ("open", ["X", "Y"]), ("burst", 1), ("follow",)],
     globals_=["time_zone"], root_teardown=drop("ex_tzg"))

for _label, _lock in [("exec-comment", "/*!LOCK TABLES ex_lk2 READ*/"),
                      ("plain", "LOCK TABLES ex_lk2 READ"),
                      ("mariadb-comment", "/*M!LOCK TABLE ex_lk2 READ*/")]:
    case("lock-tables-" + _label,
         people("ex_lk") + people("ex_lk2"),
         [S("X", lk("ex_lk", "alice"), setup=[_lock],
            follow=["UNLOCK TABLES"])],
         plain_lk("ex_lk"), root_teardown=drop("ex_lk", "ex_lk2"))


# --- 4. session state outside the tracked context -------------------------------

RX_SETUP = ["DROP TABLE IF EXISTS ex_rx",
            "CREATE TABLE ex_rx (id INT PRIMARY KEY, k VARCHAR(10), "
            "name VARCHAR(20), KEY (k))",
            "INSERT INTO ex_rx VALUES (1, 'x', 'a\\nb'), (2, 'y', 'acb'), "
            "(3, 'z', 'a\\nb'), (4, 'w', 'ab')"]
case("default-regex-flags-dotall",
     RX_SETUP,
     [S("X", "SELECT id FROM ex_rx WHERE k = 'x' AND name REGEXP 'a.b'",
        setup=["SET default_regex_flags = 'DOTALL'"])],
     ["SELECT id FROM ex_rx WHERE k = '%s' AND name REGEXP 'a.b'" % k
      for k in ("x", "y", "z", "w")],
     root_teardown=drop("ex_rx"))

BIG_SETUP = ["DROP TABLE IF EXISTS ex_big",
             "CREATE TABLE ex_big (id INT PRIMARY KEY, name VARCHAR(20), "
             "note VARCHAR(20))",
             "INSERT INTO ex_big SELECT seq, CONCAT('n', seq), "
             "CONCAT('note', seq % 7) FROM seq_1_to_40"]
for _label, _setup in [("max-join-size", ["SET max_join_size = 1"]),
                       ("max-join-size-big-selects",
                        ["SET max_join_size = 1", "SET sql_big_selects = 1"]),
                       ("sql-big-selects-off",
                        ["SET max_join_size = 5", "SET sql_big_selects = 0"])]:
    case("limits-" + _label, BIG_SETUP,
         [S("X", "SELECT id FROM ex_big WHERE note = 'note3' ORDER BY id",
            setup=_setup)],
         ["SELECT id FROM ex_big WHERE note = 'note%d' ORDER BY id" % i
          for i in (1, 2, 4, 5)],
         root_teardown=drop("ex_big"))

case("sql-select-limit",
     ["DROP TABLE IF EXISTS ex_ssl",
      "CREATE TABLE ex_ssl (id INT PRIMARY KEY, name VARCHAR(20), KEY(name))",
      "INSERT INTO ex_ssl VALUES (1,'a'),(2,'a'),(3,'a'),(4,'b'),(5,'c'),"
      "(6,'d')"],
     [S("X", "SELECT id FROM ex_ssl WHERE name = 'a' ORDER BY id",
        setup=["SET sql_select_limit = 1"]),
      S("Y", "SELECT id FROM ex_ssl WHERE name = 'a' ORDER BY id LIMIT 2",
        setup=["SET sql_select_limit = 1"])],
     ["SELECT id FROM ex_ssl WHERE name = '%s' ORDER BY id" % k
      for k in "abcd"],
     root_teardown=drop("ex_ssl"))

# sql_mode variants that change what the same text means
MODE_SETUP = people("ex_mode") + [
    "DROP TABLE IF EXISTS ex_modec",
    "CREATE TABLE ex_modec (id INT PRIMARY KEY, name VARCHAR(20), "
    "c CHAR(8), KEY (name))",
    "INSERT INTO ex_modec VALUES (1,'alice','ab'),(2,'bob','cd'),"
    "(3,'carol','ef'),(4,'dave','gh')"]
for _label, _mode, _x, _plain in [
        ("oracle-concat", "ORACLE",
         "SELECT id FROM ex_mode WHERE name = 'bob' AND v || 'x' = '10x'",
         "SELECT id FROM ex_mode WHERE name = '%s' AND v || 'x' = '10x'"),
        ("pipes-as-concat", "PIPES_AS_CONCAT",
         "SELECT id, name || '!' AS s FROM ex_mode WHERE name = 'bob'",
         "SELECT id, name || '!' AS s FROM ex_mode WHERE name = '%s'"),
        ("ansi-quotes-key", "ANSI_QUOTES",
         'SELECT id FROM ex_mode WHERE name = "name" ORDER BY id',
         'SELECT id FROM ex_mode WHERE name = "%s" ORDER BY id'),
        ("pad-char", "PAD_CHAR_TO_FULL_LENGTH",
         "SELECT id, c, LENGTH(c) AS l FROM ex_modec WHERE name = 'alice'",
         "SELECT id, c, LENGTH(c) AS l FROM ex_modec WHERE name = '%s'"),
        ("high-not-precedence", "HIGH_NOT_PRECEDENCE",
         "SELECT id FROM ex_mode WHERE name = 'alice' AND NOT v BETWEEN 0 "
         "AND 5",
         "SELECT id FROM ex_mode WHERE name = '%s' AND NOT v BETWEEN 0 "
         "AND 5"),
        ("empty-string-is-null", "EMPTY_STRING_IS_NULL",
         "SELECT id, '' IS NULL AS e FROM ex_mode WHERE name = 'alice'",
         "SELECT id, '' IS NULL AS e FROM ex_mode WHERE name = '%s'")]:
    # `||` in the WHERE clause is refused by design (it may be OR)
    case("sql-mode-" + _label, MODE_SETUP,
         [S("X", _x, setup=["SET sql_mode = '%s'" % _mode])],
         [_plain % n for n in NAMES],
         # plain sessions read `||` as OR there: their own lookups warn,
         # so their batch falls back
         prove=() if _label in ("oracle-concat", "pipes-as-concat")
         else None,
         root_teardown=drop("ex_mode", "ex_modec"))

# views and functions that read session state the text does not show
VIEW_BASE = people("ex_vb") + [
    "DROP TABLE IF EXISTS ex_cidt",
    "CREATE TABLE ex_cidt (c BIGINT)",
    "DROP TABLE IF EXISTS ex_ai",
    "CREATE TABLE ex_ai (id INT AUTO_INCREMENT PRIMARY KEY, x INT)",
    "DROP FUNCTION IF EXISTS ex_getv",
    "CREATE FUNCTION ex_getv() RETURNS INT RETURN @v",
    "CREATE OR REPLACE VIEW ex_v_week AS SELECT id, name, "
    "WEEK('2023-01-01') AS w FROM ex_vb",
    "CREATE OR REPLACE VIEW ex_v_now AS SELECT id, name, "
    "YEAR(NOW()) < 2005 AS old FROM ex_vb",
    "CREATE OR REPLACE VIEW ex_v_cid AS SELECT id, name, CONNECTION_ID() "
    "IN (SELECT c FROM ex_cidt) AS mine FROM ex_vb",
    "CREATE OR REPLACE VIEW ex_v_lid AS SELECT id, name, LAST_INSERT_ID() "
    "AS li FROM ex_vb",
    "CREATE OR REPLACE VIEW ex_v_uv AS SELECT id, name, ex_getv() AS gv "
    "FROM ex_vb",
]
VIEW_TEARDOWN = ["DROP VIEW IF EXISTS ex_v_week, ex_v_now, ex_v_cid, "
                 "ex_v_lid, ex_v_uv", "DROP FUNCTION IF EXISTS ex_getv"] + \
    drop("ex_vb", "ex_cidt", "ex_ai")
for _label, _view, _cols, _setup in [
        ("default-week-format", "ex_v_week", "id, w",
         ["SET default_week_format = 1"]),
        ("timestamp", "ex_v_now", "id, old", ["SET timestamp = 946684800"]),
        ("connection-id", "ex_v_cid", "id, mine",
         ["INSERT INTO ex_cidt VALUES (CONNECTION_ID())"]),
        ("last-insert-id-select", "ex_v_lid", "id, li",
         ["SELECT LAST_INSERT_ID(42)"]),
        ("last-insert-id-insert", "ex_v_lid", "id, li",
         ["INSERT INTO ex_ai (x) VALUES (1)"]),
        ("user-variable-set", "ex_v_uv", "id, gv", ["SET @v = 7"]),
        ("user-variable-select", "ex_v_uv", "id, gv", ["SELECT @v := 7"])]:
    # a correct proxy may refuse to batch a view over session state, so
    # the batching proof is not required here
    case("view-session-" + _label, VIEW_BASE,
         [S("X", lk(_view, "alice", _cols), setup=_setup)],
         plain_lk(_view, _cols), prove=(),
         root_teardown=VIEW_TEARDOWN)

case("now-after-set-timestamp",
     people("ex_now"),
     [S("X", lk("ex_now", "alice", "id, YEAR(NOW()) < 2005 AS old"),
        setup=["SET timestamp = 946684800"])],
     plain_lk("ex_now", "id, YEAR(NOW()) < 2005 AS old"), prove=(),
     root_teardown=drop("ex_now"))

IS_LOOKUP = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES " \
    "WHERE VARIABLE_NAME = '%s'"
for _label, _var, _setup in [
        ("time-zone", "TIME_ZONE", "SET time_zone = '+03:00'"),
        ("wait-timeout", "WAIT_TIMEOUT", "SET wait_timeout = 1234"),
        ("week-format", "DEFAULT_WEEK_FORMAT", "SET default_week_format = 3")]:
    case("information-schema-session-variables-" + _label, [],
         [S("X", IS_LOOKUP % _var, setup=[_setup])],
         [IS_LOOKUP % v for v in ("TIME_ZONE", "WAIT_TIMEOUT",
                                  "DEFAULT_WEEK_FORMAT", "SQL_MODE")],
         prove=())

# a versioned table is not a base table: never batched, always exact
case("system-versioning-asof",
     people("ex_sv", versioning=" WITH SYSTEM VERSIONING"),
     [S("X", lk("ex_sv", "alice"),
        setup=["SET system_versioning_asof = '2000-01-01'"])],
     plain_lk("ex_sv"), prove=(), root_teardown=drop("ex_sv"))

# a full scan of enough rows always outlasts the 1 us limit; the plain
# sessions scan too (their notes match nothing) and are batched
HUGE_SETUP = ["DROP TABLE IF EXISTS ex_huge",
              "CREATE TABLE ex_huge (id INT PRIMARY KEY, note VARCHAR(20))",
              "INSERT INTO ex_huge SELECT seq, CONCAT('note', seq % 7) "
              "FROM seq_1_to_200000"]
case("max-statement-time",
     HUGE_SETUP,
     [S("X", "SELECT id FROM ex_huge WHERE note = 'nothing' ORDER BY id",
        setup=["SET max_statement_time = 0.000001"],
        follow=["SET max_statement_time = 0"])],
     ["SELECT id FROM ex_huge WHERE note = 'none%d' ORDER BY id" % i
      for i in (1, 2, 4, 5)], root_teardown=drop("ex_huge"))

case("lc-messages-warnings",
     people("ex_lcm"),
     [S("X", lk("ex_lcm", "alice", "id", " AND v > 1/0"),
        setup=["SET lc_messages = 'de_DE'"], follow=["SHOW WARNINGS"])],
     plain_lk("ex_lcm", "id", " AND v > 1/0"), prove=(),
     root_teardown=drop("ex_lcm"))

case("character-set-client-only",
     people("ex_csc") + ["INSERT INTO ex_csc (id, name, v) VALUES "
                         "(6, 'zo\u00eb', 60)"],
     [S("X", lk("ex_csc", "zo\u00eb", "id, name"),
        setup=["SET character_set_client = latin1"]),
      S("Y", lk("ex_csc", "zo\u00eb", "id, name"),
        setup=["SET character_set_results = NULL"])],
     [lk("ex_csc", n, "id, name") for n in NAMES + ["zo\u00eb"]],
     root_teardown=drop("ex_csc"))

case("client-found-rows-flag",
     people("ex_cfr"),
     [S("X", lk("ex_cfr", "alice"), client_flag=CLIENT.FOUND_ROWS,
        follow=["UPDATE ex_cfr SET v = v WHERE id = 1"]),
      S("Y", lk("ex_cfr", "alice"),
        follow=["UPDATE ex_cfr SET v = v WHERE id = 1"])],
     plain_lk("ex_cfr"), root_teardown=drop("ex_cfr"))


# --- 5. pollution of pooled sessions ---------------------------------------------

POLL_SETUP = people("ex_pol") + people("ex_polts") + [
    "DROP FUNCTION IF EXISTS ex_f_tz",
    "CREATE FUNCTION ex_f_tz() RETURNS INT BEGIN "
    "SET time_zone = '+09:00'; RETURN 1; END",
    "DROP FUNCTION IF EXISTS ex_f_setv",
    "CREATE FUNCTION ex_f_setv() RETURNS INT BEGIN SET @pv = 5; RETURN 1; "
    "END",
    "DROP FUNCTION IF EXISTS ex_f_getv",
    "CREATE FUNCTION ex_f_getv() RETURNS INT RETURN @pv",
    "CREATE OR REPLACE VIEW ex_v_poltz AS SELECT id, name, ex_f_tz() AS f "
    "FROM ex_pol",
    "CREATE OR REPLACE VIEW ex_v_polset AS SELECT id, name, ex_f_setv() "
    "AS f FROM ex_pol",
    "CREATE OR REPLACE VIEW ex_v_polget AS SELECT id, name, ex_f_getv() "
    "AS g FROM ex_pol"]
POLL_TEARDOWN = ["DROP VIEW IF EXISTS ex_v_poltz, ex_v_polset, "
                 "ex_v_polget",
                 "DROP FUNCTION IF EXISTS ex_f_tz",
                 "DROP FUNCTION IF EXISTS ex_f_setv",
                 "DROP FUNCTION IF EXISTS ex_f_getv"] + drop("ex_pol",
                                                             "ex_polts")
case("pollution-function-sets-time-zone",
     POLL_SETUP,
     [S("X", [lk("ex_v_poltz", "alice", "id, f"),
              lk("ex_polts", "alice", "id, ts")],
        follow=["SELECT @@time_zone"])],
     [[lk("ex_v_poltz", "bob", "id, f"), lk("ex_pol", "bob", "id"),
       lk("ex_v_poltz", "carol", "id, f"), lk("ex_pol", "dave", "id")],
      [lk("ex_polts", n, "id, ts") for n in NAMES]],
     # the view's function changed the time zone of the sessions that read
     # it: directly they are in another state too, so they are not batched
     # with the others (and not at all: an EOF cannot say what changed)
     script=[("burst", 0), ("burst", 1), ("follow",)], prove=(),
     root_teardown=POLL_TEARDOWN)

case("pollution-function-sets-user-variable",
     POLL_SETUP,
     [S("X", [lk("ex_v_polset", "alice", "id, f"),
              lk("ex_v_polget", "alice", "id, g")])],
     [[lk("ex_v_polset", "bob", "id, f"), lk("ex_pol", "bob", "id"),
       lk("ex_v_polset", "carol", "id, f"), lk("ex_pol", "dave", "id")],
      [lk("ex_v_polget", n, "id, g") for n in NAMES]],
     script=[("burst", 0), ("burst", 1)], prove=(),
     root_teardown=POLL_TEARDOWN)

# A stored function cannot create a temporary table in MariaDB's view of
# it either way we tried to make it pollute the pool that way: the direct
# run decides what the answer is, so the case stays, whatever MariaDB says.
# every session that read the view now has a temporary table: none of
# them may share answers again until it is reset
case("pollution-function-creates-temporary-table",
     people("ex_polt") + [
         "DROP FUNCTION IF EXISTS ex_f_mktmp",
         "CREATE FUNCTION ex_f_mktmp() RETURNS INT BEGIN "
         "CREATE TEMPORARY TABLE IF NOT EXISTS ex_polt (id INT, v INT, "
         "note VARCHAR(20), name VARCHAR(20)); RETURN 1; END"],
     [S("X", [lk("ex_polt", "alice", "id, ex_f_mktmp() AS f"),
              lk("ex_polt", "alice")])],
     [[lk("ex_polt", n, "id, ex_f_mktmp() AS f") for n in NAMES],
      plain_lk("ex_polt")],
     script=[("burst", 0), ("burst", 1)], prove=(),
     root_teardown=["DROP FUNCTION IF EXISTS ex_f_mktmp"] + drop("ex_polt"))


# --- 6. the keys join must compare like the lookup --------------------------------

def key_case(cid, create, rows, col, cols, plain_keys, x_keys, charset=None,
             prove=None):
    """One table, plain sessions with ordinary keys and one adversarial
    session per odd key, all in one burst."""
    t = "ex_k_" + cid.replace("-", "_")
    setup = ["DROP TABLE IF EXISTS %s" % t,
             "CREATE TABLE %s (id INT PRIMARY KEY, %s, KEY (%s))"
             % (t, create, col)]
    if rows:
        setup.append("INSERT INTO %s VALUES %s" % (t, ", ".join(rows)))
    sql = "SELECT %s FROM %s WHERE %s = %%s ORDER BY id" % (cols, t, col)
    kw = {} if charset is None else dict(charset=charset)
    sess = [S("X%d" % i, sql % k, **kw) for i, k in enumerate(x_keys)]
    case("keys-" + cid, setup, sess, [sql % k for k in plain_keys],
         root_teardown=drop(t), plain_charset=charset or "utf8mb4",
         prove=prove)


# Types whose comparison with a key literal a keys join would change are
# refused by design (never batched; the answers must still be exact):
# YEAR, DECIMAL, dates, BIT, ENUM, SET, floats.
key_case("year", "y YEAR NULL", ["(1,1970)", "(2,2070)", "(3,2000)",
                                 "(4,1971)", "(5,2069)"], "y", "id, y",
         ["1971", "2000", "2069", "1970"],
         ["70", "'70'", "0", "'0'", "'00'", "69", "'1970'", "'70abc'"], prove=())

key_case("decimal-65", "d DECIMAL(65,0) NULL",
         ["(1,%s)" % ("9" * 65), "(2,1)", "(3,12345)"], "d", "id, d",
         ["1", "12345", "2", "3"],
         ["1" + "0" * 72, "9" * 73, "-" + "9" * 73, "'%s'" % ("9" * 73),
          "9" * 65, "%s.4" % ("9" * 65)], prove=())

key_case("latin1-nbsp",
         "name VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci",
         ["(1,'a\u00a0')", "(2,'a ')", "(3,'b')", "(4,'c\u00a0\u00a0')"],
         "name", "id, name, HEX(name) AS h",
         ["'b'", "'a'", "'c'", "'x'"],
         ["'a\u00a0'", "'a\u00a0\u00a0'", "'a '", "'a'", "'a\u00a0 '",
          "'c\u00a0'", "'c \u00a0'"], charset="latin1")
key_case("date", "d DATE NULL", ["(1,'2020-01-05')", "(2,'2020-01-06')",
                                 "(3,'2021-02-03')"], "d", "id, d",
         ["'2020-01-05'", "'2020-01-06'", "'2021-02-03'", "'1999-01-01'"],
         ["'2020-1-5'", "'20200105'", "'2020-01-05 00:00:00'",
          "'2020-01-05 00:00:01'", "20200105", "'2020/01/05'",
          "'2020-01-05x'"], prove=())

key_case("datetime", "dt DATETIME NULL",
         ["(1,'2020-01-05 00:00:00')", "(2,'2020-01-05 10:00:00')"], "dt",
         "id, dt", ["'2020-01-05 00:00:00'", "'2020-01-05 10:00:00'"],
         ["'2020-01-05'", "'2020-01-05 10:00'", "20200105100000",
          "'2020-01-05 10:00:00.4'", "'20200105'"], prove=())

key_case("bit", "b BIT(8) NULL", ["(1,b'101')", "(2,b'110')",
                                  "(3,b'110101')"], "b", "id, b + 0 AS b",
         ["5", "6"], ["5", "'5'", "b'101'", "0x05", "53", "'6'"], prove=())

key_case("enum", "e ENUM('x','y','z') NULL", ["(1,'x')", "(2,'y')",
                                              "(3,'z')"], "e", "id, e",
         ["'x'", "'z'"], ["2", "'2'", "'y'", "'Y'", "'y '", "2.0"], prove=())

key_case("set", "s SET('a','b','c') NULL", ["(1,'a,b')", "(2,'c')",
                                            "(3,'b')"], "s", "id, s",
         ["'c'", "'b'"], ["3", "'a,b'", "'b,a'", "'3'", "'A,B'"], prove=())

key_case("char-pad", "c CHAR(5) NULL", ["(1,'ab')", "(2,'cd')"], "c",
         "id, c", ["'cd'", "'ab'"], ["'ab'", "'ab  '", "'AB'", "'ab\\t'"])
key_case("nopad-bin",
         "n VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
         ["(1,'ab')", "(2,'ab ')", "(3,'cd')"], "n", "id, n",
         ["'cd'", "'zz'"], ["'ab'", "'ab '", "'ab  '", "'AB'"])
key_case("float", "f FLOAT NULL", ["(1,1.1)", "(2,1.5)", "(3,-0.25)"], "f",
         "id", ["1.5", "-0.25"],
         ["1.1", "'1.1'", "1.5", "1.1e0", "1.10000002384185791015625",
          "'1.5'"], prove=())

key_case("double", "dd DOUBLE NULL", ["(1,0.1)", "(2,0.3)", "(3,2.5)"],
         "dd", "id", ["2.5", "0.1"],
         ["0.1", "'0.1'", "1e-1", "0.30000000000000004", "0.3", "'.3'"], prove=())

key_case("int-strings", "k INT NULL", ["(1,5)", "(2,7)", "(3,0)"], "k",
         "id, k", ["5", "7", "0"],
         ["'5abc'", "'5'", "' 5'", "'5.0'", "5.4", "'0x5'", "'abc'"])
key_case("bigint-unsigned", "u BIGINT UNSIGNED NULL",
         ["(1,18446744073709551615)", "(2,0)", "(3,1)"], "u", "id, u",
         ["0", "1"],
         ["-1", "18446744073709551616", "'18446744073709551615'",
          "18446744073709551615", "1.0", "'1e0'"])
# integer keys go in an IN list, and each row finds its key by the value
# it returns: keys spelled with signs and leading zeros (one key per
# value), zero-filled values (a BIGINT's too, 20 digits), keys out of the
# column's range, several rows of one value
key_case("int-zerofill", "z INT(6) UNSIGNED ZEROFILL NULL",
         ["(1,7)", "(2,0)", "(3,123456)", "(4,42)", "(5,42)"], "z", "id, z",
         ["7", "0", "123456", "42"],
         ["007", "0042", "00", "-0", "+7", "-7", "4294967296", "1234567",
          "42"])
key_case("bigint-zerofill", "z BIGINT(20) UNSIGNED ZEROFILL NULL",
         ["(1,7)", "(2,0)", "(3,999999999999999999)", "(4,42)"], "z",
         "id, z", ["7", "0", "42", "8"],
         ["999999999999999999", "+0999999999999999", "0042", "-0"])
key_case("tinyint-range", "t TINYINT NULL",
         ["(1,-5)", "(2,5)", "(3,127)", "(4,-128)", "(5,0)"], "t", "id, t",
         ["5", "127", "0", "1"],
         ["300", "128", "05", "0127", "255", "-5", "-0005", "-128", "-129",
          "+5"])
key_case("bigint-unsigned-in-list", "u BIGINT UNSIGNED NULL",
         ["(1,18446744073709551615)", "(2,0)", "(3,1)",
          "(4,999999999999999999)"], "u", "id, u", ["0", "1", "2"],
         ["-1", "999999999999999999", "-999999999999999999", "01",
          "0999999999999999999"])
key_case("introducers",
         "name VARCHAR(20) CHARACTER SET utf8mb4 COLLATE "
         "utf8mb4_general_ci NULL",
         ["(1,'alice')", "(2,'Alice')", "(3,'bob')"], "name", "id, name",
         ["'alice'", "'ALICE'", "'bob'"],
         ["_binary'ALICE'", "_binary'alice'", "x'616c696365'",
          "0x414C494345", "N'alice'", "_latin1'alice'",
          "'alice' COLLATE utf8mb4_bin"])
key_case("mixed-string-number-keys", "name VARCHAR(20) NULL",
         ["(1,'1')", "(2,'01')", "(3,'1.0')", "(4,'abc')"], "name",
         "id, name", ["'abc'", "'1'"], ["1", "'01'", "1.0", "0", "'1.0'"])


# --- 7. diagnostics ---------------------------------------------------------------

DIAG_SETUP = ["DROP TABLE IF EXISTS ex_dg",
              "CREATE TABLE ex_dg (id INT PRIMARY KEY, k INT, name "
              "VARCHAR(20), KEY (k), KEY (name))",
              "INSERT INTO ex_dg VALUES (1,5,'alice'),(2,7,'bob'),"
              "(3,0,'carol'),(4,9,'dave'),(5,5,'alice2'),(6,11,'alice')"]
# key 0 divides by zero (its row, id 3): a warning only that key's lookup
# raises.  Not 10 / k: a rest that names the key is not batched.
DIAG_LK = "SELECT id FROM ex_dg WHERE k = %d AND 10 / (id - 3) > 1"
DIAG_FOLLOW = ["SHOW WARNINGS", "SELECT @@warning_count",
               "SHOW COUNT(*) WARNINGS", "SELECT @@error_count"]
# a batch whose coalesced query warns falls back whole: the burst with
# X's key 0 is exact but not batched
case("diagnostics-warning-lookup-then-show-warnings",
     DIAG_SETUP,
     [S("X", [DIAG_LK % 5, DIAG_LK % 0], follow=DIAG_FOLLOW)],
     [[DIAG_LK % k for k in (7, 9, 11, 5)]] * 2,
     script=[("burst", 0), ("burst", 1), ("follow",)], prove=(0,),
     root_teardown=drop("ex_dg"))

case("diagnostics-warning-then-clean-lookup",
     DIAG_SETUP,
     [S("X", [DIAG_LK % 0, DIAG_LK % 7], follow=DIAG_FOLLOW)],
     [[DIAG_LK % k for k in (7, 9, 11, 5)]] * 2,
     script=[("burst", 0), ("burst", 1), ("follow",)], prove=(1,),
     root_teardown=drop("ex_dg"))

case("diagnostics-stale-warnings-before-batched-lookup",
     DIAG_SETUP,
     [S("X", "SELECT id FROM ex_dg WHERE k = 7",
        setup=["SELECT 1 + 'a'"], follow=DIAG_FOLLOW),
      S("Y", "SELECT id FROM ex_dg WHERE k = 9",
        setup=["SELECT 1 + 'a'"],
        follow=["GET DIAGNOSTICS @n = NUMBER", "SELECT @n"]),
      S("Z", "SELECT id FROM ex_dg WHERE k = 9",
        setup=["SELECT nosuchcol FROM ex_dg"],
        follow=["GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
                "SELECT @m", "SHOW ERRORS"])],
     ["SELECT id FROM ex_dg WHERE k = %d" % k for k in (7, 0, 9, 11)],
     root_teardown=drop("ex_dg"))

case("diagnostics-found-rows-row-count",
     DIAG_SETUP,
     [S("X", "SELECT id FROM ex_dg WHERE name = 'alice' ORDER BY id",
        follow=["SELECT FOUND_ROWS()", "SELECT ROW_COUNT()"]),
      S("Y", "SELECT id FROM ex_dg WHERE name = 'alice' ORDER BY id LIMIT 1",
        follow=["SELECT FOUND_ROWS()", "SELECT ROW_COUNT()"]),
      S("Z", "SELECT id FROM ex_dg WHERE name = 'nobody' ORDER BY id",
        follow=["SELECT ROW_COUNT()", "SELECT FOUND_ROWS()"])],
     ["SELECT id FROM ex_dg WHERE name = '%s' ORDER BY id" % n
      for n in ("bob", "carol", "dave", "alice")],
     script=[("burst", 0),
             ("root", ["INSERT INTO ex_dg VALUES (10, 1, 'alice'), "
                       "(11, 1, 'nobody')"]),
             ("follow",)],
     root_teardown=drop("ex_dg"))


# the rest of the where clause divides by zero on rows no key matches (a
# scan, no index on k): each lookup evaluates it on its key's rows only.
# MariaDB 10.11 evaluates a condition of the table alone while it scans
# the table, before the join's condition, so the coalesced query warns
# and the batch falls back whole: exact, not batched (prove=()).  Only a
# runner's key shared by another client looked batched, by chance.
case("diagnostics-rest-on-other-rows",
     ["DROP TABLE IF EXISTS ex_kr",
      "CREATE TABLE ex_kr (id INT PRIMARY KEY, k INT, v INT)",
      "INSERT INTO ex_kr VALUES (1,5,1),(2,7,2),(3,9,3),(4,11,0),"
      "(5,13,0),(6,0,0),(7,9,4)"],
     [S("X", "SELECT id, v FROM ex_kr WHERE k = 7 AND 10 / v > 1",
        follow=DIAG_FOLLOW)],
     ["SELECT id, v FROM ex_kr WHERE k = %d AND 10 / v > 1" % k
      for k in (5, 7, 9, 1)],
     prove=(), root_teardown=drop("ex_kr"))


# the server folds the key into a rest that names the key column while it
# optimises: an error or a warning with no row at all, or where the row
# would never reach that term.  Such shapes run alone.
KF_SHAPES = ["SELECT v FROM ex_kf WHERE k = %s AND k * 100000000 > 0",
             "SELECT v FROM ex_kf WHERE k = %s AND 1 / (k - 4) > 0",
             "SELECT v FROM ex_kf WHERE k = %s AND (o = 1 OR 1 / k > 0)",
             # _rowid names the integer primary key
             "SELECT v FROM ex_kf WHERE id = %s AND (o = 1 OR "
             "ex_kf._rowid * 100000000000000000 > 0)"]
KF_X = ["999999999999", "4", "0", "100"]
case("diagnostics-key-folded-into-rest",
     ["DROP TABLE IF EXISTS ex_kf",
      "CREATE TABLE ex_kf (id INT PRIMARY KEY, k BIGINT, o INT, "
      "v VARCHAR(10), KEY (k))",
      "INSERT INTO ex_kf VALUES (1,0,1,'zero'),(2,1,1,'one'),(3,2,1,'two'),"
      "(4,3,1,'three'),(5,5,1,'five')"],
     [S("X", [sh % x for sh, x in zip(KF_SHAPES, KF_X) for _ in range(4)],
        follow=DIAG_FOLLOW)],
     [[sh % k for k in (1, 2, 3, 5)] for sh in KF_SHAPES for _ in range(4)],
     script=[("burst", b) for b in range(16)] + [("follow",)],
     n_plain=7, prove=(), root_teardown=drop("ex_kf"))


# the rest of the where clause divides by zero on key 5's row, which a
# lookup alone reads by the index on k; with k IN (...) the server may read
# by the index on v instead and never test that row.  Batches of such a
# shape must warn where a lookup does, or fall back.
case("diagnostics-rest-index-choice",
     ["DROP TABLE IF EXISTS ex_rr",
      "CREATE TABLE ex_rr (id INT PRIMARY KEY, k INT, v INT, w INT, "
      "KEY (k), KEY (v)) ENGINE=InnoDB",
      "INSERT INTO ex_rr SELECT seq, seq, IF(seq % 100 = 0, 0, 1 + seq % 7), "
      "1 FROM seq_1_to_20000",
      "UPDATE ex_rr SET w = 0 WHERE k = 5",
      "ANALYZE TABLE ex_rr"],
     [S("X", "SELECT id FROM ex_rr WHERE k = 100 AND 10 / w > 1 AND v "
        "BETWEEN 0 AND 0", follow=DIAG_FOLLOW)],
     ["SELECT id FROM ex_rr WHERE k = %d AND 10 / w > 1 AND v BETWEEN 0 "
      "AND 0" % k for k in (7, 200, 5, 300, 400, 500)],
     prove=(), root_teardown=drop("ex_rr"))


# the restore of a 20-row answer under a session's max_join_size of 20,
# which the lookup itself passes
case("diagnostics-restore-max-join-size",
     ["DROP TABLE IF EXISTS ex_mj",
      "CREATE TABLE ex_mj (id INT PRIMARY KEY, name VARCHAR(20), "
      "KEY (name))",
      "INSERT INTO ex_mj VALUES %s" % ", ".join(
          "(%d, 'k9')" % i for i in range(1, 21))],
     [S(n, "SELECT id FROM ex_mj WHERE name = 'k9' ORDER BY id",
        setup=["SET SESSION max_join_size = 20",
               "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"],
        follow=["SHOW WARNINGS", "SELECT FOUND_ROWS()",
                "SELECT @@warning_count, @@error_count"])
      for n in ("W", "X", "Y", "Z")],
     [None],
     root_teardown=drop("ex_mj"))


# --- 8. metadata after DDL --------------------------------------------------------

META_SETUP = ["DROP TABLE IF EXISTS ex_meta",
              "CREATE TABLE ex_meta (id INT PRIMARY KEY, name VARCHAR(20) "
              "NULL, v INT NOT NULL)",
              "INSERT INTO ex_meta VALUES (1,'alice',1),(2,'bob',2),"
              "(3,'carol',3),(4,'dave',4)"]
META_STAR = ["SELECT * FROM ex_meta WHERE name = '%s'" % n for n in NAMES]
META_COLS = ["SELECT id, name, v FROM ex_meta WHERE name = '%s'" % n
             for n in NAMES]
META_DDL = ["ALTER TABLE ex_meta ADD UNIQUE (name)",
            "ALTER TABLE ex_meta DROP INDEX name",
            "ALTER TABLE ex_meta ADD KEY (name, v)",
            "ALTER TABLE ex_meta MODIFY name VARCHAR(40) NOT NULL",
            "ALTER TABLE ex_meta CHANGE v w BIGINT UNSIGNED NOT NULL"]
for _label, _plain in [("star", META_STAR), ("columns", META_COLS)]:
    _script = [("burst", 0)]
    for _i, _ddl in enumerate(META_DDL):
        _script += [("root", [_ddl]), ("burst", _i + 1)]
    case("metadata-after-alter-" + _label, META_SETUP,
         [S("X", [_plain[0]] * (len(META_DDL) + 1))],
         [_plain] * (len(META_DDL) + 1), script=_script,
         root_teardown=drop("ex_meta"))


# a table turned into a view right after a batch, within the probe's
# second: the view's condition names the key, so the lookup alone warns
# (the server folds the key into it); a batch must not answer from it
VS_LK = "SELECT v FROM ex_vs WHERE k = %d"
case("metadata-table-becomes-view",
     ["DROP VIEW IF EXISTS ex_vs", "DROP TABLE IF EXISTS ex_vs, ex_vs_base",
      "CREATE TABLE ex_vs (id INT PRIMARY KEY, k INT, o INT, v INT, "
      "KEY (k))",
      "INSERT INTO ex_vs VALUES (1,1,0,11),(2,2,0,12),(3,3,0,13),"
      "(5,5,0,15),(6,6,0,16)"],
     [S("X", [VS_LK % 6, VS_LK % 4], follow=DIAG_FOLLOW)],
     [[VS_LK % k for k in (1, 2, 3, 5)]] * 2,
     script=[("burst", 0),
             ("root", ["RENAME TABLE ex_vs TO ex_vs_base",
                       "CREATE ALGORITHM=MERGE VIEW ex_vs AS SELECT * FROM "
                       "ex_vs_base WHERE o = 1 OR 1 / (k - 4) > 0"]),
             ("burst", 1), ("follow",)],
     prove=(0,), root_teardown=["DROP VIEW IF EXISTS ex_vs",
                                "DROP TABLE IF EXISTS ex_vs, ex_vs_base"])


# --- 9. cross-client forgery -------------------------------------------------------

PUB_SETUP = ["DROP TABLE IF EXISTS ex_pub",
             "CREATE TABLE ex_pub (id INT PRIMARY KEY, name VARCHAR(80), "
             "secret VARCHAR(20), KEY (name))",
             "INSERT INTO ex_pub VALUES (1,'alice','s-alice'),"
             "(2,'bob','s-bob'),(3,'carol','s-carol'),(4,'dave','s-dave'),"
             "(999,'root-only','TOP-SECRET')",
             "DROP FUNCTION IF EXISTS ex_f_nbe",
             "CREATE FUNCTION ex_f_nbe() RETURNS INT BEGIN "
             "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; RETURN 1; END",
             "DROP PROCEDURE IF EXISTS ex_p_nbe",
             "CREATE PROCEDURE ex_p_nbe() SET sql_mode = "
             "'NO_BACKSLASH_ESCAPES'"]
FORGE_KEYS = [r"'x\'' AS __ib_k) AS __ib_d JOIN ex_pub ON ex_pub.id = 999 #'",
              r"'x\' AS __ib_k) AS __ib_d JOIN ex_pub ON ex_pub.id = 999 #'"]
FORGE_N = 10
FORGE_LOOKUP = "SELECT id, secret FROM ex_pub WHERE name = %s"
for _label, _how in [
        ("prepared-set", [("do", "X", [
            "PREPARE s FROM 'SET sql_mode=''NO_BACKSLASH_ESCAPES'''",
            "EXECUTE s"])]),
        ("binary-protocol-set",
         [("ps", "X", "SET sql_mode='NO_BACKSLASH_ESCAPES'")]),
        ("global-then-login",
         [("root", ["SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'"]),
          ("open", ["X"])]),
        ("function-in-select", [("do", "X", ["SELECT ex_f_nbe()"])]),
        ("procedure", [("do", "X", ["CALL ex_p_nbe()"])]),
        ("exec-comment-set", [("do", "X", [
            "/*!SET sql_mode='NO_BACKSLASH_ESCAPES'*/"])])]:
    _late = _label == "global-then-login"
    _script = [("burst", 0)] + _how + [("burst", i)
                                       for i in range(1, FORGE_N + 1)]
    case("forgery-no-backslash-escapes-" + _label, PUB_SETUP,
         [S("X", [None] + [FORGE_LOOKUP % FORGE_KEYS[i % 2]
                           for i in range(FORGE_N)], late=_late)],
         [[FORGE_LOOKUP % ("'%s'" % n) for n in NAMES]] * (FORGE_N + 1),
         script=_script, globals_=["sql_mode"] if _late else (),
         root_teardown=drop("ex_pub") + [
             "DROP FUNCTION IF EXISTS ex_f_nbe",
             "DROP PROCEDURE IF EXISTS ex_p_nbe"])


# --- 10. how the classifier reads names ----------------------------------------------

# lower- and mixed-case keywords; names with '$', bytes >= 0x80, keyword
# prefixes and underscores next to the keys join's own names (__ib_): the
# plain sessions' lookups must still be batched, and answer as alone; X's
# second lookup names __ib_c and must run alone
LEX_T = "ex_lex$t"
case("lexer-names",
     ["DROP TABLE IF EXISTS `%s`" % LEX_T,
      "CREATE TABLE `%s` (id INT PRIMARY KEY, `n\u00e4m\u00e9` VARCHAR(20), "
      "x__i_ INT, selection INT, KEY (`n\u00e4m\u00e9`)) "
      "DEFAULT CHARSET=utf8mb4" % LEX_T,
      "INSERT INTO `%s` VALUES (1, 'alice', 10, 100), (2, 'bob', 20, 200), "
      "(3, 'carol', 30, 300), (4, 'dave', 40, 400)" % LEX_T],
     [S("X", ["sElEcT id, x__i_, selection FrOm %s wHeRe n\u00e4m\u00e9 = "
              "'bob' LiMiT 1" % LEX_T,
              "SELECT x__i_ AS __ib_c FROM %s WHERE n\u00e4m\u00e9 = 'carol'"
              % LEX_T])],
     [["select id, x__i_, selection from %s where n\u00e4m\u00e9 = '%s' "
       "limit 1" % (LEX_T, n) for n in NAMES],
      ["SELECT `x__i_` FROM %s AS lim$ WHERE lim$.n\u00e4m\u00e9 = '%s'"
       % (LEX_T, n) for n in NAMES]],
     script=[("setup",), ("burst", 0), ("burst", 1), ("follow",)],
     root_teardown=["DROP TABLE IF EXISTS `%s`" % LEX_T])


# --- the test ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", BUSY_MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.cid for c in CASES])
def test_exactness(case, mode, inbatch_factory, mariadb):
    """Every session's every statement answers exactly as on MariaDB
    alone; in window mode the plain sessions were really batched."""
    if DIRECT and mode != "window":
        pytest.skip("one direct run validates the oracle")
    check_case(case, mode, inbatch_factory, mariadb)


def test_exactness_busy_mode_overlaps(inbatch_factory, mariadb):
    """adaptive-busy does what it is there for: within a few runs of a
    case whose bursts are batched, a batch went beside another statement
    of its shape, and every run answered as MariaDB alone.  (Whether one
    run overlaps depends on when its lookups arrive.)"""
    if DIRECT:
        pytest.skip("batching exists only in the proxy")
    case = next(c for c in CASES if c.cid == "lexer-names")
    overlapped = 0
    for _ in range(10):
        proxy = check_case(case, "adaptive-busy", inbatch_factory, mariadb)
        overlapped += stats(proxy)["batches_overlapped"]
        if overlapped:
            break
    assert overlapped > 0


@pytest.mark.parametrize("mode", MODES)
def test_found_rows_after_failed_alone_lookup(mode, inbatch_factory,
                                              mariadb):
    """A lookup answered by a batch, then one of the same shape that runs
    alone on the session and fails before reading a row (its table is
    gone): FOUND_ROWS() is the batched lookup's, as directly.  Adaptive
    mode batches only while a lookup of the shape is in flight: a lock
    holds the first one, so the next three (the session under test last,
    not the runner) form a batch.  Window mode gathers all four for a
    second, and runs the failing lookup as a batch of its own."""
    t = "ex_fra"
    sqls = ["DROP TABLE IF EXISTS %s, %s_gone" % (t, t),
            "CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(20), "
            "KEY (name))" % t,
            "INSERT INTO %s VALUES (1,'alice'),(2,'bob'),(3,'carol'),"
            "(4,'dave')" % t]
    lookup = "SELECT id FROM %s WHERE name = '%%s'" % t

    def after(x):
        """The session under test after its batched lookup."""
        root_run(mariadb, ["RENAME TABLE %s TO %s_gone" % (t, t)])
        return [run_stmt(x, lookup % "alice"),
                run_stmt(x, "SELECT FOUND_ROWS()")]

    root_run(mariadb, sqls)
    x = connect(Endpoint(mariadb.port, kind="direct"), APP_USER,
                APP_PASSWORD, "utf8mb4")
    try:
        run_stmt(x, "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
        run_stmt(x, lookup % "dave")
        want = after(x)
    finally:
        x.close()
    assert want[0][:2] == ("error", 1146), want

    root_run(mariadb, sqls)
    proxy = inbatch_factory(batch_mode=mode, batch_window_us=1000000)
    conns = [connect(proxy, APP_USER, APP_PASSWORD, "utf8mb4")
             for _ in range(4)]
    lock = mariadb.connect(database=DB)
    try:
        x = conns[3]
        run_stmt(x, "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
        with lock.cursor() as cur:
            cur.execute("LOCK TABLES %s WRITE" % t)
        out = [None] * 4
        threads = []
        s0 = stats(proxy)

        def one(i, name):
            out[i] = run_stmt(conns[i], lookup % name)

        for i, name in enumerate(("alice", "bob", "carol", "dave")):
            th = threading.Thread(target=one, args=(i, name))
            th.start()
            threads.append(th)
            time.sleep(0.2)  # in this order: the first holds the shape
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        for th in threads:
            th.join(READ_TIMEOUT)
        assert [o[2] for o in out] == [((1,),), ((2,),), ((3,),), ((4,),)]
        assert delta(s0, stats(proxy), "batches") == 1
        assert after(x) == want
    finally:
        lock.close()
        for c in conns:
            c.close()
        root_run(mariadb, ["DROP TABLE IF EXISTS %s, %s_gone" % (t, t)],
                 check=False)
