# SPDX-License-Identifier: BSD-2-Clause
# Pass-through fidelity: what a client sees through inbatch must equal what
# it sees connected to MariaDB directly (handshake, text results, OK and
# ERR packets, multi-statements and stored procedures).

import hashlib
import re

import pymysql
import pytest
from pymysql.constants import CLIENT, SERVER_STATUS


def both(proxy, direct, fn):
    """Run <fn>(endpoint) on proxy and direct; return both results."""
    return fn(proxy), fn(direct)


def query_all(ep, sql, args=None, **kw):
    conn = ep.connect(**kw)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.description, cur.fetchall()
    finally:
        conn.close()


def connect_error(ep, **kw):
    """Connect with <kw>; return (errno, message) of the failure."""
    with pytest.raises(pymysql.err.MySQLError) as ei:
        ep.connect(**kw).close()
    return ei.value.args[0], ei.value.args[1]


# --- handshake -------------------------------------------------------------

def test_server_version_equal(proxy, direct):
    """The handshake advertises the backend's version string unchanged."""
    def version(ep):
        conn = ep.connect()
        try:
            return conn.get_server_info()
        finally:
            conn.close()
    p, d = both(proxy, direct, version)
    assert "MariaDB" in d
    assert p == d


def test_cli_version(proxy, direct, mariadb_cli):
    """The mariadb CLI gets the same SELECT VERSION() through both."""
    def run(ep):
        r = mariadb_cli(ep, "-B", "-N", "-e", "SELECT VERSION()")
        assert r.returncode == 0, r.stderr
        return r.stdout
    p, d = both(proxy, direct, run)
    assert "MariaDB" in d
    assert p == d


def test_wrong_password(proxy, direct):
    """A wrong password is refused with 1045 and MariaDB's message shape."""
    p, d = both(proxy, direct,
                lambda ep: connect_error(ep, password="wrong"))
    shape = r"^Access denied for user 'app'@'[^']*' \(using password: YES\)$"
    assert d[0] == 1045 and re.match(shape, d[1]), d
    assert p[0] == 1045
    assert re.match(shape, p[1]), p


def test_unknown_user(proxy, direct):
    """An unknown user is refused with 1045."""
    p, d = both(proxy, direct,
                lambda ep: connect_error(ep, user="nosuchuser"))
    assert d[0] == 1045
    assert p[0] == 1045
    assert p[1].startswith("Access denied for user 'nosuchuser'@"), p


def test_connect_with_db(proxy, direct):
    """CLIENT_CONNECT_WITH_DB selects the database given at connect."""
    p, d = both(proxy, direct,
                lambda ep: query_all(ep, "SELECT DATABASE()")[1])
    assert d == (("ibtest",),)
    assert p == d


def test_connect_unknown_db(proxy, direct):
    """An unknown database at connect fails with 1049 and the same text."""
    p, d = both(proxy, direct,
                lambda ep: connect_error(ep, database="nosuchdb"))
    assert d[0] == 1049
    assert p == d


def test_connect_without_db(proxy, direct):
    """Connecting without a database leaves DATABASE() NULL."""
    p, d = both(proxy, direct, lambda ep: query_all(
        ep, "SELECT DATABASE()", database=None)[1])
    assert d == ((None,),)
    assert p == d


def test_empty_password_account(proxy, direct):
    """An account without a password (root here) can log in."""
    p, d = both(proxy, direct, lambda ep: query_all(
        ep, "SELECT CURRENT_USER(), 1+1", user="root", password="")[1])
    assert d[0][0].startswith("root@")
    assert p == d


@pytest.mark.parametrize("charset,text", [
    ("utf8mb4", "\u00e9\u20ac\U0001f600"),
    ("latin1", "\u00e9"),
    ("cp1251", "\u0436"),
])
def test_client_charset(proxy, direct, charset, text):
    """The character set chosen in the handshake applies to the session."""
    sql = ("SELECT @@character_set_client, @@character_set_results, "
           "@@collation_connection, HEX(%s), %s")
    p, d = both(proxy, direct, lambda ep: query_all(
        ep, sql, (text, text), charset=charset))
    assert d[1][0][0] == charset
    codec = {"utf8mb4": "utf-8"}.get(charset, charset)
    assert d[1][0][3] == text.encode(codec).hex().upper()
    assert d[1][0][4] == text
    assert p == d


# --- text result sets ------------------------------------------------------

TYPES_DDL = """
CREATE TABLE `%s` (
  id INT PRIMARY KEY AUTO_INCREMENT,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED, de DECIMAL(20,6), f FLOAT, d DOUBLE,
  b BIT(10), dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL, tm TIME(3),
  y YEAR, c CHAR(10), vc VARCHAR(100), bn BINARY(4), vb VARBINARY(16),
  tx TEXT, bl BLOB, e ENUM('a','b'), st SET('x','y','z'), j JSON,
  g POINT NULL
) ENGINE=InnoDB
"""

TYPES_ROWS = [
    "(-128, 255, -32768, 65535, -8388608, 16777215, -2147483648, "
    "4294967295, -9223372036854775808, 18446744073709551615, "
    "-12345678901234.123456, 1.5, -2.25e300, b'1010101010', '2024-02-29', "
    "'2024-02-29 23:59:58.123456', '2001-02-03 04:05:06', '-838:59:59.999', "
    "2155, 'chär', 'Grüße \\t tab', X'00FF0102', X'DEADBEEF00', "
    "REPEAT('text ', 1000), X'000102FEFF', 'b', 'x,z', "
    "'{\"k\": [1, 2.5, \"v\", null]}', ST_GeomFromText('POINT(1 2)'))",
    "(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', '1000-01-01', "
    "'1000-01-01 00:00:00', '1970-01-02 00:00:01', '00:00:00', 1901, '', "
    "'', X'', X'', '', X'', 'a', '', '[]', ST_GeomFromText('POINT(0 0)'))",
    "(" + ", ".join(["NULL"] * 29) + ")",
]

TYPES_COLS = ("ti, tiu, si, siu, mi, miu, i, iu, bi, biu, de, f, d, b, dt, "
              "dtm, ts, tm, y, c, vc, bn, vb, tx, bl, e, st, j, g")


def make_types_table(mariadb, name):
    conn = mariadb.connect(database="ibtest")
    try:
        with conn.cursor() as cur:
            cur.execute(TYPES_DDL % name)
            cur.execute("SET time_zone = '+00:00'")
            for row in TYPES_ROWS:
                cur.execute("INSERT INTO `%s` (%s) VALUES %s"
                            % (name, TYPES_COLS, row))
        conn.commit()
    finally:
        conn.close()


def test_all_column_types(proxy, direct, mariadb, table_name):
    """Column definitions and text rows of every type are passed intact."""
    t = table_name()
    make_types_table(mariadb, t)
    sql = "SELECT *, NULL AS n, 1.5 AS lit, 'x' AS s FROM `%s` ORDER BY id" % t
    p, d = both(proxy, direct, lambda ep: query_all(ep, sql))
    assert len(d[1]) == 3
    assert d[1][2][1:30] == (None,) * 29
    assert d[1][0][3] == -32768 and d[1][0][10] == 18446744073709551615
    assert p[0] == d[0]
    assert p[1] == d[1]


def test_all_column_types_cclient(proxy, direct, mariadb, table_name,
                                  cclient):
    """Connector/C sees identical metadata (types, charsets, flags) and rows."""
    t = table_name()
    make_types_table(mariadb, t)
    sql = "SELECT * FROM `%s` ORDER BY id" % t
    p, d = both(proxy, direct, lambda ep: cclient(ep, "-e", sql))
    assert d[0] == 0, d[1]
    assert "COLUMNS 30" in d[1] and "ROWS 3" in d[1]
    assert p == d


def test_empty_result(proxy, direct, mariadb, table_name, cclient):
    """A result set with columns and no rows is passed intact."""
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (a INT, b VARCHAR(5))" % t)
    sql = "SELECT a, b FROM `%s` WHERE a = 1" % t
    p, d = both(proxy, direct, lambda ep: query_all(ep, sql))
    assert d[1] == () and len(d[0]) == 2
    assert p == d
    p, d = both(proxy, direct, lambda ep: cclient(ep, "-e", sql))
    assert "ROWS 0" in d[1]
    assert p == d


def test_large_row(proxy, direct, mariadb, table_name):
    """A 20 MB value crosses in both directions (packets over 16 MiB)."""
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (id INT PRIMARY KEY, "
                  "v LONGBLOB)" % t)
    blob = bytes(range(256)) * (20 * 1024 * 1024 // 256 + 7)
    conn = proxy.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO `%s` VALUES (1, %%s)" % t, (blob,))
            assert cur.rowcount == 1
        conn.commit()
    finally:
        conn.close()
    md5 = mariadb.query("SELECT LENGTH(v), MD5(v) FROM ibtest.`%s`" % t)
    assert md5 == ((len(blob), hashlib.md5(blob).hexdigest()),)
    sql = "SELECT id, v, LENGTH(v) FROM `%s`" % t
    p, d = both(proxy, direct, lambda ep: query_all(ep, sql)[1])
    assert d[0][1] == blob
    assert p[0][1] == blob
    assert p == d


def test_many_rows(proxy, direct):
    """A 100k-row result arrives complete and in order."""
    sql = ("SELECT seq, CONCAT('row', seq), seq * 1.5, IF(seq % 7, NULL, "
           "seq) FROM seq_1_to_100000")
    p, d = both(proxy, direct, lambda ep: query_all(ep, sql))
    assert len(d[1]) == 100000 and d[1][-1][0] == 100000
    assert p[0] == d[0]
    assert p[1] == d[1]


# --- OK packets --------------------------------------------------------------

def test_ok_affected_and_insert_id(proxy, direct, table_name):
    """Affected rows, insert id and info strings match MariaDB's."""
    def run(ep):
        t = table_name()
        conn = ep.connect(autocommit=True)
        out = []
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY "
                            "AUTO_INCREMENT, v INT)" % t)
                cur.execute("INSERT INTO `%s` (v) VALUES (10)" % t)
                out.append((cur.rowcount, cur.lastrowid,
                            cur._result.message))
                cur.execute("INSERT INTO `%s` (v) VALUES (11), (12)" % t)
                out.append((cur.rowcount, cur.lastrowid,
                            cur._result.message))
                cur.execute("UPDATE `%s` SET v = v + 1" % t)
                out.append((cur.rowcount, cur.lastrowid,
                            cur._result.message))
                cur.execute("UPDATE `%s` SET v = v WHERE id = 1" % t)
                out.append((cur.rowcount, cur._result.message))
                cur.execute("DELETE FROM `%s` WHERE v > 11" % t)
                out.append((cur.rowcount, cur._result.message))
                cur.execute("INSERT INTO `%s` VALUES (100, 1)" % t)
                out.append((cur.rowcount, cur.lastrowid))
                cur.execute("SELECT LAST_INSERT_ID()")
                out.append(cur.fetchall())
        finally:
            conn.close()
        return out
    p, d = both(proxy, direct, run)
    # pymysql keeps the length prefix of the info string.
    assert d[0][:2] == (1, 1)
    assert d[1][:2] == (2, 2)
    assert d[1][2].endswith(b"Records: 2  Duplicates: 0  Warnings: 0")
    assert d[2][:2] == (3, 0)
    assert d[2][2].endswith(b"Rows matched: 3  Changed: 3  Warnings: 0")
    assert p == d


def test_ok_warnings(proxy, direct, table_name):
    """Warning counts in OK packets and SHOW WARNINGS match MariaDB's."""
    def run(ep):
        t = table_name()
        conn = ep.connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION sql_mode = ''")
                cur.execute("CREATE TABLE `%s` (v VARCHAR(2))" % t)
                cur.execute("INSERT INTO `%s` VALUES ('abc'), ('de'), "
                            "('fghij')" % t)
                res = (cur._result.warning_count, cur._result.message)
                cur.execute("SHOW WARNINGS")
                warn = cur.fetchall()
                cur.execute("SELECT 1")
                after = cur._result.warning_count
                return res, warn, after
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert d[0][0] == 2 and len(d[1]) == 2 and d[1][0][1] == 1265
    assert d[2] == 0
    assert p == d


def test_server_status_flags(proxy, direct, table_name):
    """Server status (IN_TRANS, AUTOCOMMIT) tracks BEGIN/COMMIT/autocommit."""
    def run(ep):
        t = table_name()
        conn = ep.connect(autocommit=True)
        seq = []
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE `%s` (v INT)" % t)
                seq.append(conn.server_status)
                cur.execute("BEGIN")
                seq.append(conn.server_status)
                cur.execute("INSERT INTO `%s` VALUES (1)" % t)
                seq.append(conn.server_status)
                cur.execute("COMMIT")
                seq.append(conn.server_status)
                cur.execute("SET autocommit = 0")
                seq.append(conn.server_status)
                cur.execute("SELECT * FROM `%s`" % t)
                seq.append(conn.server_status)
                cur.execute("ROLLBACK")
                seq.append(conn.server_status)
                cur.execute("SET autocommit = 1")
                seq.append(conn.server_status)
        finally:
            conn.close()
        return seq
    p, d = both(proxy, direct, run)
    in_trans = SERVER_STATUS.SERVER_STATUS_IN_TRANS
    autocommit = SERVER_STATUS.SERVER_STATUS_AUTOCOMMIT
    assert d[0] & autocommit and not d[0] & in_trans
    assert d[1] & in_trans
    assert not d[3] & in_trans
    assert not d[4] & autocommit
    assert d[7] & autocommit
    assert p == d


# --- errors ------------------------------------------------------------------

ERROR_SQL = [
    "SELEC 1",
    "SELECT * FROM no_such_table_here",
    "SELECT no_such_column FROM seq_1_to_3",
    "SELECT 1 FROM DUAL WHERE",
]


def test_errors_pymysql(proxy, direct, table_name):
    """Errors carry the same code and text, and the session survives them."""
    def run(ep):
        t = table_name()
        conn = ep.connect(autocommit=True)
        out = []
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY)" % t)
                cur.execute("INSERT INTO `%s` VALUES (1)" % t)
                sqls = ERROR_SQL + ["INSERT INTO `%s` VALUES (1)" % t]
                for sql in sqls:
                    with pytest.raises(pymysql.err.MySQLError) as ei:
                        cur.execute(sql)
                    out.append((type(ei.value).__name__,
                                ei.value.args[0],
                                ei.value.args[1].replace(t, "T")))
                    cur.execute("SELECT 42")
                    out.append(cur.fetchall())
        finally:
            conn.close()
        return out
    p, d = both(proxy, direct, run)
    codes = [x[1] for x in d[0::2]]
    assert codes == [1064, 1146, 1054, 1064, 1062]
    assert all(x == ((42,),) for x in d[1::2])
    assert p == d


def test_errors_sqlstate(proxy, direct, mariadb, cclient, table_name):
    """SQLSTATE of errors matches MariaDB's (Connector/C view)."""
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (id INT PRIMARY KEY)" % t)
    mariadb.query("INSERT INTO ibtest.`%s` VALUES (1)" % t)

    def run(ep):
        args = ["--force"]
        for sql in ERROR_SQL + ["INSERT INTO `%s` VALUES (1)" % t]:
            args += ["-e", sql, "-e", "SELECT 'alive'"]
        return cclient(ep, *args)
    p, d = both(proxy, direct, run)
    assert d[0] == 1
    assert "ERROR 1064 (42000): You have an error in your SQL syntax" in d[1]
    assert "ERROR 1146 (42S02)" in d[1]
    assert "ERROR 1062 (23000): Duplicate entry '1' for key" in d[1]
    assert d[1].count("alive") == 2 * 5
    assert p == d


# --- multi-statements and multiple result sets ------------------------------

def collect_sets(cur):
    sets = []
    while True:
        sets.append((cur.description, cur.fetchall(), cur.rowcount))
        if not cur.nextset():
            return sets


def test_multi_statements_pymysql(proxy, direct, table_name):
    """CLIENT_MULTI_STATEMENTS yields every result set in order."""
    def run(ep):
        t = table_name()
        conn = ep.connect(client_flag=CLIENT.MULTI_STATEMENTS,
                          autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE `%s` (a INT); "
                            "INSERT INTO `%s` VALUES (1), (2); "
                            "SELECT 1 AS one; "
                            "SELECT a, 'x' AS s FROM `%s` ORDER BY a; "
                            "UPDATE `%s` SET a = a + 10; "
                            "SELECT a FROM `%s` WHERE a > 100"
                            % (t, t, t, t, t))
                sets = collect_sets(cur)
                cur.execute("SELECT 'after'")
                sets.append(cur.fetchall())
                return sets
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert len(d) == 7
    assert d[3][1] == ((1, "x"), (2, "x"))
    assert d[4][2] == 2
    assert p == d


def test_multi_statement_error_midway(proxy, direct):
    """An error in the middle of a multi-statement ends the batch cleanly."""
    def run(ep):
        conn = ep.connect(client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with conn.cursor() as cur:
                with pytest.raises(pymysql.err.MySQLError) as ei:
                    cur.execute("SELECT 1; SELEC 2; SELECT 3")
                    while cur.nextset():
                        pass
                err = ei.value.args
                cur.execute("SELECT 'ok'")
                return err, cur.fetchall()
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert d[0][0] == 1064 and d[1] == (("ok",),)
    assert p == d


def test_multi_statements_mysqldb(proxy, direct):
    """MySQLdb (libmysqlclient-style C API) gets the same multi results."""
    import MySQLdb

    def run(ep):
        conn = MySQLdb.connect(host=ep.host, port=ep.port, user="app",
                               password="secret", database="ibtest",
                               charset="utf8mb4", connect_timeout=10,
                               client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1, 'a'; SELECT NULL, 2.5, NOW() > 0; DO 1")
            return collect_sets(cur)
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert len(d) == 3 and d[0][1] == ((1, "a"),)
    assert p == d


def test_stored_procedure_two_results(proxy, direct, mariadb, table_name,
                                      cclient):
    """CALL of a procedure returning two result sets matches MariaDB."""
    proc = table_name("p")
    mariadb.query("CREATE PROCEDURE ibtest.`%s`(IN x INT) BEGIN "
                  "SELECT x AS a, 'first' AS b; "
                  "SELECT seq, seq * x FROM seq_1_to_3; END" % proc)
    try:
        def run(ep):
            conn = ep.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("CALL `%s`(7)" % proc)
                    sets = collect_sets(cur)
                    cur.execute("SELECT 'after'")
                    sets.append(cur.fetchall())
                    return sets
            finally:
                conn.close()
        p, d = both(proxy, direct, run)
        assert d[0][1] == ((7, "first"),)
        assert d[1][1] == ((1, 7), (2, 14), (3, 21))
        assert p == d
        p, d = both(proxy, direct,
                    lambda ep: cclient(ep, "-e", "CALL `%s`(2)" % proc))
        assert d[0] == 0 and d[1].count("COLUMNS") == 2
        assert p == d
    finally:
        mariadb.query("DROP PROCEDURE ibtest.`%s`" % proc)


# --- other commands ----------------------------------------------------------

def test_init_db_and_use(proxy, direct):
    """COM_INIT_DB and USE switch the current database."""
    def run(ep):
        conn = ep.connect()
        out = []
        try:
            with conn.cursor() as cur:
                conn.select_db("mysql")
                cur.execute("SELECT DATABASE()")
                out.append(cur.fetchall())
                cur.execute("USE ibtest")
                cur.execute("SELECT DATABASE(), COUNT(*) FROM seq_1_to_5")
                out.append(cur.fetchall())
                with pytest.raises(pymysql.err.MySQLError) as ei:
                    conn.select_db("no_such_db")
                out.append(ei.value.args)
                cur.execute("SELECT DATABASE()")
                out.append(cur.fetchall())
        finally:
            conn.close()
        return out
    p, d = both(proxy, direct, run)
    assert d[0] == (("mysql",),) and d[1] == (("ibtest", 5),)
    assert d[2][0] == 1049
    assert p == d


def test_ping(proxy, direct):
    """COM_PING succeeds and the session stays usable."""
    def run(ep):
        conn = ep.connect()
        try:
            conn.ping(reconnect=False)
            conn.ping(reconnect=False)
            with conn.cursor() as cur:
                cur.execute("SELECT 'pong'")
                return cur.fetchall(), conn.server_status
        finally:
            conn.close()
    p, d = both(proxy, direct, run)
    assert d[0] == (("pong",),)
    assert p == d


def test_quit_then_others_served(proxy):
    """COM_QUIT closes one session; the proxy keeps serving new ones."""
    for _ in range(20):
        conn = proxy.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID() > 0")
            assert cur.fetchall() == ((1,),)
        conn.close()
    keep = proxy.connect()
    other = proxy.connect()
    other.close()
    with keep.cursor() as cur:
        cur.execute("SELECT 'still here'")
        assert cur.fetchall() == (("still here",),)
    keep.close()
    if proxy.proc is not None:
        assert proxy.proc.poll() is None


def test_field_list(proxy, direct, mariadb, table_name, cclient):
    """COM_FIELD_LIST returns the same column definitions."""
    t = table_name()
    make_types_table(mariadb, t)
    p, d = both(proxy, direct,
                lambda ep: cclient(ep, "--list-fields", t))
    assert d[0] == 0 and "COLUMNS 30" in d[1]
    assert p == d
    p, d = both(proxy, direct,
                lambda ep: cclient(ep, "--list-fields", "no_such_tbl"))
    assert d[0] == 1 and "ERROR 1146" in d[1]
    assert p == d


def test_statistics(proxy, direct, cclient):
    """COM_STATISTICS returns MariaDB's status line."""
    shape = (r"^STAT Uptime: \d+  Threads: \d+  Questions: \d+  "
             r"Slow queries: \d+  Opens: \d+  Open tables: \d+  "
             r"Queries per second avg: [\d.]+\nCOLUMNS 1\n")
    p, d = both(proxy, direct,
                lambda ep: cclient(ep, "--stat", "-e", "SELECT 1"))
    assert d[0] == 0 and re.match(shape, d[1]), d[1]
    assert p[0] == 0 and re.match(shape, p[1]), p[1]
    assert p[1].split("\n", 1)[1] == d[1].split("\n", 1)[1]


def test_set_option(proxy, direct, cclient):
    """COM_SET_OPTION toggles multi-statement support for the session."""
    def run(ep):
        return cclient(ep, "--force", "-e", "SELECT 1; SELECT 2",
                       "--set-option", "on", "-e", "SELECT 1; SELECT 2",
                       "--set-option", "off", "-e", "SELECT 3; SELECT 4",
                       "-e", "SELECT 'alive'")
    p, d = both(proxy, direct, run)
    assert d[1].count("ERROR 1064") == 2
    assert "SET OPTION on ok" in d[1] and "alive" in d[1]
    assert p == d


def test_reset_connection(proxy, direct, cclient):
    """COM_RESET_CONNECTION clears session state such as user variables."""
    def run(ep):
        return cclient(ep, "-e", "SET @a = 1, @@session.sql_mode = ''",
                       "-e", "SELECT @a, @@session.sql_mode = ''",
                       "-e", "BEGIN", "--reset",
                       "-e", "SELECT @a, @@session.sql_mode = '', "
                       "@@in_transaction, DATABASE()")
    p, d = both(proxy, direct, run)
    assert d[0] == 0
    assert "1\t1\n" in d[1]
    assert "RESET ok" in d[1] and "\\N\t0\t0\tibtest\n" in d[1]
    assert p == d


def test_change_user(proxy, direct, cclient):
    """COM_CHANGE_USER switches the account and resets the session."""
    def run(ep):
        return cclient(ep, "-e", "SET @v = 5", "-e", "SELECT CURRENT_USER()",
                       "--change-user", "root", "",
                       "-e", "SELECT CURRENT_USER(), @v, DATABASE()",
                       "--change-user", "app", "secret",
                       "-e", "SELECT CURRENT_USER()")
    p, d = both(proxy, direct, run)
    assert d[0] == 0 and "CHANGED USER ok" in d[1]
    assert "root@" in d[1]
    assert p == d


def test_change_user_wrong_password(proxy, direct, cclient):
    """A failed COM_CHANGE_USER reports 1045 like MariaDB."""
    p, d = both(proxy, direct, lambda ep: cclient(
        ep, "--change-user", "app", "wrong"))
    assert d[0] == 1 and "ERROR 1045 (28000): Access denied for user 'app'@" \
        in d[1]
    assert p[0] == 1
    assert p[1].split("@")[0] == d[1].split("@")[0]

