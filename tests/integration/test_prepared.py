# SPDX-License-Identifier: BSD-2-Clause
# Server-side prepared statements (binary protocol) through inbatch, driven
# by the Connector/C test client and compared with MariaDB directly.

import hashlib

from test_passthrough import both, make_types_table


def long_pattern(n):
    """The bytes cclient --long-data <n> sends."""
    alpha = b"abcdefghijklmnopqrstuvwxyz"
    return (alpha * (n // 26 + 1))[:n]


def test_ps_all_column_types(proxy, direct, mariadb, table_name, cclient):
    """Binary-protocol rows of every column type match MariaDB's."""
    t = table_name()
    make_types_table(mariadb, t)
    sql = "SELECT * FROM `%s` ORDER BY id" % t
    p, d = both(proxy, direct, lambda ep: cclient(ep, "--ps", "-e", sql))
    assert d[0] == 0, d[1]
    assert "PREPARED params=0 fields=30" in d[1]
    assert "ROWS 3" in d[1]
    assert "-9223372036854775808\t18446744073709551615" in d[1]
    assert "2024-02-29 23:59:58.123456" in d[1]
    assert p == d


def test_ps_params(proxy, direct, cclient):
    """String parameters (including NULL) bind and convert the same way."""
    sql = ("SELECT ? + 1, CONCAT(?, '|'), ? IS NULL, CAST(? AS DATE), "
           "seq FROM seq_1_to_3 WHERE seq >= ?")

    def run(ep):
        return cclient(ep, "--ps", "--param", "41", "--param", "gr\u00fc\u00df",
                       "--param", "\\N", "--param", "2024-01-31",
                       "--param", "2", "-e", sql)
    p, d = both(proxy, direct, run)
    assert d[0] == 0, d[1]
    assert "PREPARED params=5 fields=5" in d[1]
    assert "42\tgr\\xc3\\xbc\\xc3\\x9f|\t1\t2024-01-31\t2\n" in d[1]
    assert "ROWS 2" in d[1]
    assert p == d


def test_ps_dml(proxy, direct, table_name, cclient):
    """Prepared INSERT/UPDATE report the same affected rows and insert id."""
    def run(ep):
        t = table_name()
        conn = ep.connect(autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY "
                        "AUTO_INCREMENT, v VARCHAR(20))" % t)
        conn.close()
        rc, out = cclient(
            ep, "--ps", "--param", "x",
            "-e", "INSERT INTO `%s` (v) VALUES (?)" % t,
            "-e", "UPDATE `%s` SET v = CONCAT(v, ?)" % t,
            "-e", "SELECT * FROM `%s` WHERE v = CONCAT(?, 'x')" % t)
        return rc, out.replace(t, "T")
    p, d = both(proxy, direct, run)
    assert d[0] == 0, d[1]
    assert "OK affected=1 insert_id=1 " in d[1]
    assert "1\txx\n" in d[1]
    assert p == d


def test_ps_reset_and_reexecute(proxy, direct, cclient):
    """COM_STMT_RESET between executions keeps the statement usable."""
    def run(ep):
        return cclient(ep, "--ps", "--repeat", "3", "--param", "7",
                       "-e", "SELECT ? * seq FROM seq_1_to_4")
    p, d = both(proxy, direct, run)
    assert d[0] == 0, d[1]
    assert d[1].count("ROWS 4") == 3
    assert "28\n" in d[1]
    assert p == d


def test_ps_send_long_data(proxy, direct, mariadb, table_name, cclient):
    """A 1 MB parameter sent in chunks with COM_STMT_SEND_LONG_DATA."""
    n = 1024 * 1024
    data = long_pattern(n)
    md5 = hashlib.md5(data).hexdigest()
    p, d = both(proxy, direct, lambda ep: cclient(
        ep, "--ps", "--long-data", str(n), "--repeat", "2",
        "-e", "SELECT LENGTH(?)"))
    assert d[0] == 0, d[1]
    assert d[1].count("\n%d\n" % n) == 2
    assert p == d
    p, d = both(proxy, direct, lambda ep: cclient(
        ep, "--ps", "--long-data", str(n), "--param", "-",
        "-e", "SELECT MD5(?), ?"))
    assert "\n%s\t-\n" % md5 in d[1]
    assert p == d
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (v LONGBLOB)" % t)
    rc, out = cclient(proxy, "--ps", "--long-data", str(n), "--repeat", "2",
                      "-e", "INSERT INTO `%s` VALUES (?)" % t)
    assert rc == 0, out
    rows = mariadb.query("SELECT LENGTH(v), MD5(v) FROM ibtest.`%s`" % t)
    assert rows == ((n, md5), (n, md5))


def test_ps_close_many(proxy, direct, mariadb, cclient):
    """Statements prepared and closed in bulk are closed on the server."""
    sql = "SELECT seq, ? FROM seq_1_to_2"
    for ep in (direct, proxy):
        before = mariadb.status("Com_stmt_close")
        rc, out = cclient(ep, "--ps", "--prepare-many", "200",
                          "--param", "z", "-e", sql)
        assert rc == 0, out
        assert "CLOSED 200" in out and "1\tz\n2\tz\n" in out
        assert mariadb.status("Com_stmt_close") - before >= 200
    p, d = both(proxy, direct, lambda ep: cclient(
        ep, "--ps", "--prepare-many", "50", "--param", "z", "-e", sql))
    assert p == d
    # No statement is left behind once every client has gone.
    assert mariadb.status("Prepared_stmt_count") == 0


def test_ps_errors(proxy, direct, mariadb, table_name, cclient):
    """Prepare and execute errors match MariaDB's, code and SQLSTATE."""
    t = table_name()
    mariadb.query("CREATE TABLE ibtest.`%s` (id INT PRIMARY KEY)" % t)
    mariadb.query("INSERT INTO ibtest.`%s` VALUES (1)" % t)

    def run(ep):
        return cclient(ep, "--ps", "--force", "--param", "1",
                       "-e", "SELEC ?",
                       "-e", "INSERT INTO `%s` VALUES (?)" % t,
                       "-e", "SELECT ? + 100")
    p, d = both(proxy, direct, run)
    assert d[0] == 1
    assert "ERROR 1064 (42000)" in d[1]
    assert "ERROR 1062 (23000)" in d[1]
    assert "\n101\n" in d[1]
    assert p == d


def test_ps_many_rows(proxy, direct, cclient):
    """A 20k-row binary result set arrives complete."""
    sql = "SELECT seq, seq * 0.5, CONCAT('r', seq), NULL FROM seq_1_to_20000"
    p, d = both(proxy, direct, lambda ep: cclient(ep, "--ps", "-e", sql))
    assert d[0] == 0
    assert "ROWS 20000" in d[1] and "20000\t10000.0\tr20000\t\\N\n" in d[1]
    assert p == d
