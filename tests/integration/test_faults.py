# SPDX-License-Identifier: BSD-2-Clause
# Faults: the backend dying or missing, clients vanishing mid-result or
# mid-batch, connection and packet limits, timeouts, malformed and random
# protocol input, and a slow reader of a big result.  After each, the proxy
# must still be running and serving ordinary clients.
#
# Tests that kill the backend use a MariaDB of their own (module scope), so
# the session's server is never disturbed.

import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time

import pymysql
import pymysql.cursors
import pytest

from conftest import (APP_PASSWORD, APP_USER, DB, DIRECT, HOST, MariaDB,
                      ProxyRunner, admin_query, healthy, tail, wait_port)
from rawmy import native_scramble

pytestmark = pytest.mark.skipif(
    DIRECT, reason="faults are injected between the proxy and its peers")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"

CAP_LONG_PASSWORD = 1 << 0
CAP_CONNECT_WITH_DB = 1 << 3
CAP_PROTOCOL_41 = 1 << 9
CAP_SECURE_CONNECTION = 1 << 15
CAP_MULTI_RESULTS = 1 << 17
CAP_PLUGIN_AUTH = 1 << 19
CAP_PLUGIN_AUTH_LENENC = 1 << 21
CLIENT_CAPS = (CAP_LONG_PASSWORD | CAP_CONNECT_WITH_DB | CAP_PROTOCOL_41
               | CAP_SECURE_CONNECTION | CAP_MULTI_RESULTS | CAP_PLUGIN_AUTH
               | CAP_PLUGIN_AUTH_LENENC)

KV_ROWS = 200


# --- a raw protocol client ---------------------------------------------------

def err_of(payload):
    """(code, message) of an ERR packet payload, None for anything else."""
    if not payload or payload[0] != 0xFF:
        return None
    code = struct.unpack("<H", payload[1:3])[0]
    msg = payload[3:]
    if msg[:1] == b"#":
        msg = msg[6:]
    return code, msg.decode("utf-8", "replace")


class Closed(Exception):
    """The peer closed the connection."""


class Raw:
    """A MySQL protocol client on a plain socket, for crafted packets."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.nonce = None

    @property
    def peer_name(self):
        """How the proxy names this connection: ip:port."""
        h, p = self.sock.getsockname()[:2]
        return "%s:%d" % (h, p)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                d = b""
            if not d:
                raise Closed()
            self.buf += d

    def read_packet(self):
        """(seq, payload) of the next packet; raises Closed at EOF."""
        self._fill(4)
        n = self.buf[0] | self.buf[1] << 8 | self.buf[2] << 16
        seq = self.buf[3]
        self._fill(4 + n)
        payload = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return seq, payload

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_packet(self, payload, seq=0):
        self.send_raw(struct.pack("<I", len(payload))[:3] + bytes([seq])
                      + payload)

    def greeting(self):
        seq, p = self.read_packet()
        assert seq == 0
        assert err_of(p) is None, err_of(p)
        assert p[0] == 10, p[:20]
        i = p.index(b"\0", 1) + 1          # server version
        i += 4                             # thread id
        nonce = p[i:i + 8]
        i += 9                             # auth data 1 + filler
        i += 2 + 1 + 2 + 2                 # caps, charset, status, caps
        alen = p[i]
        i += 1 + 10
        nonce += p[i:i + max(13, alen - 8) - 1]
        self.nonce = nonce
        return p

    def handshake_response(self, user=APP_USER, password=APP_PASSWORD,
                           db=DB, caps=CLIENT_CAPS):
        auth = native_scramble(password, self.nonce)
        p = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
        p += user.encode() + b"\0"
        p += bytes([len(auth)]) + auth
        if db is not None:
            p += db.encode() + b"\0"
        p += b"mysql_native_password\0"
        return p

    def login(self, **kw):
        self.greeting()
        self.send_packet(self.handshake_response(**kw), seq=1)
        seq, p = self.read_packet()
        assert p[:1] == b"\0", "login failed: %r" % (err_of(p) or p[:40],)
        return p

    def command(self, payload, seq=0):
        """Send one command, return the first response packet's payload."""
        self.send_packet(payload, seq)
        return self.read_packet()[1]

    def read_result(self):
        """Read the rest of a text result set after its column count."""
        eofs = 0
        while eofs < 2:
            _, p = self.read_packet()
            if p[:1] == b"\xfe" and len(p) < 9:
                eofs += 1
            elif p[:1] == b"\xff":
                return p

    def query(self, sql):
        """Run <sql>; rows are not decoded: the packets, ERR or OK."""
        p = self.command(b"\x03" + sql.encode())
        if p[:1] in (b"\x00", b"\xff"):
            return p
        self.read_result()
        return p

    def wait_closed(self, timeout):
        """Read until EOF: (seconds taken, payloads seen) or None on
        timeout."""
        start = time.monotonic()
        self.sock.settimeout(0.2)
        seen = []
        while time.monotonic() - start < timeout:
            try:
                seen.append(self.read_packet()[1])
            except Closed:
                return time.monotonic() - start, seen
            except socket.timeout:
                continue
            except OSError:
                return time.monotonic() - start, seen
        return None


# --- helpers -----------------------------------------------------------------

def client_peers(ep):
    """Peers listed by SHOW CLIENTS (id, peer, user, db, state, queries)."""
    return {r[1] for r in admin_query(ep, "SHOW CLIENTS")}


def wait_not_listed(ep, peers, timeout=2.5):
    """Wait until none of <peers> is in SHOW CLIENTS; return the rest."""
    deadline = time.monotonic() + timeout
    while True:
        left = set(peers) & client_peers(ep)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def lookup(ep, key, read_timeout=10):
    conn = ep.connect(read_timeout=read_timeout, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM kv WHERE id = %d" % key)
            return cur.fetchall()
    finally:
        conn.close()


def make_kv(db):
    conn = db.connect(database=DB)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS kv (id INT PRIMARY KEY, "
                        "v VARCHAR(32) NOT NULL)")
            cur.execute("REPLACE INTO kv SELECT seq, CONCAT('v', seq) "
                        "FROM seq_1_to_%d" % KV_ROWS)
    finally:
        conn.close()


def expect_mysql_error(exc):
    """The error code of a pymysql exception, or 0 for a socket error."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args:
        return exc.args[0]
    return 0


# --- a MariaDB these tests may kill ------------------------------------------

class KillableMariaDB(MariaDB):
    """The conftest server, plus stopping and restarting it in place."""

    def kill(self):
        """SIGKILL the server, keeping its data directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def relaunch(self):
        """Start the server again on the same port and data directory."""
        assert not self.running()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.connect().close()
                return
            except pymysql.err.MySQLError:
                time.sleep(0.1)
        pytest.fail("mariadbd did not come back (exit %s):\n%s"
                    % (self.proc.poll(), tail(self.err_log)))


@pytest.fixture(scope="module")
def killable():
    m = KillableMariaDB()
    try:
        m.start()
        make_kv(m)
        yield m
    finally:
        m.stop()


@pytest.fixture
def killable_proxy(killable):
    """factory(**ini_keys): inbatch in front of the killable MariaDB, with
    the same teardown checks as conftest's inbatch_factory.  The server is
    running again when the test ends."""
    if not killable.running():
        killable.relaunch()
    runner = ProxyRunner(killable)
    yield runner.start
    problems = runner.stop_all()
    if not killable.running():
        killable.relaunch()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def kv(mariadb):
    make_kv(mariadb)


# --- the backend dies or is missing ------------------------------------------

def test_backend_killed_mid_query(killable, killable_proxy):
    ep = killable_proxy(batch_mode="window", batch_window_us=2000)
    healthy(ep)
    assert lookup(ep, 7) == (("v7",),)
    conn = ep.connect(read_timeout=10)
    result = {}

    def run():
        start = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SLEEP(10)")
                result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - any failure is recorded
            result["exc"] = e
        result["took"] = time.monotonic() - start
        result["end"] = time.monotonic()
    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.7)
    killed_at = time.monotonic()
    killable.kill()
    t.join(15)
    assert not t.is_alive(), "client hangs after the backend died"
    conn.close()
    assert "exc" in result, "SLEEP(10) returned %r" % (result,)
    assert isinstance(result["exc"], pymysql.err.OperationalError), \
        repr(result["exc"])
    assert result["end"] - killed_at < 2.5, result
    assert ep.proc.poll() is None

    # while the server is down, a new client gets an error, not a hang
    start = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError) as ei:
        ep.connect(read_timeout=10, connect_timeout=10)
    assert time.monotonic() - start < 8
    assert "backend" in str(ei.value), str(ei.value)

    killable.relaunch()
    healthy(ep)
    # lookups go through the pool, whose connections all died
    for k in (1, 2, KV_ROWS):
        assert lookup(ep, k) == (("v%d" % k,),)


def test_backend_killed_mid_batch(killable, killable_proxy):
    ep = killable_proxy(batch_mode="window", batch_window_us=200000)
    assert lookup(ep, 3) == (("v3",),)        # warm the pool
    n = 32
    conns = [ep.connect(read_timeout=10, autocommit=True) for _ in range(n)]
    barrier = threading.Barrier(n + 1)
    results = [None] * n

    def run(i):
        barrier.wait()
        start = time.monotonic()
        try:
            with conns[i].cursor() as cur:
                cur.execute("SELECT v FROM kv WHERE id = %d" % (i + 1))
                results[i] = ("ok", cur.fetchall(),
                              time.monotonic() - start)
        except Exception as e:  # noqa: BLE001
            results[i] = ("err", e, time.monotonic() - start)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(0.08)                # inside the 200 ms window
    killable.kill()
    for t in threads:
        t.join(20)
    for c in conns:
        c.close()
    assert not any(t.is_alive() for t in threads), "clients hang"
    for i, r in enumerate(results):
        assert r is not None
        if r[0] == "ok":
            assert r[1] == (("v%d" % (i + 1),),), r
        else:
            assert isinstance(r[1], pymysql.err.MySQLError), repr(r[1])
        assert r[2] < 5, "client %d answered after %.1f s" % (i, r[2])
    assert ep.proc.poll() is None
    killable.relaunch()
    healthy(ep)
    assert lookup(ep, 9) == (("v9",),)


def test_backend_killed_mid_result(killable, killable_proxy):
    """The backend dies while a result is being relayed: the client sees a
    lost connection (or an ERR in sequence), never a protocol error."""
    ep = killable_proxy()
    r = Raw(ep.port)
    r.login()
    r.send_packet(b"\x03SELECT seq, REPEAT('x', 1000) FROM "
                  b"seq_1_to_100000")
    prev = None
    for _ in range(300):
        prev = r.read_packet()
    killable.kill()
    r.sock.settimeout(10)
    last = prev
    try:
        while True:
            nxt = r.read_packet()
            prev, last = last, nxt
    except Closed:
        pass
    finally:
        r.close()
    if err_of(last[1]) is not None:
        assert last[0] == (prev[0] + 1) % 256, \
            "ERR spliced with sequence id %d after %d" % (last[0], prev[0])
    killable.relaunch()
    conn = ep.connect(cursorclass=pymysql.cursors.SSCursor, read_timeout=10)
    n = 0
    # no "with" block: pymysql's cursor exit would read from the socket
    # it already dropped after the error
    cur = conn.cursor()
    try:
        cur.execute("SELECT seq, REPEAT('x', 1000) FROM "
                    "seq_1_to_100000")
        for _ in cur:
            n += 1
            if n == 1000:
                killable.kill()
        pytest.fail("the whole result arrived from a killed server")
    except pymysql.err.OperationalError as e:
        assert e.args[0] in (1927, 2013), e
    finally:
        try:
            conn.close()
        except Exception:
            pass
    killable.relaunch()
    healthy(ep)


def test_backend_unreachable_at_start(killable, killable_proxy):
    ep = None
    killable.kill()
    ep = killable_proxy(backend="%s:%d" % (HOST, killable.port),
                        backend_connect_timeout=2)
    for _ in range(3):
        start = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as ei:
            ep.connect(read_timeout=10, connect_timeout=10)
        assert time.monotonic() - start < 4
        code, msg = ei.value.args[0], str(ei.value.args[1])
        assert code not in (2003, 2013, 0), ei.value   # a real ERR packet
        assert "backend" in msg.lower(), msg
    assert ep.proc.poll() is None
    # raw: the ERR comes first, then the connection is closed
    r = Raw(ep.port)
    try:
        seq, p = r.read_packet()
        assert err_of(p) is not None and "backend" in err_of(p)[1], p
        assert r.wait_closed(3) is not None
    finally:
        r.close()
    killable.relaunch()
    healthy(ep)
    assert lookup(ep, 11) == (("v11",),)


def test_backend_accepts_but_never_greets(inbatch_factory):
    """A backend that takes the TCP connection and says nothing is given
    up on after backend_connect_timeout."""
    hole = socket.socket()
    hole.bind((HOST, 0))
    hole.listen(64)
    try:
        ep = inbatch_factory(backend="%s:%d" % hole.getsockname(),
                             backend_connect_timeout=1)
        start = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as ei:
            ep.connect(read_timeout=10, connect_timeout=10)
        assert time.monotonic() - start < 3
        assert ei.value.args[0] not in (2003, 2013), ei.value
        assert "backend" in str(ei.value.args[1]), ei.value
        assert ep.proc.poll() is None
    finally:
        hole.close()


# --- clients vanishing -------------------------------------------------------

def test_client_disconnects_mid_result(inbatch_factory):
    ep = inbatch_factory()
    keep = ep.connect(autocommit=True, read_timeout=10)
    gone = []
    for how in ("close", "rst"):
        r = Raw(ep.port)
        r.login()
        r.send_packet(b"\x03SELECT seq, REPEAT('x', 500) FROM "
                      b"seq_1_to_200000")
        for _ in range(50):
            r.read_packet()
        if how == "rst":
            r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        gone.append(r.peer_name)
        r.close()
    with keep.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM seq_1_to_1000")
        assert cur.fetchall() == ((1000,),)
    assert wait_not_listed(ep, gone) == set()
    healthy(ep)
    keep.close()


def test_client_disconnects_mid_batch(inbatch_factory, kv):
    ep = inbatch_factory(batch_mode="window", batch_window_us=200000)
    n = 8
    stayers = [ep.connect(autocommit=True, read_timeout=10)
               for _ in range(n)]
    leavers = []
    for _ in range(n):
        r = Raw(ep.port)
        r.login()
        leavers.append(r)
    results = [None] * n
    barrier = threading.Barrier(n + 1)

    def run(i):
        barrier.wait()
        with stayers[i].cursor() as cur:
            cur.execute("SELECT v FROM kv WHERE id = %d" % (i + 1))
            results[i] = cur.fetchall()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    gone = []
    for i, r in enumerate(leavers):
        r.send_packet(b"\x03SELECT v FROM kv WHERE id = %d" % (100 + i))
    time.sleep(0.05)
    for r in leavers:
        gone.append(r.peer_name)
        r.close()
    for t in threads:
        t.join(15)
    assert results == [(("v%d" % (i + 1),),) for i in range(n)]
    assert wait_not_listed(ep, gone) == set()
    # the remaining sessions still batch correctly
    for i, c in enumerate(stayers):
        with c.cursor() as cur:
            cur.execute("SELECT v FROM kv WHERE id = %d" % (50 + i))
            assert cur.fetchall() == (("v%d" % (50 + i),),)
        c.close()
    healthy(ep)


# --- limits and timeouts -----------------------------------------------------

def test_max_client_conn(inbatch_factory):
    ep = inbatch_factory(max_client_conn=5)
    conns = [ep.connect(read_timeout=10) for _ in range(5)]
    with pytest.raises(pymysql.err.OperationalError) as ei:
        ep.connect(read_timeout=10)
    assert ei.value.args[0] == 1040, ei.value
    r = Raw(ep.port)
    try:
        seq, p = r.read_packet()
        assert err_of(p) is not None and err_of(p)[0] == 1040, p
        assert r.wait_closed(3) is not None, "refused connection left open"
    finally:
        r.close()
    conns.pop().close()
    deadline = time.monotonic() + 3
    while True:
        try:
            c = ep.connect(read_timeout=10)
            break
        except pymysql.err.OperationalError as e:
            assert e.args[0] == 1040
            assert time.monotonic() < deadline, "slot never freed"
            time.sleep(0.05)
    with c.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    c.close()
    for c in conns:
        c.close()


def test_max_client_conn_admin_sessions_not_counted(inbatch_factory):
    """An operator's console session neither takes an application slot
    nor is refused when the application slots are full."""
    ep = inbatch_factory(max_client_conn=3)
    assert wait_port(ep.admin_port, 10, ep.proc)
    admin = pymysql.connect(host=HOST, port=ep.admin_port, user=ADMIN_USER,
                            password=ADMIN_PASSWORD, connect_timeout=10)
    try:
        conns = [ep.connect(read_timeout=10) for _ in range(3)]
        with pytest.raises(pymysql.err.OperationalError) as ei:
            ep.connect(read_timeout=10)
        assert ei.value.args[0] == 1040
        assert len(admin_query(ep, "SHOW CLIENTS")) >= 3
        for c in conns:
            c.close()
    finally:
        admin.close()


def test_handshake_timeout_silent_client(inbatch_factory):
    ep = inbatch_factory(handshake_timeout=1)
    r = Raw(ep.port)
    try:
        r.greeting()
        res = r.wait_closed(5)
        assert res is not None, "silent client kept past handshake_timeout"
        assert 0.5 < res[0] < 3, res
    finally:
        r.close()
    # a logged-in session is not subject to it
    conn = ep.connect(read_timeout=10)
    time.sleep(2)
    with conn.cursor() as cur:
        cur.execute("SELECT 5")
        assert cur.fetchall() == ((5,),)
    conn.close()
    healthy(ep)


def test_handshake_timeout_trickling_client(inbatch_factory):
    ep = inbatch_factory(handshake_timeout=1)
    r = Raw(ep.port)
    try:
        r.greeting()
        resp = r.handshake_response()
        pkt = struct.pack("<I", len(resp))[:3] + b"\x01" + resp
        start = time.monotonic()
        closed = False
        for b in pkt[:6]:
            try:
                r.send_raw(bytes([b]))
            except OSError:
                closed = True
                break
            r.sock.settimeout(1.0)
            try:
                if r.sock.recv(4096) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
        took = time.monotonic() - start
        assert closed, "a client sending a byte a second was kept"
        assert took < 3.5, took
    finally:
        r.close()
    healthy(ep)


def _assert_closes_idle(r, why, low=0.5, high=3.2):
    """<r>, idle now, is closed by a 1 s idle timeout: within [low, high]
    seconds; <why> says what it would mean if it never were."""
    res = r.wait_closed(5)
    assert res is not None, why
    assert low < res[0] < high, res


def _assert_idle_closed(ep):
    """A client that logs in, runs one query and then idles is closed
    after the 1 s client_idle_timeout <ep> has, not long after."""
    r = Raw(ep.port)
    try:
        r.login()
        assert r.query("SELECT 1")[:1] == b"\x01"
        _assert_closes_idle(r, "idle client never disconnected")
    finally:
        r.close()


def test_client_idle_timeout(inbatch_factory):
    ep = inbatch_factory(client_idle_timeout=1)
    _assert_idle_closed(ep)
    # activity keeps a session alive past the timeout, and a statement
    # running longer than the timeout is not idleness
    conn = ep.connect(read_timeout=10)
    for _ in range(4):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        time.sleep(0.5)
    with conn.cursor() as cur:
        cur.execute("SELECT SLEEP(2.2)")
        assert cur.fetchall() == ((0,),)
    conn.close()
    healthy(ep)


def test_idle_timeout_follows_the_last_command(inbatch_factory):
    """A command moves the idle timeout's due time, not its timer: a
    timer that fires before the time is due waits for the rest, and one
    due later than a lowered timeout is added again."""
    ep = inbatch_factory(client_idle_timeout=1, handshake_timeout=30)
    r = Raw(ep.port)
    try:
        r.login()
        # commands for 2 s: the first timer fires between them
        for _ in range(5):
            assert r.query("SELECT 1")[:1] == b"\x01"
            time.sleep(0.4)
        _assert_closes_idle(r, "idle client never disconnected", 0.3, 2.8)
    finally:
        r.close()
    admin_query(ep, "SET client_idle_timeout = 1000")
    r = Raw(ep.port)
    try:
        r.login()
        assert r.query("SELECT 1")[:1] == b"\x01"
        # its timer fires at the 30 s of the handshake's timeout, before
        # the 1,000 s; the next command's timeout is 1 s
        admin_query(ep, "SET client_idle_timeout = 1")
        assert r.query("SELECT 1")[:1] == b"\x01"
        _assert_closes_idle(r, "a lowered idle timeout waited for the old")
    finally:
        r.close()
    healthy(ep)


def test_idle_timeout_after_a_command_without_answer(inbatch_factory):
    """COM_STMT_CLOSE has no answer: the session is idle right after it,
    and its idle timeout runs."""
    ep = inbatch_factory(client_idle_timeout=1)
    r = Raw(ep.port)
    try:
        r.login()
        r.send_packet(b"\x16SELECT 1")     # COM_STMT_PREPARE
        _, p = r.read_packet()
        assert p[:1] == b"\x00", err_of(p)
        stmt_id = p[1:5]
        # the definitions of one column and of no parameter, then an EOF
        while True:
            _, p = r.read_packet()
            if p[:1] == b"\xfe" and len(p) < 9:
                break
        r.send_packet(b"\x19" + stmt_id)    # COM_STMT_CLOSE
        _assert_closes_idle(r, "idle after COM_STMT_CLOSE, never closed")
    finally:
        r.close()
    healthy(ep)


def test_idle_timeout_changed_many_times(inbatch_factory):
    """libevent knows 256 timeout durations as common, per loop, and warns
    on every timer armed with one more: past them, client timers go into
    its heap, still fire, and the log gets one warning at most."""
    ep = inbatch_factory()
    conn = ep.connect()
    try:
        for i in range(300):
            admin_query(ep, "SET client_idle_timeout = %d" % (1000 + i))
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchall() == ((1,),)
    finally:
        conn.close()
    admin_query(ep, "SET client_idle_timeout = 1")
    _assert_idle_closed(ep)
    assert ep.log_text().count("Too many common timeouts") <= 1
    healthy(ep)


def test_max_packet_size(inbatch_factory):
    ep = inbatch_factory(max_packet_size=2000000)
    conn = ep.connect(read_timeout=10)
    big = "SELECT '" + "x" * (3 << 20) + "'"
    try:
        with conn.cursor() as cur:
            cur.execute(big)
            pytest.fail("a 3 MB query was accepted")
    except pymysql.err.MySQLError as e:
        assert expect_mysql_error(e) in (1153, 2006, 2013), e
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass
    # just the header of a too big packet is enough to be refused
    r = Raw(ep.port)
    try:
        r.login()
        r.send_raw(struct.pack("<I", 3 << 20)[:3] + b"\x00" + b"\x03SEL")
        res = r.wait_closed(3)
        assert res is not None
        errs = [err_of(p) for p in res[1]]
        assert errs and errs[0][0] == 1153, errs
    finally:
        r.close()
    # just under the limit is fine
    conn = ep.connect(read_timeout=20)
    with conn.cursor() as cur:
        cur.execute("SELECT LENGTH('" + "y" * 1900000 + "')")
        assert cur.fetchall() == ((1900000,),)
    conn.close()
    healthy(ep)


# --- malformed input ---------------------------------------------------------

@pytest.fixture
def fproxy(inbatch_factory):
    return inbatch_factory()


def pre_login(ep):
    r = Raw(ep.port)
    r.greeting()
    return r


def test_truncated_handshake_response(fproxy):
    # structurally truncated: the caps and half the max packet size
    r = pre_login(fproxy)
    r.send_packet(struct.pack("<I", CLIENT_CAPS) + b"\0\0", seq=1)
    res = r.wait_closed(3)
    assert res is not None
    assert [err_of(p)[0] for p in res[1]] == [1043], res
    r.close()
    # the user name is not NUL-terminated
    r = pre_login(fproxy)
    r.send_packet(struct.pack("<IIB", CLIENT_CAPS, 1 << 24, 45)
                  + b"\0" * 23 + b"app", seq=1)
    res = r.wait_closed(3)
    assert res is not None
    assert [err_of(p)[0] for p in res[1]] == [1043], res
    r.close()
    # declared longer than what is sent, then the client leaves
    r = pre_login(fproxy)
    r.send_raw(b"\x64\x00\x00\x01" + struct.pack("<I", CLIENT_CAPS))
    peer = r.peer_name
    r.close()
    assert wait_not_listed(fproxy, [peer]) == set()
    healthy(fproxy)


@pytest.mark.parametrize("lenenc", [
    b"\xfe" + b"\xff" * 8,              # 2^64 - 1
    b"\xfe" + struct.pack("<Q", 1 << 40),
    b"\xfd\xff\xff\xff",                # 16 MB, more than the packet
    b"\xfc\xff\xff",
    b"\xfb",                            # NULL marker
    b"\xff",                            # ERR marker, not a length
])
def test_handshake_absurd_lenenc(fproxy, lenenc):
    r = pre_login(fproxy)
    p = (struct.pack("<IIB", CLIENT_CAPS, 1 << 24, 45) + b"\0" * 23
         + b"app\0" + lenenc + b"abc")
    r.send_packet(p, seq=1)
    res = r.wait_closed(3)
    assert res is not None, "proxy waits on an impossible length"
    codes = [err_of(x)[0] if err_of(x) else None for x in res[1]]
    assert codes in ([1043], [1045]), res
    r.close()
    # the same with connection attributes of absurd length
    r = pre_login(fproxy)
    caps = CLIENT_CAPS | (1 << 20)
    auth = native_scramble(APP_PASSWORD, r.nonce)
    p = (struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23 + b"app\0"
         + bytes([len(auth)]) + auth + b"ibtest\0mysql_native_password\0"
         + lenenc + b"\x03key\x03val")
    r.send_packet(p, seq=1)
    res = r.wait_closed(3)
    assert res is not None
    codes = [err_of(x)[0] if err_of(x) else None for x in res[1]]
    assert codes == [1043], res
    r.close()
    healthy(fproxy)


def test_wrong_sequence_in_command_phase(fproxy):
    r = Raw(fproxy.port)
    r.login()
    r.send_packet(b"\x03SELECT 1", seq=5)
    res = r.wait_closed(3)
    assert res is not None, "connection left open"
    assert len(res[1]) == 1 and err_of(res[1][0])[0] == 1156, res
    r.close()
    healthy(fproxy)


def test_wrong_sequence_in_handshake(fproxy):
    r = pre_login(fproxy)
    r.send_packet(r.handshake_response(), seq=3)
    res = r.wait_closed(3)
    assert res is not None
    assert [err_of(p)[0] for p in res[1]] == [1156], res
    r.close()
    healthy(fproxy)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\x00\x00\x00",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32,
    b"\xff" * 64,
])
def test_garbage_before_handshake_response(fproxy, garbage):
    r = pre_login(fproxy)
    r.send_raw(garbage)
    try:
        r.send_packet(r.handshake_response(), seq=1)
    except OSError:
        pass
    res = r.wait_closed(4)
    assert res is not None, "connection kept after garbage"
    assert not any(p[:1] == b"\x00" for p in res[1]), \
        "logged in after garbage: %r" % (res,)
    r.close()
    # before the greeting, too
    s = socket.create_connection((HOST, fproxy.port), timeout=5)
    s.sendall(garbage)
    s.close()
    healthy(fproxy)


def test_oversized_declared_length_then_close(fproxy):
    peers = []
    # before login, after the greeting
    r = pre_login(fproxy)
    r.send_raw(b"\xff\xff\xff\x01")
    peers.append(r.peer_name)
    r.close()
    # after login: a 16 MB - 1 command announced, never sent
    r = Raw(fproxy.port)
    r.login()
    r.send_raw(b"\xff\xff\xff\x00\x03SELECT ")
    peers.append(r.peer_name)
    time.sleep(0.3)
    r.close()
    assert wait_not_listed(fproxy, peers) == set()
    healthy(fproxy)


def test_unknown_command_byte(fproxy, direct):
    for ep in (fproxy, direct):
        r = Raw(ep.port)
        r.login()
        p = r.command(b"\xee" + os.urandom(16))
        assert err_of(p) is not None and err_of(p)[0] == 1047, (ep, p)
        # the session goes on
        assert r.query("SELECT 1")[:1] == b"\x01", ep
        r.close()
    healthy(fproxy)


def test_empty_packet_in_command_phase(fproxy, direct):
    for ep in (fproxy, direct):
        r = Raw(ep.port)
        r.login()
        r.send_packet(b"", seq=0)
        res = r.wait_closed(1.5)
        # MariaDB answers 1047 (unknown command) and may keep or close it
        if res is None:
            r.sock.settimeout(5)
            assert r.query("SELECT 1")[:1] == b"\x01"
        r.close()
    healthy(fproxy)


def test_com_query_empty(fproxy, direct):
    got = []
    for ep in (fproxy, direct):
        r = Raw(ep.port)
        r.login()
        p = r.command(b"\x03")
        got.append(err_of(p))
        assert r.query("SELECT 2")[:1] == b"\x01"
        r.close()
    assert got[0] == got[1]
    assert got[0][0] == 1065, got
    healthy(fproxy)


def test_stmt_execute_unknown_id(fproxy, direct):
    got = []
    for ep in (fproxy, direct):
        r = Raw(ep.port)
        r.login()
        p = r.command(b"\x17" + struct.pack("<IBI", 0x7ead, 0, 1))
        got.append(err_of(p))
        assert r.query("SELECT 3")[:1] == b"\x01"
        r.close()
    assert got[0] is not None and got[0][0] == 1243, got
    assert got[0] == got[1]
    healthy(fproxy)


def test_commands_without_response(fproxy, direct):
    """COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no answer; the proxy
    must not wait for one."""
    for ep in (fproxy, direct):
        r = Raw(ep.port)
        r.login()
        r.send_packet(b"\x19" + struct.pack("<I", 0x7eae))
        r.send_packet(b"\x18" + struct.pack("<IH", 0x7eae, 0) + b"data")
        r.sock.settimeout(5)
        p = r.query("SELECT 6")
        assert p[:1] == b"\x01", (ep, p)
        r.close()
    healthy(fproxy)


def _field_list(ep, payload):
    r = Raw(ep.port)
    r.login()
    r.send_packet(payload)
    out = []
    while True:
        _, p = r.read_packet()
        out.append(p)
        if p[:1] in (b"\xfe", b"\xff", b"\x00") and len(p) < 0xFFFFFF:
            if p[:1] != b"\x00" or len(out) == 1:
                break
    assert r.query("SELECT 4")[:1] == b"\x01"
    r.close()
    return out


def test_com_field_list_without_nul(fproxy, direct, kv):
    """COM_FIELD_LIST with a table name that is not NUL-terminated: the
    server reads past the name into whatever its buffer holds, so its
    answer varies from run to run; the proxy must relay a well-formed
    response (definitions, then EOF or ERR) and stay usable.  With the
    NUL, the answer must equal the server's own."""
    for payload in (b"\x04kv", b"\x04"):
        p = _field_list(fproxy, payload)
        assert p and (p[-1][:1] == b"\xfe" or err_of(p[-1]) is not None), \
            payload
        assert all(x[:1] == b"\x03" for x in p[:-1]), payload
    payload = b"\x04kv\0id"
    p = _field_list(fproxy, payload)
    d = _field_list(direct, payload)
    assert [x[:1] for x in p] == [x[:1] for x in d], payload
    assert err_of(p[-1]) == err_of(d[-1]), payload
    healthy(fproxy)


COMMANDS = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x09, 0x0A, 0x0C,
            0x0D, 0x0E, 0x11, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C,
            0x1F, 0xEE, 0xFF]


def fuzz_bytes(rng, phase):
    kind = rng.random()
    if kind < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 80)))
    # something packet-shaped
    if phase == "pre":
        body = struct.pack("<I", rng.getrandbits(32))
        body += bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60)))
        seq = rng.choice([1, 1, 1, 0, 2, rng.getrandbits(8)])
    else:
        cmd = rng.choice(COMMANDS)
        if cmd in (0x01, 0x08, 0x0C, 0x11):
            # no quitting, shutting down, killing or re-login by accident
            cmd = 0x0E
        body = bytes([cmd]) + bytes(rng.getrandbits(8)
                                    for _ in range(rng.randint(0, 40)))
        seq = rng.choice([0, 0, 0, 1, rng.getrandbits(8)])
    n = len(body)
    if rng.random() < 0.15:
        n = rng.choice([0, n + rng.randint(1, 100), 0xFFFFFF,
                        max(0, n - 3)])
    data = struct.pack("<I", n)[:3] + bytes([seq]) + body
    if rng.random() < 0.2:
        data += data[: rng.randint(1, len(data))]
    return data


def test_random_fuzz(fproxy):
    rng = random.Random(20240611)
    for i in range(200):
        phase = "pre" if i % 2 == 0 else "post"
        r = Raw(fproxy.port, timeout=5)
        try:
            if phase == "pre":
                r.greeting()
            else:
                r.login()
            r.send_raw(fuzz_bytes(rng, phase))
            if rng.random() < 0.5:
                r.sock.shutdown(socket.SHUT_WR)
                r.wait_closed(3)
            else:
                r.sock.settimeout(0.01)
                try:
                    r.sock.recv(4096)
                except OSError:
                    pass
        except (OSError, Closed):
            pass
        finally:
            r.close()
        assert fproxy.proc.poll() is None, "died at iteration %d" % i
    healthy(fproxy)
    rows = admin_query(fproxy, "SHOW CLIENTS")
    deadline = time.monotonic() + 5
    while len(rows) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = admin_query(fproxy, "SHOW CLIENTS")
    assert len(rows) <= 1, rows


# --- backpressure ------------------------------------------------------------

def test_slow_reader_bounded_memory(inbatch_factory):
    ep = inbatch_factory()
    healthy(ep)
    base = ep.rss_kb()
    conn = ep.connect(cursorclass=pymysql.cursors.SSCursor,
                      read_timeout=30)
    peak = base
    nrows = 100000
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_%d"
                        % nrows)
            got = 0
            for row in cur:
                got += 1
                if got in (2000, 30000):
                    # the server has far more ready than we take
                    for _ in range(10):
                        time.sleep(0.2)
                        peak = max(peak, ep.rss_kb())
                elif got % 5000 == 0:
                    time.sleep(0.05)
                    peak = max(peak, ep.rss_kb())
            assert got == nrows
    finally:
        conn.close()
    growth = (peak - base) / 1024.0
    assert growth < 64, "RSS grew by %.0f MB" % growth
    healthy(ep)
