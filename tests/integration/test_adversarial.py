# SPDX-License-Identifier: BSD-2-Clause
# Adversarial clients against the compressed protocol, the plain-socket I/O
# under the bufferevents, long COM_CHANGE_USER and prefetch's fetch ahead.
# Each test checks an answer (as MariaDB gives it directly), a clean error
# or close, a bound on the proxy's memory, and that others are still served.

import socket
import struct
import threading
import time
import zlib

import pymysql
import pytest

import rawmy
from conftest import (APP_PASSWORD, APP_USER, DB, DIRECT, HOST, admin_query,
                      admin_stats, healthy)

pytestmark = pytest.mark.skipif(
    DIRECT, reason="attacks on the proxy's own layers")

ZCAPS = rawmy.BASE_CAPS | rawmy.CLIENT_COMPRESS


def zconn(ep, caps=ZCAPS, **kw):
    """A raw session; compressed after its login when <caps> ask for it."""
    return rawmy.Conn(HOST, ep.port, APP_USER, APP_PASSWORD, db=DB,
                      caps=caps, **kw)


def closed_by_peer(sock, timeout):
    """Wait for the peer to close <sock>; the bytes it sent before (None
    when it is still open after <timeout> seconds)."""
    sock.settimeout(0.2)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return got
        if not d:
            return got
        got += d
    return None


def rows_of(pkts):
    """The text rows of a one-result-set response as tuples of bytes."""
    p = pkts[0]
    assert p[0] not in (0x00, 0xFF), p
    ncols, _ = rawmy.lenenc(p, 0)
    rows = []
    for p in pkts[1 + ncols:]:
        if p[0] == 0xFE and len(p) < 9:
            continue
        if p[0] == 0xFF:
            raise AssertionError("error in rows: %r" % p)
        pos, row = 0, []
        for _ in range(ncols):
            v, pos = rawmy.lenenc_str(p, pos)
            row.append(v)
        rows.append(tuple(row))
    return rows


def err_code(p):
    assert p[0] == 0xFF, p
    return struct.unpack_from("<H", p, 1)[0]


# --- the compressed protocol: malformed, split, pipelined ---------------------

def q(sql):
    return rawmy.plain_packet(b"\x03" + sql.encode(), 0)


MALFORMED = {
    # claims 100 bytes uncompressed, carries none
    "clen0": struct.pack("<I", 0)[:3] + b"\0" + struct.pack("<I", 100)[:3],
    # the stream inflates to fewer bytes than claimed
    "short": rawmy.compressed_packet(q("SELECT 1"), 0, ulen=200),
    # ... or to more
    "long": rawmy.compressed_packet(q("SELECT 1" + " " * 200), 0, ulen=20),
    # bytes after the end of the zlib stream, inside the packet
    "trailing": (lambda body: struct.pack("<I", len(body))[:3] + b"\0"
                 + struct.pack("<I", 13)[:3] + body)(
                     zlib.compress(q("SELECT 1")) + b"garbage"),
    # not zlib at all
    "notzlib": struct.pack("<I", 64)[:3] + b"\0" + struct.pack("<I", 70)[:3]
    + b"\x5a" * 64,
    # a truncated zlib stream
    "truncated": (lambda body: struct.pack("<I", len(body) - 6)[:3] + b"\0"
                  + struct.pack("<I", 200)[:3] + body[:-6])(
                      zlib.compress(q("SELECT '%s'" % ("x" * 190)))),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_adversarial_compress_malformed(proxy, kind):
    """A compressed packet whose lengths or zlib stream do not add up: the
    proxy closes that connection, and serves another compressed client and
    a plain one beside it."""
    other = zconn(proxy)
    bad = zconn(proxy)
    try:
        assert rows_of(other.query("SELECT 1")) == [(b"1",)]
        bad.sock.sendall(MALFORMED[kind])
        assert closed_by_peer(bad.sock, 10) is not None, "still open"
        assert rows_of(other.query("SELECT 2")) == [(b"2",)]
        healthy(proxy)
        assert proxy.proc.poll() is None
    finally:
        other.close()
        bad.sock.close()
    assert "malformed compressed packet" in proxy.log_text()


def test_adversarial_compress_uncompressed_and_empty(proxy, direct):
    """Packets sent as they are (claimed length 0), empty compressed
    packets between commands, a command split over three compressed
    packets: answered as MariaDB answers them."""
    out = []
    for ep in (proxy, direct):
        c = zconn(ep)
        try:
            # empty compressed packets: nothing to read, nothing to
            # answer; the command follows in the fourth
            c.sock.sendall(b"".join(rawmy.compressed_packet(b"", i,
                                                            pack=False)
                                    for i in range(3)))
            c.sock.sendall(rawmy.compressed_packet(q("SELECT 'raw'"), 3,
                                                   pack=False))
            a = rows_of(c.read_response(3))
            data = q("SELECT '%s' AS v" % ("y" * 300))
            parts = (data[:2], data[2:100], data[100:])
            c.sock.sendall(b"".join(rawmy.compressed_packet(p, i)
                                    for i, p in enumerate(parts)))
            b = rows_of(c.read_response(3))
            out.append((a, b, rows_of(c.query("SELECT 3"))))
        finally:
            c.close()
    assert out[0] == out[1]
    assert out[0][1] == [(b"y" * 300,)]


def test_adversarial_compress_byte_by_byte(proxy):
    """A compressed command arriving one byte per segment is answered once
    it is whole."""
    c = zconn(proxy)
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = rawmy.compressed_packet(
            q("SELECT CONCAT('a', '%s')" % ("b" * 80)), 0)
        for i in range(len(data)):
            c.sock.send(data[i:i + 1])
            time.sleep(0.002)
        assert rows_of(c.read_response(3)) == [(b"a" + b"b" * 80,)]
        assert rows_of(c.query("SELECT 5")) == [(b"5",)]
    finally:
        c.close()


def test_adversarial_compress_pipelined(proxy):
    """Three commands in one compressed packet, and a fourth that begins
    in it and ends in the next: each answered in turn.  (MariaDB itself
    answers the first only and waits: being kinder is allowed.)"""
    cmds = [q("SELECT %d AS n, REPEAT('z', %d)" % (i, i * 100))
            for i in range(4)]
    c = zconn(proxy)
    try:
        blob = b"".join(cmds)
        cut = len(blob) - 5
        c.sock.sendall(rawmy.compressed_packet(blob[:cut], 0))
        time.sleep(0.2)
        c.sock.sendall(rawmy.compressed_packet(blob[cut:], 1))
        got = [rows_of(c.read_response(3)) for _ in cmds]
        assert got == [[(b"%d" % i, b"z" * (i * 100))] for i in range(4)]
        assert rows_of(c.query("SELECT 'after'")) == [(b"after",)]
    finally:
        c.close()


@pytest.mark.parametrize("target", ["proxy", "direct"])
def test_adversarial_compress_pipelined_ids(request, target):
    """Commands pipelined in compressed packets of their own, each
    numbered 0 as a new command is: every answer starts at compressed id 1,
    as the server numbers them (a client checks them)."""
    ep = request.getfixturevalue(target)
    c = zconn(ep)
    try:
        assert rows_of(c.query("SELECT 0")) == [(b"0",)]
        c.sock.sendall(b"".join(rawmy.compressed_packet(q("SELECT %d" % i),
                                                        0, pack=False)
                                for i in (1, 2, 3)))
        for i in (1, 2, 3):
            first = len(c.zseqs)
            assert rows_of(c.read_response(3)) == [(b"%d" % i,)]
            assert c.zseqs[first] == 1, (i, c.zseqs[first:])
    finally:
        c.close()


def test_adversarial_compress_quit(proxy):
    """COM_QUIT, compressed: the connection closes without an answer."""
    c = zconn(proxy)
    try:
        assert rows_of(c.query("SELECT 1")) == [(b"1",)]
        c.sock.sendall(rawmy.compressed_packet(rawmy.plain_packet(b"\x01", 0),
                                               0, pack=False))
        assert closed_by_peer(c.sock, 5) == b""
    finally:
        c.sock.close()
    healthy(proxy)


def test_adversarial_compress_half_close_mid_packet(proxy):
    """Half a compressed packet, then the client shuts down its side: the
    proxy closes, and goes on serving."""
    for cut in (3, 7, 20):
        c = zconn(proxy)
        try:
            data = rawmy.compressed_packet(q("SELECT '%s'" % ("h" * 100)), 0)
            c.sock.sendall(data[:cut])
            c.sock.shutdown(socket.SHUT_WR)
            assert closed_by_peer(c.sock, 10) is not None, cut
        finally:
            c.sock.close()
    healthy(proxy)


def test_adversarial_compress_before_login(proxy):
    """Compressed bytes instead of the handshake response: refused, not
    taken for a login."""
    s = socket.create_connection((HOST, proxy.port), timeout=10)
    try:
        s.recv(65536)  # the greeting
        s.sendall(rawmy.compressed_packet(q("SELECT 1") * 4, 1))
        got = closed_by_peer(s, 10)
        assert got is not None, "still open"
        assert got == b"" or got[4] == 0xFF, got
    finally:
        s.close()
    healthy(proxy)


def test_adversarial_compress_pipelined_after_login(proxy):
    """A client that sends its first compressed command right behind its
    handshake response, before the OK (MariaDB does not answer it): the
    proxy stays up, and the session either answers it or the next command
    after it, or closes; never anything else."""
    s = socket.create_connection((HOST, proxy.port), timeout=10)
    try:
        conn = rawmy.Conn.__new__(rawmy.Conn)
        conn.sock, conn.buf = s, b""
        conn.zipped, conn.zbuf, conn.zseq, conn.zseqs = False, b"", 0, []
        g, _ = conn.read_packet()
        pos = g.index(b"\0", 1) + 1 + 4
        nonce = g[pos:pos + 8]
        pos += 9 + 2 + 3 + 2 + 1 + 6 + 4
        nonce += g[pos:pos + 12]
        caps = (ZCAPS | rawmy.CLIENT_MYSQL) & ~rawmy.CLIENT_CONNECT_WITH_DB
        auth = rawmy.native_scramble(APP_PASSWORD, nonce)
        body = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
        body += APP_USER.encode() + b"\0" + bytes([len(auth)]) + auth
        body += b"mysql_native_password\0"
        s.sendall(rawmy.plain_packet(body, 1)
                  + rawmy.compressed_packet(q("SELECT 'early'"), 0,
                                            pack=False))
        ok, _ = conn.read_packet()
        assert ok[0] == 0x00, ok
        conn.zipped, conn.caps, conn.ext = True, caps, 0
        time.sleep(1)
        s.sendall(rawmy.compressed_packet(q("SELECT 'next'"), 0, pack=False))
        s.settimeout(10)
        try:
            first = rows_of(conn.read_response(3))
        except (EOFError, ConnectionResetError):
            first = None
        assert first in (None, [(b"early",)], [(b"next",)]), first
    finally:
        s.close()
    healthy(proxy)


# --- the compressed protocol: amplification and output nobody reads ----------

def rss_growth_mb(ep, rss0, settle=1.0):
    """The most the proxy's RSS grew over <rss0> while <settle> s pass."""
    peak = ep.rss_kb()
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        time.sleep(0.05)
        peak = max(peak, ep.rss_kb())
    return (peak - rss0) / 1024


def test_adversarial_compress_bomb_of_empty_commands(proxy):
    """16 KiB of zlib inflating to 16 MiB of zeros: four million empty
    commands, each answered "Unknown command" (as MariaDB answers one),
    117 MiB of answers.  Clients that send that and read nothing must not
    make the proxy hold them: the output cap holds as for plain clients
    (who would need 16 MiB on the wire for it).  Each may cost the
    inflated 16 MiB it sent, and the 4 MiB of answers the cap allows; and
    the others' sessions go on meanwhile."""
    bomb = rawmy.compressed_packet(b"\0" * 0xFFFFFC, 0, level=9)
    assert len(bomb) < 20000
    conns = [zconn(proxy) for _ in range(3)]
    rss0 = proxy.rss_kb()
    try:
        for c in conns:
            c.sock.sendall(bomb)
        # while the proxy answers them (seconds of work), others get in
        # at once: the loop does not belong to the bombs
        time.sleep(0.5)
        for _ in range(3):
            t0 = time.monotonic()
            healthy(proxy)
            took = time.monotonic() - t0
            assert took < 3, "a login took %.1f s" % took
        grew = rss_growth_mb(proxy, rss0, 3)
        # and once it reads, the first answers are there
        c = conns[0]
        c.zipped = True
        p, _ = c.read_packet()
        assert err_code(p) == 1047
    finally:
        for c in conns:
            c.sock.close()
    # unbounded: over 350 MiB
    assert grew < 128, "proxy RSS grew by %d MiB" % grew


def test_adversarial_compress_bomb_query(proxy):
    """A 16 MiB query that compresses to 16 KiB, sent a few times: each is
    relayed (and refused by nothing), the proxy's memory stays within a few
    such packets, and the answers are right."""
    c = zconn(proxy)
    rss0 = proxy.rss_kb()
    try:
        sql = "SELECT LENGTH('%s')" % ("a" * (0xFFFFF0 - 20))
        pkt = q(sql)
        assert len(pkt) < 0xFFFFFF
        bomb = rawmy.compressed_packet(pkt, 0, level=9)
        for _ in range(3):
            c.sock.sendall(bomb)
            assert rows_of(c.read_response(3)) == [
                (b"%d" % (0xFFFFF0 - 20),)]
        grew = rss_growth_mb(proxy, rss0, 0.5)
    finally:
        c.close()
    healthy(proxy)
    assert grew < 160, "proxy RSS grew by %d MiB" % grew


@pytest.mark.parametrize("compressible", [True, False])
def test_adversarial_compress_unread_output(proxy, mariadb, table_name,
                                            compressible):
    """A compressed client that pipelines big answers and never reads: the
    4 MiB cap on unread output holds under the compression layer too, with
    output that shrinks and output that does not."""
    t = table_name("zw")
    fn = "REPEAT('x', 65536)" if compressible else \
        "RANDOM_BYTES(1024)"
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, v LONGBLOB)"
                  % t)
    mariadb.query("INSERT INTO ibtest.%s SELECT seq, %s FROM "
                  "ibtest.seq_1_to_64" % (t, fn if compressible else
                                          "REPEAT(" + fn + ", 64)"))
    c = zconn(proxy)
    rss0 = proxy.rss_kb()
    sent = 0
    try:
        c.sock.setblocking(False)
        deadline = time.monotonic() + 4
        pending = b""
        while time.monotonic() < deadline:
            if not pending:
                pending = rawmy.compressed_packet(
                    q("SELECT v FROM %s WHERE id = %d" % (t, sent % 64 + 1)),
                    0)
                sent += 1
            try:
                pending = pending[c.sock.send(pending):]
            except BlockingIOError:
                time.sleep(0.01)
        grew = rss_growth_mb(proxy, rss0, 0.5)
    finally:
        c.sock.close()
    healthy(proxy)
    # unbounded, the 4 s would queue GiBs of answers
    assert grew < 48, "RSS grew by %d MiB after %d lookups" % (grew, sent)


# --- COM_CHANGE_USER over the head the proxy copies ---------------------------

def change_user(user, auth=b"", db=DB, plugin=b"mysql_native_password"):
    body = b"\x11" + user + b"\0" + bytes([len(auth)]) + auth
    body += db.encode() + b"\0" + struct.pack("<H", 45) + plugin + b"\0"
    return body


def send_logical(conn, payload):
    """<payload> as plain packets (split at 16 MiB), ids from 0."""
    seq, off = 0, 0
    while True:
        part = payload[off:off + 0xFFFFFF]
        conn.write_packet(part, seq)
        seq, off = seq + 1, off + len(part)
        if len(part) < 0xFFFFFF:
            return


@pytest.mark.parametrize("size", [20000, 1 << 20, 17 << 20])
def test_adversarial_change_user_long(proxy, direct, size):
    """A COM_CHANGE_USER with a user name of 20 KiB, 1 MiB and 17 MiB (in
    two packets): the first answer the client hears is the one MariaDB
    gives directly, and a refused session goes on as directly."""
    out = []
    for ep in (proxy, direct):
        c = zconn(ep, caps=rawmy.BASE_CAPS)
        try:
            c.query("SET @kept = 7")
            send_logical(c, change_user(b"u" * size, b"x" * 20))
            p, _ = c.read_packet()
            got = [p[0], err_code(p) if p[0] == 0xFF else None]
            if p[0] == 0xFF:
                try:
                    got.append(rows_of(c.query("SELECT CURRENT_USER(), "
                                               "@kept")))
                except (EOFError, ConnectionResetError, socket.timeout) as e:
                    got.append(type(e).__name__)
            out.append(got)
        finally:
            c.sock.close()
    assert out[0] == out[1], out
    healthy(proxy)


def test_adversarial_change_user_over_max_packet(inbatch_factory):
    """A COM_CHANGE_USER over max_packet_size: ERR 1153 and a close, not
    buffered; others served."""
    ep = inbatch_factory(max_packet_size="1048576")
    c = zconn(ep, caps=rawmy.BASE_CAPS)
    try:
        try:
            send_logical(c, change_user(b"u" * (2 << 20)))
        except OSError:
            pass  # closed before all of it was sent: reset
        got = closed_by_peer(c.sock, 10)
        assert got is not None, "still open"
        # the ERR, unless the reset of the unread rest overtook it
        assert got == b"" or (got[4] == 0xFF and
                              struct.unpack_from("<H", got, 5)[0] == 1153)
        assert "too big" in ep.log_text()
    finally:
        c.sock.close()
    healthy(ep)


@pytest.mark.parametrize("body", [
    b"\x11" + b"\xff" * 20000,                        # no end to the name
    b"\x11" + b"u" * 20000 + b"\0" + b"\xfe",         # auth length past end
    b"\x11" + b"u" * 20000 + b"\0\x05ab",             # short auth
])
def test_adversarial_change_user_long_garbage(proxy, body):
    """A long COM_CHANGE_USER that does not parse: an ERR and a close, or
    the server's refusal; the proxy serves others."""
    c = zconn(proxy, caps=rawmy.BASE_CAPS)
    try:
        c.write_packet(body, 0)
        p, _ = c.read_packet()
        assert p[0] == 0xFF, p
    finally:
        c.sock.close()
    healthy(proxy)


# --- compressed ids past 255, compression switched off at runtime ------------

def test_adversarial_compress_load_data_ids_wrap(proxy, direct, table_name,
                                                mariadb, tmp_path):
    """LOAD DATA LOCAL INFILE of 24 MiB from a compressed Connector/C
    client: many hundred packets each way, plain and compressed ids past
    255; the table gets what it gets directly."""
    MySQLdb = pytest.importorskip("MySQLdb")
    t = table_name("zld")
    mariadb.query("CREATE TABLE ibtest.%s (id INT PRIMARY KEY, v TEXT)" % t)
    f = tmp_path / "rows.tsv"
    with open(f, "w") as fh:
        for i in range(200000):
            fh.write("%d\t%s\n" % (i, ("%08x" % (i * 2654435761 % 2**32))
                                     * 15))
    got = []
    for ep in (proxy, direct):
        mariadb.query("DELETE FROM ibtest.%s" % t)
        c = MySQLdb.connect(host=HOST, port=ep.port, user=APP_USER,
                            passwd=APP_PASSWORD, db=DB, autocommit=True,
                            compress=True, local_infile=1)
        try:
            cur = c.cursor()
            cur.execute("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s"
                        % (f, t))
            n = cur.rowcount
            cur.execute("SELECT COUNT(*), SUM(CRC32(v)) FROM %s" % t)
            got.append((n, cur.fetchall()))
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
        finally:
            c.close()
    assert got[0] == got[1]
    assert got[0][0] == 200000


def test_adversarial_set_compression_runtime(proxy):
    """SET compression = off on the admin console: new sessions are not
    offered it, sessions already compressed go on compressed."""
    old = zconn(proxy)
    try:
        assert old.zipped
        admin_query(proxy, "SET compression = off")
        new = zconn(proxy)
        try:
            assert not new.server_caps & rawmy.CLIENT_COMPRESS
            assert not new.zipped
            assert rows_of(new.query("SHOW SESSION STATUS LIKE "
                                     "'Compression'")) == [
                (b"Compression", b"OFF")]
        finally:
            new.close()
        assert rows_of(old.query("SHOW SESSION STATUS LIKE "
                                 "'Compression'")) == [
            (b"Compression", b"ON")]
        admin_query(proxy, "SET compression = on")
        again = zconn(proxy)
        try:
            assert again.zipped
            assert rows_of(again.query("SELECT 9")) == [(b"9",)]
        finally:
            again.close()
    finally:
        old.close()


# --- prefetch: commands while a fetch ahead is in flight ----------------------

@pytest.fixture
def loop_tables(mariadb, table_name):
    """parent rows (id, gid) and settings keyed 'proj:<gid>', InnoDB."""
    p, s = table_name("par"), table_name("set")
    conn = mariadb.connect(autocommit=True, database=DB)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, gid VARCHAR(20))"
                    " ENGINE=InnoDB" % p)
        cur.execute("CREATE TABLE `%s` (id INT AUTO_INCREMENT PRIMARY KEY,"
                    " name VARCHAR(64) NOT NULL UNIQUE, value VARCHAR(64))"
                    " ENGINE=InnoDB" % s)
        cur.execute("INSERT INTO `%s` SELECT seq, CONCAT('g', seq * 7) FROM "
                    "seq_1_to_60" % p)
        cur.execute("INSERT INTO `%s` (name, value) SELECT CONCAT('proj:g', "
                    "seq * 7), CONCAT('v', seq) FROM seq_1_to_60 WHERE "
                    "seq %% 11 <> 0" % s)
    conn.close()
    return p, s


@pytest.mark.parametrize("ps", [False, True])
def test_adversarial_prefetch_commands_in_flight(inbatch_factory, direct,
                                                 cclient, loop_tables, ps):
    """A compressed Connector/C session loops over its rows inside a
    transaction, fetched ahead four keys at a time; between lookups come
    a KILL QUERY of its own connection, a savepoint and a rollback to it,
    a write, USE, a change-user and COMMIT: text and prepared alike, every
    answer (trackers included) is the direct one."""
    p, s = loop_tables
    ep = inbatch_factory(prefetch_max_keys="4")
    start = ["-e", "SET autocommit = 0",
             "-e", "SELECT id, gid FROM `%s` ORDER BY id" % p]
    args = ["--compress", "--track", "--force"] + (["--ps"] if ps else [])
    args += start
    # Connector/C's client takes at most 64 actions
    for i in range(1, 37):
        args += ["-e", "SELECT * FROM `%s` WHERE name = 'proj:g%d'"
                 % (s, i * 7)]
        args += {
            4: ["-e", "KILL QUERY CONNECTION_ID()"],
            8: ["-e", "SAVEPOINT a"],
            10: ["-e", "UPDATE `%s` SET value = 'w' WHERE id = 20" % s],
            13: ["-e", "ROLLBACK TO SAVEPOINT a"],
            17: ["-e", "USE mysql", "-e", "USE %s" % DB],
            21: ["--change-user", APP_USER, APP_PASSWORD,
                 "-e", "USE %s" % DB] + start,
            28: ["-e", "COMMIT"],
            31: ["--ping", "-e", "SELECT 1"],
        }.get(i, [])
    args += ["-e", "ROLLBACK"]
    assert len([a for a in args if a in ("-e", "--ping", "--change-user")]) \
        <= 64
    before = admin_stats(ep)
    rd, od = cclient(direct, *args)
    rp, op = cclient(ep, *args)
    assert (rd, od) == (rp, op)
    assert "proj:g252\tv36" in od and "1317" in od
    after = admin_stats(ep)
    # prefetch follows text lookups; prepared ones are relayed
    if not ps:
        assert after["prefetch_hits"] > before["prefetch_hits"]


def test_adversarial_prefetch_disconnect_mid_fetch(inbatch_factory,
                                                   loop_tables):
    """Sessions that vanish (reset) right after a lookup answered from
    kept answers, while the fetch ahead runs: the proxy frees them and
    serves the next ones; a loop run after them is answered right."""
    p, s = loop_tables
    ep = inbatch_factory(prefetch_max_keys="4")
    for cut in range(3, 30, 3):
        conn = ep.connect(autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SELECT id, gid FROM `%s` ORDER BY id" % p)
            gids = [r[1] for r in cur.fetchall()]
            for g in gids[:cut]:
                cur.execute("SELECT value FROM `%s` WHERE name = 'proj:%s'"
                            % (s, g))
                cur.fetchall()
        sock = conn._sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        # a lookup sent, and gone before its answer
        sock.sendall(rawmy.plain_packet(
            ("\x03SELECT value FROM `%s` WHERE name = 'proj:%s'"
             % (s, gids[cut])).encode(), 0))
        sock.close()
    conn = ep.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, gid FROM `%s` ORDER BY id" % p)
            for i, g in cur.fetchall():
                with conn.cursor() as c2:
                    c2.execute("SELECT value FROM `%s` WHERE name = "
                               "'proj:%s'" % (s, g))
                    got = c2.fetchall()
                assert got == (() if i % 11 == 0 else (("v%d" % i,),)), i
    finally:
        conn.close()
    healthy(ep)


# --- plain sockets (io.c): closes, half-closes, slow readers and writers -----

def test_adversarial_io_many_close_with_output_queued(proxy, mariadb):
    """Forty clients ask for 2 MiB each and reset their connections at
    once, while their answers are queued: the proxy frees them all and
    serves the next."""
    socks = []
    for _ in range(40):
        c = zconn(proxy, caps=rawmy.BASE_CAPS)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        socks.append(c.sock)
    for s in socks:
        s.sendall(q("SELECT REPEAT('r', 2097152)"))
    time.sleep(0.3)
    for s in socks:
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = admin_query(proxy, "SHOW CLIENTS")
        if len(rows) <= 1:
            break
        time.sleep(0.2)
    assert len(rows) <= 1, rows
    healthy(proxy)


@pytest.mark.parametrize("zipped", [False, True])
def test_adversarial_io_eof_with_commands_pending(proxy, zipped):
    """Two commands and the client's FIN in one go: both answered, then
    the close; compressed or not."""
    c = zconn(proxy, caps=ZCAPS if zipped else rawmy.BASE_CAPS)
    try:
        data = q("SELECT SLEEP(0.2), 'one'") + q("SELECT 'two'")
        if zipped:
            data = rawmy.compressed_packet(data, 0)
        c.sock.sendall(data)
        c.sock.shutdown(socket.SHUT_WR)
        assert rows_of(c.read_response(3)) == [(b"0", b"one")]
        assert rows_of(c.read_response(3)) == [(b"two",)]
        with pytest.raises(EOFError):
            c.read_packet()
    finally:
        c.sock.close()


@pytest.mark.parametrize("zipped", [False, True])
def test_adversarial_io_slow_reader_big_answer(proxy, zipped):
    """A 24 MiB answer read 64 KiB at a time with pauses: every byte
    arrives, in order, past the socket buffers and the output cap."""
    c = zconn(proxy, caps=ZCAPS if zipped else rawmy.BASE_CAPS)
    try:
        c.write_packet(b"\x03SELECT REPEAT(MD5(seq), 10000), seq FROM "
                       b"seq_1_to_80", 0)
        orig = c._recv
        calls = [0]

        def slow():
            calls[0] += 1
            if calls[0] % 8 == 0:
                time.sleep(0.01)
            return orig()
        c._recv = slow
        rows = rows_of(c.read_response(3))
        assert len(rows) == 80
        for i, (v, n) in enumerate(rows, 1):
            assert n == b"%d" % i
            assert v == v[:32] * 10000 and len(v) == 320000
        c._recv = orig
        assert rows_of(c.query("SELECT 'next'")) == [(b"next",)]
    finally:
        c.close()


def test_adversarial_io_slowloris(inbatch_factory):
    """A command one byte every 20 ms is answered; one that stops half way
    is closed after net_read_timeout, while others are served."""
    ep = inbatch_factory(net_read_timeout="2")
    c = zconn(ep, caps=rawmy.BASE_CAPS)
    stalled = zconn(ep, caps=rawmy.BASE_CAPS)
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = q("SELECT 'drip'")
        for i in range(len(data)):
            c.sock.send(data[i:i + 1])
            time.sleep(0.02)
        assert rows_of(c.read_response(3)) == [(b"drip",)]
        stalled.sock.sendall(q("SELECT 'never'")[:9])
        t0 = time.monotonic()
        healthy(ep)
        got = closed_by_peer(stalled.sock, 8)
        assert got is not None, "still open"
        assert 1 <= time.monotonic() - t0 <= 6
    finally:
        c.close()
        stalled.sock.close()
