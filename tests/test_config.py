"""Unit tests of psqlpy._connect's settings: DSN forms, keyword arguments, env defaults,
password file, errors (no database).

Where libpq and an earlier version of these tests disagreed, the tests now follow libpq
(issue 16): a URI's userinfo ends at its first '@'; an empty URI password is no password;
a host without a port next to one with a port gets 5432, not PGPORT; an empty port means
the default; ``hostaddr`` no longer replaces ``host``; an empty PGSSLMODE is invalid.
"""

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
    c = ps(env={"PGHOST": "", "PGPORT": "", "PGDATABASE": "", "PGSSLROOTCERT": ""})
    assert c.hosts == (("localhost", 5432),) and c.ssl_mode is SslMode.Prefer
    assert c.database == "envuser" and c.ca_file is None


def test_empty_env_enum_is_invalid(ps):
    # libpq: an environment variable set to "" is a value, and "" is no sslmode
    err(ps, "PGSSLMODE value ''", env={"PGSSLMODE": ""})
    err(ps, "PGCHANNELBINDING value ''", env={"PGCHANNELBINDING": ""})


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
    # libpq: the userinfo ends at the first '@' (an '@' in a password is written %40)
    c = ps(dsn="postgres://u:p@ss@h/d")
    assert c.password == "p" and c.hosts == (("ss@h", 5432),)
    assert ps(dsn="postgres://u:p%40ss@h/d").password == "p@ss"


def test_url_password_with_hash_and_question_mark(ps):
    # no fragment in libpq URIs: '#' and '?' in the userinfo are the password's
    c = ps(dsn="postgresql://u:Zq7#SEC?RET@h:5433/d?application_name=a#b")
    assert c.password == "Zq7#SEC?RET" and c.hosts == (("h", 5433),)
    assert c.application_name == "a#b"
    assert ps(dsn="postgres://h/d#x").database == "d#x"


def test_url_user_without_password(ps):
    c = ps(dsn="postgres://bob@h/d")
    assert c.user == "bob" and c.password is None
    c = ps(dsn="postgres://bob:@h/d")
    assert c.password is None  # libpq stores no empty password


def test_url_multi_host(ps):
    c = ps(dsn="postgres://u@h1:5432,h2:5433,h3/d")
    assert c.hosts == (("h1", 5432), ("h2", 5433), ("h3", 5432))


def test_url_multi_host_default_port_from_env(ps):
    # libpq: the URI set "port" to "7000," so PGPORT is not read; the empty entry is 5432
    c = ps(dsn="postgres://h1:7000,h2/d", env={"PGPORT": "7777"})
    assert c.hosts == (("h1", 7000), ("h2", 5432))
    # even two hosts without ports store the port list ",": both 5432, PGPORT unused
    assert ps(dsn="postgres://h1,h2/d", env={"PGPORT": "7777"}).hosts == (
        ("h1", 5432), ("h2", 5432))
    assert ps(dsn="postgres://h1/d", env={"PGPORT": "7777"}).hosts == (("h1", 7777),)


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
    ("postgres://h:0/d", "port 0"),
    ("postgres://h:70000/d", "port 70000"),
    ("postgres://h:-1/d", "port '-1'"),
    ("postgres://[::1/d", r"matching '\]'"),
    ("postgres://[]/d", "may not be empty"),
    ("postgres://[::1]x/d", "after IPv6"),
    ("postgres://h/d?sslmode=bogus", "sslmode' value 'bogus'"),
    ("postgres://h/d?sslmode=REQUIRE", "sslmode' value 'REQUIRE'"),
    ("postgres://h/d?foo=bar", "option 'foo'"),
    ("postgres://h/d?sslmode", "missing key/value separator '=' in DSN query parameter 'sslmode'"),
    ("postgres://h/d?a=b=c", "extra key/value separator"),
    ("postgres://h/d?sslmode=require&&x=y", "missing key/value separator"),
    ("postgres://h/d?target_session_attrs=primary", "target_session_attrs' value 'primary'"),
    ("postgres://h/d?load_balance_hosts=sometimes", "value 'sometimes'"),
    ("postgres://h/d?connect_timeout=abc", "invalid integer value 'abc'"),
    ("postgres://h/d?keepalives=maybe", "invalid integer value 'maybe'"),
    ("postgres://h/d?keepalives_count=-1", "keepalives_count"),
    ("postgres://h/%zz", "invalid percent-encoded token in DSN database name '%zz'"),
    ("postgres://h/%ff", "database name '%ff' is not valid UTF-8"),
    ("postgres://h/d%00x", "forbidden value %00"),
    ("postgres://h/d?options=a%00b", "forbidden value %00"),
    ("postgres://h/d?service=x", "'service' is not supported"),
    ("postgres://h/d?gssencmode=require", "GSSAPI is not supported"),
    ("postgres://h/d?krbsrvname=postgres", "GSSAPI is not supported"),
    ("postgres://h/d?gsslib=gssapi", "GSSAPI is not supported"),
    ("postgres://h/d?gssdelegation=1", "GSSAPI is not supported"),
    ("postgres://h/d?require_auth=gss", "GSSAPI is not supported"),
    ("postgres://h/d?require_auth=scram-sha-256,sspi", "GSSAPI is not supported"),
    ("postgres://h/d?channel_binding=always", "channel_binding' value 'always'"),
    ("postgres://h/d?sslcertmode=require", "sslcertmode'=require is not supported"),
    ("postgres://h/d?sslnegotiation=direct", "sslnegotiation'=direct is not supported"),
    ("postgres://h/d?ssl_min_protocol_version=TLSv2", "ssl_min_protocol_version"),
    ("postgres://h/d?ssl_min_protocol_version=TLSv1.3&ssl_max_protocol_version=TLSv1.2",
     "invalid SSL protocol version range"),
    ("postgres://h/d?client_encoding=LATIN1", "client_encoding"),
    ("postgres://h/d?sslrootcert=system&sslmode=require", "weak sslmode 'require'"),
])
def test_url_errors(ps, dsn, match):
    err(ps, match, dsn=dsn)


def test_url_accepted_only_values(ps):
    c = ps(dsn="postgres://h/d?gssencmode=disable&channel_binding=prefer&sslsni=1"
               "&client_encoding=utf8&sslnegotiation=postgres&gssdelegation=0"
               "&sslcompression=1&gssencmode=prefer&sslcertmode=allow")
    assert c.hosts == (("h", 5432),)


def test_empty_url_port_means_default(ps):
    assert ps(dsn="postgres://h:/d").hosts == (("h", 5432),)
    assert ps(dsn="postgres://h:/d", env={"PGPORT": "7"}).hosts == (("h", 7),)
    assert ps(dsn="postgres://h1:,h2:6/d").hosts == (("h1", 5432), ("h2", 6))


def test_requiressl_keyword(ps):
    assert ps(dsn="host=h requiressl=1").ssl_mode is SslMode.Require
    assert ps(dsn="host=h requiressl=0").ssl_mode is SslMode.Prefer
    assert ps(env={"PGREQUIRESSL": "1"}).ssl_mode is SslMode.Require
    assert ps(env={"PGREQUIRESSL": "1", "PGSSLMODE": "allow"}).ssl_mode is SslMode.Allow


def test_url_sslrootcert_system(ps):
    c = ps(dsn="postgres://h/d?sslrootcert=system")
    assert c.ssl_mode is SslMode.VerifyFull and c.ca_file == "system"


def test_url_password_never_in_errors(ps):
    msg = err(ps, "percent-encoded", dsn=f"postgres://u:{SECRET}%zz@h/d")
    assert "password" in msg
    err(ps, "port", dsn=f"postgres://u:{SECRET}@h:x/d")
    err(ps, "sslmode", dsn=f"postgres://u:{SECRET}@h/d?sslmode=x")
    err(ps, "unterminated", dsn=f"host=h password='{SECRET}")
    err(ps, "percent-encoded", dsn=f"postgres://h/d?password={SECRET}%zz")
    err(ps, "percent-encoded", dsn=f"postgres://h/d?sslpassword={SECRET}%zz")
    err(ps, "missing '='", dsn=f"host=h {SECRET}")
    err(ps, "unexpected spaces", dsn=f"postgres://u:{SECRET} x@h/d")   # libpq quotes it
    err(ps, "scheme", dsn=f"mysql://u:{SECRET}@h/d")


def test_url_password_keeps_raw_bytes(ps):
    # libpq sends a percent-encoded password's bytes as they are, UTF-8 or not
    c = ps(dsn="postgres://u:%ff%fe@h/d")
    assert c.password.encode("utf-8", "surrogateescape") == b"\xff\xfe"


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
    # libpq: hostaddr is where to connect; host stays the name (TLS, password file)
    c = ps(dsn="hostaddr=10.0.0.1 port=5")
    assert c.hosts == (("10.0.0.1", 5),)
    assert [(t.host, t.hostaddr, t.address) for t in c.targets] == [("", "10.0.0.1", "10.0.0.1")]
    c = ps(dsn="host=a,b hostaddr=10.0.0.1,10.0.0.2")
    assert c.hosts == (("a", 5432), ("b", 5432))
    assert [(t.host, t.address) for t in c.targets] == [("a", "10.0.0.1"), ("b", "10.0.0.2")]
    err(ps, "could not match 2 host names to 1 hostaddr values",
        dsn="host=a,b hostaddr=10.0.0.1")
    c = ps(dsn="host=db.example", env={"PGHOSTADDR": "10.0.0.9"})
    assert [(t.host, t.address) for t in c.targets] == [("db.example", "10.0.0.9")]


def test_kv_empty_dsn(ps):
    assert ps(dsn="").hosts == (("localhost", 5432),)
    assert ps(dsn="   ").user == "envuser"


@pytest.mark.parametrize("dsn, match", [
    ("host=a,b port=1,2,3", "could not match 3 port numbers to 2 hosts"),
    ("host=a port=1,2", "could not match 2 port numbers to 1 hosts"),
    ("host=a port=x", "port 'x'"),
    ("host", "missing '=' after 'host'"),
    ("host=a dbname", "missing '=' after 'dbname'"),
    ("mydb", "missing '=' after 'mydb'"),
    ("host=a user='abc", "unterminated quoted string"),
    ("host=a bogus=1", "option 'bogus'"),
    ("host=a sslmode=verify_full", "sslmode' value 'verify_full'"),
    ("host=a sslkey=/k sslcertmode=require", "sslcertmode'=require is not supported"),
    ("host=a\x00b", "NUL"),
    ("host=a require_auth=password,!md5", "cannot be mixed"),
    ("host=a require_auth=!md5,password", "cannot be mixed"),
    ("host=a require_auth=md5,md5", "more than once"),
    ("host=a require_auth=none,none", "more than once"),
    ("host=a require_auth=kerberos", "invalid require_auth value 'kerberos'"),
])
def test_kv_errors(ps, dsn, match):
    err(ps, match, dsn=dsn)


def test_parse_dsn_raw():
    assert parse_dsn("postgres://u:p@a:1,b/d?sslmode=require") == {
        "user": "u", "password": "p", "host": "a,b", "port": "1,", "dbname": "d",
        "sslmode": "require"}
    assert parse_dsn("host=a port=1") == {"host": "a", "port": "1"}
    # later keywords win; whitespace is ASCII only; a quoted value keeps its spaces
    assert parse_dsn("host=a host=b") == {"host": "b"}
    assert parse_dsn("host=\u00a0a") == {"host": "\u00a0a"}
    assert parse_dsn("host = ' a b ' port=\t5") == {"host": " a b ", "port": "5"}
    assert parse_dsn("postgresql://[::1]:5,h?ssl=true") == {"host": "::1,h", "port": "5,",
                                                            "sslmode": "require"}
    assert parse_dsn("postgres://%2Fsock/d") == {"host": "/sock", "dbname": "d"}


def test_kv_empty_ports_mean_default(ps):
    assert ps(dsn="host=a port=").hosts == (("a", 5432),)
    assert ps(dsn="host=a,b port=1,").hosts == (("a", 1), ("b", 5432))


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
    (dict(password="a\udc80\ud800"), "cannot be encoded"),
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
                  r"h\:x:1:db\\1:u:esc\:aped:ignored" "\n"
                  "localhost:5432:*:*:local\n"
                  "*:*:*:*:any\n")
    path = str(home / ".pgpass")
    assert password_from_file(path, "h", "5432", "d", "u") == "first"
    assert password_from_file(path, "h", "9999", "zz", "u") == "second"
    # the password ends at the first unescaped ':' (libpq)
    assert password_from_file(path, "h:x", "1", "db\\1", "u") == "esc:aped"
    assert password_from_file(path, "/var/run/postgresql", "5432", "d", "v") == "local"
    assert password_from_file(path, "", "", "d", "v") == "local"   # '' and 5432
    assert password_from_file(path, "zzz", "1", "d", "v") == "any"
    assert password_from_file(path, "zzz", "1", "", "v") is None   # no database: no lookup
    # used by parse_settings when no password is given
    assert ps(dsn="host=h dbname=d user=u").password is None
    assert ps(dsn="host=h dbname=d user=u").targets[0].password == "first"
    assert ps(dsn="host=h dbname=d user=u password=given").targets[0].password == "given"
    assert ps(dsn="host=h dbname=d user=u", env={"PGPASSWORD": "envpw"}).targets[0].password == "envpw"


def test_pgpass_per_host_and_port(home, ps):
    # issue 16 item 4: each host gets its own line (or none), never the first host's
    _write_pgpass(home / ".pgpass", "h1:5432:*:*:pw1\nh2:6000:*:*:pw2\n")
    c = ps(dsn="host=h1,h2,h3 port=5432,6000,5432 dbname=d user=u")
    assert [t.password for t in c.targets] == ["pw1", "pw2", None]
    c = ps(dsn="postgres://u@h1,h2:6000/d")
    assert [t.password for t in c.targets] == ["pw1", "pw2"]
    c = ps(dsn="host=h2 hostaddr=10.0.0.2 port=6000 dbname=d user=u")   # host, not hostaddr
    assert [t.password for t in c.targets] == ["pw2"]
    c = ps(dsn="hostaddr=10.0.0.2 port=6000 dbname=d user=u")           # no host: hostaddr
    assert [t.password for t in c.targets] == [None]
    assert "pw1" not in repr(c) and "pw2" not in repr(ps(dsn="host=h2 port=6000 user=u"))


def test_pgpass_pgpassfile_and_passfile_param(tmp_path, ps):
    f = tmp_path / "pf"
    _write_pgpass(f, "*:*:*:*:fromfile\n")
    assert password_from_file(str(f), "h", "1", "d", "u") == "fromfile"
    assert ps(env={"PGPASSFILE": str(f)}).targets[0].password == "fromfile"
    assert ps(dsn=f"host=h passfile={f}").targets[0].password == "fromfile"


def test_pgpass_ignored_when_missing_or_world_readable(home, tmp_path):
    assert password_from_file(str(home / ".pgpass"), "h", "1", "d", "u") is None
    assert password_from_file(str(tmp_path / "none"), "h", "1", "d", "u") is None
    _write_pgpass(home / ".pgpass", "*:*:*:*:x\n", mode=0o644)
    if os.name == "posix":
        assert password_from_file(str(home / ".pgpass"), "h", "1", "d", "u") is None
    assert password_from_file(str(tmp_path), "h", "1", "d", "u") is None  # a dir


# ---------------------------------------------------------------------------- TLS and auth


def test_tls_defaults(ps, home):
    t = ps().tls
    assert (t.mode, t.rootcert, t.cert, t.key, t.crl, t.crldir) == (
        SslMode.Prefer, None, None, None, None, None)
    assert t.sni is True and t.send_cert is True and t.home == str(home)
    assert (t.min_version, t.max_version) == ("TLSv1.2", None)
    a = ps().auth
    assert (a.channel_binding, a.require_auth, a.auth_required) == ("prefer", None, False)


def test_tls_settings_from_dsn_and_environment(ps):
    dsn = ("host=h sslmode=verify-full sslrootcert=/r.crt sslcert=/c.crt sslkey=/c.key "
           "sslpassword=" + SECRET + " sslcrl=/r.crl sslcrldir=/crls sslsni=0 "
           "ssl_min_protocol_version=TLSv1.3 channel_binding=require "
           "require_auth=scram-sha-256")
    c = ps(dsn=dsn)
    t = c.tls
    assert (t.mode, t.rootcert, t.cert, t.key, t.password, t.crl, t.crldir, t.sni) == (
        SslMode.VerifyFull, "/r.crt", "/c.crt", "/c.key", SECRET, "/r.crl", "/crls", False)
    assert t.min_version == "TLSv1.3" and c.ca_file == "/r.crt"
    assert c.auth.channel_binding == "require" and c.auth.require_auth == "scram-sha-256"
    assert SECRET not in repr(c) and SECRET not in str(c)
    env = {"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": "/r.crt", "PGSSLCERT": "/c.crt",
           "PGSSLKEY": "/c.key", "PGSSLCRL": "/r.crl", "PGSSLCRLDIR": "/crls",
           "PGSSLSNI": "0", "PGSSLMINPROTOCOLVERSION": "TLSv1.3",
           "PGSSLMAXPROTOCOLVERSION": "TLSv1.3", "PGCHANNELBINDING": "require",
           "PGREQUIREAUTH": "!password,!md5", "PGSSLCERTMODE": "disable"}
    c = ps(env=env)
    t = c.tls
    assert (t.mode, t.rootcert, t.cert, t.key, t.crl, t.crldir, t.sni) == (
        SslMode.VerifyCa, "/r.crt", "/c.crt", "/c.key", "/r.crl", "/crls", False)
    assert (t.min_version, t.max_version, t.send_cert) == ("TLSv1.3", "TLSv1.3", False)
    assert c.auth.channel_binding == "require" and c.auth.auth_required is False
    assert 3 not in c.auth.allowed and 5 not in c.auth.allowed and 10 in c.auth.allowed
    # the DSN wins over the environment; an empty minimum means none (libpq)
    assert ps(dsn="sslmode=require", env=env).ssl_mode is SslMode.Require
    assert ps(env={"PGSSLMINPROTOCOLVERSION": ""}).tls.min_version is None


@pytest.mark.parametrize("env, match", [
    ({"PGGSSENCMODE": "require"}, "GSSAPI is not supported"),
    ({"PGKRBSRVNAME": "postgres"}, "GSSAPI is not supported"),
    ({"PGGSSLIB": "gssapi"}, "GSSAPI is not supported"),
    ({"PGGSSDELEGATION": "1"}, "GSSAPI is not supported"),
    ({"PGREQUIREAUTH": "gss"}, "GSSAPI is not supported"),
    ({"PGSERVICE": "x"}, "service files are not supported"),
    ({"PGCHANNELBINDING": "sometimes"}, "PGCHANNELBINDING value 'sometimes'"),
    ({"PGSSLCERTMODE": "require"}, "PGSSLCERTMODE=require is not supported"),
    ({"PGSSLNEGOTIATION": "direct"}, "PGSSLNEGOTIATION=direct is not supported"),
    ({"PGCLIENTENCODING": "LATIN1"}, "PGCLIENTENCODING"),
    ({"PGSSLROOTCERT": "system", "PGSSLMODE": "prefer"}, "weak sslmode"),
])
def test_environment_refusals(ps, env, match):
    # issue 16 item 3: the environment forms of what we do not do are refused, never ignored
    err(ps, match, env=env)


def test_environment_harmless_gss_values(ps):
    c = ps(env={"PGGSSENCMODE": "prefer", "PGGSSDELEGATION": "0", "PGKRBSRVNAME": ""})
    assert c.hosts == (("localhost", 5432),)


def test_require_auth_sets(ps):
    a = ps(dsn="require_auth=password,md5").auth
    assert a.allowed == frozenset({3, 5}) and a.auth_required is True
    a = ps(dsn="require_auth=none").auth
    assert a.allowed == frozenset() and a.auth_required is False
    a = ps(dsn="require_auth=scram-sha-256,none").auth
    assert a.allowed == frozenset({10, 11, 12}) and a.auth_required is False
    a = ps(dsn="require_auth=!none").auth
    assert len(a.allowed) == 32 and a.auth_required is True
    a = ps(dsn="require_auth=!gss,!sspi").auth   # refusing GSSAPI is fine
    assert 7 not in a.allowed and 9 not in a.allowed and 3 in a.allowed


def test_sslrootcert_system_strengthens_only_the_default(ps):
    assert ps(dsn="sslrootcert=system").ssl_mode is SslMode.VerifyFull
    assert ps(env={"PGSSLROOTCERT": "system"}).ssl_mode is SslMode.VerifyFull
    err(ps, "weak sslmode 'prefer'", dsn="sslrootcert=system sslmode=prefer")
    err(ps, "weak sslmode 'verify-ca'", dsn="sslrootcert=system", ssl_mode="verify-ca")


def test_keyword_ssl_settings_win(ps):
    c = ps(dsn="sslmode=disable sslrootcert=/a", ssl_mode="verify-ca", ca_file="/b")
    assert (c.ssl_mode, c.ca_file, c.tls.mode, c.tls.rootcert) == (
        SslMode.VerifyCa, "/b", SslMode.VerifyCa, "/b")


def test_no_secret_in_exception_chains(ps):
    # issue 16 item 11: neither the message nor __cause__/__context__ holds the password
    secret = "S3cr\u00e9t"
    cases = [dict(dsn="postgres://u:%ff" + secret + "%zz@h/d"),
             dict(dsn="postgres://u@h/d?password=" + secret + "%ff%zz"),
             dict(password="\ud800" + secret),
             dict(dsn="postgres://h/%ff?password=" + secret)]
    for kw in cases:
        with pytest.raises(CfgError) as ei:
            ps(**kw)
        seen = []
        e: BaseException | None = ei.value
        while e is not None and e not in seen:
            seen.append(e)
            e = e.__cause__ or e.__context__
        for e in seen:
            texts = [str(e), repr(e), repr(e.args), repr(vars(e))]
            obj = getattr(e, "object", None)
            if obj is not None:
                texts.append(repr(obj))
            assert not any(secret in t or secret.encode() in t.encode("utf-8", "replace")
                           for t in texts), (kw, texts)
        assert len(seen) == 1, [type(x).__name__ for x in seen]
