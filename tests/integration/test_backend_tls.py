"""TLS toward the backend: backend_tls = require | verify_ca."""
import os
import subprocess

import pymysql
import pytest

from conftest import DIRECT, MariaDB, ProxyRunner, run_threads

pytestmark = pytest.mark.skipif(
    DIRECT, reason="backend TLS is a proxy setting")


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate it signed, and an unrelated CA."""
    d = tmp_path_factory.mktemp("pki")
    p = lambda n: str(d / n)  # noqa: E731
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=inbatch test CA", "-keyout", p("ca.key"),
             "-out", p("ca.pem"))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", p("server.key"), "-out", p("server.csr"))
    _openssl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"),
             "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2",
             "-out", p("server.pem"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=other CA", "-keyout", p("other.key"),
             "-out", p("other.pem"))
    return {n: p(n) for n in ("ca.pem", "server.pem", "server.key",
                              "other.pem")}


@pytest.fixture(scope="module")
def tls_mariadb(pki):
    m = MariaDB(extra_args=["--ssl-ca=" + pki["ca.pem"],
                            "--ssl-cert=" + pki["server.pem"],
                            "--ssl-key=" + pki["server.key"]])
    try:
        m.start()
        with m.connect() as conn, conn.cursor() as cur:
            # an account the server only lets in over TLS
            cur.execute("CREATE USER 'tlsonly'@'%' IDENTIFIED BY 'pw' "
                        "REQUIRE SSL")
            cur.execute("GRANT ALL ON *.* TO 'tlsonly'@'%'")
            cur.execute("CREATE TABLE ibtest.kv (k VARCHAR(16) PRIMARY KEY, "
                        "v INT)")
            cur.execute("INSERT INTO ibtest.kv SELECT CONCAT('k', seq), seq "
                        "FROM ibtest.seq_1_to_64")
        yield m
    finally:
        m.stop()


@pytest.fixture
def tls_proxy(tls_mariadb):
    runner = ProxyRunner(tls_mariadb)
    yield runner.start
    problems = runner.stop_all()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _cipher(conn):
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        return cur.fetchone()[1]


def test_verify_ca_session_is_encrypted(tls_proxy, pki):
    """The client speaks plain TCP to inbatch; inbatch's session on the
    server is TLS, and an account that REQUIREs SSL gets in."""
    ep = tls_proxy(backend_tls="verify_ca", backend_tls_ca=pki["ca.pem"],
                   **{})
    conn = ep.connect()
    try:
        assert _cipher(conn), "backend session is not encrypted"
    finally:
        conn.close()
    ep2 = tls_proxy(backend_tls="require")
    users_conn = pymysql.connect(host=ep2.host, port=ep2.port, user="app",
                                 password="secret", database="ibtest")
    try:
        assert _cipher(users_conn)
    finally:
        users_conn.close()


def test_require_ssl_account_and_batching(tls_proxy, tls_mariadb):
    """A REQUIRE SSL account logs in through the proxy, and batched
    lookups (pool sessions) work over TLS too."""
    ep = tls_proxy(users={"tlsonly": "pw", "app": "secret"},
                   backend_tls="require", batch_mode="window",
                   batch_window_us=20000)
    conns = [pymysql.connect(host=ep.host, port=ep.port, user="tlsonly",
                             password="pw", database="ibtest",
                             autocommit=True) for _ in range(8)]
    import threading
    bar = threading.Barrier(8)
    got = {}

    def work(i):
        cur = conns[i].cursor()
        bar.wait()
        cur.execute("SELECT v FROM kv WHERE k = %s", ("k%d" % (i + 1),))
        got[i] = cur.fetchall()

    run_threads(work, 8, 60)
    for c in conns:
        c.close()
    assert got == {i: ((i + 1,),) for i in range(8)}
    # without backend TLS the same account is refused by the server
    ep_plain = tls_proxy(users={"tlsonly": "pw"})
    with pytest.raises(pymysql.err.OperationalError) as ei:
        pymysql.connect(host=ep_plain.host, port=ep_plain.port,
                        user="tlsonly", password="pw")
    assert ei.value.args[0] == 1045


def test_verify_ca_with_wrong_ca_fails_cleanly(tls_proxy, pki):
    """A server certificate from another CA: the client gets an error
    naming TLS, never a plaintext session."""
    ep = tls_proxy(backend_tls="verify_ca", backend_tls_ca=pki["other.pem"])
    with pytest.raises(pymysql.err.OperationalError) as ei:
        ep.connect(connect_timeout=10)
    assert "TLS" in str(ei.value.args[1])


def test_compressed_over_tls_backend(tls_proxy):
    """The compressed protocol over a TLS backend leg: the zlib layer sits
    on the TLS filter; a 5 MB row and the session's status come back."""
    MySQLdb = pytest.importorskip("MySQLdb")
    ep = tls_proxy(backend_tls="require")
    c = MySQLdb.connect(host=ep.host, port=ep.port, user="app",
                        passwd="secret", db="ibtest", compress=True)
    try:
        cur = c.cursor()
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN "
                    "('Compression', 'Ssl_version')")
        st = dict(cur.fetchall())
        assert st["Compression"] == "ON" and st["Ssl_version"].startswith("TLS")
        cur.execute("SELECT REPEAT('ab', 2500000), 7")
        row = cur.fetchall()[0]
        assert len(row[0]) == 5000000 and row[1] == 7
    finally:
        c.close()
