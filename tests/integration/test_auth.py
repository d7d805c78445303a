"""Clients whose first auth plugin is not the greeting's log in as they do
directly: the server's own switch to the account's plugin is relayed
(see test_auth_relay.py for the relay itself)."""
import pytest


@pytest.mark.parametrize("plugin", ["caching_sha2_password",
                                    "mysql_native_password",
                                    "client_ed25519"])
def test_default_auth_plugins(endpoint, mariadb_cli, plugin):
    """The mariadb CLI (Connector/C) starting with <plugin>: right
    password in, wrong password 1045, empty-password account in."""
    r = mariadb_cli(endpoint, "--default-auth=" + plugin, "-N", "-e",
                    "SELECT CURRENT_USER()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("app@")
    r = mariadb_cli(endpoint, "--default-auth=" + plugin, "-e", "SELECT 1",
                    password="wrong")
    assert r.returncode != 0 and "1045" in r.stderr, r.stderr
    r = mariadb_cli(endpoint, "--default-auth=" + plugin, "-N", "-e",
                    "SELECT CURRENT_USER()", user="root", password="",
                    db=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("root@")
