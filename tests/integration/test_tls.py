"""Frontend TLS: the in-band SSLRequest upgrade, tls_mode=allow|require."""
import ssl

import pymysql
import pymysql.constants.CLIENT
import pytest

from conftest import APP_PASSWORD, APP_USER, DB, DIRECT, HOST

pytestmark = pytest.mark.skipif(
    DIRECT, reason="TLS settings belong to the proxy; MariaDB here has none")


def _tls_ctx(cafile=None):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if cafile is None:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_pymysql_over_tls_verifies_our_certificate(inbatch_factory, certs):
    """A client that verifies the certificate gets a TLS session whose
    peer is our certificate, and queries (also large rows) work."""
    cert, key = certs
    ep = inbatch_factory(tls_mode="allow", tls_cert=cert, tls_key=key)
    conn = ep.connect(ssl=_tls_ctx(cafile=cert))
    try:
        sock = conn._sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        with conn.cursor() as cur:
            cur.execute("SELECT REPEAT('x', 5000000), 42")
            big, n = cur.fetchone()
            assert len(big) == 5000000 and n == 42
    finally:
        conn.close()


def test_allow_still_accepts_plaintext(inbatch_factory, certs):
    """tls_mode=allow: clients that do not ask for TLS keep working."""
    cert, key = certs
    ep = inbatch_factory(tls_mode="allow", tls_cert=cert, tls_key=key)
    conn = ep.connect()
    try:
        assert not isinstance(conn._sock, ssl.SSLSocket)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_require_refuses_plaintext(inbatch_factory, certs, mariadb_cli):
    """tls_mode=require: a plaintext login gets a clear error, a TLS
    login with the mariadb CLI works."""
    cert, key = certs
    ep = inbatch_factory(tls_mode="require", tls_cert=cert, tls_key=key)
    with pytest.raises(pymysql.err.OperationalError) as ei:
        ep.connect()
    assert ei.value.args[0] == 3159
    assert "TLS" in ei.value.args[1]
    r = mariadb_cli(ep, "--ssl", "--ssl-ca=" + cert, "-N", "-e",
                    "SELECT 'over tls'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "over tls"
    r = mariadb_cli(ep, "--skip-ssl", "-e", "SELECT 1")
    assert r.returncode != 0 and "3159" in r.stderr


def test_tls_offered_only_when_configured(proxy, inbatch_factory, certs):
    """The greeting offers CLIENT_SSL only with tls_mode set, so clients
    never try a handshake we cannot complete."""
    conn = proxy.connect()
    try:
        assert not conn.server_capabilities & pymysql.constants.CLIENT.SSL
    finally:
        conn.close()
    cert, key = certs
    ep = inbatch_factory(tls_mode="allow", tls_cert=cert, tls_key=key)
    conn = ep.connect()
    try:
        assert conn.server_capabilities & pymysql.constants.CLIENT.SSL
    finally:
        conn.close()


def test_tls_wrong_password_and_batching(inbatch_factory, certs):
    """Authentication and batching are unchanged inside TLS."""
    cert, key = certs
    ep = inbatch_factory(tls_mode="require", tls_cert=cert, tls_key=key)
    with pytest.raises(pymysql.err.OperationalError) as ei:
        ep.connect(password="wrong", ssl=_tls_ctx())
    assert ei.value.args[0] == 1045
    conn = ep.connect(ssl=_tls_ctx(), autocommit=True)
    try:
        with conn.cursor() as cur:
            for i in range(20):
                cur.execute("SELECT %s AS v FROM DUAL WHERE 1 = 1", (i,))
                assert cur.fetchone() == (i,)
    finally:
        conn.close()


def test_compressed_over_tls(inbatch_factory, certs):
    """The compressed protocol over a TLS client leg (tls_mode=require, so
    a plaintext session could not log in): the zlib layer sits on the TLS
    filter, and the backend session is compressed too."""
    MySQLdb = pytest.importorskip("MySQLdb")
    cert, key = certs
    ep = inbatch_factory(tls_mode="require", tls_cert=cert, tls_key=key)
    c = MySQLdb.connect(host=HOST, port=ep.port, user=APP_USER,
                        passwd=APP_PASSWORD, db=DB, compress=True,
                        ssl={"ca": cert})
    try:
        cur = c.cursor()
        cur.execute("SHOW SESSION STATUS LIKE 'Compression'")
        assert cur.fetchall() == (("Compression", "ON"),)
        cur.execute("SELECT REPEAT('xy', 2500000), 42")
        row = cur.fetchall()[0]
        assert len(row[0]) == 5000000 and row[1] == 42
    finally:
        c.close()
