# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# Hostile clients: connections that never log in, slow or endless
# requests, running out of file descriptors.  Each test checks that a
# resource stays within its configured bound and that honest clients are
# still served.

import os
import socket
import ssl
import subprocess
import time

import pymysql
import pytest

from conftest import (ADMIN_PASSWORD, ADMIN_USER, DIRECT, HOST, SRCDIR,
                      admin_stats,
                      free_port, healthy, inbatch_binary, wait_port)

pytestmark = pytest.mark.skipif(
    DIRECT, reason="these bounds are the proxy's own")


def open_silent(port, n):
    """<n> TCP connections to <port> that never send anything."""
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=5)
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def login_seconds(ep, **kw):
    """Log in through <ep>, run SELECT 1; the seconds it took."""
    t0 = time.monotonic()
    conn = ep.connect(**kw)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
    return time.monotonic() - t0


# ---- pre-login backend connections (max_pending_logins) ----

def test_prelogin_flood_does_not_exhaust_backend(inbatch_factory, mariadb,
                                                direct):
    """300 connections that never log in hold at most max_pending_logins
    backend connections; MariaDB stays reachable directly at once, and an
    honest login through the proxy gets in once the flood's handshake
    timeout frees the slots."""
    cap = 64
    ep = inbatch_factory(handshake_timeout=3)  # max_pending_logins: 64
    base = mariadb.status("Threads_connected")
    socks = open_silent(ep.port, 300)
    try:
        peak = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            peak = max(peak, mariadb.status("Threads_connected") - base)
            time.sleep(0.1)
        # straight to MariaDB as root: not crowded out by the proxy
        t = login_seconds(direct, user="root", password="", database=None)
        assert t < 2, "direct root login took %.1f s" % t
        # through the proxy: waits at most until the flood times out
        t = login_seconds(ep, connect_timeout=10)
        assert t < 3 + 3, "honest login took %.1f s" % t
        peak = max(peak, mariadb.status("Threads_connected") - base)
    finally:
        close_all(socks)
    assert peak <= cap + 4, "backend threads went %d above the baseline" % peak


# ---- the admin console: off unless configured, TLS like the client port ----

def refused(port):
    try:
        socket.create_connection((HOST, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_admin_console_off_without_password(inbatch_factory):
    """No admin_password, no admin console (not even with an empty
    password), and the log says why."""
    ep = inbatch_factory(admin_password="")
    assert refused(ep.admin_port)
    assert "admin_password is empty" in ep.log_text()


def test_check_config_warns_admin_without_password(tmp_path):
    conf = tmp_path / "ib.conf"
    conf.write_text("[inbatch]\nbackend = 127.0.0.1:3306\n"
                    "[users]\napp = secret\n")
    r = subprocess.run([inbatch_binary(), "--check-config", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "admin_password is empty" in r.stderr
    conf.write_text("[inbatch]\nbackend = 127.0.0.1:3306\n"
                    "admin_password = s3cret\n[users]\napp = secret\n")
    r = subprocess.run([inbatch_binary(), "--check-config", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_sample_conf_has_no_passwordless_account():
    """The shipped configuration names no account: without a [users]
    section the server checks every login, and no root entry with an
    empty password lets anyone in by name."""
    with open(os.path.join(SRCDIR, "conf", "inbatch.conf")) as f:
        lines = [line.strip() for line in f]
    section = None
    for line in lines:
        if line.startswith("["):
            section = line
            continue
        if section == "[users]" and line and line[0] not in ";#":
            name, _, password = line.partition("=")
            assert name.strip() != "root", "root listed: %r" % line
            assert password.strip(), "account %r without a password" % name


def test_admin_console_takes_tls(inbatch_factory, certs):
    """tls_mode = require covers the admin port: TLS works there, a
    plaintext login is refused."""
    cert, key = certs
    ep = inbatch_factory(tls_mode="require", tls_cert=cert, tls_key=key)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    conn = pymysql.connect(host=HOST, port=ep.admin_port, user=ADMIN_USER,
                           password=ADMIN_PASSWORD, ssl=ctx,
                           connect_timeout=10)
    try:
        assert isinstance(conn._sock, ssl.SSLSocket)
        with conn.cursor() as cur:
            cur.execute("SHOW VERSION")
            assert "inbatch" in cur.fetchone()[0]
    finally:
        conn.close()
    with pytest.raises(pymysql.err.OperationalError) as e:
        pymysql.connect(host=HOST, port=ep.admin_port, user=ADMIN_USER,
                        password=ADMIN_PASSWORD, connect_timeout=10)
    assert e.value.args[0] == 3159


# ---- running out of file descriptors ----

def cpu_seconds(pid):
    """User plus system CPU time of <pid> so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_fd_exhaustion_backs_off(inbatch_factory):
    """With every descriptor in use and connections waiting in the
    backlog, the proxy neither spins nor floods its log; once clients
    leave, logins work again."""
    limit = 64
    ep = inbatch_factory(wrapper=["prlimit", "--nofile=%d:%d" % (limit,
                                                                limit)],
                         handshake_timeout=30)
    pid = ep.proc.pid
    assert "open file limit is %d" % limit in ep.log_text()
    socks = []
    try:
        # silent clients hold two descriptors (client and backend), admin
        # ones one: fill the table exactly
        while open_fds(pid) < limit - 1 and len(socks) < limit:
            socks.append(socket.create_connection((HOST, ep.port), 5))
            time.sleep(0.05)
        while open_fds(pid) < limit and len(socks) < 2 * limit:
            socks.append(socket.create_connection((HOST, ep.admin_port), 5))
            time.sleep(0.05)
        assert open_fds(pid) == limit
        # these wait in the backlog: accept() fails with EMFILE
        for _ in range(10):
            socks.append(socket.create_connection((HOST, ep.port), 5))
        time.sleep(0.5)
        log0 = os.path.getsize(ep.log_path)
        cpu0 = cpu_seconds(pid)
        time.sleep(2)
        cpu = cpu_seconds(pid) - cpu0
        grew = os.path.getsize(ep.log_path) - log0
        assert cpu < 0.4, "proxy used %.2f s of CPU in 2 s" % cpu
        assert grew < 2000, "log grew by %d bytes in 2 s" % grew
        assert "pausing accepts" in ep.log_text()
    finally:
        close_all(socks)
    deadline = time.monotonic() + 10
    while True:
        try:
            login_seconds(ep, connect_timeout=3)
            break
        except pymysql.err.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ---- metrics and admin ports ----

def closed_by_peer(sock, wait):
    """True if the peer closed <sock> (EOF or reset) within <wait> s;
    whatever it sent before is ignored."""
    sock.settimeout(wait)
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def http_get(port, path="/metrics"):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_metrics_slowloris_cut_at_deadline(inbatch_factory):
    """A request dribbled one byte every 100 ms is cut off 5 s after it
    connected: the bytes do not extend its time."""
    port = free_port()
    ep = inbatch_factory(metrics_listen="%s:%d" % (HOST, port))
    assert wait_port(port, 10, ep.proc)
    s = socket.create_connection((HOST, port), timeout=5)
    t0 = time.monotonic()
    closed_at = None
    try:
        s.setblocking(False)
        while time.monotonic() - t0 < 9:
            try:
                s.send(b"X")
                if s.recv(4096) == b"":
                    closed_at = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic() - t0
                break
            time.sleep(0.1)
    finally:
        s.close()
    assert closed_at is not None, "still open after 9 s"
    assert 4 <= closed_at <= 7, "closed after %.1f s" % closed_at


def test_metrics_connection_cap(inbatch_factory):
    port = free_port()
    ep = inbatch_factory(metrics_listen="%s:%d" % (HOST, port),
                         max_admin_conn=4)
    assert wait_port(port, 10, ep.proc)
    time.sleep(0.2)  # wait_port's own connection is gone
    socks = open_silent(port, 20)
    try:
        refused = sum(closed_by_peer(s, 0.3) for s in socks)
        assert refused >= 16, "%d of 20 refused" % refused
    finally:
        close_all(socks)
    deadline = time.monotonic() + 3
    while b" 200 OK" not in http_get(port)[:64]:
        assert time.monotonic() < deadline, "no answer after the flood"
        time.sleep(0.1)


def test_admin_prelogin_connections_capped(inbatch_factory):
    """Admin connections count from accept, before login: past
    max_admin_conn they get ER_CON_COUNT_ERROR; the operator gets in
    once they are gone."""
    ep = inbatch_factory(max_admin_conn=4)
    socks = open_silent(ep.admin_port, 20)
    try:
        firsts = []
        for s in socks:
            s.settimeout(5)
            firsts.append(s.recv(5)[4:5])
        refused = firsts.count(b"\xff")
        assert firsts.count(b"\x0a") == 4 and refused == 16, firsts
    finally:
        close_all(socks)
    deadline = time.monotonic() + 3
    while True:
        try:
            conn = pymysql.connect(host=HOST, port=ep.admin_port,
                                   user=ADMIN_USER, password=ADMIN_PASSWORD,
                                   connect_timeout=5)
            conn.close()
            break
        except pymysql.err.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


# ---- client input: partial packets, pipelining ----

def packet(payload, seq=0):
    n = len(payload)
    return bytes([n & 0xFF, (n >> 8) & 0xFF, n >> 16, seq]) + payload


def test_partial_packet_times_out(inbatch_factory):
    """A client that stops inside a packet is closed net_read_timeout
    after its last byte, as MariaDB does; an idle one is not."""
    ep = inbatch_factory(net_read_timeout=2)
    stalled = ep.connect()
    idle = ep.connect()
    try:
        sock = stalled._sock
        # a 1000-byte COM_QUERY of which 10 bytes arrive
        sock.sendall(bytes([0xE8, 0x03, 0x00, 0x00]) + b"\x03SELECT 1 ")
        t0 = time.monotonic()
        assert closed_by_peer(sock, 8), "still open after 8 s"
        took = time.monotonic() - t0
        assert 1.5 <= took <= 5, "closed after %.1f s" % took
        with idle.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        stalled.close()
        idle.close()


def test_pipelined_input_not_buffered(inbatch_factory):
    """Behind a slow statement the proxy holds one more command, not
    whatever the client sends: the rest stays in the client's socket."""
    ep = inbatch_factory()
    conn = ep.connect()
    sock = conn._sock
    rss0 = ep.rss_kb()
    cmd = packet(b"\x03SELECT 1 -- " + b"x" * (1 << 20))
    sent = 0
    try:
        sock.sendall(packet(b"\x03SELECT SLEEP(4)"))
        sock.setblocking(False)
        deadline = time.monotonic() + 2
        view = memoryview(cmd)
        off = 0
        while time.monotonic() < deadline:
            try:
                n = sock.send(view[off:])
            except BlockingIOError:
                time.sleep(0.01)
                continue
            sent += n
            off = (off + n) % len(cmd)
        grew_mb = (ep.rss_kb() - rss0) / 1024
    finally:
        sock.close()
    # kernel socket buffers on loopback hold a few MiB of it
    assert sent < 48 << 20, "proxy took %d MiB" % (sent >> 20)
    assert grew_mb < 48, "proxy RSS grew by %d MiB" % grew_mb


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "connection closed after %d of %d bytes" % (len(buf), n)
        buf += chunk
    return bytes(buf)


def _read_packet(sock):
    hdr = _read_exact(sock, 4)
    return _read_exact(sock, hdr[0] | hdr[1] << 8 | hdr[2] << 16)


def _read_text_rows(sock):
    """One text result set (no DEPRECATE_EOF): its rows as lists."""
    first = _read_packet(sock)
    assert first[0] not in (0x00, 0xFF), first[:80]
    for _ in range(first[0]):
        _read_packet(sock)
    assert _read_packet(sock)[0] == 0xFE
    rows = []
    while True:
        p = _read_packet(sock)
        if p[0] == 0xFE and len(p) < 9:
            return rows
        row, i = [], 0
        while i < len(p):
            n = p[i]
            i += 1
            if n == 0xFC:
                n = p[i] | p[i + 1] << 8
                i += 2
            elif n == 0xFD:
                n = p[i] | p[i + 1] << 8 | p[i + 2] << 16
                i += 3
            row.append(p[i:i + n])
            i += n
        rows.append(row)


@pytest.mark.parametrize("mode", ["window", "off"])
def test_pipelined_answers_read_late_stay_whole(inbatch_factory, mode):
    """Answers written to a client that reads nothing for a while: the
    kernel takes part of one, the rest waits in the proxy, and what
    follows queues behind it.  Read late, every answer is whole and in
    order."""
    ep = inbatch_factory(batch_mode=mode)
    conn = ep.connect(read_timeout=30)
    sock = conn._sock
    n = 300
    try:
        for i in range(n):
            sock.sendall(packet(b"\x03SELECT %d, REPEAT(CHAR(%d), %d)"
                                % (i, 65 + i % 26, 20000 + i)))
        time.sleep(1)
        for i in range(n):
            rows = _read_text_rows(sock)
            assert rows == [[b"%d" % i, bytes([65 + i % 26]) * (20000 + i)]], i
    finally:
        sock.close()
    healthy(ep)


# ---- answers a client does not read; half-closed clients; shape churn ----

@pytest.fixture
def wide_table(mariadb, table_name):
    """A table whose rows are 16 KiB wide, looked up by name."""
    t = table_name("wide")
    conn = mariadb.connect(database="ibtest")
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, name "
                        "VARCHAR(20), blob_ MEDIUMTEXT, KEY (name))" % t)
            cur.execute("INSERT INTO `%s` SELECT seq, CONCAT('k', seq), "
                        "REPEAT('x', 16384) FROM seq_1_to_64" % t)
    finally:
        conn.close()
    return t


@pytest.mark.parametrize("mode", ["window", "off"])
def test_unread_answers_bounded(inbatch_factory, wide_table, mode):
    """A client that pipelines lookups and never reads the answers: the
    proxy stops taking its commands once the answers waiting for it pass
    the output cap, batched or relayed alike."""
    ep = inbatch_factory(batch_mode=mode, batch_window_us=1000)
    conn = ep.connect(autocommit=True)
    sock = conn._sock
    rss0 = ep.rss_kb()
    sent = 0
    try:
        sock.setblocking(False)
        deadline = time.monotonic() + 3
        i = 0
        while time.monotonic() < deadline:
            cmd = packet(("\x03SELECT blob_ FROM `%s` WHERE name = 'k%d'"
                          % (wide_table, i % 64 + 1)).encode())
            try:
                sock.send(cmd)  # whole or not at all: it is small
            except BlockingIOError:
                time.sleep(0.01)
                continue
            sent += 1
            i += 1
        time.sleep(0.5)
        grew_mb = (ep.rss_kb() - rss0) / 1024
    finally:
        sock.close()
    # every answer is 16 KiB: unbounded, the 3 s would cost hundreds of MiB
    assert grew_mb < 48, "proxy RSS grew by %d MiB (%d lookups sent)" % (
        grew_mb, sent)
    # and the proxy still serves others
    other = ep.connect()
    try:
        with other.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        other.close()


def test_half_closed_client_gets_its_answers(inbatch_factory, wide_table):
    """A client that sends its lookups and shuts its sending side gets
    every answer, as from the server, and then the connection closes."""
    ep = inbatch_factory(batch_mode="window", batch_window_us=20000)
    conn = ep.connect(autocommit=True)
    sock = conn._sock
    try:
        sock.sendall(packet(("\x03SELECT id FROM `%s` WHERE name = 'k7'"
                             % wide_table).encode()))
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    # column count 1, definition, EOF, the row "7", EOF
    assert b"\x01\x37" in data, data[:200]
    assert data.count(b"\xfe\x00\x00") >= 2, data[:200]


def test_shape_groups_bounded(inbatch_factory, mariadb, table_name):
    """Cycling through many lookup shapes keeps at most batch_max_groups
    of them; the oldest idle ones are dropped and answers stay right."""
    t = table_name("shapes")
    root = mariadb.connect(database="ibtest")
    with root.cursor() as cur:
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, name "
                    "VARCHAR(20), KEY (name))" % t)
        cur.execute("INSERT INTO `%s` VALUES (1, 'a'), (2, 'b')" % t)
    root.close()
    ep = inbatch_factory(batch_mode="window", batch_window_us=1000,
                         batch_max_groups=16)
    conn = ep.connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            for i in range(200):
                cur.execute("SELECT id, %d AS n FROM `%s` WHERE name = 'b'"
                            % (i, t))
                assert cur.fetchall() == ((2, i),)
    finally:
        conn.close()
    st = admin_stats(ep)
    assert st["batch_groups_evicted"] >= 200 - 16 - 1, st


def test_context_churn_opens_no_backend_connections(inbatch_factory, mariadb,
                                                    table_name):
    """Sessions cycling time zones between lookups used to get a batch
    pool per context; every backend connection is now a client's own, so
    the backend sees exactly one thread per client, whatever the churn."""
    t = table_name("churn")
    root = mariadb.connect(database="ibtest")
    with root.cursor() as cur:
        cur.execute("CREATE TABLE `%s` (id INT PRIMARY KEY, name "
                    "VARCHAR(20), KEY (name))" % t)
        cur.execute("INSERT INTO `%s` VALUES (1, 'a'), (2, 'b')" % t)
    root.close()
    ep = inbatch_factory(batch_mode="window", batch_window_us=1000)
    base = mariadb.status("Threads_connected")
    conns = [ep.connect(autocommit=True) for _ in range(2)]
    peak = 0
    try:
        for i in range(150):
            for j, conn in enumerate(conns):
                with conn.cursor() as cur:
                    cur.execute("SET time_zone = '+%02d:%02d'"
                                % ((i + j) % 13, 30 * (i % 2)))
                    cur.execute("SELECT id FROM `%s` WHERE name = 'b'" % t)
                    assert cur.fetchall() == ((2,),)
            if i % 25 == 0:
                peak = max(peak, mariadb.status("Threads_connected") - base)
    finally:
        for conn in conns:
            conn.close()
    assert peak <= 2, "backend threads above the baseline: %d" % peak
