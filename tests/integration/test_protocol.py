# SPDX-License-Identifier: BSD-2-Clause
# Protocol features MariaDB offers its own clients, relayed by inbatch: the
# MariaDB extended capabilities (bulk execute, progress reports, extended
# and cached metadata), session tracking for clients that ask for it,
# CLIENT_DEPRECATE_EOF and the compressed protocol.  Each is compared with
# the same client run directly.

import difflib
import hashlib
import threading

import pytest

import rawmy
from conftest import APP_PASSWORD, APP_USER, DB, HOST, run_threads

EXT_RELAYED = (rawmy.MARIADB_PROGRESS | rawmy.MARIADB_STMT_BULK |
               rawmy.MARIADB_EXTENDED_METADATA |
               rawmy.MARIADB_CACHE_METADATA)


def raw(ep, **kw):
    return rawmy.Conn(HOST, ep.port, APP_USER, APP_PASSWORD, db=DB, **kw)


# The server reports the tracked system variables of one OK packet in the
# order of its internal hashing, which changes from server start to server
# start and differs between tracker lists (inbatch's backend sessions track
# '*'); clients read them by name.  Everything else is compared as it is.

def _lenenc(b, i):
    c = b[i]
    if c < 0xFB:
        return c, i + 1
    w = {0xFC: 2, 0xFD: 3, 0xFE: 8}[c]
    return int.from_bytes(b[i + 1:i + 1 + w], "little"), i + 1 + w


def canon_ok(p):
    """<p> with the SYSTEM_VARIABLES entries of its state block sorted."""
    if not p or p[0] != 0x00 or len(p) < 7:
        return p
    _, i = _lenenc(p, 1)
    _, i = _lenenc(p, i)
    status = int.from_bytes(p[i:i + 2], "little")
    i += 4
    if not status & 0x4000 or i >= len(p):
        return p
    n, i = _lenenc(p, i)         # info
    i += n
    total, start = _lenenc(p, i)  # the state block
    entries = []
    j = start
    while j < start + total:
        n, k = _lenenc(p, j + 1)
        entries.append((p[j], p[j:k + n]))
        j = k + n
    vars_ = sorted(e for t, e in entries if t == 0)
    rest = [e for t, e in entries if t != 0]
    return p[:start] + b"".join(vars_ + rest) + p[start + total:]


def canon(resp):
    if isinstance(resp, (bytes, bytearray)):
        return canon_ok(bytes(resp))
    return [canon(r) for r in resp]


def canon_track_lines(out):
    """cclient output with each run of TRACK VAR name/value pairs sorted."""
    lines = out.split("\n")
    res, run = [], []
    i = 0
    while i < len(lines):
        if lines[i].startswith("TRACK VAR ") and i + 1 < len(lines) and \
                lines[i + 1].startswith("TRACK VAR "):
            run.append((lines[i], lines[i + 1]))
            i += 2
            continue
        for a, b in sorted(run):
            res += [a, b]
        run = []
        res.append(lines[i])
        i += 1
    for a, b in sorted(run):
        res += [a, b]
    return "\n".join(res)


def test_greeting_offers_mariadb_extensions(proxy, direct):
    """Bit 0 (CLIENT_MYSQL) clear toward a MariaDB backend's clients, and
    the extensions inbatch relays offered in the greeting's filler."""
    d = raw(direct)
    p = raw(proxy)
    try:
        assert not d.server_caps & rawmy.CLIENT_MYSQL
        assert not p.server_caps & rawmy.CLIENT_MYSQL
        assert p.server_ext == d.server_ext & EXT_RELAYED
        assert p.server_ext & rawmy.MARIADB_STMT_BULK
        for cap in (rawmy.CLIENT_SESSION_TRACK, rawmy.CLIENT_DEPRECATE_EOF):
            assert p.server_caps & cap
        assert p.server_caps & rawmy.CLIENT_COMPRESS
        assert d.server_caps & rawmy.CLIENT_COMPRESS
    finally:
        d.close()
        p.close()


def test_bulk_insert(cclient, proxy, direct, table_name, mariadb):
    """An array-bound INSERT through Connector/C is one bulk execute."""
    outs = []
    for ep in (direct, proxy):
        t = table_name("bulk")
        mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                      "name VARCHAR(20))" % t)
        rc, out = cclient(ep, "--bulk", "INSERT INTO %s VALUES (?, ?)" % t,
                          "50", "-e", "SELECT COUNT(*), MAX(name) FROM %s" % t)
        assert rc == 0, out
        assert "BULK affected=50 server_bulk=yes" in out
        outs.append(out)
    assert outs[0] == outs[1]


def test_bulk_error_then_more(cclient, proxy, direct, table_name, mariadb):
    """A bulk execute that fails is answered with its ERR; the session goes
    on, as directly."""
    outs = []
    for ep in (direct, proxy):
        t = table_name("bulkerr")
        mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                      "name VARCHAR(20))" % t)
        mariadb.query("INSERT INTO ibtest.%s VALUES (3, 'x')" % t)
        rc, out = cclient(ep, "--force", "--bulk",
                          "INSERT INTO %s VALUES (?, ?)" % t, "5",
                          "-e", "SELECT COUNT(*) FROM %s" % t)
        assert "ERROR 1062" in out
        outs.append(out)
    assert outs[0] == outs[1]


def test_progress_reports(cclient, proxy, direct, table_name, mariadb):
    """ALTER TABLE ... ALGORITHM=COPY reports its progress to a client that
    installed a progress callback; the statement's answer follows."""
    t = table_name("progress")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                  "v VARCHAR(100)) ENGINE=InnoDB" % t)
    mariadb.query("INSERT INTO ibtest.%s SELECT seq, REPEAT('x', 100) "
                  "FROM ibtest.seq_1_to_400000" % t)
    for i, ep in enumerate((direct, proxy)):
        rc, out = cclient(ep, "--progress", "-e",
                          "SET SESSION progress_report_time = 1",
                          "-e", "ALTER TABLE %s ADD COLUMN w%d INT, "
                          "ALGORITHM=COPY" % (t, i), timeout=300)
        assert rc == 0, out
        assert "PROGRESS calls=>0" in out, (ep, out)
        assert "OK affected=400000" in out


def test_session_track_for_client_that_asked(cclient, proxy, direct):
    """A Connector/C client (which always asks for session tracking) sees
    what its own trackers report: the schema at login and after USE, the
    five default variables, nothing of inbatch's own trackers."""
    args = ["--track", "-e", "USE mysql", "-e", "SET time_zone = '+02:00'",
            "-e", "SET sql_mode = 'ANSI'", "-e", "SET @u = 1",
            "-e", "SET NAMES latin1", "-e", "SET autocommit = 0",
            "-e", "CREATE TEMPORARY TABLE ibtest.tt (a INT)",
            "-e", "BEGIN", "-e", "SELECT 1", "-e", "COMMIT",
            "-e", "SET session_track_system_variables = 'sql_mode'",
            "-e", "SET sql_mode = ''", "-e", "SET time_zone = '+03:00'",
            "-e", "SET session_track_state_change = ON", "-e", "SET @v = 2"]
    outs = [cclient(ep, *args) for ep in (direct, proxy)]
    outs = [(rc, canon_track_lines(out)) for rc, out in outs]
    assert outs[0] == outs[1]
    out = outs[1][1]
    assert "TRACK SCHEMA ibtest" in out
    assert "TRACK SCHEMA mysql" in out
    assert "TRACK VAR time_zone\nTRACK VAR +02:00" in out
    assert "TRACK STATE" in out
    # inbatch's trackers report every variable; this client's do not
    assert "TRACK VAR sql_mode\nTRACK VAR ANSI" not in out


def test_session_track_raw(proxy, direct):
    """Byte for byte: OK packets of a raw client with SESSION_TRACK."""
    sqls = ["USE mysql", "SET time_zone = '+01:00'", "SET @a = 1",
            "SET sql_mode = 'ANSI'", "SELECT 1", "USE ibtest",
            "SET NAMES utf8mb4"]
    got = []
    for ep in (direct, proxy):
        c = raw(ep, caps=rawmy.BASE_CAPS | rawmy.CLIENT_SESSION_TRACK)
        try:
            got.append(canon([c.login_ok.raw] + [c.query(s) for s in sqls]))
        finally:
            c.close()
    assert got[0] == got[1]


def _deof_session(ep, caps, ext):
    c = raw(ep, caps=caps, ext=ext)
    out = []
    try:
        for s in ["SELECT 1 AS a, 'x' AS b", "SELECT 1 FROM DUAL WHERE 0",
                  "SELECT 1; SELECT 2, 3", "DO 1", "SELECT nosuchcol",
                  "CREATE TEMPORARY TABLE tj (id INT, j JSON, p POINT)",
                  "INSERT INTO tj VALUES (1, '[1]', POINT(1, 2))",
                  "SELECT * FROM tj", "SET autocommit = 0",
                  "SELECT @@autocommit", "SET autocommit = 1"]:
            out.append(c.query(s))
        pk = c.command(b"\x16SELECT id, j FROM tj WHERE id = ?")
        sid = pk[0][1:5]
        # statement ids are the server's own, per connection
        out.append([pk[0][:1] + b"ID" + pk[0][5:]] + pk[1:])
        ex = (b"\x17" + sid + b"\x00\x01\x00\x00\x00" + b"\x00\x01\x03\x00"
              + b"\x01\x00\x00\x00")
        out.append(c.command(ex))
        out.append(c.command(ex))
        out.append(c.command(b"\x1b\x00\x00"))  # COM_SET_OPTION on
        out.append(c.command(b"\x04tj\x00"))  # COM_FIELD_LIST
        out.append(c.command(b"\x0e"))  # COM_PING
    finally:
        c.close()
    return out


@pytest.mark.parametrize("caps,ext", [
    (rawmy.BASE_CAPS | rawmy.CLIENT_DEPRECATE_EOF, 0),
    (rawmy.BASE_CAPS | rawmy.CLIENT_DEPRECATE_EOF
     | rawmy.CLIENT_SESSION_TRACK, EXT_RELAYED),
    (rawmy.BASE_CAPS, EXT_RELAYED),
    (rawmy.BASE_CAPS | rawmy.CLIENT_SESSION_TRACK, 0),
], ids=["deof", "deof-track-ext", "ext", "track"])
@pytest.mark.parametrize("mode", ["adaptive", "off"])
def test_layouts_byte_for_byte(inbatch_factory, direct, caps, ext, mode):
    """Results under DEPRECATE_EOF, extended and cached metadata and
    session tracking: every packet as MariaDB sends it."""
    proxy = inbatch_factory(batch_mode=mode)
    assert _deof_session(proxy, caps, ext) == _deof_session(direct, caps, ext)


def test_batched_lookups_with_extensions(inbatch_factory, direct, mariadb,
                                         table_name):
    """Clients with extended and cached metadata are still batched, each
    with definitions in its own layout."""
    t = table_name("ext")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, j JSON, "
                  "name VARCHAR(20))" % t)
    mariadb.query("INSERT INTO ibtest.%s SELECT seq, '{}', CONCAT('n', seq) "
                  "FROM ibtest.seq_1_to_50" % t)
    proxy = inbatch_factory(batch_mode="window", batch_window_us=20000)
    layouts = [0, rawmy.MARIADB_EXTENDED_METADATA,
               rawmy.MARIADB_CACHE_METADATA, EXT_RELAYED]
    conns = []
    try:
        for i in range(16):
            conns.append((raw(proxy, ext=layouts[i % 4]),
                          raw(direct, ext=layouts[i % 4])))
        for rnd in range(3):
            sqls = ["SELECT id, j, name FROM %s WHERE id = %d"
                    % (t, (i * 7 + rnd) % 60) for i in range(len(conns))]
            for (p, _), s in zip(conns, sqls):
                p.write_packet(b"\x03" + s.encode(), 0)
            got = [p.read_response(3) for p, _ in conns]
            want = [d.query(s) for (_, d), s in zip(conns, sqls)]
            assert got == want
    finally:
        for p, d in conns:
            p.close()
            d.close()


# --- the compressed protocol --------------------------------------------------

def test_compressed_session(cclient, proxy, direct, table_name, mariadb):
    """A Connector/C client with MYSQL_OPT_COMPRESS: the server's session
    is compressed too (Compression ON), and every answer, small and large,
    text and binary, is what the client gets directly."""
    t = table_name("z")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                  "v MEDIUMTEXT)" % t)
    mariadb.query("INSERT INTO ibtest.%s SELECT seq, REPEAT(CHAR(65 + seq "
                  "%% 26), seq * 37) FROM ibtest.seq_1_to_300" % t)
    args = ["--compress", "--multi", "--force",
            "-e", "SHOW SESSION STATUS LIKE 'Compression'",
            "-e", "SELECT 1",
            "-e", "SELECT id, v FROM %s ORDER BY id" % t,
            "-e", "SELECT id, LENGTH(v) FROM %s WHERE id = 7" % t,
            "-e", "SELECT REPEAT('ab', 600000) AS big, 'end'",
            "-e", "SELECT 1; SELECT 2; SELECT nope",
            "-e", "SELECT * FROM %s WHERE id = 250" % t,
            "--ping", "--change-user", APP_USER, "wrong",
            "-e", "SELECT CURRENT_USER()", "--reset",
            "--change-user", APP_USER, APP_PASSWORD,
            "-e", "INSERT INTO %s VALUES (1000, REPEAT('q', 300000))" % t,
            "-e", "SELECT MD5(v) FROM %s WHERE id = 1000" % t]
    out = []
    for ep in (proxy, direct):
        mariadb.query("DELETE FROM ibtest.%s WHERE id = 1000" % t)
        out.append(cclient(ep, *args))
        out.append(cclient(ep, "--compress", "--ps", "--param", "42",
                           "-e", "SELECT id, v FROM %s WHERE id = ?" % t))
    assert out[0] == out[2], "\n".join(difflib.unified_diff(
        out[2][1].split("\n"), out[0][1].split("\n"), "direct", "proxy",
        lineterm=""))[:4000]
    assert out[1] == out[3]
    assert "Compression\tON" in out[0][1]
    assert "ERROR 1054" in out[0][1]
    assert "ERROR 1045" in out[0][1]  # the refused change-user


def test_compression_off_not_offered(inbatch_factory, cclient):
    """compression = off: the greeting has no CLIENT_COMPRESS, so a client
    that asks for it (Connector/C falls back silently) runs uncompressed,
    and so does its backend session."""
    proxy = inbatch_factory(compression="off")
    p = raw(proxy)
    try:
        assert not p.server_caps & rawmy.CLIENT_COMPRESS
        assert p.server_caps & rawmy.CLIENT_SESSION_TRACK
    finally:
        p.close()
    rc, out = cclient(proxy, "--compress", "-e",
                      "SHOW SESSION STATUS LIKE 'Compression'")
    assert "Compression\tOFF" in out, out


def _mysqldb(ep, **kw):
    MySQLdb = pytest.importorskip("MySQLdb")
    return MySQLdb.connect(host=HOST, port=ep.port, user=APP_USER,
                           passwd=APP_PASSWORD, db=DB, charset="utf8mb4",
                           autocommit=True, compress=True, **kw)


def test_compressed_rows_over_16mib(proxy, direct, table_name, mariadb):
    """Rows over 16 MiB, read and written, in several compressed packets
    each way (a plain packet spans them)."""
    t = table_name("zbig")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                  "v LONGBLOB)" % t)
    big = bytes(range(256)) * (70 * 1024)  # 17.5 MiB, compressible
    want = hashlib.md5(big).hexdigest()
    for ep in (proxy, direct):
        c = _mysqldb(ep)
        try:
            cur = c.cursor()
            cur.execute("SHOW SESSION STATUS LIKE 'Compression'")
            assert cur.fetchall() == (("Compression", "ON"),)
            cur.execute("REPLACE INTO %s VALUES (1, %%s)" % t, (big,))
            cur.execute("SELECT MD5(v), LENGTH(v) FROM %s WHERE id = 1" % t)
            assert cur.fetchall() == ((want, len(big)),)
            cur.execute("SELECT v, 'after' FROM %s WHERE id = 1" % t)
            rows = cur.fetchall()
            assert hashlib.md5(rows[0][0]).hexdigest() == want
            assert rows[0][1] == "after"
            cur.execute("SELECT REPEAT(MD5(RAND()), 600000)")
            assert len(cur.fetchall()[0][0]) == 32 * 600000
            cur.execute("SELECT 2")
            assert cur.fetchall() == ((2,),)
        finally:
            c.close()


def test_compressed_clients_batched(inbatch_factory, direct, table_name,
                                    mariadb):
    """Compressed sessions take part in batches: the layer is under the
    packet code, so a batch runs on a compressed backend and fans out to
    compressed clients the direct answers."""
    from conftest import admin_stats
    t = table_name("zb")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, "
                  "name VARCHAR(40))" % t)
    mariadb.query("INSERT INTO ibtest.%s SELECT seq, CONCAT('name', seq) "
                  "FROM ibtest.seq_1_to_100" % t)
    proxy = inbatch_factory(batch_mode="window", batch_window_us=50000)
    n = 16
    sql = "SELECT id, name FROM %s WHERE id = %%s" % t

    def fetch(conn, k):
        cur = conn.cursor()
        cur.execute(sql, (k,))
        rows, desc = cur.fetchall(), cur.description
        cur.close()
        return desc, rows

    d = _mysqldb(direct)
    keys = [(i * 13) % 110 for i in range(n)]
    want = [fetch(d, k) for k in keys]
    d.close()
    conns = [_mysqldb(proxy) for _ in range(n)]
    got = [None] * n
    barrier = threading.Barrier(n)

    def work(i):
        barrier.wait(30)
        for _ in range(5):
            got[i] = fetch(conns[i], keys[i])

    try:
        for c in conns:
            fetch(c, 1)
        s0 = admin_stats(proxy)
        run_threads(work, n, 60)
        s1 = admin_stats(proxy)
    finally:
        for c in conns:
            c.close()
    assert got == want
    assert s1["queries_batched"] > s0["queries_batched"]


def test_change_user_long_refused_keeps_session(cclient, proxy, direct):
    """A COM_CHANGE_USER far over the head inbatch copies (a 100 KiB user
    name): the server refuses it, the session goes on as the old account,
    and a change back works, as directly."""
    long_name = "u" * 100000
    args = ["--force", "-e", "SET @kept = 7",
            "--change-user", long_name, "x",
            "-e", "SELECT CURRENT_USER(), @kept",
            "--change-user", APP_USER, APP_PASSWORD,
            "-e", "SELECT CURRENT_USER(), 1"]
    out = [cclient(ep, *args) for ep in (proxy, direct)]
    assert out[0] == out[1], "proxy:\n%s\ndirect:\n%s" % (out[0][1][:2000],
                                                            out[1][1][:2000])
    assert "Access denied" in out[0][1] or "ERROR" in out[0][1]
    assert "app@%" in out[0][1]


def test_session_track_server_settings(cclient, proxy, direct, mariadb):
    """A session starts with the server's global list of tracked
    variables, not the compiled-in one: the client hears of the variables
    it lists, as directly (main.mysqltest_tracking_info)."""
    mariadb.query("SET GLOBAL session_track_system_variables = "
                  "'character_set_connection,sql_mode'")
    args = ["--track", "-e", "SET NAMES 'utf8'", "-e", "SET sql_mode = ''",
            "-e", "SET time_zone = '+01:00'", "-e", "SET @v = 1",
            "-e", "BEGIN", "-e", "SELECT 1", "-e", "COMMIT",
            "-e", "SET SESSION session_track_system_variables = 'time_zone'",
            "-e", "SET time_zone = '+02:00', sql_mode = 'ANSI'",
            # a reset or changed session starts from the global list again
            "--reset", "-e", "SET sql_mode = '', time_zone = '+03:00'",
            "--change-user", APP_USER, APP_PASSWORD,
            "-e", "SET NAMES 'latin1', time_zone = '+04:00'"]
    try:
        out = [cclient(ep, *args) for ep in (proxy, direct)]
    finally:
        mariadb.query("SET GLOBAL session_track_system_variables = DEFAULT")
    got, want = (canon_track_lines(o[1]) for o in out)
    assert got == want, "\n".join(difflib.unified_diff(
        want.split("\n"), got.split("\n"), "direct", "proxy", lineterm=""))
    assert "TRACK VAR character_set_client" not in got
    assert "TRACK VAR sql_mode" in got
