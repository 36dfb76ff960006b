"""Authentication methods and TLS modes against the suite's own server
(pg_hba gives each test user exactly one method)."""
import pytest

import psqlpy
from psqlpy import exceptions as exc


async def _whoami(**kw):
    async with await psqlpy.connect(**kw) as conn:
        return await conn.fetch_val(
            "SELECT current_user || ' ' || coalesce((SELECT ssl::text FROM pg_stat_ssl "
            "WHERE pid = pg_backend_pid()), 'none')")


@pytest.mark.parametrize("user", ["trust_user", "clear_user", "md5_user", "scram_user"])
async def test_password_methods_over_tcp(own_cluster, user):
    got = await _whoami(dsn=own_cluster.dsn(user, sslmode="disable"))
    assert got == f"{user} false"


@pytest.mark.parametrize("user", ["clear_user", "md5_user", "scram_user"])
async def test_wrong_password_is_typed(own_cluster, user):
    with pytest.raises(exc.InvalidPassword) as ei:
        await psqlpy.connect(dsn=own_cluster.dsn(user, password="wrong", sslmode="disable"))
    assert ei.value.sqlstate == "28P01"
    assert "wrong" not in str(ei.value)


async def test_unix_socket(own_cluster):
    assert await _whoami(dsn=own_cluster.dsn("scram_user", host="unix")) == "scram_user false"


async def test_scram_plus_over_tls_verify_full(own_cluster):
    own_cluster.need_ssl()
    dsn = own_cluster.dsn("ssl_user", sslmode="verify-full", host="localhost")
    got = await _whoami(dsn=dsn, ca_file=str(own_cluster.ca_file))
    assert got == "ssl_user true"


@pytest.mark.parametrize("mode", ["require", "verify-ca", "prefer"])
async def test_tls_modes(own_cluster, mode):
    own_cluster.need_ssl()
    kw = {"ca_file": str(own_cluster.ca_file)} if mode.startswith("verify") else {}
    assert await _whoami(dsn=own_cluster.dsn("ssl_user", sslmode=mode), **kw) == "ssl_user true"


async def test_ssl_user_rejected_without_tls(own_cluster):
    own_cluster.need_ssl()
    with pytest.raises(exc.InvalidAuthorizationSpecification):
        await psqlpy.connect(dsn=own_cluster.dsn("ssl_user", sslmode="disable"))


async def test_verify_full_checks_host_name(own_cluster, tmp_path):
    own_cluster.need_ssl()
    # The certificate names localhost and 127.0.0.1: a different host name fails.
    dsn = own_cluster.dsn("ssl_user", sslmode="verify-full", host="127.0.0.2")
    with pytest.raises(exc.Error) as ei:
        await psqlpy.connect(dsn=dsn, ca_file=str(own_cluster.ca_file), connect_timeout_sec=5)
    assert "ssl_pw" not in str(ei.value)


async def test_verify_ca_rejects_unknown_ca(own_cluster):
    own_cluster.need_ssl()
    import ssl
    system_bundle = ssl.get_default_verify_paths().cafile   # trusts public CAs, not ours
    if not system_bundle:
        pytest.skip("no system CA bundle to use as a wrong CA")
    with pytest.raises(exc.Error):
        await psqlpy.connect(dsn=own_cluster.dsn("ssl_user", sslmode="verify-ca"),
                             ca_file=system_bundle, connect_timeout_sec=5)


async def test_bad_dsn_names_the_bad_part():
    with pytest.raises(exc.ConnectionPoolConfigurationError, match="sslmode"):
        await psqlpy.connect(dsn="postgresql://u@localhost/db?sslmode=sometimes")


async def test_allow_mode_falls_back_to_tls_and_disable_stays_plain(own_cluster):
    own_cluster.need_ssl()
    # allow: plain first; ssl_user is rejected without TLS, so it retries with TLS.
    assert await _whoami(dsn=own_cluster.dsn("ssl_user", sslmode="allow")) == "ssl_user true"
    assert await _whoami(dsn=own_cluster.dsn("nossl_user", sslmode="allow")) == "nossl_user false"
    assert await _whoami(dsn=own_cluster.dsn("scram_user", sslmode="disable")) == "scram_user false"
