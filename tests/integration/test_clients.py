# SPDX-License-Identifier: BSD-2-Clause
# Real client programs and libraries through inbatch: the mariadb CLI,
# SQLAlchemy over pymysql and MySQLdb, and sysbench OLTP.

import itertools
import os
import re
import subprocess

import pytest

from test_passthrough import both, make_types_table

_db_seq = itertools.count(1)


@pytest.fixture
def scratch_db(mariadb):
    """A fresh database for tools that pick their own table names."""
    name = "sb_%d_%d" % (os.getpid(), next(_db_seq))
    mariadb.query("CREATE DATABASE `%s`" % name)
    yield name
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 20")
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
    finally:
        conn.close()


# --- mariadb CLI -------------------------------------------------------------

def test_cli_batch_output(proxy, direct, mariadb, table_name, mariadb_cli):
    """mariadb -B output of every column type is byte-identical."""
    t = table_name()
    make_types_table(mariadb, t)

    def run(ep):
        r = mariadb_cli(ep, "-B", "-e",
                        "SELECT * FROM `%s` ORDER BY id; SELECT 1 AS x, "
                        "NULL AS y; SHOW WARNINGS" % t)
        return r.returncode, r.stdout, r.stderr
    p, d = both(proxy, direct, run)
    assert d[0] == 0, d[2]
    assert d[1].splitlines()[0].startswith("id\tti\ttiu\t")
    assert "x\ty\n1\tNULL\n" in d[1]
    assert p == d


def test_cli_table_and_vertical(proxy, direct, mariadb_cli):
    """Table (-t) and vertical (-E) renderings, which use column widths and
    types from the metadata, are identical."""
    sql = ("SELECT seq, seq * 1.25 AS f, CONCAT('v', seq) AS s, "
           "NULL AS n, DATE('2024-01-01') + INTERVAL seq DAY AS d "
           "FROM seq_1_to_5")
    for mode in ("-t", "-E"):
        p, d = both(proxy, direct, lambda ep: mariadb_cli(
            ep, mode, "-e", sql).stdout)
        assert "v5" in d
        assert p == d


def test_cli_script_from_stdin(proxy, direct, table_name, mariadb_cli):
    """A script on stdin with DDL, DML, an error and --force runs alike."""
    def run(ep):
        t = table_name()
        script = ("CREATE TABLE `{t}` (id INT PRIMARY KEY, v TEXT);\n"
                  "INSERT INTO `{t}` VALUES (1, 'a'), (2, 'b');\n"
                  "INSERT INTO `{t}` VALUES (1, 'dup');\n"
                  "UPDATE `{t}` SET v = CONCAT(v, v);\n"
                  "SELECT * FROM `{t}` ORDER BY id;\n"
                  "DELIMITER //\n"
                  "SELECT 'custom delimiter' //\n"
                  "DELIMITER ;\n"
                  "SELECT COUNT(*) FROM `{t}`;\n").format(t=t)
        r = mariadb_cli(ep, "-B", "--force", "-v", input=script)
        return r.returncode, r.stdout.replace(t, "T"), \
            r.stderr.replace(t, "T")
    p, d = both(proxy, direct, run)
    assert d[0] == 0
    assert "ERROR 1062 (23000) at line 3: Duplicate entry '1'" in d[2]
    assert "1\taa\n2\tbb\n" in d[1] and "custom delimiter" in d[1]
    assert p == d


def test_cli_error_exit(proxy, direct, mariadb_cli):
    """The CLI reports a query error the same way and exits 1."""
    p, d = both(proxy, direct, lambda ep: mariadb_cli(
        ep, "-e", "SELECT * FROM no_such_table_cli").__dict__)
    assert d["returncode"] == 1
    assert "ERROR 1146 (42S02)" in d["stderr"]
    assert (p["returncode"], p["stdout"], p["stderr"]) == \
        (d["returncode"], d["stdout"], d["stderr"])


# --- SQLAlchemy -----------------------------------------------------------------

def orm_roundtrip(ep, driver, table):
    import sqlalchemy as sa
    from sqlalchemy.orm import Session, declarative_base
    from sqlalchemy.pool import NullPool

    base = declarative_base()

    class Item(base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
        name = sa.Column(sa.String(50), nullable=False, index=True)
        price = sa.Column(sa.Numeric(10, 2))
        note = sa.Column(sa.Text)
        created = sa.Column(sa.DateTime)

    url = "mysql+%s://app:secret@%s:%d/ibtest?charset=utf8mb4" % (
        driver, ep.host, ep.port)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        base.metadata.create_all(engine)
        import datetime
        with Session(engine) as s:
            s.add_all([Item(name="x", price="1.50", note="first \u00fc",
                            created=datetime.datetime(2024, 5, 6, 7, 8, 9)),
                       Item(name="y", price="2.25", note=None),
                       Item(name="x", price="9.99", note="second")])
            s.commit()
        with Session(engine) as s:
            first = s.query(Item).filter(Item.name == "x").order_by(
                Item.id).first()
            got = (first.id, first.name, str(first.price), first.note,
                   first.created)
            count = s.query(Item).filter(Item.name == "x").count()
            s.query(Item).filter(Item.name == "y").update(
                {Item.note: "changed"})
            s.commit()
            y = s.query(Item).filter(Item.name == "y").one()
            s.delete(y)
            s.commit()
            left = [(i.id, i.name) for i in s.query(Item).order_by(Item.id)]
        return got, count, left
    finally:
        base.metadata.drop_all(engine)
        engine.dispose()


@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_sqlalchemy_orm(proxy, direct, table_name, driver):
    """An ORM session (create_all, insert, filter, update, delete) gives the
    same objects through the proxy as directly."""
    p, d = both(proxy, direct,
                lambda ep: orm_roundtrip(ep, driver, table_name("orm")))
    assert d[0][1:] == ("x", "1.50", "first \u00fc", d[0][4])
    assert d[0][4].year == 2024
    assert d[1] == 2 and [n for _, n in d[2]] == ["x", "x"]
    assert p == d


# --- sysbench ------------------------------------------------------------------

def sysbench(ep, db, command, *extra, timeout=120):
    cmd = ["sysbench", "oltp_read_write", "--mysql-host=%s" % ep.host,
           "--mysql-port=%d" % ep.port, "--mysql-user=app",
           "--mysql-password=secret", "--mysql-db=%s" % db, "--tables=2",
           "--table-size=1000", "--threads=4", "--time=5",
           "--db-driver=mysql"] + list(extra) + [command]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "sysbench %s failed:\n%s" % (command,
                                                          r.stdout[-4000:])
    return r.stdout


def sysbench_counter(out, name):
    m = re.search(r"^\s*%s:\s+(\d+)" % re.escape(name), out, re.M | re.I)
    assert m, "no %r in sysbench output:\n%s" % (name, out[-3000:])
    return int(m.group(1))


@pytest.mark.parametrize("ps_mode", ["disable", "auto"])
def test_sysbench_oltp(proxy, scratch_db, ps_mode):
    """sysbench OLTP read/write (text or prepared statements) runs through
    the proxy with no errors and no reconnects."""
    mode = "--db-ps-mode=%s" % ps_mode
    sysbench(proxy, scratch_db, "prepare", mode)
    out = sysbench(proxy, scratch_db, "run", mode)
    trx = sysbench_counter(out, "transactions")
    assert trx > 0
    # sysbench retries InnoDB deadlocks (1213) by itself and counts them as
    # ignored errors; with 4 threads on 1000 rows MariaDB alone produces a
    # few, so only a rate well above that indicates a proxy problem.
    ignored = sysbench_counter(out, "ignored errors")
    assert ignored <= max(5, trx // 50), out[-3000:]
    assert sysbench_counter(out, "reconnects") == 0, out[-3000:]
    assert "FATAL" not in out
    sysbench(proxy, scratch_db, "cleanup", mode)
