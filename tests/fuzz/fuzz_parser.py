"""Coverage-guided fuzzing of the Cython protocol core with atheris.

    python tests/fuzz/fuzz_parser.py reader [libFuzzer flags...]
    python tests/fuzz/fuzz_parser.py core   [libFuzzer flags...]
    python tests/fuzz/fuzz_parser.py replication [libFuzzer flags...]
    python tests/fuzz/fuzz_parser.py seeds      # (re)write corpus/seeds/

``make fuzz FUZZ_SECONDS=60`` runs both targets for a bounded time, starting
from ``tests/fuzz/corpus/seeds/<target>`` plus the working corpus in
``build/fuzz/<target>`` (not kept in git), and saves crashers to
``tests/fuzz/corpus/crashers/`` where ``tests/test_fuzz_regressions.py``
replays them forever after.

Coverage: ``atheris.instrument_imports()`` instruments Python *bytecode* only.
The parser is Cython-generated C, which that does not see: with the normal
build the fuzzer gets feedback only from the Python parts (message classes,
exceptions, the harness) and is close to a random-input fuzzer with good
seeds (libFuzzer reports cov: ~33 for the reader).  For real edge coverage of
the C code, ``make fuzz FUZZ_ASAN=1`` compiles the same .pyx with clang
``-fsanitize=fuzzer-no-link,address`` into ``build/fuzz-asan/`` (a copy of the
package with the instrumented extension; ``tests/fuzz/build_asan.sh``) and
runs the targets against it with atheris'
``asan_with_fuzzer.so`` preloaded, so libFuzzer sees the C edges and
AddressSanitizer catches out-of-bounds reads the bounds-check-free fast build
would let through silently.
"""
from __future__ import annotations

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _frame(code: bytes, body: bytes = b"") -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def _seed_streams():
    """Valid (and a few boundary) server byte streams."""
    auth_ok = _frame(b"R", struct.pack("!i", 0))
    startup = (auth_ok + _frame(b"K", struct.pack("!ii", 4242, 99))
               + _frame(b"S", _cstr("server_version") + _cstr("15.4"))
               + _frame(b"S", _cstr("client_encoding") + _cstr("UTF8"))
               + _frame(b"Z", b"I"))
    sasl = (_frame(b"R", struct.pack("!i", 10) + _cstr("SCRAM-SHA-256") + b"\0")
            + _frame(b"R", struct.pack("!i", 11) + b"r=abc,s=c2FsdA==,i=4096")
            + _frame(b"R", struct.pack("!i", 12) + b"v=c2lnbmF0dXJl"))
    md5 = _frame(b"R", struct.pack("!i", 5) + b"salt")
    err = _frame(b"E", _cstr("SERROR") + _cstr("C42P01") + _cstr("Mno such table") + b"\0")
    notice = _frame(b"N", _cstr("SNOTICE") + _cstr("C00000") + _cstr("Mhi") + b"\0")
    notify = _frame(b"A", struct.pack("!i", 7) + _cstr("chan") + _cstr("payload"))
    rowdesc = _frame(b"T", struct.pack("!h", 1) + _cstr("x") + struct.pack("!ihihih", 0, 0, 23, 4, -1, 1))
    datarow = _frame(b"D", struct.pack("!hi", 1, 4) + struct.pack("!i", 42))
    nullrow = _frame(b"D", struct.pack("!hi", 1, -1))
    cc = _frame(b"C", _cstr("SELECT 1"))
    rfq = _frame(b"Z", b"I")
    simple = rowdesc + datarow + nullrow + cc + rfq
    prep = (_frame(b"1") + _frame(b"t", struct.pack("!hI", 1, 23)) + rowdesc + rfq)
    ext = _frame(b"2") + datarow + cc + rfq
    copy_out = (_frame(b"H", struct.pack("!bh", 0, 1) + struct.pack("!h", 0))
                + _frame(b"d", b"1\n") + _frame(b"c") + _frame(b"C", _cstr("COPY 1")) + rfq)
    copy_in = _frame(b"G", struct.pack("!bh", 1, 1) + struct.pack("!h", 1)) + err + rfq
    misc = (_frame(b"I") + _frame(b"n") + _frame(b"s") + _frame(b"3") + notice + notify
            + _frame(b"S", _cstr("TimeZone") + _cstr("UTC")) + err + rfq)
    npv = _frame(b"v", struct.pack("!ii", 0, 1) + _cstr("_pq_.x"))
    return {
        "startup": startup, "sasl": sasl + startup, "md5": md5, "npv": npv + startup,
        "simple": simple, "prepare": prep, "extended": ext, "copy_out": copy_out,
        "copy_in": copy_in, "misc": misc, "error": err + rfq,
        "short_len": b"Z\x00\x00\x00\x03", "huge_len": b"D\x7f\xff\xff\xff",
    }


def _binary_values():
    """One valid binary value per codec type: (oid, bytes)."""
    return [
        (16, b"\x01"), (17, b"\x00\xff"), (18, b"a"), (20, struct.pack("!q", -5)),
        (21, struct.pack("!h", 7)), (23, struct.pack("!i", 9)), (25, "héllo".encode()),
        (26, struct.pack("!I", 99)), (114, b'{"a": [1, 2]}'), (3802, b'\x01{"a": 1}'),
        (700, struct.pack("!f", 1.5)), (701, struct.pack("!d", -2.25)),
        (1082, struct.pack("!i", 8000)), (1083, struct.pack("!q", 3600 * 10**6)),
        (1114, struct.pack("!q", 10**12)), (1184, struct.pack("!q", -(10**12))),
        (1186, struct.pack("!qii", 10**6, 3, 2)), (1266, struct.pack("!qi", 10**6, -3600)),
        (1700, struct.pack("!hhhh", 2, 0, 0, 2) + struct.pack("!hh", 12, 3400)),
        (1700, struct.pack("!hhHh", 0, 0, 0xC000, 0)),  # NaN
        (2950, bytes(range(16))),
        (1007, struct.pack("!iiIii", 1, 0, 23, 2, 1) + struct.pack("!ii", 4, 5) + struct.pack("!i", -1)),
        (1009, struct.pack("!iiIii", 1, 1, 25, 1, 1) + struct.pack("!i", 2) + b"ab"),
        (1016, struct.pack("!iiIiiii", 2, 0, 20, 1, 1, 1, 1) + struct.pack("!iq", 8, 3)),
        # user-defined types (harness._USER_TYPES): enum, composite, array of it, domain
        (90001, b"sad"), (90002, _PAIR), (90003, _PAIRS), (90004, _PAIRS),
        # ranges and multiranges (built-in and user-defined), hstore, vector
        (3904, b"\x02" + struct.pack("!ii", 4, 1) + struct.pack("!ii", 4, 5)), (3912, b"\x01"),
        (3910, b"\x12" + struct.pack("!iq", 8, 10**12)),
        (4451, struct.pack("!ii", 2, 1) + b"\x01" + struct.pack("!i", 9) + b"\x08"
         + struct.pack("!ii", 4, 3)),
        (3905, struct.pack("!iiIii", 1, 1, 3904, 2, 1) + struct.pack("!i", 1) + b"\x01"
         + struct.pack("!i", -1)),
        (90005, struct.pack("!ii", 2, 1) + b"k" + struct.pack("!i", 2) + b"vv"
         + struct.pack("!i", 1) + b"n" + struct.pack("!i", -1)),
        (90006, struct.pack("!hhff", 2, 0, 1.5, -2.0)),
        (90007, b"\x06" + struct.pack("!id", 8, 0.5) + struct.pack("!id", 8, 1.5)),
        (90008, struct.pack("!ii", 1, 1) + b"\x01"),
    ]


# composite pair (a int4, m mood, tags text[]) and an array of two of them
_PAIR = (struct.pack("!iIi", 3, 23, 4) + struct.pack("!i", 7) + struct.pack("!Ii", 90001, 2)
         + b"ok" + struct.pack("!Ii", 1009, -1))
_PAIRS = (struct.pack("!iiIii", 1, 1, 90002, 2, 1) + struct.pack("!i", len(_PAIR)) + _PAIR
          + struct.pack("!i", -1))


def _replication_seeds():
    """Bodies of a logical replication session (see harness.check_replication)."""
    def xlog(lsn, data):
        return b"w" + struct.pack("!QQq", lsn, lsn, 0) + data

    rel = (b"R" + struct.pack("!I", 1) + _cstr("public") + _cstr("t") + b"d" + struct.pack("!h", 3)
           + b"\x01" + _cstr("id") + struct.pack("!Ii", 23, -1)
           + b"\x00" + _cstr("v") + struct.pack("!Ii", 25, -1)
           + b"\x00" + _cstr("n") + struct.pack("!Ii", 1700, -1))
    row = (struct.pack("!h", 3) + b"b" + struct.pack("!ii", 4, 7) + b"t" + struct.pack("!i", 2) + b"hi"
           + b"b" + struct.pack("!i", 8) + struct.pack("!hhhh", 0, 0, 0, 0))
    key = struct.pack("!h", 3) + b"b" + struct.pack("!ii", 4, 7) + b"nn"
    tx = [xlog(1, rel), xlog(2, b"B" + struct.pack("!QqI", 9, 0, 5)),
          xlog(3, b"I" + struct.pack("!I", 1) + b"N" + row),
          xlog(4, b"U" + struct.pack("!I", 1) + b"K" + key + b"N" + row),
          xlog(5, b"D" + struct.pack("!I", 1) + b"K" + key),
          xlog(6, b"T" + struct.pack("!ib", 1, 0) + struct.pack("!I", 1)),
          xlog(7, b"M\x01" + struct.pack("!Q", 7) + _cstr("p") + struct.pack("!i", 2) + b"hi"),
          xlog(8, b"C" + struct.pack("!bQQq", 0, 8, 16, 0)),
          b"k" + struct.pack("!Qqb", 16, 0, 1)]
    streamed = [xlog(20, b"S" + struct.pack("!Ib", 6, 1)),
                xlog(21, b"I" + struct.pack("!II", 6, 1) + b"N" + row),
                xlog(22, b"I" + struct.pack("!II", 1006, 1) + b"N" + row),
                xlog(23, b"E"), xlog(24, b"A" + struct.pack("!II", 6, 1006)),
                xlog(25, b"c" + struct.pack("!IbQQq", 6, 0, 25, 30, 0))]
    out = {}
    for name, bodies in (("tx", tx), ("streamed", [tx[0]] + streamed),
                         ("message", [xlog(40, b"M\x00" + struct.pack("!Q", 40) + _cstr("x")
                                           + struct.pack("!i", 0))])):
        out[name] = b"".join(struct.pack("!H", len(b)) + b for b in bodies)
    return out


def write_seeds() -> None:
    from harness import COLUMN_OIDS
    streams = _seed_streams()
    rdir = os.path.join(HERE, "corpus", "seeds", "reader")
    cdir = os.path.join(HERE, "corpus", "seeds", "core")
    os.makedirs(rdir, exist_ok=True)
    os.makedirs(cdir, exist_ok=True)
    for name, body in streams.items():
        for mode in (0, 4):
            split = len(body) // 3
            with open(os.path.join(rdir, f"{name}-{mode}"), "wb") as f:
                f.write(bytes([mode]) + struct.pack("!H", split) + body)
    startup = streams["startup"]
    for name in ("simple", "misc", "copy_out", "copy_in", "error", "prepare"):
        body = startup + streams[name]
        kind_bits = {"prepare": 2, "copy_in": 0}.get(name, 0)
        with open(os.path.join(cdir, name), "wb") as f:
            f.write(bytes([kind_bits, 0]) + struct.pack("!H", len(startup)) + body)
    rdir2 = os.path.join(HERE, "corpus", "seeds", "replication")
    os.makedirs(rdir2, exist_ok=True)
    for name, body in _replication_seeds().items():
        with open(os.path.join(rdir2, name), "wb") as f:
            f.write(bytes([4, 0, 0, 1, 2, 3]) + body)
    rfq = _frame(b"Z", b"I")
    cc = _frame(b"C", _cstr("SELECT 1"))
    for i, (oid, val) in enumerate(_binary_values()):
        row = _frame(b"D", struct.pack("!hi", 1, len(val)) + val)
        nrow = _frame(b"D", struct.pack("!hi", 1, -1))
        body = startup + _frame(b"2") + row + nrow + cc + rfq
        with open(os.path.join(cdir, f"ext-{oid}-{i}"), "wb") as f:
            f.write(bytes([1, 1, COLUMN_OIDS.index(oid)]) + struct.pack("!H", len(startup)) + body)
    # unprepared queries: the RowDescription types the text rows that follow
    for i, (oid, text) in enumerate(_text_values()):
        desc = _frame(b"T", struct.pack("!h", 1) + _cstr("c") + struct.pack("!IhIhih", 0, 0, oid, -1, -1, 0))
        row = _frame(b"D", struct.pack("!hi", 1, len(text)) + text)
        body = startup + _frame(b"1") + _frame(b"2") + desc + row + cc + rfq
        with open(os.path.join(cdir, f"text-{oid}-{i}"), "wb") as f:
            f.write(bytes([1, 0x80, 0]) + struct.pack("!H", len(startup)) + body)


def _text_values():
    """One text-format value per kind of text decoder: (oid, text)."""
    return [
        (16, b"t"), (20, b"-9223372036854775808"), (701, b"-1.5e-300"), (1700, b"-1.50"),
        (17, b"\\x00ff"), (1082, b"2024-02-29"), (1184, b"2024-01-02 03:04:05.1+05:30"),
        (1186, b"1 year 2 mons -3 days -04:05:06.789"), (1266, b"01:02:03-08"),
        (2950, b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), (829, b"08:00:2b:01:02:03"),
        (790, b"-$1,234.56"), (602, b"((1,2),(3,4))"), (1020, b"{(3,4),(1,2);(5,6),(0,0)}"),
        (1009, b'{"a,b","c\\\\d",NULL}'), (1007, b"[0:1]={7,8}"),
        (90002, b'(7,ok,"{x,NULL}")'), (90003, b'{"(7,ok,)",NULL}'),
        (3904, b"[1,5)"), (3910, b'["2024-01-02 03:04:05+00",)'), (4532, b"{[1.5,2),(3,)}"),
        (3905, b'{"[1,2)",empty,NULL}'), (90005, b'"a"=>"1", "b\\"c"=>NULL'),
        (90006, b"[1,2.5,-3e-05]"), (90008, b"{(,0.5],[1,2)}"), (90009, b'{"\\"a\\"=>NULL",NULL}'),
    ]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("reader", "core", "replication", "seeds"):
        sys.exit(__doc__)
    target = sys.argv[1]
    if target == "seeds":
        write_seeds()
        return
    import atheris

    with atheris.instrument_imports():
        import psqlpy  # noqa: F401  (Python parts: messages, exceptions)
        import harness
    fn = harness.TARGETS[target]
    print(f"fuzzing {target}: psqlpy.protocol from {harness._proto.__file__}", file=sys.stderr)
    atheris.Setup([sys.argv[0]] + sys.argv[2:], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
