# SPDX-License-Identifier: BSD-2-Clause
# Prefetch: the N+1 loop inside one session.  Every answer through inbatch is
# compared with the same session run directly against MariaDB (definitions,
# rows, warnings, status flags), and SHOW STATS shows where prefetch answered.

import random
import socket
import threading

import pymysql
import pytest

from conftest import (APP_PASSWORD, APP_USER, DB, HOST, admin_query,
                      admin_stats)

import rawmy

N_PARENTS = 120


stats = admin_stats


@pytest.fixture(params=["default", "ahead"])
def pf_proxy(request, inbatch_factory):
    """inbatch as configured by default, and with prefetch_max_keys so
    small that the loops are fetched ahead many times while they run: a
    command then often arrives while the backend is fetching."""
    if request.param == "ahead":
        ep = inbatch_factory(prefetch_max_keys="8")
        ep.pf_max_keys = 8
    else:
        ep = inbatch_factory()
        ep.pf_max_keys = 256
    return ep


def outcome(conn, sql):
    """What a client sees of <sql>: comparable between endpoints."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
            return ("ok", cur.description, tuple(rows),
                    cur._result.warning_count if cur._result else 0,
                    conn.server_status & ~0x4000)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0])


@pytest.fixture
def tables(mariadb, table_name):
    """parent rows (id, gid, author), settings keyed 'proj:<gid>', authors
    and comments (several per parent); all InnoDB."""
    t = {k: table_name(k) for k in ("parent", "setting", "author", "comment",
                                    "myi")}
    conn = mariadb.connect(autocommit=True, database=DB)
    rng = random.Random(13)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, gid VARCHAR(20),"
                    " author_id INT) ENGINE=InnoDB" % t["parent"])
        cur.execute("CREATE TABLE `%s` (id INT AUTO_INCREMENT PRIMARY KEY,"
                    " name VARCHAR(64) NOT NULL UNIQUE, value VARCHAR(64))"
                    " ENGINE=InnoDB" % t["setting"])
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, name"
                    " VARCHAR(40)) ENGINE=InnoDB" % t["author"])
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, parent_id INT,"
                    " body VARCHAR(40), KEY (parent_id)) ENGINE=InnoDB"
                    % t["comment"])
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, v VARCHAR(20))"
                    " ENGINE=MyISAM" % t["myi"])
        for i in range(1, N_PARENTS + 1):
            gid = "g%04d" % rng.randint(0, 9999)
            cur.execute("INSERT INTO `%s` VALUES (%d, '%s-%d', %d)"
                        % (t["parent"], i, gid, i, rng.randint(1, 40)))
            # a few parents have no setting: misses of a followed loop
            if i % 17:
                cur.execute("INSERT INTO `%s` (name, value) VALUES "
                            "('proj:%s-%d', 'v%d')" % (t["setting"], gid, i, i))
            for j in range(i % 3):
                cur.execute("INSERT INTO `%s` VALUES (%d, %d, 'c%d')"
                            % (t["comment"], i * 10 + j, i, j))
            cur.execute("INSERT INTO `%s` VALUES (%d, 'm%d')" % (t["myi"], i, i))
        for a in range(1, 41):
            cur.execute("INSERT INTO `%s` VALUES (%d, 'author %d')"
                        % (t["author"], a, a))
    conn.close()
    return t


def settings_loop(conn, t, between=None, order=None, limit=None):
    """The seed loop: a parent query, then one settings lookup per row."""
    out = [outcome(conn, "SELECT id, gid FROM `%s` ORDER BY id" % t["parent"])]
    gids = [r[1] for r in out[0][2]]
    if order is not None:
        gids = order(gids)
    if limit is not None:
        gids = gids[:limit]
    for i, gid in enumerate(gids):
        out.append(outcome(conn, "SELECT id, name, value FROM `%s` WHERE name"
                           " = 'proj:%s' LIMIT 1" % (t["setting"], gid)))
        if between:
            r = between(conn, i)
            if r is not None:
                out.append(r)
    return out


def settings_loop_on(ep, t):
    conn = ep.connect(autocommit=False)
    try:
        out = settings_loop(conn, t)
        conn.rollback()
        return out
    finally:
        conn.close()


def both(proxy, direct, fn, **kw):
    """Run <fn>(conn) on a fresh autocommit-off session of each endpoint."""
    res = []
    for ep in (direct, proxy):
        conn = ep.connect(autocommit=False, **kw)
        try:
            res.append(fn(conn))
            conn.rollback()
        finally:
            conn.close()
    return res


def assert_same(d, p):
    assert len(d) == len(p)
    bad = [(i, a, b) for i, (a, b) in enumerate(zip(d, p)) if a != b]
    assert not bad, "first differences: %r" % bad[:3]


def test_prefetch_settings_loop(pf_proxy, direct, mariadb, tables):
    proxy = pf_proxy
    before = stats(proxy)
    sel0 = mariadb.com_select()
    d = settings_loop_on(direct, tables)
    sel1 = mariadb.com_select()
    p = settings_loop_on(proxy, tables)
    sel2 = mariadb.com_select()
    assert_same(d, p)
    after = stats(proxy)
    hits = after["prefetch_hits"] - before["prefetch_hits"]
    assert hits >= N_PARENTS - 10, hits
    assert after["prefetch_queries"] > before["prefetch_queries"]
    rows = admin_query(proxy, "SHOW PREFETCH")
    assert any(tables["setting"] in r[0] and r[3] > 0 for r in rows), rows
    # the backend ran a handful of statements instead of the loop: the
    # parent query, the first lookups, the probe, one keys join per
    # prefetch_max_keys keys, and the last lookup's diagnostics put back
    # before the ROLLBACK
    # kept answers were dropped once, by the ROLLBACK at the end
    assert after["prefetch_drops"] - before["prefetch_drops"] <= 1
    queries = after["prefetch_queries"] - before["prefetch_queries"]
    assert queries <= 2 + N_PARENTS // proxy.pf_max_keys, queries
    assert sel2 - sel1 <= 7 + queries, (sel1 - sel0, sel2 - sel1)
    assert sel2 - sel1 <= (sel1 - sel0) / 5, (sel1 - sel0, sel2 - sel1)


def test_prefetch_sqlalchemy_loop(proxy, direct, tables):
    sa = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session, declarative_base

    Base = declarative_base()

    class Setting(Base):
        __tablename__ = tables["setting"]
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(64))
        value = sa.Column(sa.String(64))

    class Parent(Base):
        __tablename__ = tables["parent"]
        id = sa.Column(sa.Integer, primary_key=True)
        gid = sa.Column(sa.String(20))
        author_id = sa.Column(sa.Integer)

    def run(ep):
        eng = sa.create_engine("mysql+pymysql://app:secret@%s:%d/ibtest"
                               "?charset=utf8mb4" % (ep.host, ep.port))
        out = []
        with Session(eng) as session:
            gids = [p.gid for p in session.query(Parent).order_by(Parent.id)]
            for gid in gids:
                s = session.query(Setting).filter(
                    Setting.name == "proj" + ":" + gid).first()
                out.append(None if s is None else (s.id, s.name, s.value))
        eng.dispose()
        return out

    before = stats(proxy)
    assert run(direct) == run(proxy)
    after = stats(proxy)
    assert after["prefetch_hits"] - before["prefetch_hits"] >= N_PARENTS - 10


def test_prefetch_django_and_activerecord_loops(proxy, direct, tables):
    t = tables

    def django(conn):
        out = [outcome(conn, "SELECT `%s`.`id`, `%s`.`author_id` FROM `%s`"
                       " ORDER BY `%s`.`id` ASC" % ((t["parent"],) * 4))]
        for pid, aid in out[0][2]:
            out.append(outcome(conn, "SELECT `%s`.`id`, `%s`.`name` FROM `%s`"
                               " WHERE `%s`.`id` = %d LIMIT 21"
                               % (t["author"], t["author"], t["author"],
                                  t["author"], aid)))
        return out

    def activerecord(conn):
        out = [outcome(conn, "SELECT `%s`.* FROM `%s` WHERE `%s`.`author_id`"
                       " > 0 ORDER BY id" % ((t["parent"],) * 3))]
        for row in out[0][2]:
            out.append(outcome(conn, "SELECT `%s`.* FROM `%s` WHERE `%s`."
                               "`parent_id` = %d ORDER BY `%s`.`id` ASC"
                               % (t["comment"], t["comment"], t["comment"],
                                  row[0], t["comment"])))
        return out

    before = stats(proxy)
    d, p = both(proxy, direct, django)
    assert_same(d, p)
    mid = stats(proxy)
    assert mid["prefetch_hits"] - before["prefetch_hits"] >= N_PARENTS - 10
    d, p = both(proxy, direct, activerecord)
    assert_same(d, p)
    after = stats(proxy)
    assert after["prefetch_hits"] - mid["prefetch_hits"] >= N_PARENTS - 10


def test_prefetch_integer_progression(proxy, direct, tables):
    def loop(conn):
        return [outcome(conn, "SELECT * FROM `%s` WHERE id = %d"
                        % (tables["author"], i)) for i in range(1, 45)]
    before = stats(proxy)
    d, p = both(proxy, direct, loop)
    assert_same(d, p)
    assert stats(proxy)["prefetch_hits"] - before["prefetch_hits"] >= 30


def test_prefetch_integer_keys_in_list(inbatch_factory, direct, mariadb,
                                      tables):
    """Integer keys are fetched as one IN list, as the batcher sends them:
    no derived table, which the server would count in Created_tmp_tables
    (a keys join counts two per query).  The answers stay the lookups' own:
    keys written with leading zeros or a plus sign (and still followed to
    the parent rows), keys without rows, several rows per key in the
    lookup's ORDER BY."""
    proxy = inbatch_factory(prefetch_max_keys="8")

    def comments(conn, pid):
        return outcome(conn, "SELECT id, body FROM `%s` WHERE parent_id = %d"
                       " ORDER BY id" % (tables["comment"], pid))

    def mixed(conn):
        out = [outcome(conn, "SELECT id, author_id FROM `%s` ORDER BY id"
                       % tables["parent"])]
        for n, (pid, aid) in enumerate(out[0][2][:60]):
            if n == 30:
                # a key no row has, written as no integer key is
                out.append(outcome(conn, "SELECT * FROM `%s` WHERE id = -0"
                                   % tables["author"]))
            lit = ("%03d", "+%d", "%d")[n % 3] % aid
            out.append(outcome(conn, "SELECT * FROM `%s` WHERE id = %s"
                               % (tables["author"], lit)))
            out.append(comments(conn, pid))
        return out

    def one_shape(conn):
        out = [outcome(conn, "SELECT id FROM `%s` ORDER BY id"
                       % tables["parent"])]
        return out + [comments(conn, r[0]) for r in out[0][2]]

    before = stats(proxy)
    d, p = both(proxy, direct, mixed)
    assert_same(d, p)
    mid = stats(proxy)
    # however the key is written, the loop follows the parent rows
    assert mid["prefetch_hits"] - before["prefetch_hits"] >= 100

    # one shape: no own runs between shapes, only the probe's and a
    # restore's temporary tables besides the fetches'
    conn = proxy.connect(autocommit=False)
    try:
        # SHOW STATUS counts a temporary table of its own
        own = -mariadb.status("Created_tmp_tables")
        t0 = mariadb.status("Created_tmp_tables")
        own += t0
        p = one_shape(conn)
        conn.rollback()
        tmp = mariadb.status("Created_tmp_tables") - t0 - own
    finally:
        conn.close()
    after = stats(proxy)
    queries = after["prefetch_queries"] - mid["prefetch_queries"]
    assert_same(both(proxy, direct, one_shape)[0], p)
    assert after["prefetch_hits"] - mid["prefetch_hits"] >= 100
    assert queries >= 10
    assert tmp < queries, (tmp, queries)


def setup_sql(mariadb, stmts):
    """Run <stmts> directly, autocommit, in the test database."""
    conn = mariadb.connect(autocommit=True, database=DB)
    try:
        with conn.cursor() as cur:
            for sql in stmts:
                cur.execute(sql)
    finally:
        conn.close()


def test_prefetch_big_integer_key_runs_alone(inbatch_factory, direct,
                                            mariadb, table_name):
    """A lookup whose key has more digits than an integer key may (a BIGINT
    UNSIGNED near 2^64), met after its shape was prefetched, runs alone
    with its own answer: its error or its warning, not the rows or
    definitions of the shape's earlier own run."""
    proxy = inbatch_factory(prefetch_max_keys="8")
    big = 18446744073709551615
    tb, pb = table_name("big_k"), table_name("big_p")
    setup_sql(mariadb, [
        "CREATE TABLE `%s` (pk INT PRIMARY KEY, k BIGINT UNSIGNED, v "
        "VARCHAR(20), KEY (k)) ENGINE=InnoDB" % tb,
        "INSERT INTO `%s` SELECT seq, seq, seq * 10 FROM seq_1_to_10" % tb,
        "INSERT INTO `%s` VALUES (11, %d, 'abc')" % (tb, big),
        "CREATE TABLE `%s` (id INT PRIMARY KEY, kk BIGINT UNSIGNED) "
        "ENGINE=InnoDB" % pb,
        "INSERT INTO `%s` VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, %d), "
        "(6, 5), (7, 6), (8, 7)" % (pb, big)])
    keys = [1, 2, 3, 4, big, 5, 6, 7]
    # the big key's row fails (1690), warns (1292), or just is
    for shape in ("SELECT pk, k + 1 AS n FROM `%s` WHERE k = %d",
                  "SELECT pk, v + 0 AS n FROM `%s` WHERE k = %d",
                  "SELECT pk, v FROM `%s` WHERE k = %d"):
        def loop(conn):
            out = [outcome(conn, "SELECT id, kk FROM `%s` ORDER BY id" % pb)]
            out += [outcome(conn, shape % (tb, k)) for k in keys]
            return out + [outcome(conn, "SHOW WARNINGS")]
        before = stats(proxy)
        d, p = both(proxy, direct, loop)
        assert_same(d, p)
        assert stats(proxy)["prefetch_hits"] > before["prefetch_hits"]


def test_prefetch_zerofill_parent(inbatch_factory, direct, mariadb,
                                  table_name):
    """Keys taken from a ZEROFILL parent column are followed whether the
    loop writes them as the parent row shows them (00080) or as numbers
    (80): an integer key is matched to a row by its value."""
    proxy = inbatch_factory(prefetch_max_keys="8")
    tv, pz = table_name("zf_v"), table_name("zf_p")
    rng = random.Random(5)
    setup_sql(mariadb, [
        "CREATE TABLE `%s` (id INT PRIMARY KEY, v VARCHAR(20)) "
        "ENGINE=InnoDB" % tv,
        "INSERT INTO `%s` SELECT seq, CONCAT('v', seq) FROM seq_1_to_200"
        % tv,
        "CREATE TABLE `%s` (id INT PRIMARY KEY, k INT(5) ZEROFILL) "
        "ENGINE=InnoDB" % pz] +
        ["INSERT INTO `%s` VALUES (%d, %d)" % (pz, i, rng.randint(1, 200))
         for i in range(1, 31)])
    # INT values as text, as the server sent them
    conv = dict(pymysql.converters.conversions)
    conv[pymysql.constants.FIELD_TYPE.LONG] = str
    for as_shown in (True, False):
        def loop(conn):
            with conn.cursor() as cur:
                # the text protocol shows the parent's keys zero-filled
                cur.execute("SELECT id, k FROM `%s` ORDER BY id" % pz)
                ks = [r[1] for r in cur.fetchall()]
            return [outcome(conn, "SELECT * FROM `%s` WHERE id = %s"
                            % (tv, k if as_shown else int(k))) for k in ks]
        before = stats(proxy)
        d, p = both(proxy, direct, loop, conv=conv)
        assert_same(d, p)
        assert stats(proxy)["prefetch_hits"] - before["prefetch_hits"] >= 20


def test_prefetch_gives_up_on_barren_fetches(inbatch_factory, direct,
                                            mariadb, table_name):
    """A shape whose fetched answers can never be kept stops being
    fetched, rather than cost a second query per lookup.  Here the
    session's in_predicate_conversion_threshold turns the IN list into a
    join on the server, whose definitions lose the AUTO_INCREMENT flag
    the lookup's own run shows."""
    proxy = inbatch_factory(prefetch_max_keys="8")
    tc, pc = table_name("barren_c"), table_name("barren_p")
    setup_sql(mariadb, [
        "CREATE TABLE `%s` (pk INT AUTO_INCREMENT PRIMARY KEY, k INT, "
        "v VARCHAR(20), KEY (k)) ENGINE=InnoDB" % tc,
        "INSERT INTO `%s` (k, v) SELECT seq %% 50, CONCAT('v', seq) FROM "
        "seq_1_to_200" % tc,
        "CREATE TABLE `%s` (id INT PRIMARY KEY, kk INT) ENGINE=InnoDB" % pc,
        "INSERT INTO `%s` SELECT seq, seq %% 50 FROM seq_1_to_40" % pc])

    def loop(conn):
        out = [outcome(conn, "SELECT id, kk FROM `%s` ORDER BY id" % pc)]
        return out + [outcome(conn, "SELECT pk, v FROM `%s` WHERE k = %d "
                              "ORDER BY pk" % (tc, r[1])) for r in out[0][2]]

    before = stats(proxy)
    d, p = both(proxy, direct, loop, init_command="SET SESSION "
                "in_predicate_conversion_threshold = 2")
    assert_same(d, p)
    after = stats(proxy)
    assert after["prefetch_hits"] == before["prefetch_hits"]
    # the first fetches, not one per lookup
    assert after["prefetch_queries"] - before["prefetch_queries"] <= 3


def test_prefetch_writes_rollback_isolation(pf_proxy, direct, mariadb,
                                           tables):
    proxy = pf_proxy
    t = tables

    def writes(conn, i):
        # the session changes a setting it will look up later, and some
        # it already looked up; kept answers must not survive that
        if i % 10 == 3:
            return outcome(conn, "UPDATE `%s` SET value = CONCAT(value, 'x')"
                           " WHERE id %% 7 = %d" % (t["setting"], i % 7))
        if i == 50:
            return outcome(conn, "SAVEPOINT sp1")
        if i == 60:
            outcome(conn, "DELETE FROM `%s` WHERE id > 70" % t["setting"])
            return outcome(conn, "ROLLBACK TO SAVEPOINT sp1")
        if i == 80:
            return outcome(conn, "ROLLBACK")
        if i == 90:
            return outcome(conn, "SELECT value FROM `%s` WHERE id = 5 FOR"
                           " UPDATE" % t["setting"])
        if i == 100:
            # a COMMIT, of nothing: the direct run must not change the
            # rows the proxied run reads
            outcome(conn, "ROLLBACK")
            return outcome(conn, "COMMIT")
        return None

    before = stats(proxy)
    d, p = both(proxy, direct, lambda c: settings_loop(c, t, writes))
    assert_same(d, p)
    after = stats(proxy)
    # prefetched between the writes, and dropped at each of them
    assert after["prefetch_hits"] - before["prefetch_hits"] >= 40
    assert after["prefetch_drops"] - before["prefetch_drops"] >= 10

    def isolation(conn):
        out = []
        for level in ("READ COMMITTED", "SERIALIZABLE", "READ UNCOMMITTED",
                      "REPEATABLE READ"):
            outcome(conn, "ROLLBACK")
            out.append(outcome(conn, "SET SESSION TRANSACTION ISOLATION"
                               " LEVEL " + level))
            out += settings_loop(conn, t)
        # inside a transaction: the next transaction's level, not this one
        outcome(conn, "ROLLBACK")
        out.append(outcome(conn, "SET SESSION TRANSACTION ISOLATION LEVEL"
                           " READ COMMITTED"))
        out.append(outcome(conn, "BEGIN"))
        out.append(outcome(conn, "SET SESSION TRANSACTION ISOLATION LEVEL"
                           " REPEATABLE READ"))
        out += settings_loop(conn, t)
        return out

    before = stats(proxy)
    d, p = both(proxy, direct, isolation)
    assert_same(d, p)
    after = stats(proxy)
    # only the REPEATABLE READ round is prefetched
    hits = after["prefetch_hits"] - before["prefetch_hits"]
    assert N_PARENTS - 10 <= hits <= N_PARENTS, hits


def test_prefetch_keys_not_following(pf_proxy, direct, tables):
    proxy = pf_proxy
    rng = random.Random(5)

    def shuffled(g):
        g = list(g)
        rng.seed(5)
        rng.shuffle(g)
        return g

    def skewed(g):
        # follows for a while, then jumps about
        return g[:30] + g[90:60:-1] + g[30:40] + ["nope-%d" % i for i in
                                                   range(5)] + g[40:]

    for order in (shuffled, skewed, lambda g: g[::-1]):
        d, p = both(proxy, direct, lambda c: settings_loop(c, tables,
                                                           order=order))
        assert_same(d, p)


def test_prefetch_diagnostics_and_non_innodb(proxy, direct, tables):
    t = tables

    def loop(conn):
        out = settings_loop(conn, t, limit=20)
        out.append(outcome(conn, "SHOW WARNINGS"))
        out.append(outcome(conn, "SELECT FOUND_ROWS()"))
        out.append(outcome(conn, "SELECT ROW_COUNT()"))
        # a MyISAM table reads the latest rows, not the snapshot
        out += [outcome(conn, "SELECT * FROM `%s` WHERE id = %d"
                        % (t["myi"], i)) for i in range(1, 30)]
        return out

    before = stats(proxy)
    d, p = both(proxy, direct, loop)
    assert_same(d, p)
    after = stats(proxy)
    assert after["prefetch_hits"] - before["prefetch_hits"] <= 20


def test_prefetch_concurrent_writers(pf_proxy, mariadb, tables):
    """Another session updates and commits rows during the loop: inside
    REPEATABLE READ the loop must see the snapshot, with 0 differences."""
    proxy = pf_proxy
    t = tables
    oracle = {}
    conn = mariadb.connect(autocommit=True, database=DB)
    with conn.cursor() as cur:
        cur.execute("SELECT name, id, value FROM `%s`" % t["setting"])
        for name, i, v in cur.fetchall():
            oracle[name] = (i, name, v)
    conn.close()
    writer = mariadb.connect(autocommit=True, database=DB)
    stop = threading.Event()
    errors = []

    def write():
        n = 0
        try:
            with writer.cursor() as cur:
                while not stop.is_set():
                    n += 1
                    cur.execute("UPDATE `%s` SET value = 'w%d' WHERE id %% 5"
                                " = %d" % (t["setting"], n, n % 5))
                    cur.execute("DELETE FROM `%s` WHERE id = %d"
                                % (t["setting"], 1 + n % 100))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    before = stats(proxy)
    reader = proxy.connect(autocommit=False)
    diffs = 0
    th = threading.Thread(target=write)
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT id, gid FROM `%s` ORDER BY id" % t["parent"])
            gids = [r[1] for r in cur.fetchall()]
            th.start()
            for rnd in range(3):
                for gid in gids:
                    name = "proj:" + gid
                    cur.execute("SELECT id, name, value FROM `%s` WHERE name"
                                " = '%s' LIMIT 1" % (t["setting"], name))
                    got = cur.fetchone()
                    if got != oracle.get(name):
                        diffs += 1
    finally:
        stop.set()
        if th.is_alive():
            th.join()
        reader.rollback()
        reader.close()
        writer.close()
    assert not errors, errors
    assert diffs == 0
    hits = stats(proxy)["prefetch_hits"] - before["prefetch_hits"]
    assert hits >= 3 * (N_PARENTS - 10), hits


def first_gids(direct, t, n):
    """The gids of the first <n> parent rows, read directly."""
    conn = direct.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT gid FROM `%s` ORDER BY id LIMIT %d"
                        % (t["parent"], n))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def test_prefetch_cclient(proxy, direct, cclient, tables):
    t = tables
    gids = first_gids(direct, t, 50)
    args = ["-e", "SET autocommit = 0",
            "-e", "SELECT id, gid FROM `%s` ORDER BY id" % t["parent"]]
    for gid in gids:
        args += ["-e", "SELECT * FROM `%s` WHERE name = 'proj:%s'"
                 % (t["setting"], gid)]
    args += ["-e", "SHOW WARNINGS", "-e", "ROLLBACK"]
    before = stats(proxy)
    rd, od = cclient(direct, *args)
    rp, op = cclient(proxy, *args)
    # Connector/C asks for session tracking: through inbatch it gets what
    # its own trackers would report, status flags included
    assert (rd, od) == (rp, op)
    assert stats(proxy)["prefetch_hits"] - before["prefetch_hits"] >= 40


def test_prefetch_off(inbatch_factory, direct, tables):
    ep = inbatch_factory(prefetch="off")
    d, p = both(ep, direct, lambda c: settings_loop(c, tables))
    assert_same(d, p)
    assert stats(ep)["prefetch_hits"] == 0


def test_prefetch_serializable(proxy, direct, tables):
    """At SERIALIZABLE every read locks: a keys join over predicted keys
    would lock rows the loop may never ask for, so nothing is prefetched
    there, and the answers are the loop's own."""
    def loop(conn):
        out = [outcome(conn, "SET SESSION TRANSACTION ISOLATION LEVEL"
                       " SERIALIZABLE")]
        out += settings_loop(conn, tables)
        out.append(outcome(conn, "SELECT @@tx_isolation"))
        return out

    before = stats(proxy)
    d, p = both(proxy, direct, loop)
    assert_same(d, p)
    after = stats(proxy)
    assert after["prefetch_hits"] == before["prefetch_hits"]
    assert after["prefetch_queries"] == before["prefetch_queries"]


def test_prefetch_state_changes(pf_proxy, direct, tables):
    """Session state the server reports in the middle of a loop (variables,
    the schema, a user variable), savepoints and a locking read: every
    answer equals the session's own.  A variable set inside a transaction
    ends prefetch until the transaction does; then it picks up again."""
    t = tables
    steps = {
        # a variable of the context (the lookups have their own LIMIT)
        20: ["SET SESSION sql_select_limit = 0"],
        30: ["SET SESSION sql_select_limit = DEFAULT"],
        35: ["COMMIT"],
        50: ["SAVEPOINT a"],
        55: ["UPDATE `%s` SET value = 'sp' WHERE id > 60" % t["setting"],
             "ROLLBACK TO SAVEPOINT a"],
        65: ["SELECT id, value FROM `%s` WHERE id > 100 LOCK IN SHARE MODE"
             % t["setting"]],
        75: ["SET time_zone = '+03:00'"],
        80: ["USE mysql", "USE `%s`" % DB],
        85: ["ROLLBACK"],
        # the server says something changed, not what: no more prefetch
        100: ["SET @v = 1"],
    }

    def between(conn, i):
        out = [outcome(conn, sql) for sql in steps.get(i, [])]
        return tuple(out) if out else None

    def loop(conn):
        return settings_loop(conn, t, between)

    before = stats(pf_proxy)
    d, p = both(pf_proxy, direct, loop)
    assert_same(d, p)
    after = stats(pf_proxy)
    hits = after["prefetch_hits"] - before["prefetch_hits"]
    assert 40 <= hits <= 100, hits
    assert after["prefetch_drops"] - before["prefetch_drops"] >= 5


def test_prefetch_cclient_commands_between(inbatch_factory, direct, cclient,
                                           tables):
    """Connector/C (at most 64 actions), session tracking on,
    prefetch_max_keys 4: pings,
    COM_RESET_CONNECTION and a variable change arrive right after answers
    from kept ones, while the backend is still fetching ahead; the client
    sees what it sees directly, status flags and trackers included."""
    t = tables
    ep = inbatch_factory(prefetch_max_keys="4")
    gids = first_gids(direct, t, 40)
    start = ["-e", "SET autocommit = 0",
             "-e", "SELECT id, gid FROM `%s` ORDER BY id" % t["parent"]]
    args = ["--track"] + start
    for i, gid in enumerate(gids):
        args += ["-e", "SELECT * FROM `%s` WHERE name = 'proj:%s'"
                 % (t["setting"], gid)]
        if i % 9 == 8:
            args += ["--ping"]
        if i == 15:
            # a reset session has autocommit on again: the loop runs
            # outside a transaction until it is turned off again
            args += ["--reset"]
        if i == 20:
            args += start
        if i == 27:
            args += ["-e", "SET SESSION sql_select_limit = 0"]
        if i == 29:
            args += ["-e", "SET SESSION sql_select_limit = DEFAULT"]
        if i == 33:
            args += ["-e", "UPDATE `%s` SET value = 'u' WHERE id > 20"
                     % t["setting"]]
    args += ["-e", "SHOW WARNINGS", "-e", "SELECT FOUND_ROWS()",
             "-e", "ROLLBACK"]
    before = stats(ep)
    rd, od = cclient(direct, *args)
    rp, op = cclient(ep, *args)
    assert rd == 0, od
    assert (rd, od) == (rp, op)
    after = stats(ep)
    assert after["prefetch_hits"] - before["prefetch_hits"] >= 15
    assert after["prefetch_queries"] - before["prefetch_queries"] >= 5


def test_prefetch_held_command_half_closed(inbatch_factory, direct, tables):
    """A command that waits for a fetch ahead, from a client that then
    shuts its sending side: it is answered before the close, as directly.
    Each round goes one lookup further into the loop, so that some of them
    catch a fetch ahead in flight (the log must show one held)."""
    t = tables
    ep = inbatch_factory(prefetch_max_keys="4")
    gids = first_gids(direct, t, 40)
    lookup = "SELECT * FROM `%s` WHERE name = 'proj:%%s'" % t["setting"]

    def round_(target, upto):
        c = rawmy.Conn(HOST, target.port, APP_USER, APP_PASSWORD, db=DB)
        try:
            got = [c.query("SET autocommit = 0"),
                   c.query("SELECT id, gid FROM `%s` ORDER BY id"
                           % t["parent"])]
            got += [c.query(lookup % g) for g in gids[:upto]]
            # a lookup, then a command that is not one, and the FIN
            c.write_packet(b"\x03" + (lookup % gids[upto]).encode(), 0)
            c.write_packet(b"\x03SELECT 'after', @@in_transaction", 0)
            c.sock.shutdown(socket.SHUT_WR)
            got.append(c.read_response(3))
            got.append(c.read_response(3))
            return got
        finally:
            c.sock.close()

    for upto in range(4, 16):
        assert round_(ep, upto) == round_(direct, upto), upto
    with open(ep.log_path, errors="replace") as f:
        assert "waits for the fetch ahead" in f.read()


def grant_user(root, user, tables, grant):
    """(Re)create <user> (password 'pw') with SELECT on the loop's tables
    by a <grant> of "database" or "table" level."""
    with root.cursor() as cur:
        cur.execute("DROP USER IF EXISTS '%s'@'%%'" % user)
        cur.execute("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw'" % user)
        if grant == "database":
            cur.execute("GRANT SELECT ON `%s`.* TO '%s'@'%%'" % (DB, user))
            return
        for t in ("parent", "setting"):
            cur.execute("GRANT SELECT ON `%s`.`%s` TO '%s'@'%%'"
                        % (DB, tables[t], user))


def test_prefetch_table_grant_revoked(proxy, direct, mariadb, tables):
    """A session that may read the loop's table by a table-level grant
    only: a REVOKE in the middle of its transaction denies its next
    lookups directly (the server checks table grants at every statement),
    so rows fetched ahead must not answer them."""
    user = "pfgrant"
    root = mariadb.connect(autocommit=True, database=DB)

    def revoke_at_3(conn, i):
        if i == 3:
            with root.cursor() as cur:
                cur.execute("REVOKE SELECT ON `%s`.`%s` FROM '%s'@'%%'"
                            % (DB, tables["setting"], user))

    def run(ep):
        grant_user(root, user, tables, "table")
        conn = ep.connect(autocommit=False, user=user, password="pw")
        try:
            return settings_loop(conn, tables, between=revoke_at_3)
        finally:
            conn.close()

    try:
        d = run(direct)
        p = run(proxy)
    finally:
        with root.cursor() as cur:
            cur.execute("DROP USER IF EXISTS '%s'@'%%'" % user)
        root.close()
    assert d[6] == ("error", 1142), d[6]
    assert_same(d, p)


@pytest.mark.parametrize("grant", ["database", "table"])
def test_prefetch_only_where_no_revoke_bites(grant, proxy, direct, mariadb,
                                             tables):
    """Prefetch still runs for an account that reads the session's current
    database by a database grant (a REVOKE of it leaves the session its
    right until the next USE), and not for one that reads by table grants.
    """
    user = "pfgrant2"
    root = mariadb.connect(autocommit=True, database=DB)
    grant_user(root, user, tables, grant)
    try:
        before = stats(proxy)
        d, p = both(proxy, direct, lambda c: settings_loop(c, tables),
                    user=user, password="pw")
        after = stats(proxy)
    finally:
        with root.cursor() as cur:
            cur.execute("DROP USER IF EXISTS '%s'@'%%'" % user)
        root.close()
    assert_same(d, p)
    hits = after["prefetch_hits"] - before["prefetch_hits"]
    if grant == "database":
        assert hits >= N_PARENTS - 10, hits
    else:
        assert hits == 0, hits
