# SPDX-License-Identifier: BSD-2-Clause
# Fixtures for the integration suite: a private mariadbd per session, inbatch
# processes per test, and helpers running the same client against both.
#
# Environment:
#   IB_BUILDDIR     build directory (binary at src/inbatch, test client at
#                   tests/integration/cclient); defaults to the source tree.
#   IB_TEST_DIRECT  1: the `proxy` fixture points at MariaDB itself, so the
#                   suite can be validated without a working proxy.
#   IB_VALGRIND     1: run inbatch under valgrind; any valgrind error fails.

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pymysql
import pytest

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("IB_BUILDDIR") or SRCDIR
DIRECT = os.environ.get("IB_TEST_DIRECT") == "1"
VALGRIND = os.environ.get("IB_VALGRIND") == "1"

APP_USER = "app"
APP_PASSWORD = "secret"
# The admin console has no default password; tests set this one.
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
DB = "ibtest"

# Phrases that only sanitizers print; inbatch's own "ERROR" log level is
# deliberately not among them.
SANITIZER_RE = re.compile(
    r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|"
    r"MemorySanitizer|runtime error:|^==\d+==ERROR: ",
    re.M,
)


_ports_given = set()


def free_port():
    """Return a loopback TCP port that was free a moment ago, never one
    this process was given before (two listeners of one proxy must not be
    handed the same port)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_port(port, timeout, proc=None):
    """Wait until <port> accepts; False on timeout or if <proc> exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    return data[-n:].decode("utf-8", "replace")


class MariaDB:
    """A private mariadbd started for the test session."""

    def __init__(self, extra_args=()):
        self.host = HOST
        self.port = None
        self.datadir = None
        self.proc = None
        self.extra_args = list(extra_args)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="ib-mariadb-")
        self.datadir = os.path.join(self.dir, "data")
        os.mkdir(self.datadir)
        # a starting mariadbd deletes #sql* files in its tmpdir: other
        # servers' temporary tables must not live in a shared one
        os.mkdir(os.path.join(self.dir, "tmp"))
        user = getpass.getuser()
        r = subprocess.run(
            ["mariadb-install-db", "--no-defaults",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--datadir=" + self.datadir,
             # its bootstrap server must not share /tmp with others
             # (see command())
             "--tmpdir=" + os.path.join(self.dir, "tmp"),
             "--user=" + user],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            pytest.fail("mariadb-install-db failed:\n"
                        + r.stdout.decode("utf-8", "replace")[-4000:])
        self.port = free_port()
        self.err_log = os.path.join(self.dir, "err.log")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.connect().close()
                break
            except pymysql.err.MySQLError as e:
                last = e
                time.sleep(0.2)
        else:
            self.stop()
            pytest.fail("mariadbd not ready after 60 s (%s):\n%s"
                        % (last, tail(self.err_log)))
        if self.proc.poll() is not None:
            pytest.fail("mariadbd exited with %d:\n%s"
                        % (self.proc.returncode, tail(self.err_log)))
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                # An empty-password root reachable over TCP from 127.0.0.1.
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
                cur.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' "
                            "WITH GRANT OPTION")
                for h in ("%", "localhost"):
                    cur.execute("CREATE USER 'app'@'%s' IDENTIFIED BY "
                                "'secret'" % h)
                    cur.execute("GRANT ALL ON *.* TO 'app'@'%s'" % h)
                cur.execute("CREATE DATABASE ibtest")
        finally:
            conn.close()

    def command(self):
        """The mariadbd command line for this server's dir and port."""
        cmd = ["mariadbd", "--no-defaults", "--datadir=" + self.datadir,
               "--port=%d" % self.port, "--bind-address=127.0.0.1",
               "--socket=" + os.path.join(self.dir, "sock"),
               "--pid-file=" + os.path.join(self.dir, "pid"),
               "--tmpdir=" + os.path.join(self.dir, "tmp"),
               "--log-error=" + self.err_log,
               "--character-set-server=utf8mb4",
               "--collation-server=utf8mb4_general_ci",
               "--skip-name-resolve", "--max-connections=2000",
               "--innodb-buffer-pool-size=128M", "--max-allowed-packet=1G"]
        cmd += self.extra_args
        if os.geteuid() == 0:
            cmd.append("--user=root")
        return cmd

    def connect(self, **kw):
        """A pymysql connection as root without a password."""
        args = dict(host=HOST, port=self.port, user="root", password="",
                    connect_timeout=5, charset="utf8mb4", autocommit=True)
        args.update(kw)
        return pymysql.connect(**args)

    def query(self, sql, args=None):
        """Run <sql> as root and return all rows."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def status(self, name):
        """The global status counter <name>, read directly from MariaDB."""
        rows = self.query("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(rows[0][1])

    def com_select(self):
        return self.status("Com_select")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class Endpoint:
    """Something a client can connect to: inbatch or MariaDB itself."""

    def __init__(self, port, host=HOST, proc=None, admin_port=None,
                 log_path=None, conf_path=None, kind="direct"):
        self.host = host
        self.port = port
        self.proc = proc
        self.admin_port = admin_port
        self.log_path = log_path
        self.conf_path = conf_path
        self.kind = kind

    def __repr__(self):
        return "<Endpoint %s %s:%d>" % (self.kind, self.host, self.port)

    def connect(self, **kw):
        """A pymysql connection, by default as app/secret to ibtest."""
        args = dict(host=self.host, port=self.port, user=APP_USER,
                    password=APP_PASSWORD, database=DB, connect_timeout=10,
                    charset="utf8mb4")
        args.update(kw)
        return pymysql.connect(**args)

    def log_text(self):
        if self.log_path is None:
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss_kb(self):
        """Resident set size of the process in KiB, None without one."""
        if self.proc is None:
            return None
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


def inbatch_binary():
    return os.path.join(BUILDDIR, "src", "inbatch")


class ProxyRunner:
    """Starts inbatch processes and checks how they end."""

    def __init__(self, mariadb):
        self.mariadb = mariadb
        self.started = []
        self.dir = tempfile.mkdtemp(prefix="ib-proxy-")

    def start(self, users=None, env=None, wrapper=(), **overrides):
        if DIRECT:
            return self._direct(overrides)
        binary = inbatch_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail("inbatch binary not found at %s (set IB_BUILDDIR, "
                        "or IB_TEST_DIRECT=1 to test MariaDB alone)"
                        % binary)
        n = len(self.started)
        keys = {
            "listen": "%s:%d" % (HOST, free_port()),
            "backend": "%s:%d" % (HOST, self.mariadb.port),
            "admin_listen": "%s:%d" % (HOST, free_port()),
            "admin_user": ADMIN_USER,
            "admin_password": ADMIN_PASSWORD,
            "log_level": "debug",
        }
        for k, v in overrides.items():
            keys[k] = str(v)
        conf = os.path.join(self.dir, "inbatch%d.ini" % n)
        with open(conf, "w") as f:
            f.write("[inbatch]\n")
            for k, v in keys.items():
                f.write("%s = %s\n" % (k, v))
            # None: no [users] section, every account may log in
            if users is not None:
                f.write("[users]\n")
                for k, v in users.items():
                    f.write("%s = %s\n" % (k, v))
        log = os.path.join(self.dir, "inbatch%d.log" % n)
        cmd = list(wrapper) + [binary, "-c", conf]
        if VALGRIND:
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                   "-q"] + cmd
        penv = dict(os.environ)
        # ASan's quarantine of freed memory would otherwise dominate the
        # RSS that the memory-bound tests measure
        penv.setdefault("ASAN_OPTIONS", "quarantine_size_mb=16")
        penv.update(env or {})
        logf = open(log, "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, env=penv)
        logf.close()
        port = int(keys["listen"].rsplit(":", 1)[1])
        admin = keys.get("admin_listen")
        admin_port = int(admin.rsplit(":", 1)[1]) if admin else None
        ep = Endpoint(port, proc=proc, admin_port=admin_port, log_path=log,
                      conf_path=conf, kind="proxy")
        self.started.append(ep)
        if not wait_port(port, 60 if VALGRIND else 10, proc):
            pytest.fail("inbatch did not start listening on %d (exit %s):"
                        "\n%s" % (port, proc.poll(), tail(log)))
        return ep

    def _direct(self, overrides):
        """Direct mode: an endpoint for the configured backend."""
        backend = overrides.get("backend")
        port = self.mariadb.port
        if backend is not None:
            port = int(str(backend).rsplit(":", 1)[1])
        return Endpoint(port, kind="direct")

    def stop_all(self):
        problems = []
        for ep in self.started:
            problems += stop_proxy(ep)
        self.started = []
        shutil.rmtree(self.dir, ignore_errors=True)
        return problems


def stop_proxy(ep):
    """SIGTERM <ep>'s process; return a list of problems seen."""
    problems = []
    proc = ep.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30 if VALGRIND else 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            problems.append("inbatch did not exit within 10 s of SIGTERM")
    if proc.returncode != 0:
        problems.append("inbatch exited with %d" % proc.returncode)
    text = ep.log_text()
    if SANITIZER_RE.search(text):
        problems.append("sanitizer report in the log")
    if problems:
        return ["%s: %s\n--- log tail ---\n%s"
                % (ep, "; ".join(problems), text[-6000:])]
    return []


@pytest.fixture(scope="session")
def mariadb():
    """The session's private MariaDB server."""
    m = MariaDB()
    try:
        m.start()
        yield m
    finally:
        m.stop()


@pytest.fixture
def inbatch_factory(mariadb):
    """Start inbatch with INI keys overridden: factory(key=value, ...).

    `users={...}` writes a [users] section (an allow-list; by default
    there is none, so every account may log in); `env={...}` adds to the
    process environment; `wrapper=[...]` runs inbatch under a command
    such as prlimit.  All processes are stopped
    when the test ends; a non-zero exit status, a hang on SIGTERM or a
    sanitizer report fails the test.
    """
    runner = ProxyRunner(mariadb)
    yield runner.start
    problems = runner.stop_all()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def proxy(inbatch_factory):
    """inbatch in front of the session MariaDB (MariaDB if IB_TEST_DIRECT)."""
    return inbatch_factory()


@pytest.fixture
def direct(mariadb):
    """MariaDB itself, with the same interface as `proxy`."""
    return Endpoint(mariadb.port, kind="direct")


@pytest.fixture(params=["proxy", "direct"])
def endpoint(request):
    """Each of proxy and direct in turn, for behaviour checked on both."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def cclient_path():
    """Path to the Connector/C test client, built here if needed."""
    built = os.path.join(BUILDDIR, "tests", "integration", "cclient")
    if os.access(built, os.X_OK):
        src = os.path.join(HERE, "cclient.c")
        if (not os.path.exists(src)
                or os.path.getmtime(built) >= os.path.getmtime(src)):
            yield built
            return
    d = tempfile.mkdtemp(prefix="ib-cclient-")
    try:
        out = os.path.join(d, "cclient")
        cflags = subprocess.check_output(["mariadb_config", "--cflags"],
                                         text=True).split()
        libs = subprocess.check_output(["mariadb_config", "--libs"],
                                       text=True).split()
        r = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror"] + cflags
                           + [os.path.join(HERE, "cclient.c"), "-o", out]
                           + libs, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            pytest.fail("cannot build cclient:\n" + r.stdout)
        yield out
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def cclient(cclient_path):
    """Run the test client against an endpoint: returns (rc, stdout).

    cclient(ep, "-e", "SELECT 1", user=..., password=..., db=...)
    """
    def run(ep, *args, user=APP_USER, password=APP_PASSWORD, db=DB,
            timeout=60):
        cmd = [cclient_path, "-h", ep.host, "-P", str(ep.port), "-u", user,
               "-p", password]
        if db is not None:
            cmd += ["-D", db]
        cmd += list(args)
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode not in (0, 1):
            pytest.fail("cclient %s failed with %d: %s" % (
                args, r.returncode, r.stderr.decode("utf-8", "replace")))
        return r.returncode, r.stdout.decode("utf-8", "replace")
    return run


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A throwaway self-signed certificate and key for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


@pytest.fixture
def mariadb_cli():
    """Run the mariadb command-line client: returns CompletedProcess."""
    def run(ep, *args, user=APP_USER, password=APP_PASSWORD, db=DB,
            input=None, timeout=60):
        cmd = ["mariadb", "--no-defaults", "-h" + ep.host,
               "-P%d" % ep.port, "-u" + user]
        if password:
            cmd.append("-p" + password)
        cmd += list(args)
        if db is not None:
            cmd.append(db)
        return subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              encoding="utf-8", errors="surrogateescape")
    return run


_table_seq = [0]


@pytest.fixture
def table_name(request, mariadb):
    """A unique table name in ibtest, dropped after the test."""
    names = []

    def make(prefix="t"):
        _table_seq[0] += 1
        name = "%s_%s_%d_%d" % (prefix, re.sub(r"\W", "_",
                                               request.node.name)[:30],
                                os.getpid(), _table_seq[0])
        names.append(name)
        return name
    yield make
    if names:
        # A session a failed test left open must not block the drop for
        # long; its metadata lock then fails this teardown instead.
        conn = mariadb.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 20")
                cur.execute("DROP TABLE IF EXISTS " + ", ".join(
                    "ibtest.`%s`" % n for n in names))
        finally:
            conn.close()


def healthy(ep):
    """The proxy process runs and serves an ordinary client."""
    assert ep.proc.poll() is None, "proxy exited:\n" + tail(ep.log_path)
    conn = ep.connect(read_timeout=10, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 40 + 2, CONCAT('ok', %s)", ("!",))
            assert cur.fetchall() == ((42, "ok!"),)
    finally:
        conn.close()


# --- bursts --------------------------------------------------------------

def run_threads(work, n, timeout=60):
    """Run work(0) .. work(n - 1) at once, one thread each, and wait for
    them; a thread still running after <timeout> seconds fails the test."""
    threads = [threading.Thread(target=work, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not hung, "threads %s still running after %s s" % (hung, timeout)


# --- the admin console, for tests that read the proxy's counters ------------

def admin_connect(ep):
    """A pymysql connection to <ep>'s admin console."""
    assert wait_port(ep.admin_port, 10, ep.proc), "admin port not listening"
    return pymysql.connect(host=HOST, port=ep.admin_port, user=ADMIN_USER,
                           password=ADMIN_PASSWORD, connect_timeout=10,
                           autocommit=True)


def admin_query(ep, sql):
    """All rows of admin command <sql> on <ep>."""
    conn = admin_connect(ep)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def admin_stats(ep):
    """SHOW STATS of <ep> as {name: int}."""
    out = {}
    for r in admin_query(ep, "SHOW STATS"):
        try:
            out[r[0]] = int(r[1])
        except (TypeError, ValueError):
            pass
    return out
