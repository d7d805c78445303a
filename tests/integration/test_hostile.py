# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# Hostile clients: connections that never log in, slow or endless
# requests, running out of file descriptors.  Each test checks that a
# resource stays within its configured bound and that honest clients are
# still served.

import socket
import time

import pytest

from conftest import DIRECT, HOST

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
