"""The password file (``passfile``, ``PGPASSFILE``, ``~/.pgpass``), looked up as libpq's
``passwordFromFile`` does, once per host and port.

``hostname:port:database:username:password`` lines; a field of exactly ``*`` matches
anything; ``\\`` escapes the next character; the first matching line wins; a line starting
with ``#`` is a comment; the password ends at the first unescaped ``:``.  The host name
looked up is the ``host`` given for that entry (``hostaddr`` only when there is no
``host``); an empty host or the default socket directory matches ``localhost``; an empty
port matches ``5432``.  A missing file, a file that is not a regular file, or (on POSIX) a
file readable by group or others is ignored, as libpq ignores it (with a warning on stderr,
which we log instead).
"""

from __future__ import annotations

import logging
import os
import stat

__all__ = ["password_from_file", "DEFAULT_SOCKET_DIRS"]

log = logging.getLogger("psqlpy.connect")

#: socket directories libpq builds use as DEFAULT_PGSOCKET_DIR
DEFAULT_SOCKET_DIRS = ("/tmp", "/var/run/postgresql", "/run/postgresql")
_DEFAULT_PORT = "5432"


def _match(line: str, pos: int, token: str) -> int:
    """libpq's ``pwdfMatchesString``: the position after the field at ``pos`` when it
    matches ``token`` (``*`` matches anything), else -1."""
    if line.startswith("*:", pos):
        return pos + 2
    t = 0
    n = len(line)
    while pos < n:
        c = line[pos]
        escaped = False
        if c == "\\":
            pos += 1
            escaped = True
            if pos >= n:
                return -1
            c = line[pos]
        if c == ":" and not escaped and t == len(token):
            return pos + 1
        if t == len(token) or c != token[t]:
            return -1
        pos += 1
        t += 1
    return -1


def _password_field(line: str, pos: int) -> str:
    out = []
    n = len(line)
    while pos < n and line[pos] != ":":
        if line[pos] == "\\" and pos + 1 < n:
            pos += 1
        out.append(line[pos])
        pos += 1
    return "".join(out)


def password_from_file(path: str | None, host: str, port: str, dbname: str,
                       user: str) -> str | None:
    """The password for (host, port, dbname, user) in the file at ``path``, or None."""
    if not path or not dbname or not user:
        return None
    if not host or host in DEFAULT_SOCKET_DIRS:
        host = "localhost"
    if not port:
        port = _DEFAULT_PORT
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.name == "posix":
        if not stat.S_ISREG(st.st_mode):
            log.warning("password file %r is not a plain file", path)
            return None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("password file %r has group or world access; permissions should "
                        "be u=rw (0600) or less", path)
            return None
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            lines = f.read().split("\n")
    except OSError:
        return None
    for line in lines:
        line = line.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        pos = _match(line, 0, host)
        if pos >= 0:
            pos = _match(line, pos, port)
        if pos >= 0:
            pos = _match(line, pos, dbname)
        if pos >= 0:
            pos = _match(line, pos, user)
        if pos >= 0:
            return _password_field(line, pos)
    return None
