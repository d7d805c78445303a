# SPDX-License-Identifier: BSD-2-Clause
"""Authentication relayed to the backend: any account the server accepts
logs in through inbatch as it does directly, with the server's own errors;
[users], when present, is an allow-list on top; batching stays within one
account."""

import hashlib
import random
import socket
import ssl
import struct
import threading

import pymysql
import pytest

from conftest import DB, DIRECT, HOST
from rawmy import native_scramble

import test_batching as tb

# --- raw protocol helpers ----------------------------------------------------


def _read_packet(sock):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    n = head[0] | head[1] << 8 | head[2] << 16
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return head[3], data


def _write_packet(sock, seq, payload):
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)


def _greeting_nonce(g):
    i = g.index(b"\0", 1)
    p = i + 1 + 4
    part1 = g[p:p + 8]
    p += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    return part1 + g[p:p + 12]


CAPS = (0x1 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000)


def raw_login(ep, user, password, plugin="mysql_native_password"):
    """Log in with a hand-made native handshake (answering one switch):
    the final packet's (seq, payload), exactly as the client got it."""
    with socket.create_connection((ep.host, ep.port), timeout=10) as s:
        _, g = _read_packet(s)
        nonce = _greeting_nonce(g)
        auth = native_scramble(password, nonce)
        resp = (struct.pack("<IIB", CAPS, 1 << 24, 45) + b"\0" * 23
                + user.encode() + b"\0" + bytes([len(auth)]) + auth
                + plugin.encode() + b"\0")
        _write_packet(s, 1, resp)
        seq, p = _read_packet(s)
        if p[:1] == b"\xfe":
            i = p.index(b"\0", 1)
            _write_packet(s, seq + 1, native_scramble(password, p[i + 1:i + 21]))
            seq, p = _read_packet(s)
        return seq, p


# --- accounts ----------------------------------------------------------------

def _drop_user(mariadb, name):
    mariadb.query("DROP USER IF EXISTS '%s'@'%%'" % name)


@pytest.fixture
def accounts(mariadb):
    """create(name, password, via=None, grant=...) makes an account for the
    test and drops it afterwards."""
    made = []

    def create(name, password, via=None, grant="ALL ON ibtest.*"):
        _drop_user(mariadb, name)
        if via:
            mariadb.query("CREATE USER '%s'@'%%' IDENTIFIED VIA %s"
                          % (name, via))
        else:
            mariadb.query("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'"
                          % (name, password))
        if grant:
            mariadb.query("GRANT %s TO '%s'@'%%'" % (grant, name))
        made.append(name)
        return name
    yield create
    for name in made:
        _drop_user(mariadb, name)


def current_user(ep, user, password, **kw):
    conn = ep.connect(user=user, password=password, **kw)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            return cur.fetchone()[0]
    finally:
        conn.close()


# --- logins ------------------------------------------------------------------

def test_account_created_while_running_logs_in(proxy, accounts):
    """No user list: an account created after inbatch started logs in at
    once, with the server's check of its password."""
    accounts("fresh_acct", "fresh pw")
    assert current_user(proxy, "fresh_acct", "fresh pw") == "fresh_acct@%"


def test_password_rotation(proxy, accounts, mariadb):
    """A changed password works at once, and the old one no longer."""
    accounts("rot_acct", "old")
    assert current_user(proxy, "rot_acct", "old") == "rot_acct@%"
    mariadb.query("SET PASSWORD FOR 'rot_acct'@'%' = PASSWORD('new')")
    assert current_user(proxy, "rot_acct", "new") == "rot_acct@%"
    with pytest.raises(pymysql.err.OperationalError) as e:
        current_user(proxy, "rot_acct", "old")
    assert e.value.args[0] == 1045


@pytest.mark.parametrize("user,password", [
    ("app", "wrong"),           # wrong password
    ("no_such_user", "x"),      # unknown account
    ("no_such_user", ""),       # unknown, no password
    ("app", ""),                # password missing
])
def test_login_errors_are_the_servers(proxy, direct, user, password):
    """Refusals reach the client as the server wrote them, byte for byte,
    with the sequence id a direct client sees."""
    assert raw_login(proxy, user, password) == raw_login(direct, user,
                                                         password)
    # and a client starting with another plugin gets the same, too
    assert raw_login(proxy, user, password, "caching_sha2_password") == \
        raw_login(direct, user, password, "caching_sha2_password")


def _install_ed25519(mariadb):
    try:
        mariadb.query("INSTALL SONAME 'auth_ed25519'")
    except pymysql.err.MySQLError as e:
        if "already" not in str(e) and e.args[0] not in (1968, 1125):
            raise


@pytest.mark.skipif(DIRECT, reason="compares proxy with direct itself")
def test_ed25519_account(proxy, direct, mariadb, accounts, mariadb_cli):
    """client_ed25519 (the server switches to it; the client signs the
    nonce): logs in through inbatch, and a wrong password gets the same
    error as directly."""
    _install_ed25519(mariadb)
    accounts("ed_acct", None, via="ed25519 USING PASSWORD('edpw')")
    for ep in (proxy, direct):
        r = mariadb_cli(ep, "-N", "-e", "SELECT CURRENT_USER()",
                        user="ed_acct", password="edpw")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "ed_acct@%"
    bad = [mariadb_cli(ep, "-e", "SELECT 1", user="ed_acct",
                       password="nope") for ep in (proxy, direct)]
    assert bad[0].returncode != 0
    assert bad[0].stderr == bad[1].stderr, (bad[0].stderr, bad[1].stderr)


@pytest.mark.parametrize("plugin", ["mysql_native_password",
                                    "caching_sha2_password"])
def test_cli_default_auth(proxy, direct, accounts, mariadb_cli, plugin):
    """The mariadb CLI starting with either plugin: in with the right
    password; the same message as directly with a wrong one."""
    accounts("cli_acct", "clipw")
    r = mariadb_cli(proxy, "--default-auth=" + plugin, "-N", "-e",
                    "SELECT CURRENT_USER()", user="cli_acct",
                    password="clipw")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cli_acct@%"
    bad = [mariadb_cli(ep, "--default-auth=" + plugin, "-e", "SELECT 1",
                       user="cli_acct", password="bad")
           for ep in (proxy, direct)]
    assert bad[0].returncode == 1
    assert bad[0].stderr == bad[1].stderr


def test_mysql_old_password(proxy, direct, accounts, cclient, mariadb):
    """An account with a pre-4.1 password (mysql_old_password, 8-byte
    scramble): refused with the server's 1275 while secure_auth is on, and
    logged in through the relayed switch once it is off, as directly."""
    h = mariadb.query("SELECT OLD_PASSWORD('oldpw')")[0][0]
    accounts("old_pw", None, via="mysql_old_password USING '%s'" % h)
    args = ["-e", "SELECT CURRENT_USER()"]
    on = [cclient(ep, *args, user="old_pw", password="oldpw", db=None)
          for ep in (proxy, direct)]
    mariadb.query("SET GLOBAL secure_auth = OFF")
    try:
        off = [cclient(ep, *args, user="old_pw", password="oldpw", db=None)
               for ep in (proxy, direct)]
        bad = [cclient(ep, *args, user="old_pw", password="nope", db=None)
               for ep in (proxy, direct)]
    finally:
        mariadb.query("SET GLOBAL secure_auth = ON")
    assert on[0] == on[1] and "ERROR 1275" in on[0][1]
    assert off[0] == off[1] and off[0][0] == 0 and "old_pw@%" in off[0][1]
    assert bad[0] == bad[1] and "ERROR 1045" in bad[0][1]


# --- COM_CHANGE_USER ---------------------------------------------------------

def test_change_user_between_accounts(proxy, direct, accounts, cclient):
    """Change to another account, then a refused change: the server keeps
    the session as the old account, reset; inbatch does the same, and the
    session still works (and still batches its trackers' way)."""
    accounts("cu_a", "pa")
    accounts("cu_b", "pb")
    args = ["--force",
            "-e", "SET @x = 1, SESSION sql_mode = 'ANSI'",
            "--change-user", "cu_a", "pa",
            "-e", "SELECT CURRENT_USER(), @x, @@sql_mode = 'ANSI'",
            "-e", "SET @x = 2",
            "--change-user", "cu_b", "wrong",
            "-e", "SELECT CURRENT_USER(), @x, DATABASE()",
            "--change-user", "cu_b", "pb",
            "-e", "SELECT CURRENT_USER(), @x",
            "--change-user", "nobody_here", "x",
            "-e", "SELECT CURRENT_USER()"]
    out = [cclient(ep, *args) for ep in (proxy, direct)]
    assert out[0] == out[1], "proxy:\n%s\ndirect:\n%s" % (out[0][1],
                                                          out[1][1])
    text = out[0][1]
    assert "cu_a@%" in text and "cu_b@%" in text
    assert "Access denied for user 'cu_b'@" in text
    assert "Access denied for user 'nobody_here'@" in text


# --- [users] as an allow-list -------------------------------------------------

@pytest.mark.skipif(DIRECT, reason="[users] belongs to the proxy")
def test_users_allow_list(inbatch_factory, direct, accounts, mariadb_cli,
                          cclient):
    """Listed names and pattern matches log in; others get the server's
    wording of a wrong password, at the point the server would give it,
    even with the right password; a listed password is checked too."""
    accounts("al_one", "p1")
    accounts("al_rep_x", "p2")
    accounts("al_other", "p3")
    accounts("al_pw", "serverpw")
    ep = inbatch_factory(users={"al_one": "", "al_rep_*": "",
                                "al_pw": "serverpw", "app": ""})
    assert current_user(ep, "al_one", "p1") == "al_one@%"
    assert current_user(ep, "al_rep_x", "p2") == "al_rep_x@%"
    assert current_user(ep, "al_pw", "serverpw") == "al_pw@%"
    # not listed: exactly what a wrong password gets directly
    got = raw_login(ep, "al_other", "p3")
    want = raw_login(direct, "al_other", "not p3")
    assert got == want, (got, want)
    # a listed password inbatch cannot check (the first reply is not
    # mysql_native_password) refuses the login, worded as the server's
    r = mariadb_cli(ep, "--default-auth=caching_sha2_password", "-e",
                    "SELECT 1", user="al_pw", password="serverpw")
    assert r.returncode == 1
    assert "ERROR 1045 (28000): Access denied for user 'al_pw'@'127.0.0.1'" \
        " (using password: YES)" in r.stderr, r.stderr
    # change-user to an unlisted account is refused, and closes the session
    rc, out = cclient(ep, "--force", "--change-user", "al_other", "p3",
                      "-e", "SELECT CURRENT_USER()", user="al_one",
                      password="p1")
    assert rc == 1
    assert "Access denied for user 'al_other'@'127.0.0.1' (using " \
        "password: YES)" in out, out
    assert "al_other@" not in out


@pytest.mark.skipif(DIRECT, reason="[users] belongs to the proxy")
def test_users_reload_applies_to_new_logins(inbatch_factory, accounts):
    """RELOAD with a changed list: sessions logged in stay, new logins
    follow the new list."""
    accounts("rl_a", "pa")
    ep = inbatch_factory(users={"rl_a": ""})
    conn = ep.connect(user="rl_a", password="pa")
    try:
        with open(ep.conf_path) as f:
            text = f.read()
        with open(ep.conf_path, "w") as f:
            f.write(text.replace("rl_a = \n", "someone_else = \n"))
        adm = tb.admin_connect(ep)
        try:
            adm.cursor().execute("RELOAD")
        finally:
            adm.close()
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == "rl_a@%"
        with pytest.raises(pymysql.err.OperationalError) as e:
            current_user(ep, "rl_a", "pa")
        assert e.value.args[0] == 1045
    finally:
        conn.close()


# --- batching and accounts ----------------------------------------------------

@pytest.fixture
def priv_table(mariadb, accounts):
    """A table that account bt_full reads whole and bt_part only in part."""
    mariadb.query("DROP TABLE IF EXISTS ibtest.acct_pt")
    mariadb.query("CREATE TABLE ibtest.acct_pt (id INT PRIMARY KEY, "
                  "v VARCHAR(20), s VARCHAR(20))")
    mariadb.query("INSERT INTO ibtest.acct_pt VALUES "
                  + ", ".join("(%d, 'v%d', 's%d')" % (i, i, i)
                              for i in range(1, 41)))
    accounts("bt_full", "pf", grant="SELECT ON ibtest.acct_pt")
    accounts("bt_part", "pp", grant="SELECT (id, v) ON ibtest.acct_pt")
    yield "acct_pt"
    mariadb.query("DROP TABLE IF EXISTS ibtest.acct_pt")


@pytest.mark.skipif(DIRECT, reason="batching exists only in the proxy")
def test_batching_within_account_never_across(inbatch_factory, direct,
                                              priv_table):
    """Sessions of one account batch with each other; two accounts whose
    session settings are the same never share a batch: each gets what
    its own privileges give, as directly."""
    ep = inbatch_factory(**tb.WINDOW)
    per = 10
    full = tb.open_conns(ep, per, user="bt_full", password="pf",
                         database=DB)
    part = tb.open_conns(ep, per, user="bt_part", password="pp",
                         database=DB)
    oracles = {"full": tb.Oracle(direct, user="bt_full", password="pf"),
               "part": tb.Oracle(direct, user="bt_part", password="pp")}
    try:
        rng = random.Random(7)
        for tmpl in ("SELECT id, v FROM acct_pt WHERE id = %d",
                     "SELECT s FROM acct_pt WHERE id = %d",
                     "SELECT * FROM acct_pt WHERE id = %d"):
            keys = [rng.randint(1, 45) for _ in range(2 * per)]
            sqls = [tmpl % k for k in keys]
            owners = ["full"] * per + ["part"] * per
            s0 = tb.stats(ep)
            got = tb.burst(full + part, sqls)
            s1 = tb.stats(ep)
            bad = ["%s: %s\n proxy %r\n direct %r" % (o, q, g, oracles[o](q))
                   for o, q, g in zip(owners, sqls, got)
                   if g != oracles[o](q)]
            assert not bad, "\n".join(bad)
            # the full account's lookups were batched together
            assert tb.delta(s0, s1, "queries_batched") >= per - 1, (s0, s1)
            assert tb.delta(s0, s1, "batches") >= 1
            if tmpl.startswith("SELECT id, v"):
                # both accounts may run it: one batch each, never one
                assert tb.delta(s0, s1, "batches") >= 2, (s0, s1)
        # the accounts really differ, so a mix-up would have shown
        assert oracles["part"]("SELECT s FROM acct_pt WHERE id = 1")[0] \
            == "error"
    finally:
        tb.close_all(full)
        tb.close_all(part)
        for o in oracles.values():
            o.close()


# --- caching_sha2_password ---------------------------------------------------
#
# MariaDB 10.11 has no caching_sha2_password server plugin (none in the
# plugin directory, none in information_schema.PLUGINS), so these tests put
# a small server of our own behind inbatch that speaks it as MySQL 8 does:
# fast auth 01 03 once the account is cached, else 01 04 and the password
# either in clear (which it records as a leak: it has no TLS) or encrypted
# under its RSA key after a 02 request.

SHA2_USERS = {"sha2_user": "sha2 pw", "clear_user": "clear pw"}


def _sha2_scramble(password, nonce):
    h1 = hashlib.sha256(password.encode()).digest()
    h2 = hashlib.sha256(h1).digest()
    h3 = hashlib.sha256(h2 + nonce).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


class FakeSha2Server:
    """A plaintext MySQL-8-like server with caching_sha2_password."""

    CAPS = (0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000
            | 0x20000 | 0x40000 | 0x80000 | 0x100000 | 0x200000)

    def __init__(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.cache = set()
        self.events = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()

    def _serve(self):
        tid = 100
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            tid += 1
            threading.Thread(target=self._session, args=(conn, tid),
                             daemon=True).start()

    def _decrypt(self, data, nonce):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        plain = self.key.decrypt(data, padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA1()),
            algorithm=hashes.SHA1(), label=None))
        out = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain))
        return out.rstrip(b"\0").decode()

    def _session(self, conn, tid):
        try:
            with conn:
                conn.settimeout(20)
                self._login_and_serve(conn, tid)
        except (OSError, ConnectionError, ValueError):
            pass

    def _login_and_serve(self, conn, tid):
        nonce = bytes(random.choice(range(0x21, 0x7f)) for _ in range(20))
        caps = self.CAPS
        g = (b"\x0a5.5.5-10.11.0-fake\0" + struct.pack("<I", tid)
             + nonce[:8] + b"\0" + struct.pack("<H", caps & 0xffff)
             + bytes([45]) + struct.pack("<H", 2)
             + struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10
             + nonce[8:] + b"\0" + b"caching_sha2_password\0")
        _write_packet(conn, 0, g)
        seq, r = _read_packet(conn)
        ccaps = struct.unpack("<I", r[:4])[0]
        p = 32
        i = r.index(b"\0", p)
        user = r[p:i].decode()
        p = i + 1
        n = r[p]
        auth = r[p + 1:p + 1 + n]
        ok = b"\x00\x00\x00\x02\x00\x00\x00"
        err = (b"\xff\x15\x04#28000Access denied for user '%s'@'fake' "
               b"(using password: YES)" % user.encode())
        password = SHA2_USERS.get(user)

        def send(payload):
            nonlocal seq
            seq += 1
            _write_packet(conn, seq, payload)

        def recv():
            nonlocal seq
            seq, data = _read_packet(conn)
            return data
        if user == "clear_user":
            send(b"\xfemysql_clear_password\0")
            got = recv().rstrip(b"\0").decode()
            self.events.append(("clear-plugin", user))
            send(ok if got == password else err)
        elif password and user in self.cache and \
                auth == _sha2_scramble(password, nonce):
            self.events.append(("fast", user))
            send(b"\x01\x03")
            send(ok)
        elif password is None or auth != _sha2_scramble(password, nonce):
            self.events.append(("bad-scramble", user))
            send(err)
            return
        else:
            send(b"\x01\x04")
            data = recv()
            if data == b"\x02":
                send(b"\x01" + self.pem)
                got = self._decrypt(recv(), nonce)
                self.events.append(("rsa", user))
            else:
                got = data.rstrip(b"\0").decode()
                self.events.append(("cleartext-over-plaintext", user))
            if got != password:
                send(err)
                return
            self.cache.add(user)
            send(ok)
        assert ccaps
        while True:
            seq, cmd = _read_packet(conn)
            if cmd[:1] == b"\x01":
                return
            seq = 0
            send(ok)


@pytest.fixture
def sha2_server():
    s = FakeSha2Server()
    yield s
    s.close()


def _sha2_ping(ep, user, password, tls):
    kw = {}
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        kw["ssl"] = ctx
    conn = pymysql.connect(host=ep.host, port=ep.port, user=user,
                           password=password, connect_timeout=10, **kw)
    try:
        conn.ping(reconnect=False)
        return isinstance(conn._sock, ssl.SSLSocket)
    finally:
        conn.close()


@pytest.mark.skipif(DIRECT, reason="needs the proxy in front of a fake")
def test_caching_sha2_full_fast_and_rsa(inbatch_factory, sha2_server, certs):
    """Full auth from a TLS client over a plaintext backend leg: inbatch
    does the RSA exchange, the server never sees the password in clear;
    then the fast path; then a plaintext client's own RSA exchange."""
    cert, key = certs
    ep = inbatch_factory(backend="%s:%d" % (HOST, sha2_server.port),
                         tls_mode="allow", tls_cert=cert, tls_key=key)
    assert _sha2_ping(ep, "sha2_user", "sha2 pw", tls=True)
    assert sha2_server.events == [("rsa", "sha2_user")]
    assert not _sha2_ping(ep, "sha2_user", "sha2 pw", tls=False)
    assert sha2_server.events[-1] == ("fast", "sha2_user")
    sha2_server.cache.clear()
    assert not _sha2_ping(ep, "sha2_user", "sha2 pw", tls=False)
    assert sha2_server.events[-1] == ("rsa", "sha2_user")
    # wrong password, full auth over TLS: the server's error, relayed
    sha2_server.cache.clear()
    with pytest.raises(pymysql.err.OperationalError) as e:
        _sha2_ping(ep, "sha2_user", "nope", tls=True)
    assert e.value.args[0] == 1045
    assert all(ev[0] != "cleartext-over-plaintext"
               for ev in sha2_server.events)


@pytest.mark.skipif(DIRECT, reason="needs the proxy in front of a fake")
def test_cleartext_plugin_refused_over_plaintext_backend(inbatch_factory,
                                                         sha2_server, certs):
    """A switch to mysql_clear_password for a TLS client while the backend
    leg is plaintext is refused with an error that names backend_tls;
    a plaintext client (which would send it in clear directly too) is
    relayed."""
    cert, key = certs
    ep = inbatch_factory(backend="%s:%d" % (HOST, sha2_server.port),
                         tls_mode="allow", tls_cert=cert, tls_key=key)
    with pytest.raises(pymysql.err.OperationalError) as e:
        _sha2_ping(ep, "clear_user", "clear pw", tls=True)
    assert e.value.args[0] == 1251 and "backend_tls" in e.value.args[1]
    assert sha2_server.events == []
    assert not _sha2_ping(ep, "clear_user", "clear pw", tls=False)
    assert sha2_server.events == [("clear-plugin", "clear_user")]
