# SPDX-License-Identifier: BSD-2-Clause
# Batching: bursts of concurrent lookups through inbatch must give every
# client exactly what the same statement gives run alone on MariaDB, and the
# backend must really see fewer statements.

import random
import socket
import struct
import threading
import time

import pymysql
import pytest

from conftest import (APP_PASSWORD, APP_USER, DB, DIRECT, HOST,
                      admin_connect, admin_query, admin_stats, run_threads,
                      wait_port)

pytestmark = pytest.mark.skipif(
    DIRECT, reason="batching exists only in the proxy")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"

# Window mode with a window long enough that a barrier-released burst
# always lands in one batch, short enough to keep the suite quick.
WINDOW = dict(batch_mode="window", batch_window_us=20000)

SEED = 20240611

# Key variants: case, accent and trailing-space forms of the same name,
# duplicates, and names that are in no table.
NAME_VARIANTS = ["alice", "Alice", "ALICE ", "alicé", "bob", "BOB", "bób",
                 "carol", "dave", "dave ", "straße", "strasse", "zoë",
                 "Zoe"]
NAME_MISSING = ["nobody", "ALICÉ", "", "alic", "x y"]

STRING_TABLES = [
    # (suffix, column definition)
    ("gen", "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
    ("uni", "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    ("bin", "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
    ("lat", "VARCHAR(32) CHARACTER SET latin1 COLLATE latin1_swedish_ci"),
]

NUM_KEYS = ["5", "'5'", "5.00", "'5.00'", "7", "'7'", "-3", "0", "12",
            "999", "'999'", "3", "40.00", "-3.00"]


# --- helpers -----------------------------------------------------------------

stats = admin_stats


def delta(before, after, name):
    return after.get(name, 0) - before.get(name, 0)


def run_one(conn, sql):
    """Run <sql> on <conn>: a comparable outcome tuple."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
            return ("ok", cur.description, tuple(rows),
                    cur._result.warning_count if cur._result else 0)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0])


def burst(conns, sqls, timeout=60):
    """Run sqls[i] on conns[i], all released at once; outcomes in order."""
    n = len(sqls)
    assert n <= len(conns)
    barrier = threading.Barrier(n)
    out = [None] * n

    def work(i):
        try:
            barrier.wait(timeout)
            out[i] = run_one(conns[i], sqls[i])
        except Exception as e:  # reported by the caller as a mismatch
            out[i] = ("exception", repr(e))

    run_threads(work, n, timeout)
    return out


def burst_first(conns, sqls, lead=0.003, timeout=60):
    """Like burst(), but sqls[0] goes <lead> seconds before the others,
    so it is the first of its batch."""
    out = [None] * len(sqls)

    def one(i):
        try:
            out[i] = run_one(conns[i], sqls[i])
        except Exception as e:  # reported by the caller as a mismatch
            out[i] = ("exception", repr(e))

    first = threading.Thread(target=one, args=(0,))
    first.start()
    time.sleep(lead)
    rest = burst(conns[1:], sqls[1:], timeout)
    first.join(timeout)
    assert not first.is_alive(), "the first lookup hung"
    out[1:] = rest
    return out


def open_conns(ep, n, **kw):
    """<n> pymysql connections to <ep>, opened concurrently."""
    conns = [None] * n
    errors = []
    args = dict(autocommit=True)
    args.update(kw)

    def work(i):
        try:
            conns[i] = ep.connect(**args)
        except Exception as e:
            errors.append(e)

    run_threads(work, n, 30)
    if errors:
        close_all(conns)
        raise errors[0]
    return conns


def close_all(conns):
    for c in conns:
        if c is not None:
            try:
                c.close()
            except Exception:
                pass


class Oracle:
    """The answer each statement gets run alone on MariaDB, cached."""

    def __init__(self, direct, **kw):
        self.conn = direct.connect(autocommit=True, **kw)
        self.cache = {}

    def __call__(self, sql):
        if sql not in self.cache:
            self.cache[sql] = run_one(self.conn, sql)
        return self.cache[sql]

    def close(self):
        self.conn.close()


def mismatches(label, sqls, got, oracle):
    bad = []
    for sql, g in zip(sqls, got):
        want = oracle(sql)
        if g != want:
            bad.append("%s: %s\n  proxy:  %r\n  direct: %r"
                       % (label, sql, g, want))
    return bad


def sql_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


# --- data --------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables(mariadb):
    """The tables the bursts read, created once for the module."""
    names = []
    conn = mariadb.connect(database=DB)
    try:
        cur = conn.cursor()
        for suffix, coldef in STRING_TABLES:
            for kind in ("u", "m"):
                t = "bt_%s_%s" % (suffix, kind)
                names.append(t)
                idx = "UNIQUE KEY" if kind == "u" else "KEY"
                cur.execute("DROP TABLE IF EXISTS `%s`" % t)
                cur.execute(
                    "CREATE TABLE `%s` (id INT PRIMARY KEY, name %s NULL, "
                    "note VARCHAR(20) NULL, score DECIMAL(10,2) NOT NULL, "
                    "%s (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                    % (t, coldef, idx))
                rows = []
                i = 0
                for rep in range(1 if kind == "u" else 3):
                    # the first names repeat, the later ones do not
                    for v in NAME_VARIANTS[:len(NAME_VARIANTS)
                                           if rep == 0 else 8]:
                        i += 1
                        rows.append((i, v, None if i % 3 == 0 else "n%d" % i,
                                     i * 1.25))
                rows.append((i + 1, None, "null name", 0))
                rows.append((i + 2, None, None, 1))
                for r in rows:
                    # the unique index keeps the first of each class
                    cur.execute("INSERT IGNORE INTO `%s` VALUES "
                                "(%%s, %%s, %%s, %%s)" % t, r)
        for kind in ("u", "m"):
            t = "bt_num_%s" % kind
            names.append(t)
            idx = "UNIQUE" if kind == "u" else ""
            cur.execute("DROP TABLE IF EXISTS `%s`" % t)
            cur.execute(
                "CREATE TABLE `%s` (id INT PRIMARY KEY, k INT NULL, "
                "d DECIMAL(10,2) NULL, label VARCHAR(20) NOT NULL, "
                "%s KEY (k), %s KEY (d)) ENGINE=InnoDB" % (t, idx, idx))
            vals = [-3, 0, 2, 3, 5, 7, 12, 40]
            i = 0
            for rep in range(1 if kind == "u" else 3):
                for v in vals:
                    i += 1
                    d = v if v != 2 else 2.5
                    cur.execute("INSERT INTO `%s` VALUES (%%s, %%s, %%s, %%s)"
                                % t, (i, v, d, "L%d" % i))
            cur.execute("INSERT INTO `%s` VALUES (%d, NULL, NULL, 'none')"
                        % (t, i + 1))
        yield names
    finally:
        try:
            conn.cursor().execute("DROP TABLE IF EXISTS " + ", ".join(
                "`%s`" % n for n in names))
        finally:
            conn.close()


def string_templates(t, unique):
    """(label, template with {k} for the key literal, unique-key shape)."""
    tl = [
        # select lists without indexed columns or computed values
        ("cols", "SELECT note, score FROM %s WHERE name = {k}" % t),
        ("cols order", "SELECT score, note FROM `%s` WHERE `name` = {k} "
                       "ORDER BY id DESC" % t),
        ("cols alias limit", "SELECT s.note AS memo FROM %s AS s WHERE "
                             "s.name = {k} AND s.score > 2 ORDER BY s.id "
                             "LIMIT 2" % t),
        ("cols limit1", "SELECT note FROM %s WHERE name = {k} LIMIT 1" % t),
        ("plain", "SELECT id, name FROM %s WHERE name = {k}" % t),
        ("star limit1", "SELECT * FROM %s WHERE name = {k} LIMIT 1" % t),
        ("order desc", "SELECT id, name, note FROM %s WHERE name = {k} "
                       "ORDER BY id DESC" % t),
        ("limit2 desc", "SELECT id, score FROM %s WHERE name = {k} "
                        "ORDER BY id DESC LIMIT 2" % t),
        ("alias quoted", "SELECT `x`.`id` AS ident, CONCAT(x.name, '!') "
                         "AS shout, x.score * 2 AS dbl FROM `%s` AS x "
                         "WHERE x.`name` = {k} ORDER BY ident DESC" % t),
        ("alias bare and", "SELECT id, UPPER(name) u, LENGTH(name) + 1 "
                           "AS len1, IFNULL(note, '-') AS n FROM %s y "
                           "WHERE y.name = {k} AND y.id > 2 ORDER BY id"
                           % t),
        ("star and null", "SELECT * FROM %s WHERE name = {k} AND note IS "
                          "NULL ORDER BY id DESC LIMIT 3" % t),
    ]
    return [(a, b, unique) for a, b in tl]


def num_templates(t, unique):
    tl = [
        ("int cols", "SELECT label FROM %s WHERE k = {k}" % t),
        ("dec cols", "SELECT label AS l FROM %s x WHERE x.d = {k} "
                     "ORDER BY x.id DESC LIMIT 2" % t),
        ("int plain", "SELECT id, k, label FROM %s WHERE k = {k}" % t),
        ("int star limit1", "SELECT * FROM `%s` WHERE `k` = {k} LIMIT 1" % t),
        ("int order", "SELECT id, d FROM %s n WHERE n.k = {k} "
                      "ORDER BY id DESC LIMIT 2" % t),
        ("dec plain", "SELECT id, d, CONCAT(label, '!') AS l FROM %s "
                      "WHERE d = {k} ORDER BY id DESC" % t),
        ("dec and", "SELECT id AS i, d + 1 AS d1 FROM %s AS z WHERE "
                    "z.d = {k} AND z.id < 20 ORDER BY id LIMIT 2" % t),
    ]
    return [(a, b, unique) for a, b in tl]


def all_templates():
    out = []
    for suffix, _ in STRING_TABLES:
        for kind in ("u", "m"):
            t = "bt_%s_%s" % (suffix, kind)
            for label, tmpl, uniq in string_templates(t, kind == "u"):
                out.append(("%s/%s" % (t, label), tmpl, uniq, "str"))
    for kind in ("u", "m"):
        t = "bt_num_%s" % kind
        for label, tmpl, uniq in num_templates(t, kind == "u"):
            out.append(("%s/%s" % (t, label), tmpl, uniq, "num"))
    return out


def random_keys(rng, kind, n):
    if kind == "num":
        pool = NUM_KEYS
        return [rng.choice(pool) for _ in range(n)]
    pool = NAME_VARIANTS * 3 + NAME_MISSING
    return [sql_str(rng.choice(pool)) for _ in range(n)]


# --- 1. differential bursts --------------------------------------------------

def test_bursts_match_direct(inbatch_factory, direct, mariadb, tables):
    """Every client of every burst gets exactly the direct answer:
    description, rows and warning count; and batching really happened."""
    proxy = inbatch_factory(**WINDOW)
    rng = random.Random(SEED)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 64)
    try:
        # learn the session context of every connection before measuring
        burst(conns, ["SELECT id FROM bt_gen_u WHERE name = 'alice'"] * 64)
        bad = []
        uniq_lookups = 0
        uniq_selects = 0
        per_template = []
        s0 = stats(proxy)
        for label, tmpl, uniq, kind in all_templates():
            n = rng.choice((24, 48, 64))
            sqls = [tmpl.format(k=k) for k in random_keys(rng, kind, n)]
            for s in sqls:
                oracle(s)
            c0 = mariadb.com_select()
            got = burst(conns, sqls)
            used = mariadb.com_select() - c0
            per_template.append((label, n, used))
            if uniq:
                uniq_lookups += n
                uniq_selects += used
            bad += mismatches(label, sqls, got, oracle)
        s1 = stats(proxy)
        assert not bad, "%d mismatches:\n%s" % (len(bad), "\n".join(bad[:20]))
        assert delta(s0, s1, "batches") > 0
        assert delta(s0, s1, "queries_batched") > 0
        # the bursts repeat keys: one batch asks for each key once
        assert delta(s0, s1, "keys_deduplicated") > 0
        assert uniq_selects < uniq_lookups, per_template
        # a plain unique lookup in the default collation really coalesces
        for label, n, used in per_template:
            if label in ("bt_gen_u/cols", "bt_num_u/int cols"):
                assert used < n, (label, n, used)
    finally:
        close_all(conns)
        oracle.close()


# --- 2. fall-backs -----------------------------------------------------------

def test_fallback_rows(inbatch_factory, direct, tables):
    """More rows than the shape can prove exact run alone, and match."""
    proxy = inbatch_factory(**WINDOW)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 8)
    try:
        burst(conns, ["SELECT id FROM bt_gen_u WHERE name = 'bob'"] * 8)
        # 'alice' has three rows in bt_bin_m: no ORDER BY fixes their
        # order; 'Zoe' and 'zoë' one each, 'nobody' none.  The batch runs
        # on its first client's session, whose own answer its key's twins
        # share as it is: 'nobody' goes first so that the 'alice' lookups
        # are the ones answered from the coalesced rows
        keys = ["'nobody'", "'Zoe'", "'alice'", "'zoë'"] * 2
        for tmpl in ("SELECT note, score FROM bt_bin_m WHERE name = {k}",
                     # and more rows than its LIMIT
                     "SELECT score FROM bt_bin_m WHERE name = {k} "
                     "ORDER BY id LIMIT 1"):
            sqls = [tmpl.format(k=k) for k in keys]
            s0 = stats(proxy)
            got = burst_first(conns, sqls)
            s1 = stats(proxy)
            bad = mismatches("rows", sqls, got, oracle)
            assert not bad, "\n".join(bad)
            assert delta(s0, s1, "fallback_rows") >= 2, (tmpl, s0, s1)
            assert delta(s0, s1, "fallbacks") >= 2
            # the others were answered from the batch
            assert delta(s0, s1, "queries_batched") >= 4
    finally:
        close_all(conns)
        oracle.close()


def test_fallback_warning_and_error(inbatch_factory, direct, tables):
    """A key whose coalesced query warns or fails: everyone gets the
    direct answer, warning count included, and the fall-back is counted."""
    proxy = inbatch_factory(**WINDOW)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 6)
    try:
        burst(conns, ["SELECT id FROM bt_gen_u WHERE name = 'bob'"] * 6)
        # '5abc' against an INT column: a string key on a number column
        # converts differently in a join, so the shape is never batched
        sqls = ["SELECT label FROM bt_num_u WHERE k = %s" % k
                for k in ("'5abc'", "'5'", "'7'", "'12'", "'5abc'", "'0'")]
        s0 = stats(proxy)
        got = burst(conns, sqls)
        s1 = stats(proxy)
        bad = mismatches("warning", sqls, got, oracle)
        assert not bad, "\n".join(bad)
        assert oracle(sqls[0])[3] >= 1, "the probe must warn directly"
        assert got[0][3] == oracle(sqls[0])[3]
        assert delta(s0, s1, "fallback_metadata") >= 1, (s0, s1)
        assert delta(s0, s1, "fallbacks") >= 1

        # arithmetic on a non-numeric text warns in the coalesced query
        # too: everyone falls back and gets its own warning count
        with oracle.conn.cursor() as cur:
            cur.execute("SELECT name FROM bt_gen_u WHERE note IS NOT NULL AND name IS NOT NULL "
                        "ORDER BY id LIMIT 6")
            keys = [r[0] for r in cur.fetchall()]
        sqls = ["SELECT note + 0 AS n FROM bt_gen_u WHERE name = %s"
                % sql_str(k) for k in keys]
        s0 = stats(proxy)
        got = burst(conns, sqls)
        s1 = stats(proxy)
        bad = mismatches("warning", sqls, got, oracle)
        assert not bad, "\n".join(bad)
        if any(oracle(q)[3] for q in sqls):
            # counted as warnings, or as metadata when the expression's
            # column definition already differs in the join
            assert (delta(s0, s1, "fallback_warnings") +
                    delta(s0, s1, "fallback_metadata")) >= 1, (s0, s1)

        # an error only the coalesced form raises: a latin1 column and a
        # non-ASCII key (the derived table's key is utf8mb4)
        sqls = ["SELECT note FROM bt_lat_u WHERE name = %s" % sql_str(k)
                for k in ("alicé", "bob", "zoë", "carol", "nobody", "bób")]
        s0 = stats(proxy)
        got = burst(conns, sqls)
        s1 = stats(proxy)
        bad = mismatches("error", sqls, got, oracle)
        assert not bad, "\n".join(bad)
        assert delta(s0, s1, "fallback_error") >= 1, (s0, s1)
        # a statement failing everywhere fails the same through the proxy
        sqls = ["SELECT nosuchcol FROM bt_gen_u WHERE name = %s" % sql_str(k)
                for k in ("a", "b", "c", "d", "e", "f")]
        got = burst(conns, sqls)
        bad = mismatches("error", sqls, got, oracle)
        assert not bad, "\n".join(bad)
        assert got[0] == ("error", 1054)
    finally:
        close_all(conns)
        oracle.close()


# --- 3. real client libraries ------------------------------------------------

def test_mysqldb_threads(inbatch_factory, direct, tables):
    """MySQLdb (libmariadb) clients in a burst get the direct answers."""
    MySQLdb = pytest.importorskip("MySQLdb")
    proxy = inbatch_factory(batch_mode="window", batch_window_us=50000)
    n = 32
    rng = random.Random(SEED + 3)
    keys = [rng.choice(NAME_VARIANTS + NAME_MISSING) for _ in range(n)]
    sql = "SELECT note, score FROM bt_uni_u WHERE name = %s"

    def connect(ep):
        return MySQLdb.connect(host=HOST, port=ep.port, user=APP_USER,
                               passwd=APP_PASSWORD, db=DB, charset="utf8mb4",
                               autocommit=True)

    def fetch(conn, k):
        cur = conn.cursor()
        cur.execute(sql, (k,))
        rows = cur.fetchall()
        desc = cur.description
        cur.close()
        return desc, rows

    d = connect(direct)
    want = [fetch(d, k) for k in keys]
    d.close()
    conns = [connect(proxy) for _ in range(n)]
    for c in conns:
        fetch(c, "alice")
    got = [None] * n
    barrier = threading.Barrier(n)

    def work(i):
        barrier.wait(30)
        got[i] = fetch(conns[i], keys[i])

    s0 = stats(proxy)
    run_threads(work, n, 60)
    s1 = stats(proxy)
    for c in conns:
        c.close()
    for i in range(n):
        assert got[i] == want[i], (keys[i], got[i], want[i])
    assert delta(s0, s1, "queries_batched") > 0
    assert delta(s0, s1, "batches") > 0


def test_sqlalchemy_orm(inbatch_factory, direct, tables, table_name):
    """ORM sessions in 32 threads get the right objects, batched.  The
    engine runs in autocommit: a transactional session reads its own
    snapshot, which another session's query cannot give it, so those are
    never batched (test_exactness checks that)."""
    sa = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import declarative_base, sessionmaker

    proxy = inbatch_factory(batch_mode="window", batch_window_us=50000)
    tname = table_name("users")
    Base = declarative_base()

    class User(Base):
        __tablename__ = tname
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(40), unique=True, nullable=False)
        email = sa.Column(sa.String(80))

    def url(ep):
        return "mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8mb4" % (
            APP_USER, APP_PASSWORD, HOST, ep.port, DB)

    dengine = sa.create_engine(url(direct))
    Base.metadata.create_all(dengine)
    names = ["user%03d" % i for i in range(40)]
    with sessionmaker(bind=dengine)() as s:
        s.add_all([User(id=i + 1, name=n, email="%s@example.org" % n)
                   for i, n in enumerate(names)])
        s.commit()
    dengine.dispose()

    n = 32
    engine = sa.create_engine(url(proxy), pool_size=40, max_overflow=0,
                              isolation_level="AUTOCOMMIT")
    Session = sessionmaker(bind=engine)
    rng = random.Random(SEED + 4)
    keys = [rng.choice(names + ["missing1", "missing2"]) for _ in range(n)]
    # fill the pool so the burst does not wait for logins
    held = [engine.connect() for _ in range(n)]
    for c in held:
        c.execute(sa.text("SELECT 1")).fetchall()
        c.close()
    got = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def work(i):
        try:
            with Session() as s:
                barrier.wait(30)
                u = s.query(User).filter(User.name == keys[i]).first()
                got[i] = None if u is None else (u.id, u.name, u.email)
        except Exception as e:
            errors.append(repr(e))

    try:
        s0 = stats(proxy)
        run_threads(work, n, 60)
        s1 = stats(proxy)
    finally:
        engine.dispose()
    assert not errors, errors
    for i, k in enumerate(keys):
        if k in names:
            j = names.index(k)
            assert got[i] == (j + 1, k, "%s@example.org" % k), (k, got[i])
        else:
            assert got[i] is None, (k, got[i])
    assert delta(s0, s1, "queries_batched") > 0, (s0, s1)
    assert delta(s0, s1, "batches") > 0


# --- 4. the backend does less ------------------------------------------------

@pytest.mark.parametrize("select_list", [
    "note, score",
    # the usual ORM shape: the primary key and the key column itself
    "id, name",
])
def test_backend_statements_saved(inbatch_factory, mariadb, tables,
                                  select_list):
    """512 unique-key lookups from 64 connections: at most 128 SELECTs
    reach MariaDB."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 64)
    rng = random.Random(SEED + 5)
    try:
        burst(conns, ["SELECT id FROM bt_gen_u WHERE name = 'alice'"] * 64)
        rounds = 8
        barrier = threading.Barrier(64)
        results = [[] for _ in range(64)]
        keys = [[rng.choice(NAME_VARIANTS) for _ in range(rounds)]
                for _ in range(64)]

        def work(i):
            barrier.wait(30)
            with conns[i].cursor() as cur:
                for k in keys[i]:
                    cur.execute("SELECT " + select_list + " FROM "
                                "bt_gen_u WHERE name = %s", (k,))
                    results[i].append(cur.fetchall())

        s0 = stats(proxy)
        c0 = mariadb.com_select()
        run_threads(work, 64, 120)
        used = mariadb.com_select() - c0
        s1 = stats(proxy)
        assert sum(len(r) for r in results) == 512
        assert all(len(r) == 1 for rr in results for r in rr)
        assert used <= 512 // 4, (used, s0, s1)
        assert delta(s0, s1, "queries_batched") >= 512 - used
        assert delta(s0, s1, "backend_statements_saved") > 0
        assert delta(s0, s1, "batch_keys") <= delta(s0, s1, "queries_batched")
    finally:
        close_all(conns)


def test_kept_definitions_one_statement_per_batch(inbatch_factory, direct,
                                                  mariadb, tables):
    """Once a shape's batch has run the lookup beside the join, the next
    batches are the join alone (one SELECT each), and every answer is
    still what the lookup gets directly, definitions included."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 12)
    dconns = open_conns(direct, 12)
    rng = random.Random(SEED + 11)
    sql = "SELECT * FROM bt_gen_u WHERE name = '%s'"
    try:
        used = []
        for b in range(8):
            keys = [rng.choice(NAME_VARIANTS) for _ in range(12)]
            c0 = mariadb.com_select()
            got = burst(conns, [sql % k for k in keys])
            used.append(mariadb.com_select() - c0)
            want = burst(dconns, [sql % k for k in keys])
            assert got == want, (b, keys)
        # the first batch probes and runs the lookup beside the join; a
        # probe expires after a second, so a slow run may pay it again
        assert used[0] >= 2, used
        assert sum(1 for u in used[1:] if u == 1) >= 4, used
    finally:
        close_all(conns)
        close_all(dconns)


# --- 5. session context ------------------------------------------------------

def test_context_separates_batches(inbatch_factory, direct, mariadb, tables):
    """latin1 clients, utf8mb4 clients and clients of another schema in one
    burst each get their own, correct answers."""
    mariadb.query("CREATE DATABASE IF NOT EXISTS ibtest_other")
    mariadb.query("DROP TABLE IF EXISTS ibtest_other.bt_gen_u")
    mariadb.query("CREATE TABLE ibtest_other.bt_gen_u (id INT PRIMARY KEY, "
                  "name VARCHAR(32), note VARCHAR(20), score INT)")
    mariadb.query("INSERT INTO ibtest_other.bt_gen_u VALUES "
                  "(101, 'alice', 'other', 1), (102, 'zoë', 'other', 2)")
    proxy = inbatch_factory(**WINDOW)
    groups = {
        "latin1": dict(charset="latin1"),
        "default": dict(),
        "otherdb": dict(database="ibtest_other"),
    }
    per = 12
    conns, oracles = {}, {}
    try:
        for g, kw in groups.items():
            conns[g] = open_conns(proxy, per, **kw)
            oracles[g] = Oracle(direct, **kw)
            if g == "latin1":
                for c in conns[g]:
                    c.cursor().execute("SET NAMES latin1")
                oracles[g].conn.cursor().execute("SET NAMES latin1")
        rng = random.Random(SEED + 6)
        keys = [rng.choice(["alice", "alicé", "zoë", "Zoe", "bób", "nobody"])
                for _ in range(per)]
        tmpl = "SELECT note, score FROM bt_gen_u WHERE name = %s"
        all_conns, all_sqls, owners = [], [], []
        for g in groups:
            for i in range(per):
                all_conns.append(conns[g][i])
                all_sqls.append(tmpl % sql_str(keys[i]))
                owners.append(g)
        for _ in range(2):
            s0 = stats(proxy)
            got = burst(all_conns, all_sqls)
            s1 = stats(proxy)
            bad = []
            for g, sql, r in zip(owners, all_sqls, got):
                want = oracles[g](sql)
                if r != want:
                    bad.append("%s: %s\n proxy %r\n direct %r"
                               % (g, sql, r, want))
            assert not bad, "\n".join(bad)
            assert delta(s0, s1, "queries_batched") > 0
        # the schemas really differ, so a mix-up would have shown
        assert oracles["otherdb"](tmpl % "'alice'")[2] != \
            oracles["default"](tmpl % "'alice'")[2]
    finally:
        for cs in conns.values():
            close_all(cs)
        for o in oracles.values():
            o.close()
        mariadb.query("DROP DATABASE IF EXISTS ibtest_other")


# --- 6. transactions ---------------------------------------------------------

@pytest.mark.parametrize("how", ["begin", "autocommit0"])
def test_transaction_not_batched(inbatch_factory, tables, table_name, how):
    """A client in a transaction sees its own uncommitted row through the
    proxy; concurrently batched clients do not."""
    t = table_name("txn")
    proxy = inbatch_factory(**WINDOW)
    setup = proxy.connect(autocommit=True)
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, name "
                    "VARCHAR(20), note VARCHAR(20), UNIQUE KEY (name)) "
                    "ENGINE=InnoDB" % t)
        cur.execute("INSERT INTO `%s` VALUES (1, 'a', 'A'), (2, 'b', 'B')"
                    % t)
    setup.close()
    others = open_conns(proxy, 8)
    tx = proxy.connect(autocommit=True)
    try:
        burst(others, ["SELECT id FROM `%s` WHERE name = 'a'" % t] * 8)
        cur = tx.cursor()
        if how == "begin":
            cur.execute("BEGIN")
        else:
            cur.execute("SET autocommit = 0")
        cur.execute("INSERT INTO `%s` VALUES (3, 'zed', 'Z')" % t)
        sql = "SELECT note FROM `%s` WHERE name = 'zed'" % t
        s0 = stats(proxy)
        got = burst(others + [tx], [sql] * 9)
        s1 = stats(proxy)
        for r in got[:8]:
            assert r[0] == "ok" and r[2] == (), r
        assert got[8][0] == "ok" and got[8][2] == (("Z",),), got[8]
        assert delta(s0, s1, "queries_batched") == 8, (s0, s1)
        # and again, alone, still inside the transaction
        cur.execute(sql)
        assert cur.fetchall() == (("Z",),)
        cur.execute("ROLLBACK")
        cur.execute(sql)
        assert cur.fetchall() == ()
    finally:
        tx.close()
        close_all(others)


# --- 7. a client leaving mid-batch ------------------------------------------

def test_client_gone_while_batched(inbatch_factory, direct, tables):
    """A client whose socket is reset while its lookup waits in a 200 ms
    window does not disturb the others, and the proxy keeps serving."""
    proxy = inbatch_factory(batch_mode="window", batch_window_us=200000)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 10)
    victims = open_conns(proxy, 3)
    try:
        burst(conns, ["SELECT id FROM bt_gen_u WHERE name = 'bob'"] * 10)
        keys = ["alice", "bob", "carol", "dave", "zoë", "nobody", "alice",
                "Zoe", "straße", "BOB"]
        sqls = ["SELECT note, score FROM bt_gen_u WHERE name = %s"
                % sql_str(k) for k in keys]
        result = {}

        def others():
            result["got"] = burst(conns, sqls)

        th = threading.Thread(target=others)
        th.start()
        time.sleep(0.03)
        for i, v in enumerate(victims):
            # send a lookup, then reset the connection before the answer
            v._execute_command(
                pymysql.constants.COMMAND.COM_QUERY,
                "SELECT note, score FROM bt_gen_u WHERE name = %s"
                % sql_str(["carol", "victim", "alice"][i]))
            v._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               struct.pack("ii", 1, 0))
            v._sock.close()
        th.join(30)
        bad = mismatches("gone", sqls, result["got"], oracle)
        assert not bad, "\n".join(bad)
        assert proxy.proc.poll() is None
        c = proxy.connect(autocommit=True)
        assert run_one(c, sqls[0]) == oracle(sqls[0])
        c.close()
        got = burst(conns, sqls)
        assert not mismatches("after", sqls, got, oracle)
    finally:
        close_all(conns)
        oracle.close()


# --- 8. batch_mode=off ------------------------------------------------------

def test_batch_mode_off(inbatch_factory, mariadb, tables):
    """With batching off every lookup reaches MariaDB as itself."""
    proxy = inbatch_factory(batch_mode="off")
    conns = open_conns(proxy, 32)
    try:
        burst(conns, ["SELECT 1"] * 32)
        sqls = ["SELECT id FROM bt_gen_u WHERE name = %s"
                % sql_str(NAME_VARIANTS[i % len(NAME_VARIANTS)])
                for i in range(32)]
        s0 = stats(proxy)
        c0 = mariadb.com_select()
        got = burst(conns, sqls)
        used = mariadb.com_select() - c0
        s1 = stats(proxy)
        assert all(g[0] == "ok" for g in got), got
        assert used == 32
        assert delta(s0, s1, "queries_batched") == 0
        assert delta(s0, s1, "batches") == 0
    finally:
        close_all(conns)


def wait_for(fn, want, timeout=10):
    """Poll fn() until it returns <want> or <timeout> seconds pass; the
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


@pytest.mark.parametrize("busy", [0, 3])
def test_adaptive_busy_keys(inbatch_factory, direct, mariadb, tables, busy):
    """Adaptive mode, a shape's lookup held in flight by a table lock: the
    lookups gathering behind it go once batch_busy_keys of them have
    gathered (with 0 they wait for it), but not beside two statements in
    flight.  Every answer is the one MariaDB gives the lookup alone."""
    proxy = inbatch_factory(batch_mode="adaptive", batch_window_us=1000000,
                            batch_busy_keys=busy)
    n = 8
    conns = open_conns(proxy, n)
    oracle = Oracle(direct)
    locker = mariadb.connect(database=DB)
    sqls = ["SELECT id, name FROM bt_gen_u WHERE name = %s"
            % sql_str(NAME_VARIANTS[i % len(NAME_VARIANTS)])
            for i in range(n)]
    out = [None] * n
    threads = []

    def one(i):
        try:
            out[i] = run_one(conns[i], sqls[i])
        except Exception as e:  # reported below as a mismatch
            out[i] = ("exception", repr(e))

    def waiting():
        # the proxy's statements that wait for the lock
        with locker.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.processlist"
                        " WHERE state LIKE 'Waiting for table%lock'")
            return cur.fetchone()[0]

    def batched():
        return sum(1 for r in admin_query(proxy, "SHOW CLIENTS")
                   if r[4] == "batched")

    try:
        burst(conns, ["SELECT 1"] * n)
        s0 = stats(proxy)
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES bt_gen_u WRITE")
        seen = []
        try:
            # one at a time: the first runs alone and waits for the
            # lock, the others gather behind it
            for i in range(n):
                th = threading.Thread(target=one, args=(i,))
                th.start()
                threads.append(th)
                seen.append(wait_for(waiting, 1) if i == 0
                            else wait_for(batched, i))
                if busy and i == busy:
                    # these went beside the first
                    seen.append(wait_for(waiting, 2))
            time.sleep(0.1)
            seen.append(waiting())
        finally:
            with locker.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            for th in threads:
                th.join(60)
        s1 = stats(proxy)
        bad = mismatches("busy %d" % busy, sqls, out, oracle)
        assert not bad, "\n".join(bad)
        if busy:
            # the last four gathered as many as busy says and as the
            # batch in flight holds, but two were in flight
            assert seen == [1, 1, 2, 3, 2, 4, 5, 6, 7, 2], seen
            assert delta(s0, s1, "batches_overlapped") >= 1, (s0, s1)
        else:
            assert seen == [1, 1, 2, 3, 4, 5, 6, 7, 1], seen
            assert delta(s0, s1, "batches_overlapped") == 0, (s0, s1)
            assert delta(s0, s1, "batches") == 1, (s0, s1)
        assert delta(s0, s1, "queries_batched") >= 2, (s0, s1)
    finally:
        locker.close()
        oracle.close()
        close_all(conns)


# --- exactness corner cases --------------------------------------------------

def test_metadata_verdict_race(inbatch_factory, direct, tables):
    """A shape whose coalesced column definitions differ from the lookup's
    own (computed string columns) must never be answered from a coalesced
    result, not even by batches already in flight when that was found."""
    proxy = inbatch_factory(batch_mode="window", batch_window_us=3000)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 48)
    rng = random.Random(SEED + 9)
    try:
        bad = []
        for r in range(8):
            # a new shape each round, so its verdict is not known yet
            tmpl = ("SELECT id, UPPER(name) u%d, IFNULL(note, '-') AS n "
                    "FROM bt_bin_u y WHERE y.name = {k} AND y.id > 2 "
                    "ORDER BY id" % r)
            keys = random_keys(rng, "str", 48)
            sqls = [tmpl.format(k=k) for k in keys]
            barrier = threading.Barrier(48)
            got = [None] * 48

            def work(i):
                barrier.wait(30)
                # arrivals spread over ~20 ms: several overlapping batches
                time.sleep((i % 8) * 0.003)
                got[i] = run_one(conns[i], sqls[i])

            run_threads(work, 48, 60)
            bad += mismatches("round %d" % r, sqls, got, oracle)
        assert not bad, "%d mismatches:\n%s" % (len(bad), "\n".join(bad[:6]))
    finally:
        close_all(conns)
        oracle.close()


@pytest.mark.parametrize("tmpl,keys", [
    # a string key compared to a DECIMAL column: the server compares the
    # literal exactly, the derived table's string column as a double
    ("SELECT label FROM bt_num_u WHERE d = {k}",
     ["'5.0000000000000000001'", "'7'", "'5'", "'12.00'"]),
    # a fractional literal against an indexed INT column
    ("SELECT label FROM bt_num_m WHERE k = {k}",
     ["2.50", "7.00", "-3.00", "40.00"]),
])
def test_numeric_key_comparison(inbatch_factory, direct, tables, tmpl, keys):
    """Numeric keys compare in the coalesced query as in the lookup."""
    proxy = inbatch_factory(**WINDOW)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 8)
    try:
        burst(conns, ["SELECT note FROM bt_gen_u WHERE name = 'bob'"] * 8)
        sqls = [tmpl.format(k=k) for k in keys * 2]
        for _ in range(2):
            got = burst(conns, sqls)
            bad = mismatches("numeric", sqls, got, oracle)
            assert not bad, "\n".join(bad)
    finally:
        close_all(conns)
        oracle.close()


def test_integer_keys_in_list(inbatch_factory, direct, mariadb, tables):
    """A batch of integer keys goes to the server as one IN list, about
    half the server's work of a keys join: no derived table, which the
    server would count in Created_tmp_tables.  The answers stay the
    lookups' own, a key written 05 beside 5 included."""
    proxy = inbatch_factory(**WINDOW)
    oracle = Oracle(direct)
    conns = open_conns(proxy, 8)
    sqls = ["SELECT id, k, label FROM bt_num_m WHERE k = %s ORDER BY id" % k
            for k in ("5", "05", "7", "0", "12", "999", "3", "0040")]
    try:
        rounds = []
        for _ in range(4):
            s0 = stats(proxy)
            # SHOW STATUS counts a temporary table of its own
            own = -mariadb.status("Created_tmp_tables")
            t0 = mariadb.status("Created_tmp_tables")
            own += t0
            got = burst(conns, sqls)
            t1 = mariadb.status("Created_tmp_tables")
            s1 = stats(proxy)
            bad = mismatches("in list", sqls, got, oracle)
            assert not bad, "\n".join(bad)
            rounds.append((delta(s0, s1, "batches"), t1 - t0 - own))
        # a probe (once a second) reads information_schema, which may
        # count a temporary table: one round without any suffices
        assert any(b >= 1 and tmp == 0 for b, tmp in rounds), rounds
    finally:
        close_all(conns)
        oracle.close()


def test_sql_select_limit_context(inbatch_factory, direct, tables):
    """sql_select_limit caps each lookup's own rows, not the batch's."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 8, init_command="SET sql_select_limit = 1")
    oracle = Oracle(direct, init_command="SET sql_select_limit = 1")
    try:
        keys = ["alice", "bob", "carol", "dave", "zoë", "Zoe", "straße",
                "nobody"]
        sqls = ["SELECT note, score FROM bt_gen_u WHERE name = %s"
                % sql_str(k) for k in keys]
        for _ in range(2):
            got = burst(conns, sqls)
            bad = mismatches("select_limit", sqls, got, oracle)
            assert not bad, "\n".join(bad)
    finally:
        close_all(conns)
        oracle.close()


@pytest.mark.parametrize("create", [
    "CREATE TEMPORARY TABLE bt_gen_u (name VARCHAR(32), note VARCHAR(20), "
    "score INT)",
    "/* shadow */ CREATE TEMPORARY TABLE bt_gen_u (name VARCHAR(32), "
    "note VARCHAR(20), score INT)",
])
def test_temporary_table_shadows(inbatch_factory, tables, create):
    """A session whose temporary table shadows a real one reads its own
    table, however the CREATE was spelt."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 4)
    try:
        burst(conns, ["SELECT note FROM bt_gen_u WHERE name = 'bob'"] * 4)
        cur = conns[0].cursor()
        cur.execute(create)
        cur.execute("INSERT INTO bt_gen_u VALUES ('alice', 'temp', 7)")
        sqls = ["SELECT note, score FROM bt_gen_u WHERE name = 'alice'"] * 4
        got = burst(conns, sqls)
        assert got[0][0] == "ok" and got[0][2] == (("temp", 7),), got[0]
        for g in got[1:]:
            assert g[0] == "ok" and g[2] != (("temp", 7),), g
    finally:
        close_all(conns)


def test_session_state_after_batched_lookup(inbatch_factory, direct, tables):
    """What a client's own session reports about its last statement
    (warnings, FOUND_ROWS) refers to the lookup, batched or not."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 4)
    d = direct.connect(autocommit=True)
    try:
        burst(conns, ["SELECT note FROM bt_gen_u WHERE name = 'bob'"] * 4)
        seq = ["SELECT label FROM bt_num_u WHERE k = '5abc'",   # warns
               "SELECT note FROM bt_gen_m WHERE name = 'dave' ORDER BY id",
               "SHOW WARNINGS", "SELECT FOUND_ROWS()"]
        want = [run_one(d, s) for s in seq]

        got = [[None] * len(seq) for _ in conns]
        barrier = threading.Barrier(len(conns))

        def work(i):
            for j, s in enumerate(seq):
                if j == 1:
                    barrier.wait(30)
                got[i][j] = run_one(conns[i], s)

        run_threads(work, len(conns), 60)
        for g in got:
            assert g == want, (g, want)
    finally:
        d.close()
        close_all(conns)


def test_runner_diagnostics_after_batched_answer(inbatch_factory, tables):
    """A session answered from another's batch, then running a batch
    itself, reads the diagnostics of its own last lookup: the restore
    owed by the first answer is not replayed over the second."""
    proxy = inbatch_factory(**WINDOW)
    conns = open_conns(proxy, 3)
    try:
        # conns[2] is answered from conns[0]'s batch: one row
        got = burst_first(conns, [
            "SELECT note FROM bt_gen_m WHERE name = 'bob' ORDER BY id"] * 3)
        assert all(g[0] == "ok" for g in got), got
        # now conns[2] runs the batch: its own lookup has two rows
        order = [conns[2], conns[0], conns[1]]
        got = burst_first(order, [
            "SELECT note FROM bt_gen_m WHERE name = 'dave' ORDER BY id"] * 3)
        assert len(got[0][2]) == 2, got
        assert run_one(conns[2], "SELECT FOUND_ROWS()")[2] == ((2,),)
    finally:
        close_all(conns)
