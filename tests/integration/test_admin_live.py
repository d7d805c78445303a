"""Live tuning: SET and RELOAD change batching visibly, and a reload in
the middle of a burst loses no answer and drops no connection."""
import os
import signal
import threading

import pymysql
import pytest

from conftest import DIRECT
from test_admin import admin_query, show_stats

pytestmark = pytest.mark.skipif(
    DIRECT, reason="the admin console exists only in the proxy")

KEYS = 400


@pytest.fixture
def lookups_table(mariadb, table_name):
    t = table_name("live")
    c = mariadb.connect(database="ibtest")
    with c.cursor() as cur:
        cur.execute("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(32) "
                    "NOT NULL UNIQUE)" % t)
        cur.execute("INSERT INTO %s SELECT seq, CONCAT('k', seq) FROM "
                    "seq_1_to_%d" % (t, KEYS))
    c.close()
    return t


def burst(ep, table, conns=32, per_conn=10, during=None):
    """<conns> connections do <per_conn> lookups each, released together;
    returns (lookups, wrong answers, errors)."""
    cs = [ep.connect(autocommit=True) for _ in range(conns)]
    bar = threading.Barrier(conns + 1)
    bad, errs = [], []

    def work(i):
        cur = cs[i].cursor()
        bar.wait()
        for j in range(per_conn):
            k = (i * per_conn + j) % KEYS + 1
            try:
                cur.execute("SELECT id, name FROM %s WHERE name = %%s"
                            % table, ("k%d" % k,))
                r = cur.fetchall()
                if r != ((k, "k%d" % k),):
                    bad.append((k, r))
            except Exception as e:  # every failure is a lost answer
                errs.append(repr(e))

    th = [threading.Thread(target=work, args=(i,)) for i in range(conns)]
    for t in th:
        t.start()
    bar.wait()
    if during:
        during()
    for t in th:
        t.join()
    # every connection is still usable afterwards
    for c in cs:
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        c.close()
    return conns * per_conn, bad, errs


def test_set_batch_mode_off_makes_backend_count_equal(inbatch_factory,
                                                      mariadb, lookups_table):
    """SET batch_mode = off: the backend sees one SELECT per lookup; back
    to window: far fewer."""
    ep = inbatch_factory(batch_mode="window", batch_window_us=20000)
    admin_query(ep, "SET batch_mode = off")
    before = mariadb.com_select()
    n, bad, errs = burst(ep, lookups_table)
    sent = mariadb.com_select() - before
    assert not bad and not errs
    # one per lookup, plus the final SELECT 1 health checks
    assert sent == n + 32
    admin_query(ep, "SET batch_mode = window")
    before = mariadb.com_select()
    n, bad, errs = burst(ep, lookups_table)
    sent = mariadb.com_select() - before
    assert not bad and not errs
    assert sent < (n + 32) // 2, sent


def test_reload_during_burst_loses_nothing(inbatch_factory, lookups_table):
    """SIGHUP and RELOAD while lookups are in flight: every answer right,
    every connection kept, and the reloaded value is in force."""
    ep = inbatch_factory(batch_mode="window", batch_window_us=20000)
    with open(ep.conf_path) as f:
        conf = f.read()
    with open(ep.conf_path, "w") as f:
        f.write(conf.replace("[inbatch]\n",
                             "[inbatch]\nbatch_max_keys = 77\n", 1))

    def reload():
        ep.proc.send_signal(signal.SIGHUP)
        admin_query(ep, "RELOAD")

    n, bad, errs = burst(ep, lookups_table, during=reload)
    assert not bad and not errs
    _, rows = admin_query(ep, "SHOW CONFIG")
    vals = {r[0]: r[1] for r in rows}
    assert vals["batch_max_keys"] == "77"
    stats = show_stats(ep)
    assert int(stats["queries_batched"]) > 0


def test_query_timeout_falls_back(inbatch_factory, mariadb, lookups_table):
    """A coalesced query stuck behind a table lock longer than
    query_timeout: the other lookups of its batch stop waiting for the
    runner's session and run on their own connections, answering
    correctly once the lock goes; no connection is dropped."""
    ep = inbatch_factory(batch_mode="window", batch_window_us=20000,
                         query_timeout=1)
    locker = mariadb.connect(database="ibtest")
    cur = locker.cursor()
    cur.execute("LOCK TABLES %s WRITE" % lookups_table)
    timer = threading.Timer(2.5, lambda: cur.execute("UNLOCK TABLES"))
    timer.start()
    try:
        n, bad, errs = burst(ep, lookups_table, conns=8, per_conn=1)
    finally:
        timer.join()
        locker.close()
    assert not bad and not errs
    stats = show_stats(ep)
    assert stats["backend_lost"] == 0, stats
    assert stats["fallback_error"] >= 1, stats


def test_batching_turned_on_spares_sessions_not_read(inbatch_factory,
                                                     mariadb, table_name):
    """Sessions that logged in while batching was off had no login read,
    so what init_connect left in them is unknown: once batching is turned
    on they still get their own rows, never another session's."""
    t = table_name("icoff")
    root = mariadb.connect(database="ibtest")
    user = "ib_icoff"
    with root.cursor() as cur:
        cur.execute("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(20), "
                    "v INT, KEY (name))" % t)
        cur.execute("INSERT INTO %s VALUES (1,'a',1),(2,'b',2),(3,'c',3),"
                    "(4,'d',4)" % t)
        # interactive sessions get a temporary table of other rows
        cur.execute("CREATE PROCEDURE %s_init() BEGIN IF "
                    "@@session.wait_timeout = 28799 THEN CREATE TEMPORARY "
                    "TABLE ibtest.%s SELECT id, name, -v AS v FROM "
                    "ibtest.%s; END IF; END" % (t, t, t))
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'pw'" % user)
        cur.execute("GRANT SELECT, CREATE TEMPORARY TABLES, EXECUTE ON "
                    "ibtest.* TO %s@'%%'" % user)
        cur.execute("SET GLOBAL interactive_timeout = 28799")
        cur.execute("SET GLOBAL init_connect = 'CALL ibtest.%s_init()'" % t)
    try:
        ep = inbatch_factory(batch_mode="off", batch_window_us=20000)
        plain = [ep.connect(user=user, password="pw", autocommit=True)
                 for _ in range(3)]
        inter = [ep.connect(user=user, password="pw", autocommit=True,
                            client_flag=pymysql.constants.CLIENT.INTERACTIVE)
                 for _ in range(3)]
        admin_query(ep, "SET batch_mode = window")
        want = {c: (1 if c in plain else -1) for c in plain + inter}
        got, bar = {}, threading.Barrier(6)

        def work(c):
            with c.cursor() as cur:
                bar.wait()
                for name, v in (("a", 1), ("b", 2), ("c", 3), ("d", 4)):
                    cur.execute("SELECT v FROM %s WHERE name = '%s'"
                                % (t, name))
                    got.setdefault(c, []).append(cur.fetchall())

        th = [threading.Thread(target=work, args=(c,)) for c in want]
        for x in th:
            x.start()
        for x in th:
            x.join()
        for c, sign in want.items():
            assert got[c] == [((sign * v,),) for v in (1, 2, 3, 4)], \
                "interactive" if sign < 0 else "plain"
        for c in want:
            c.close()
    finally:
        with root.cursor() as cur:
            cur.execute("SET GLOBAL init_connect = ''")
            cur.execute("SET GLOBAL interactive_timeout = DEFAULT")
            cur.execute("DROP USER IF EXISTS %s@'%%'" % user)
            cur.execute("DROP PROCEDURE IF EXISTS %s_init" % t)
        root.close()
