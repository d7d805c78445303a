# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# The admin console (SHOW, SET, errors, the mariadb CLI) and the Prometheus
# /metrics endpoint, checked against a running proxy.

import os
import re
import urllib.error
import urllib.request

import pymysql
import pytest

from conftest import DIRECT, HOST, SRCDIR, Endpoint, free_port, wait_port

pytestmark = pytest.mark.skipif(
    DIRECT, reason="the admin console exists only in the proxy")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"

STATS_GAUGES = ("client_connections", "backend_connections",
                "uptime_seconds", "queries_per_second",
                "avg_query_latency_us")


def ready(ep, port):
    """Wait for <port> of <ep> once: the fixture only waits for the client
    port, and the other listeners are bound a moment later."""
    seen = ep.__dict__.setdefault("_ready_ports", set())
    if port not in seen:
        assert wait_port(port, 10, ep.proc), "port %d not listening" % port
        seen.add(port)


def admin_connect(ep, **kw):
    ready(ep, ep.admin_port)
    args = dict(host=HOST, port=ep.admin_port, user=ADMIN_USER,
                password=ADMIN_PASSWORD, connect_timeout=10,
                autocommit=True)
    args.update(kw)
    return pymysql.connect(**args)


def admin_query(ep, sql):
    """Run <sql> on a fresh admin session: (column names, rows)."""
    conn = admin_connect(ep)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description or ()]
            return names, cur.fetchall()
    finally:
        conn.close()


def show_stats(ep):
    _, rows = admin_query(ep, "SHOW STATS")
    return {r[0]: int(r[1]) for r in rows}


def show_config(ep):
    _, rows = admin_query(ep, "SHOW CONFIG")
    return {r[0]: r for r in rows}


def sample_conf_keys():
    """{key: default or None} from conf/inbatch.conf, the commented sample
    that lists every key; keys set there (not commented) are examples, so
    their default is not known from the file."""
    keys = {}
    section = None
    with open(os.path.join(SRCDIR, "conf", "inbatch.conf")) as f:
        for line in f:
            line = line.rstrip("\n")
            # a commented-out header (";[users]") still ends [inbatch]
            m = re.match(r"^;?\[(\w+)\]", line)
            if m:
                section = m.group(1)
                continue
            if section != "inbatch":
                continue
            m = re.match(r"^(;?)([a-z_]+) = ?(.*)$", line)
            if m:
                keys[m.group(2)] = m.group(3) if m.group(1) else None
    return keys


def run_lookups(ep, n):
    conn = ep.connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            for i in range(n):
                cur.execute("SELECT %s", (i,))
                assert cur.fetchall() == ((i,),)
    finally:
        conn.close()


def http_get(port, path, method="GET"):
    """(status, headers, body text) of one request to the metrics port."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path),
                                 method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


@pytest.fixture
def metrics_proxy(inbatch_factory):
    """A proxy with the metrics endpoint on; .metrics_port added."""
    port = free_port()
    ep = inbatch_factory(metrics_listen="%s:%d" % (HOST, port))
    ep.metrics_port = port
    ready(ep, port)
    return ep


def test_show_stats_columns_and_queries_total(proxy):
    names, rows = admin_query(proxy, "SHOW STATS")
    assert names == ["name", "value", "description"]
    stats = {r[0]: r for r in rows}
    for name in ("queries_total", "queries_batched", "batches",
                 "fallbacks", "oom_errors") + STATS_GAUGES:
        assert name in stats, name
        assert int(stats[name][1]) >= 0
        assert stats[name][2], "no description for " + name

    before = show_stats(proxy)["queries_total"]
    run_lookups(proxy, 5)
    after = show_stats(proxy)["queries_total"]
    assert after >= before + 5


def test_show_stats_syntax_variants(proxy):
    conn = admin_connect(proxy)
    try:
        with conn.cursor() as cur:
            for sql in ("show stats", "  Show   Stats ;", "SHOW STATS;\n"):
                cur.execute(sql)
                assert len(cur.fetchall()) > 20
    finally:
        conn.close()


def test_show_config_lists_every_key(proxy):
    names, rows = admin_query(proxy, "SHOW CONFIG")
    assert names == ["key", "value", "default", "changeable", "description"]
    cfg = {r[0]: r for r in rows}
    sample = sample_conf_keys()
    assert set(cfg) == set(sample)
    for key, default in sample.items():
        row = cfg[key]
        assert row[3] in ("yes", "no"), row
        assert row[4], "no description for " + key
        if default is not None:
            assert row[2] == default, row
    assert cfg["batch_window_us"][3] == "yes"
    assert cfg["listen"][3] == "no"
    assert cfg["listen"][1] == "%s:%d" % (HOST, proxy.port)
    # the admin password is never shown
    assert cfg["admin_password"][1] != ADMIN_PASSWORD


def test_set_runtime_key(proxy):
    conn = admin_connect(proxy)
    try:
        with conn.cursor() as cur:
            cur.execute("SET batch_window_us = 700")
            assert show_config(proxy)["batch_window_us"][1] == "700"
            cur.execute("set batch_window_us='800';")
            assert show_config(proxy)["batch_window_us"][1] == "800"
            cur.execute('SET batch_max_keys="17"')
            assert show_config(proxy)["batch_max_keys"][1] == "17"
    finally:
        conn.close()


@pytest.mark.parametrize("sql", [
    "SET listen = 127.0.0.1:1",            # needs a restart
    "SET batch_max_keys = abc",            # not a number
    "SET batch_max_keys = 0",              # below the minimum
    "SET no_such_key = 1",
])
def test_set_rejected_changes_nothing(proxy, sql):
    before = show_config(proxy)
    conn = admin_connect(proxy)
    try:
        with conn.cursor() as cur:
            with pytest.raises(pymysql.err.MySQLError) as ei:
                cur.execute(sql)
            assert ei.value.args[0] == 1231
            # the session is still usable after the error
            cur.execute("SHOW VERSION")
            cur.fetchall()
    finally:
        conn.close()
    assert show_config(proxy) == before


def test_unknown_command(proxy):
    conn = admin_connect(proxy)
    try:
        with conn.cursor() as cur:
            for sql in ("SELECT 1", "SHOW", "SHOW STATS EXTRA"):
                with pytest.raises(pymysql.err.MySQLError) as ei:
                    cur.execute(sql)
                assert ei.value.args[0] == 1064
        conn.ping()
    finally:
        conn.close()


def test_wrong_password(proxy):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        admin_connect(proxy, password="wrong")
    assert ei.value.args[0] == 1045


def test_show_version(proxy):
    names, rows = admin_query(proxy, "SHOW VERSION")
    assert names == ["version"]
    assert len(rows) == 1
    assert re.match(r"^inbatch \d+\.\d+", rows[0][0])


def test_show_clients_and_servers(proxy):
    app = proxy.connect()
    try:
        with app.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()
        names, rows = admin_query(proxy, "SHOW CLIENTS")
        assert names == ["id", "peer", "user", "db", "state", "queries",
                         "unbatched"]
        mine = [r for r in rows if r[2] == "app"]
        assert len(mine) == 1
        assert mine[0][3] == "ibtest"
        assert int(mine[0][5]) >= 1
        names, rows = admin_query(proxy, "SHOW SERVERS")
        assert names == ["kind", "id", "state", "user", "detail"]
        assert any(r[0] == "backend" and r[3] == "app" for r in rows)
        names, _ = admin_query(proxy, "SHOW BATCHES")
        assert names == ["shape", "lookups", "batches", "avg_keys",
                         "max_keys", "fallbacks", "p50_us", "p99_us",
                         "backend_ms"]
    finally:
        app.close()


def test_mariadb_cli(proxy, mariadb_cli):
    ready(proxy, proxy.admin_port)
    ep = Endpoint(proxy.admin_port)
    r = mariadb_cli(ep, "-e", "SHOW STATS; SHOW CONFIG; SHOW VERSION; "
                    "SET batch_window_us = 700; SHOW CONFIG",
                    user=ADMIN_USER, password=ADMIN_PASSWORD, db=None)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^queries_total\t\d+\t", r.stdout, re.M)
    assert re.search(r"^inbatch \d", r.stdout, re.M)
    assert re.search(r"^batch_window_us\t700\t", r.stdout, re.M)


def test_metrics(metrics_proxy):
    run_lookups(metrics_proxy, 3)
    from prometheus_client.parser import text_string_to_metric_families

    conn = admin_connect(metrics_proxy)
    try:
        status, headers, body = http_get(metrics_proxy.metrics_port,
                                         "/metrics")
        with conn.cursor() as cur:
            cur.execute("SHOW STATS")
            stats = {r[0]: int(r[1]) for r in cur.fetchall()}
    finally:
        conn.close()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(body)}

    # counters: the family name loses _total, the sample keeps it
    q = fams["inbatch_queries_total"]
    assert q.type == "counter"
    assert q.documentation
    metric = q.samples[0].value
    # SHOW STATS itself ran after the scrape and counts as one command
    assert metric <= stats["queries_total"] <= metric + 1
    assert metric >= 3
    for name in ("batches", "fallbacks", "oom_errors"):
        fam = fams["inbatch_" + name]
        assert fam.type == "counter"
        assert fam.samples[0].value == stats[name]

    for name in ("client_connections", "backend_connections",
                 "uptime_seconds"):
        assert fams["inbatch_" + name].type == "gauge"

    for name in ("inbatch_query_latency_seconds", "inbatch_batch_size_keys"):
        fam = fams[name]
        assert fam.type == "histogram"
        buckets = [s for s in fam.samples if s.name.endswith("_bucket")]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts), "buckets are not cumulative"
        assert buckets[-1].labels["le"] == "+Inf"
        count = [s for s in fam.samples if s.name.endswith("_count")]
        assert count[0].value == counts[-1]
        assert any(s.name.endswith("_sum") for s in fam.samples)
    lat = fams["inbatch_query_latency_seconds"]
    bounds = [float(s.labels["le"]) for s in lat.samples
              if s.name.endswith("_bucket")][:-1]
    assert bounds[0] == pytest.approx(50e-6)
    assert bounds == sorted(bounds)


def test_metrics_bad_requests(metrics_proxy):
    status, _, _ = http_get(metrics_proxy.metrics_port, "/nope")
    assert status == 404
    status, _, _ = http_get(metrics_proxy.metrics_port, "/metrics",
                            method="POST")
    assert status == 405
    # the endpoint keeps serving after errors
    status, _, _ = http_get(metrics_proxy.metrics_port, "/metrics")
    assert status == 200
