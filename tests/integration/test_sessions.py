# SPDX-License-Identifier: BSD-2-Clause
# Session behaviour through inbatch: transactions, KILL, LOAD DATA LOCAL,
# an unreachable backend and streaming of large results.

import os
import tempfile
import threading
import time

import pymysql
import pymysql.cursors
import pytest

from conftest import DIRECT, HOST, free_port, healthy
from test_passthrough import both


# --- transactions ------------------------------------------------------------

def test_rollback_discards(endpoint, table_name):
    """BEGIN; INSERT; ROLLBACK leaves no row behind."""
    t = table_name()
    conn = endpoint.connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE `%s` (v INT) ENGINE=InnoDB" % t)
            cur.execute("BEGIN")
            cur.execute("INSERT INTO `%s` VALUES (1), (2)" % t)
            cur.execute("SELECT COUNT(*) FROM `%s`" % t)
            assert cur.fetchall() == ((2,),)
            cur.execute("ROLLBACK")
            cur.execute("SELECT COUNT(*) FROM `%s`" % t)
            assert cur.fetchall() == ((0,),)
    finally:
        conn.close()


def test_isolation_between_sessions(endpoint, table_name):
    """With autocommit off, another session sees rows only after COMMIT."""
    t = table_name()
    a = endpoint.connect(autocommit=True)
    b = endpoint.connect(autocommit=True)
    try:
        ca, cb = a.cursor(), b.cursor()
        ca.execute("CREATE TABLE `%s` (v INT) ENGINE=InnoDB" % t)
        ca.execute("SET autocommit = 0")
        ca.execute("INSERT INTO `%s` VALUES (1)" % t)
        cb.execute("SELECT COUNT(*) FROM `%s`" % t)
        assert cb.fetchall() == ((0,),)
        ca.execute("SELECT COUNT(*) FROM `%s`" % t)
        assert ca.fetchall() == ((1,),)
        ca.execute("COMMIT")
        cb.execute("SELECT COUNT(*) FROM `%s`" % t)
        assert cb.fetchall() == ((1,),)
        # Still in autocommit=0: this insert stays private until COMMIT.
        ca.execute("INSERT INTO `%s` VALUES (2)" % t)
        cb.execute("SELECT COUNT(*) FROM `%s`" % t)
        assert cb.fetchall() == ((1,),)
        ca.execute("ROLLBACK")
        ca.execute("SELECT COUNT(*) FROM `%s`" % t)
        assert ca.fetchall() == ((1,),)
    finally:
        a.close()
        b.close()


def test_open_transaction_dropped_on_disconnect(endpoint, mariadb,
                                                table_name):
    """A client that disconnects mid-transaction has its work rolled back."""
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (v INT) ENGINE=InnoDB" % t)
    conn = endpoint.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO `%s` VALUES (1)" % t)
    conn.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # The row must never become visible; wait for the server-side
        # session to end so that a late commit would also be caught.
        assert mariadb.query("SELECT COUNT(*) FROM ibtest.`%s`" % t) \
            == ((0,),)
        n = mariadb.query("SELECT COUNT(*) FROM information_schema."
                          "INNODB_TRX WHERE trx_rows_modified > 0")[0][0]
        if n == 0:
            break
        time.sleep(0.05)
    assert mariadb.query("SELECT COUNT(*) FROM ibtest.`%s`" % t) == ((0,),)
    other = endpoint.connect(autocommit=True)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM `%s`" % t)
            assert cur.fetchall() == ((0,),)
            cur.execute("SELECT @@in_transaction")
            assert cur.fetchall() == ((0,),)
    finally:
        other.close()


# --- KILL ---------------------------------------------------------------------

def run_kill_query(ep):
    """Interrupt A's SLEEP(5) from B; return what each side saw."""
    a = ep.connect()
    b = ep.connect()
    c = ep.connect()
    out = {}
    try:
        tid = a.thread_id()

        def sleeper():
            t0 = time.monotonic()
            try:
                with a.cursor() as cur:
                    cur.execute("SELECT SLEEP(5)")
                    out["a"] = ("rows", cur.fetchall())
            except pymysql.err.MySQLError as e:
                out["a"] = ("error", e.args[0], e.args[1])
            out["elapsed"] = time.monotonic() - t0
        th = threading.Thread(target=sleeper)
        th.start()
        time.sleep(0.5)
        with b.cursor() as cur:
            cur.execute("KILL QUERY %d" % tid)
            out["kill_rowcount"] = cur.rowcount
        th.join(10)
        assert not th.is_alive()
        with a.cursor() as cur:
            cur.execute("SELECT 'a alive'")
            out["a_after"] = cur.fetchall()
        with c.cursor() as cur:
            cur.execute("SELECT 'c alive'")
            out["c_after"] = cur.fetchall()
        with b.cursor() as cur:
            with pytest.raises(pymysql.err.MySQLError) as ei:
                cur.execute("KILL QUERY 999999")
            out["unknown"] = ei.value.args
            cur.execute("SELECT 'b alive'")
            out["b_after"] = cur.fetchall()
    finally:
        for conn in (a, b, c):
            conn.close()
    return out


def test_kill_query(proxy, direct):
    """KILL QUERY with the id a client sees interrupts that client only."""
    p, d = both(proxy, direct, run_kill_query)
    for r in (d, p):
        assert r["a"][:2] == ("error", 1317), r
        assert r["elapsed"] < 3, r
        assert r["a_after"] == (("a alive",),)
        assert r["b_after"] == (("b alive",),)
        assert r["c_after"] == (("c alive",),)
        assert r["unknown"][0] == 1094
    del p["elapsed"], d["elapsed"]
    assert p == d


def test_kill_connection(endpoint):
    """KILL <id> ends the target session; the killer is unaffected."""
    a = endpoint.connect()
    b = endpoint.connect()
    try:
        with b.cursor() as cur:
            cur.execute("KILL %d" % a.thread_id())
            cur.execute("SELECT 'b alive'")
            assert cur.fetchall() == (("b alive",),)
        time.sleep(0.2)
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with a.cursor() as cur:
                cur.execute("SELECT 1")
        assert ei.value.args[0] in (1927, 2006, 2013, 4031), ei.value.args
    finally:
        b.close()
        try:
            a.close()
        except pymysql.err.Error:
            pass
    conn = endpoint.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 'new alive'")
        assert cur.fetchall() == (("new alive",),)
    conn.close()


# --- LOAD DATA LOCAL INFILE --------------------------------------------------

def write_data_file(lines):
    fd, path = tempfile.mkstemp(prefix="ib-load-", suffix=".tsv")
    with os.fdopen(fd, "w") as f:
        f.write("".join(lines))
    return path


def test_load_data_local(proxy, direct, mariadb, table_name):
    """A client's LOAD DATA LOCAL file is relayed through the proxy."""
    path = write_data_file(["%d\tname%d\n" % (i, i) for i in range(1, 1001)])
    try:
        def run(ep):
            t = table_name()
            mariadb.query("CREATE TABLE ibtest.`%s` (id INT, name "
                          "VARCHAR(20))" % t)
            conn = ep.connect(local_infile=True, autocommit=True)
            try:
                with conn.cursor() as cur:
                    cur.execute("LOAD DATA LOCAL INFILE %%s INTO TABLE `%s`"
                                % t, (path,))
                    res = (cur.rowcount, cur._result.message)
                    cur.execute("SELECT COUNT(*), SUM(id), MAX(name) FROM "
                                "`%s`" % t)
                    return res, cur.fetchall()
            finally:
                conn.close()
        p, d = both(proxy, direct, run)
        assert d[0][0] == 1000
        assert d[1] == ((1000, 500500, "name999"),)
        assert p == d
    finally:
        os.unlink(path)


def test_load_data_local_missing_file(proxy, direct, mariadb, table_name):
    """A missing client file fails the statement; the session survives."""
    def run(ep):
        t = table_name()
        mariadb.query("CREATE TABLE ibtest.`%s` (id INT)" % t)
        conn = ep.connect(local_infile=True, autocommit=True)
        try:
            with conn.cursor() as cur:
                with pytest.raises(pymysql.err.MySQLError) as ei:
                    cur.execute("LOAD DATA LOCAL INFILE "
                                "'/nonexistent/ib-no-file' INTO TABLE `%s`"
                                % t)
                cur.execute("SELECT COUNT(*) FROM `%s`" % t)
                return ei.value.args[0], cur.fetchall()
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert d[1] == ((0,),)
    assert p == d


def test_load_data_local_not_enabled(proxy, direct, mariadb, table_name,
                                     mariadb_cli):
    """Without client consent LOAD DATA LOCAL fails; no file of the proxy's
    host is ever read on the client's behalf."""
    marker = write_data_file(["%d\n" % i for i in range(1, 6)])
    try:
        for path in (marker, "/etc/hostname"):
            def run(ep):
                t = table_name()
                mariadb.query("CREATE TABLE ibtest.`%s` (v VARCHAR(200))"
                              % t)
                conn = ep.connect(autocommit=True)
                try:
                    with conn.cursor() as cur:
                        with pytest.raises(pymysql.err.MySQLError) as ei:
                            cur.execute("LOAD DATA LOCAL INFILE '%s' INTO "
                                        "TABLE `%s`" % (path, t))
                        cur.execute("SELECT 'alive'")
                        alive = cur.fetchall()
                finally:
                    conn.close()
                n = mariadb.query("SELECT COUNT(*) FROM ibtest.`%s`" % t)
                return ei.value.args, alive, n
            p, d = both(proxy, direct, run)
            assert d[2] == ((0,),) and d[1] == (("alive",),)
            assert p[2] == ((0,),), "proxy loaded %s itself" % path
            assert p == d

        def cli(ep):
            t = table_name()
            mariadb.query("CREATE TABLE ibtest.`%s` (v VARCHAR(200))" % t)
            r = mariadb_cli(ep, "--local-infile=0", "-e",
                            "LOAD DATA LOCAL INFILE '%s' INTO TABLE `%s`"
                            % (marker, t))
            n = mariadb.query("SELECT COUNT(*) FROM ibtest.`%s`" % t)
            return r.returncode, r.stderr.replace(t, "T"), n
        p, d = both(proxy, direct, cli)
        assert d[0] != 0 and d[2] == ((0,),)
        assert p == d
    finally:
        os.unlink(marker)


# --- backend unreachable -------------------------------------------------------

def test_backend_down(inbatch_factory):
    """With no backend listening, clients get an error, not a hang, and the
    proxy keeps running and says why in its log."""
    dead = free_port()
    ep = inbatch_factory(backend="%s:%d" % (HOST, dead))
    errors = []
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.MySQLError) as ei:
            ep.connect(connect_timeout=5).close()
        assert time.monotonic() - t0 < 7
        errors.append(ei.value.args)
    if DIRECT:
        # MariaDB not being there at all: the client library's own error.
        assert all(e[0] == 2003 for e in errors), errors
    else:
        assert ep.proc.poll() is None
        log = ep.log_text()
        assert str(dead) in log or "refused" in log.lower(), log[-3000:]


# --- a failing init_connect ------------------------------------------------------

IC_FAIL_USER, IC_FAIL_PW = "ib_icfail", "icfail-pw"


def test_failed_init_connect(endpoint, mariadb):
    """When init_connect fails, MariaDB lets the client log in and answers
    its first command with 1184, then closes.  Through inbatch the same:
    the error is the one the server sent, not a login failure of ours."""
    check_failed_init_connect(endpoint, mariadb)


def test_failed_init_connect_no_login_read(inbatch_factory, mariadb):
    """The same where the proxy reads nothing at login (batching off, a
    client without session tracking): the ERR then answers our SET."""
    check_failed_init_connect(inbatch_factory(batch_mode="off"), mariadb)


def check_failed_init_connect(endpoint, mariadb):
    mariadb.query("CREATE USER %s@'%%' IDENTIFIED BY '%s'"
                  % (IC_FAIL_USER, IC_FAIL_PW))
    try:
        # init_connect runs for accounts without SUPER only
        mariadb.query("GRANT SELECT ON ibtest.* TO %s@'%%'" % IC_FAIL_USER)
        mariadb.query("SET GLOBAL init_connect = "
                      "'SELECT * FROM ibtest.ib_no_such_table'")
        seen = []
        for first in ("query", "ping"):
            conn = None
            # pymysql's connect() may send a command of its own (SET
            # autocommit): whichever command comes first hears the ERR
            with pytest.raises(pymysql.err.OperationalError) as ei:
                conn = endpoint.connect(user=IC_FAIL_USER,
                                        password=IC_FAIL_PW, autocommit=None)
                if first == "ping":
                    conn.ping(reconnect=False)
                else:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
            seen.append(ei.value.args[0])
            assert "init_connect command failed" in ei.value.args[1]
            if conn is not None:
                # and the session is gone
                with pytest.raises(pymysql.err.MySQLError):
                    with conn.cursor() as cur:
                        cur.execute("SELECT 2")
                try:
                    conn.close()
                except pymysql.err.Error:
                    pass
        assert seen == [1184, 1184]
    finally:
        mariadb.query("SET GLOBAL init_connect = ''")
        mariadb.query("DROP USER %s@'%%'" % IC_FAIL_USER)
    if endpoint.proc:
        healthy(endpoint)


# --- streaming -------------------------------------------------------------------

def test_stream_large_result_bounded_memory(inbatch_factory):
    """About 200 MB streamed to an unbuffered client pass through the proxy
    without the proxy buffering the result (RSS growth under 64 MB)."""
    # AddressSanitizer keeps up to 256 MB of freed memory in quarantine,
    # which would count as growth here; a small quarantine still catches
    # use-after-free of recently released buffers.
    asan = "quarantine_size_mb=8:thread_local_quarantine_size_kb=64"
    if os.environ.get("ASAN_OPTIONS"):
        asan += ":" + os.environ["ASAN_OPTIONS"]
    proxy = inbatch_factory(env={"ASAN_OPTIONS": asan})
    rows, width = 3200, 65536
    samples = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            rss = proxy.rss_kb()
            if rss is not None:
                samples.append(rss)
            time.sleep(0.01)
    base = proxy.rss_kb()
    th = threading.Thread(target=sampler)
    th.start()
    conn = proxy.connect(cursorclass=pymysql.cursors.SSCursor,
                         read_timeout=120)
    n = total = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT seq, REPEAT(CHAR(65 + seq %% 26 USING ascii), %d) "
                        "FROM seq_1_to_%d" % (width, rows))
            for seq, value in cur:
                assert len(value) == width
                assert value[0] == chr(65 + seq % 26)
                n += 1
                total += len(value)
                # Slow the reader now and then so the proxy cannot keep
                # up just by forwarding faster than the backend sends.
                if n % 400 == 0:
                    time.sleep(0.05)
        with conn.cursor() as cur:
            cur.execute("SELECT 'after'")
            assert list(cur.fetchall()) == [("after",)]
    finally:
        conn.close()
        stop.set()
        th.join()
    assert n == rows and total == rows * width
    if proxy.proc is not None:
        assert base is not None and samples
        growth_mb = (max(samples) - base) / 1024.0
        assert growth_mb < 64, "proxy RSS grew by %.1f MB" % growth_mb
