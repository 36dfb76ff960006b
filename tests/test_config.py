"""Unit tests of psqlpy._config: DSN forms, keyword arguments, env defaults, password file,
errors (no database)."""

from __future__ import annotations

import os

import pytest

from psqlpy._connect.settings import ConnectConfig, parse_dsn, parse_settings
from psqlpy._connect.pgpass import password_from_file
from psqlpy._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from psqlpy.exceptions import ConnectionPoolConfigurationError as CfgError

SECRET = "Sup3r$ecret"


@pytest.fixture
def home(tmp_path):
    d = tmp_path / "home"
    d.mkdir()
    return d


@pytest.fixture
def ps(home):
    """parse_settings with a hermetic environment (no real ~/.pgpass or PG* vars)."""
    def run(env=None, **kw):
        e = {"HOME": str(home), "PGUSER": "envuser"}
        e.update(env or {})
        return parse_settings(env=e, **kw)
    return run


def err(ps, match, **kw):
    with pytest.raises(CfgError, match=match) as ei:
        ps(**kw)
    assert SECRET not in str(ei.value)
    return str(ei.value)


# ---------------------------------------------------------------------------- defaults


def test_defaults(ps):
    c = ps()
    assert c.hosts == (("localhost", 5432),)
    assert c.user == "envuser" and c.database == "envuser"
    assert c.password is None
    assert c.ssl_mode is SslMode.Prefer
    assert c.target_session_attrs is TargetSessionAttrs.Any
    assert c.load_balance_hosts is LoadBalanceHosts.Disable
    assert c.keepalives is True
    assert c.keepalives_idle is c.keepalives_interval is c.keepalives_retries is None
    assert c.connect_timeout is None and c.tcp_user_timeout is None
    assert c.options is None and c.application_name is None and c.ca_file is None
    assert c.server_settings == ()


def test_default_user_from_os(home):
    import getpass
    c = parse_settings(env={"HOME": str(home)})
    assert c.user == getpass.getuser() and c.database == c.user


def test_env_defaults(ps):
    c = ps(env={
        "PGHOST": "db1,db2", "PGPORT": "6000,6001", "PGUSER": "u", "PGPASSWORD": SECRET,
        "PGDATABASE": "d", "PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/ca.pem",
        "PGAPPNAME": "app", "PGCONNECT_TIMEOUT": "7", "PGOPTIONS": "-c work_mem=1MB",
        "PGTARGETSESSIONATTRS": "read-write",
    })
    assert c.hosts == (("db1", 6000), ("db2", 6001))
    assert (c.user, c.password, c.database) == ("u", SECRET, "d")
    assert c.ssl_mode is SslMode.VerifyFull and c.ca_file == "/ca.pem"
    assert c.application_name == "app" and c.connect_timeout == 7.0
    assert c.options == "-c work_mem=1MB"
    assert c.target_session_attrs is TargetSessionAttrs.ReadWrite


def test_empty_env_is_unset(ps):
    c = ps(env={"PGHOST": "", "PGPORT": "", "PGSSLMODE": "", "PGDATABASE": ""})
    assert c.hosts == (("localhost", 5432),) and c.ssl_mode is SslMode.Prefer
    assert c.database == "envuser"


def test_keywords_override_env(ps):
    c = ps(env={"PGHOST": "envhost", "PGPORT": "1", "PGDATABASE": "envdb",
                "PGPASSWORD": "envpw", "PGSSLMODE": "require"},
           host="kwhost", port=5433, username="kwuser", password="kwpw", db_name="kwdb",
           ssl_mode=SslMode.Disable)
    assert c.hosts == (("kwhost", 5433),)
    assert (c.user, c.password, c.database) == ("kwuser", "kwpw", "kwdb")
    assert c.ssl_mode is SslMode.Disable


def test_env_bad_values(ps):
    err(ps, "PGPORT", env={"PGPORT": "abc"})
    err(ps, "PGSSLMODE", env={"PGSSLMODE": "bogus"})
    err(ps, "PGCONNECT_TIMEOUT", env={"PGCONNECT_TIMEOUT": "soon"})


# ---------------------------------------------------------------------------- URL DSN


def test_url_full(ps):
    c = ps(dsn="postgresql://alice:pw@db.example.com:6543/sales")
    assert c.hosts == (("db.example.com", 6543),)
    assert (c.user, c.password, c.database) == ("alice", "pw", "sales")


def test_url_postgres_scheme_and_minimal(ps):
    c = ps(dsn="postgres://h")
    assert c.hosts == (("h", 5432),) and c.user == "envuser" and c.database == "envuser"
    c = ps(dsn="postgres://")
    assert c.hosts == (("localhost", 5432),)
    c = ps(dsn="postgres:///mydb")
    assert c.hosts == (("localhost", 5432),) and c.database == "mydb"


def test_url_percent_encoding(ps):
    c = ps(dsn="postgresql://us%40er:p%40ss%3Aw%2Fd%25@h/d%C3%A9b%20x"
               "?application_name=my%20app&options=-c%20search_path%3Dfoo")
    assert c.user == "us@er" and c.password == "p@ss:w/d%"
    assert c.database == "déb x"
    assert c.application_name == "my app" and c.options == "-c search_path=foo"


def test_url_plus_is_not_space(ps):
    assert ps(dsn="postgres://u:a+b@h/d").password == "a+b"


def test_url_password_with_at_sign(ps):
    c = ps(dsn="postgres://u:p@ss@h/d")  # last '@' separates the host
    assert c.password == "p@ss" and c.hosts == (("h", 5432),)


def test_url_user_without_password(ps):
    c = ps(dsn="postgres://bob@h/d")
    assert c.user == "bob" and c.password is None
    c = ps(dsn="postgres://bob:@h/d")
    assert c.password == ""


def test_url_multi_host(ps):
    c = ps(dsn="postgres://u@h1:5432,h2:5433,h3/d")
    assert c.hosts == (("h1", 5432), ("h2", 5433), ("h3", 5432))


def test_url_multi_host_default_port_from_env(ps):
    c = ps(dsn="postgres://h1:7000,h2/d", env={"PGPORT": "7777"})
    assert c.hosts == (("h1", 7000), ("h2", 7777))


def test_url_ipv6(ps):
    c = ps(dsn="postgres://u@[::1]:5433,[fe80::1%25eth0],127.0.0.1:5434/d")
    assert c.hosts == (("::1", 5433), ("fe80::1%eth0", 5432), ("127.0.0.1", 5434))
    c = ps(dsn="postgresql://[2001:db8::7]/d")
    assert c.hosts == (("2001:db8::7", 5432),)


def test_url_unix_socket(ps):
    c = ps(dsn="postgresql:///db?host=/var/run/postgresql&port=5444")
    assert c.hosts == (("/var/run/postgresql", 5444),)
    c = ps(dsn="postgresql://%2Ftmp%2Fpg/db")
    assert c.hosts == (("/tmp/pg", 5432),)


def test_url_query_params(ps):
    c = ps(dsn="postgres://h/d?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem"
               "&connect_timeout=10&target_session_attrs=read-only&load_balance_hosts=random"
               "&keepalives=1&keepalives_idle=30&keepalives_interval=5&keepalives_count=3"
               "&tcp_user_timeout=20&user=qu&password=qp&dbname=qd&port=6000")
    assert c.ssl_mode is SslMode.VerifyCa and c.ca_file == "/etc/ca.pem"
    assert c.connect_timeout == 10.0
    assert c.target_session_attrs is TargetSessionAttrs.ReadOnly
    assert c.load_balance_hosts is LoadBalanceHosts.Random
    assert (c.keepalives, c.keepalives_idle, c.keepalives_interval, c.keepalives_retries) == (
        True, 30.0, 5.0, 3)
    assert c.tcp_user_timeout == 20.0
    assert (c.user, c.password, c.database) == ("qu", "qp", "qd")
    assert c.hosts == (("h", 6000),)


def test_url_keepalives_off_drops_settings(ps):
    c = ps(dsn="postgres://h/d?keepalives=0&keepalives_idle=30&keepalives_count=3")
    assert c.keepalives is False
    assert c.keepalives_idle is None and c.keepalives_retries is None


def test_url_ssl_true(ps):
    assert ps(dsn="postgres://h/d?ssl=true").ssl_mode is SslMode.Require


def test_url_zero_timeout_is_none(ps):
    assert ps(dsn="postgres://h/d?connect_timeout=0").connect_timeout is None


@pytest.mark.parametrize("dsn, match", [
    ("mysql://h/d", "scheme 'mysql'"),
    ("http://h", "scheme 'http'"),
    ("postgres://h:abc/d", "port 'abc'"),
    ("postgres://h:/d", "empty port"),
    ("postgres://h:0/d", "port 0"),
    ("postgres://h:70000/d", "port 70000"),
    ("postgres://h:-1/d", "port '-1'"),
    ("postgres://[::1/d", r"missing '\]'"),
    ("postgres://[::1]x/d", "after IPv6"),
    ("postgres://h/d?sslmode=bogus", "sslmode value 'bogus'"),
    ("postgres://h/d?foo=bar", "parameter 'foo'"),
    ("postgres://h/d?sslmode", "missing '=' after DSN parameter 'sslmode'"),
    ("postgres://h/d?target_session_attrs=primary", "target_session_attrs value 'primary'"),
    ("postgres://h/d?load_balance_hosts=sometimes", "load_balance_hosts value 'sometimes'"),
    ("postgres://h/d?connect_timeout=abc", "connect_timeout value 'abc'"),
    ("postgres://h/d?keepalives=maybe", "keepalives value 'maybe'"),
    ("postgres://h/d?keepalives_count=-1", "keepalives_count"),
    ("postgres://h/%zz", "percent-encoding in DSN database name '%zz'"),
    ("postgres://h/%ff", "database name '%ff' is not valid UTF-8"),
    ("postgres://h/d?options=a%00b", "options.*NUL"),
    ("postgres://u%00x@h/d", "user.*NUL"),
    ("postgres://h/d?sslcert=%2Fc.pem", "'sslcert' is not supported"),
    ("postgres://h/d?service=x", "'service' is not supported"),
    ("postgres://h/d?gssencmode=require", "gssencmode"),
    ("postgres://h/d?channel_binding=require", "channel_binding"),
    ("postgres://h/d?client_encoding=LATIN1", "client_encoding"),
    ("postgres://h/d?sslrootcert=system&sslmode=require", "weak sslmode 'require'"),
])
def test_url_errors(ps, dsn, match):
    err(ps, match, dsn=dsn)


def test_url_accepted_only_values(ps):
    c = ps(dsn="postgres://h/d?gssencmode=disable&channel_binding=prefer&sslsni=1"
               "&client_encoding=utf8&sslnegotiation=postgres")
    assert c.hosts == (("h", 5432),)


def test_url_sslrootcert_system(ps):
    c = ps(dsn="postgres://h/d?sslrootcert=system")
    assert c.ssl_mode is SslMode.VerifyFull and c.ca_file is None


def test_url_password_never_in_errors(ps):
    msg = err(ps, "percent-encoding", dsn=f"postgres://u:{SECRET}%zz@h/d")
    assert "password" in msg
    msg = err(ps, "not valid UTF-8", dsn=f"postgres://u:{SECRET}%ff@h/d")
    err(ps, "port", dsn=f"postgres://u:{SECRET}@h:x/d")
    err(ps, "sslmode", dsn=f"postgres://u:{SECRET}@h/d?sslmode=x")
    err(ps, "unterminated", dsn=f"host=h password='{SECRET}")
    err(ps, "percent-encoding", dsn=f"postgres://h/d?password={SECRET}%zz")


def test_url_fallback_application_name(ps):
    assert ps(dsn="postgres://h/d?fallback_application_name=fb").application_name == "fb"
    assert ps(dsn="postgres://h/d?fallback_application_name=fb&application_name=a"
              ).application_name == "a"


# ---------------------------------------------------------------------------- key=value DSN


def test_kv_basic(ps):
    c = ps(dsn="host=h port=6000 user=u password=pw dbname=d sslmode=disable")
    assert c.hosts == (("h", 6000),)
    assert (c.user, c.password, c.database) == ("u", "pw", "d")
    assert c.ssl_mode is SslMode.Disable


def test_kv_quoting(ps):
    c = ps(dsn=r"user = 'a b'  password='it\'s \\ x' dbname='' options='-c a=b'"
               r" application_name=x\ y")
    assert c.user == "a b" and c.password == "it's \\ x"
    assert c.database == "a b"  # empty dbname -> default (the user)
    assert c.options == "-c a=b" and c.application_name == "x y"


def test_kv_multi_host(ps):
    c = ps(dsn="host=a,b,c port=1,2,3")
    assert c.hosts == (("a", 1), ("b", 2), ("c", 3))
    c = ps(dsn="host=a,b port=7")
    assert c.hosts == (("a", 7), ("b", 7))
    c = ps(dsn="host=a,/tmp")
    assert c.hosts == (("a", 5432), ("/tmp", 5432))


def test_kv_hostaddr(ps):
    assert ps(dsn="hostaddr=10.0.0.1 port=5").hosts == (("10.0.0.1", 5),)
    assert ps(dsn="host=a,b hostaddr=10.0.0.1,10.0.0.2").hosts == (
        ("10.0.0.1", 5432), ("10.0.0.2", 5432))
    err(ps, "hostaddr", dsn="host=a,b hostaddr=10.0.0.1")


def test_kv_empty_dsn(ps):
    assert ps(dsn="").hosts == (("localhost", 5432),)
    assert ps(dsn="   ").user == "envuser"


@pytest.mark.parametrize("dsn, match", [
    ("host=a,b port=1,2,3", "2 hosts but 3 ports"),
    ("host=a port=1,2", "1 hosts but 2 ports"),
    ("host=a port=", "empty port"),
    ("host=a,b port=1,", "empty port"),
    ("host=a port=x", "port 'x'"),
    ("host", "missing '=' after 'host'"),
    ("host=a dbname", "missing '=' after 'dbname'"),
    ("mydb", "missing '=' after 'mydb'"),
    ("host=a user='abc", "unterminated quoted string"),
    ("host=a bogus=1", "parameter 'bogus'"),
    ("host=a sslmode=verify_full", "sslmode value 'verify_full'"),
    ("host=a sslkey=/k", "'sslkey' is not supported"),
    ("host=a\x00b", "NUL"),
])
def test_kv_errors(ps, dsn, match):
    err(ps, match, dsn=dsn)


def test_parse_dsn_raw():
    assert parse_dsn("postgres://u:p@a:1,b/d?sslmode=require") == {
        "user": "u", "password": "p", "host": "a,b", "port": "1,", "dbname": "d",
        "sslmode": "require"}
    assert parse_dsn("host=a port=1") == {"host": "a", "port": "1"}


# ---------------------------------------------------------------------------- dsn vs keywords


def test_dsn_wins_over_host_user_db(ps):
    c = ps(dsn="postgres://du:dpw@dh:1/dd", host="kh", port=2, username="ku",
           password="kpw", db_name="kd")
    assert c.hosts == (("dh", 1),)
    assert (c.user, c.password, c.database) == ("du", "dpw", "dd")


def test_keywords_fill_what_dsn_lacks(ps):
    c = ps(dsn="postgres://dh/", username="ku", password="kpw", db_name="kd", port=2)
    assert c.hosts == (("dh", 2),)
    assert (c.user, c.password, c.database) == ("ku", "kpw", "kd")


def test_keywords_override_dsn_session_settings(ps):
    c = ps(dsn="postgres://h/d?sslmode=disable&application_name=a&options=-c%20x%3D1"
               "&connect_timeout=5&target_session_attrs=read-only&load_balance_hosts=random"
               "&keepalives=0&sslrootcert=/a.pem",
           ssl_mode="require", application_name="b", options="-c y=2",
           connect_timeout_sec=9, target_session_attrs=TargetSessionAttrs.ReadWrite,
           load_balance_hosts="disable", keepalives=True, keepalives_idle_sec=60,
           ca_file="/b.pem")
    assert c.ssl_mode is SslMode.Require and c.application_name == "b"
    assert c.options == "-c y=2" and c.connect_timeout == 9.0
    assert c.target_session_attrs is TargetSessionAttrs.ReadWrite
    assert c.load_balance_hosts is LoadBalanceHosts.Disable
    assert c.keepalives is True and c.keepalives_idle == 60.0
    assert c.ca_file == "/b.pem"


# ---------------------------------------------------------------------------- keywords


def test_keyword_hosts_and_ports(ps):
    c = ps(hosts=["a", "b"], ports=[1, 2])
    assert c.hosts == (("a", 1), ("b", 2))
    c = ps(hosts=["a", "b"], port=7)
    assert c.hosts == (("a", 7), ("b", 7))
    c = ps(host="a", hosts=["b"], ports=[1, 2])
    assert c.hosts == (("a", 1), ("b", 2))
    c = ps(host="a,b")
    assert c.hosts == (("a", 5432), ("b", 5432))
    c = ps(host="h", port="6000")
    assert c.hosts == (("h", 6000),)


def test_keyword_host_ignored_env_host(ps):
    assert ps(host="kw", env={"PGHOST": "envh"}).hosts == (("kw", 5432),)
    assert ps(env={"PGHOST": "envh"}, port=9).hosts == (("envh", 9),)


@pytest.mark.parametrize("kw, match", [
    (dict(hosts=["a", "b", "c"], ports=[1, 2]), "3 hosts but 2 ports"),
    (dict(port=0), "port 0"),
    (dict(port=True), "port True"),
    (dict(port="x"), "port 'x'"),
    (dict(port=""), "empty port"),
    (dict(port=1.5), "port 1.5"),
    (dict(ssl_mode="nope"), "ssl_mode value 'nope'"),
    (dict(ssl_mode=3), "ssl_mode must be a SslMode"),
    (dict(target_session_attrs="primary"), "target_session_attrs value 'primary'"),
    (dict(load_balance_hosts="x"), "load_balance_hosts value 'x'"),
    (dict(connect_timeout_sec=-1), "connect_timeout_sec must not be negative"),
    (dict(connect_timeout_sec="5"), "connect_timeout_sec must be a number"),
    (dict(keepalives_retries=1.5), "keepalives_retries must be an int"),
    (dict(keepalives="yes"), "keepalives must be a bool"),
    (dict(username=5), "username must be a str"),
    (dict(password=b"x"), "password must be a str"),
    (dict(options="a\x00b"), "options contains a NUL"),
    (dict(password="a\x00" + SECRET), "password contains a NUL"),
])
def test_keyword_errors(ps, kw, match):
    err(ps, match, **kw)


@pytest.mark.parametrize("name", ["connect_timeout", "tcp_user_timeout", "keepalives_idle",
                                  "keepalives_interval"])
def test_nanosec_rules(ps, name):
    err(ps, f"{name}_nanosec given without {name}_sec", **{f"{name}_nanosec": 5})
    c = ps(**{f"{name}_sec": 2, f"{name}_nanosec": 500_000_000})
    assert getattr(c, name) == pytest.approx(2.5)
    c = ps(**{f"{name}_sec": 3})
    assert getattr(c, name) == 3.0
    err(ps, f"{name}_nanosec must be an int", **{f"{name}_sec": 1, f"{name}_nanosec": 0.5})
    err(ps, f"{name}_nanosec must not be negative", **{f"{name}_sec": 1, f"{name}_nanosec": -1})


def test_keepalives_only_when_enabled(ps):
    c = ps(keepalives=False, keepalives_idle_sec=10, keepalives_interval_sec=2,
           keepalives_retries=3)
    assert c.keepalives is False
    assert (c.keepalives_idle, c.keepalives_interval, c.keepalives_retries) == (None,) * 3
    c = ps(keepalives_idle_sec=10, keepalives_interval_sec=2, keepalives_retries=3)
    assert (c.keepalives_idle, c.keepalives_interval, c.keepalives_retries) == (10.0, 2.0, 3)


@pytest.mark.parametrize("value, expected", [
    ("verify-full", SslMode.VerifyFull), ("VerifyFull", SslMode.VerifyFull),
    (SslMode.Allow, SslMode.Allow), ("DISABLE", SslMode.Disable),
])
def test_enum_strings(ps, value, expected):
    assert ps(ssl_mode=value).ssl_mode is expected


def test_enum_values():
    assert TargetSessionAttrs.ReadWrite.value == "read-write"
    assert LoadBalanceHosts.Random.value == "random"
    assert SslMode.VerifyFull.value == "verify-full"


# ---------------------------------------------------------------------------- ConnectConfig


def test_startup_parameters(ps):
    c = ps(dsn="postgres://u@h/d?application_name=app&options=-c%20x%3D1")
    params = c.startup_parameters()
    assert params == {"user": "u", "database": "d", "application_name": "app",
                      "options": "-c x=1", "client_encoding": "UTF8", "DateStyle": "ISO"}
    assert "TimeZone" not in params
    assert ps(username="u", db_name="d").startup_parameters() == {
        "user": "u", "database": "d", "client_encoding": "UTF8", "DateStyle": "ISO"}
    c = ConnectConfig(hosts=(("h", 1),), user="u", password=None, database="d",
                      server_settings=(("search_path", "s"),))
    assert c.startup_parameters()["search_path"] == "s"


def test_repr_hides_password(ps):
    c = ps(dsn=f"postgres://u:{SECRET}@h/d")
    assert c.password == SECRET
    for text in (repr(c), str(c)):
        assert SECRET not in text and "password=***" in text
    assert "password=None" in repr(ps())


def test_config_frozen(ps):
    c = ps()
    with pytest.raises(AttributeError):
        c.user = "x"
    assert c == ps()


# ---------------------------------------------------------------------------- pgpass


def _write_pgpass(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)


def test_pgpass_lookup(home, ps):
    _write_pgpass(home / ".pgpass",
                  "# comment\n"
                  "other:5432:*:*:nope\n"
                  "h:5432:d:u:first\n"
                  "h:*:*:u:second\n"
                  r"h\:x:1:db\\1:u:esc\:aped" "\n"
                  "localhost:5432:*:*:local\n"
                  "*:*:*:*:any\n")
    env = {"HOME": str(home)}
    assert lookup_pgpass("h", 5432, "d", "u", env) == "first"
    assert lookup_pgpass("h", 9999, "zz", "u", env) == "second"
    assert lookup_pgpass("h:x", 1, "db\\1", "u", env) == "esc:aped"
    assert lookup_pgpass("/var/run/postgresql", 5432, "d", "v", env) == "local"
    assert lookup_pgpass("zzz", 1, "d", "v", env) == "any"
    # used by parse_settings when no password is given
    assert ps(dsn="host=h dbname=d user=u").password == "first"
    assert ps(dsn="host=h dbname=d user=u password=given").password == "given"
    assert ps(dsn="host=h dbname=d user=u", env={"PGPASSWORD": "envpw"}).password == "envpw"
    assert ps(dsn="host=nope,h dbname=d user=u").password == "any"


def test_pgpass_pgpassfile_and_passfile_param(tmp_path, ps):
    f = tmp_path / "pf"
    _write_pgpass(f, "*:*:*:*:fromfile\n")
    assert lookup_pgpass("h", 1, "d", "u", {"PGPASSFILE": str(f)}) == "fromfile"
    assert ps(env={"PGPASSFILE": str(f)}).password == "fromfile"
    assert ps(dsn=f"host=h passfile={f}").password == "fromfile"


def test_pgpass_ignored_when_missing_or_world_readable(home, tmp_path):
    assert lookup_pgpass("h", 1, "d", "u", {"HOME": str(home)}) is None
    assert lookup_pgpass("h", 1, "d", "u", {"PGPASSFILE": str(tmp_path / "none")}) is None
    _write_pgpass(home / ".pgpass", "*:*:*:*:x\n", mode=0o644)
    if os.name == "posix":
        assert lookup_pgpass("h", 1, "d", "u", {"HOME": str(home)}) is None
    assert lookup_pgpass("h", 1, "d", "u", {"PGPASSFILE": str(tmp_path)}) is None  # a dir
