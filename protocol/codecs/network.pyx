# inet, cidr, macaddr, macaddr8 and money.
#
# Binary forms (network.c, mac.c, mac8.c, cash.c):
#   inet/cidr  uint8 family (2 = IPv4, 3 = IPv6), uint8 prefix bits,
#              uint8 is_cidr, uint8 address length (4 / 16), the address
#   macaddr    6 octets;  macaddr8  8 octets (the server also accepts 6)
#   money      int64, the amount in the currency's smallest unit (cents)
#
# Python mapping (documented choices):
# * inet decodes to ipaddress.IPv4Address/IPv6Address for a host value
#   (prefix /32 or /128), to IPv4Interface/IPv6Interface for a shorter
#   prefix (the address keeps its host bits, e.g. 192.168.0.1/24).
# * cidr decodes to IPv4Network/IPv6Network.
# * Both encoders take an address (host prefix), an interface (its address
#   and prefix) or a network (network address and prefix).  For cidr an
#   interface with bits set right of its prefix is refused here (the server
#   would refuse it too), as ``'10.1.2.3/24'::cidr`` is.  A str is sent in
#   text format and parsed by the server (see encode_param); inside an array
#   a str element is parsed here.  IPv6 scope ids (``%eth0``) are dropped:
#   PostgreSQL has no zones.
# * macaddr/macaddr8 decode to the uppercase colon form "08:00:2B:01:02:03"
#   (the reference driver's).
#   Encoders take such a str (also with '-' or '.' separators, or none),
#   bytes of 6 (macaddr8: 6 or 8) octets, or a MacAddr6/MacAddr8 wrapper.
#   A 6-octet value for macaddr8 becomes EUI-64 (ff:fe inserted), as the
#   server does.
# * money decodes to int (the raw int64, i.e. cents), as the reference
#   driver does; it encodes an int or a Money wrapper (float and Decimal
#   are refused as ambiguous).  A str is sent as text (the server parses
#   it with lc_monetary, e.g. '12.34' -> 1234 cents).

import ipaddress as _ipaddress_mod

cdef object _IPv4Address = _ipaddress_mod.IPv4Address
cdef object _IPv6Address = _ipaddress_mod.IPv6Address
cdef object _IPv4Interface = _ipaddress_mod.IPv4Interface
cdef object _IPv6Interface = _ipaddress_mod.IPv6Interface
cdef object _IPv4Network = _ipaddress_mod.IPv4Network
cdef object _IPv6Network = _ipaddress_mod.IPv6Network
cdef object _ip_interface = _ipaddress_mod.ip_interface
cdef object _ip_address = _ipaddress_mod.ip_address
cdef object _ip_network = _ipaddress_mod.ip_network
cdef tuple _IP_ADDRESS_TYPES = (_IPv4Address, _IPv6Address)
cdef tuple _IP_INTERFACE_TYPES = (_IPv4Interface, _IPv6Interface)
cdef tuple _IP_NETWORK_TYPES = (_IPv4Network, _IPv6Network)

cdef enum:
    PGSQL_AF_INET = 2
    PGSQL_AF_INET6 = 3


cdef object _dec_inet_common(const char* data, Py_ssize_t n, bint want_cidr):
    cdef str pgtype = "cidr" if want_cidr else "inet"
    cdef uint8_t family, bits, nb
    cdef int maxbits
    cdef bytes addr
    if n < 4:
        raise ProtocolError(f"malformed binary {pgtype} value: {n} bytes")
    family = <uint8_t>data[0]
    bits = <uint8_t>data[1]
    nb = <uint8_t>data[3]
    if family == PGSQL_AF_INET:
        maxbits = 32
    elif family == PGSQL_AF_INET6:
        maxbits = 128
    else:
        raise ProtocolError(f"malformed binary {pgtype} value: address family {family}")
    if nb != maxbits // 8 or n != 4 + nb:
        raise ProtocolError(
            f"malformed binary {pgtype} value: address of {nb} bytes in {n} bytes")
    if bits > maxbits:
        raise ProtocolError(f"malformed binary {pgtype} value: prefix /{bits}")
    addr = PyBytes_FromStringAndSize(data + 4, nb)
    try:
        if want_cidr:
            if maxbits == 32:
                return _IPv4Network((addr, bits))
            return _IPv6Network((addr, bits))
        if bits == maxbits:
            if maxbits == 32:
                return _IPv4Address(addr)
            return _IPv6Address(addr)
        if maxbits == 32:
            return _IPv4Interface((addr, bits))
        return _IPv6Interface((addr, bits))
    except ValueError as e:
        # cidr with host bits set: the server never sends one.
        raise ProtocolError(f"malformed binary {pgtype} value: {e}") from None


cdef object _dec_inet(const char* data, Py_ssize_t n):
    return _dec_inet_common(data, n, False)


cdef object _dec_cidr(const char* data, Py_ssize_t n):
    return _dec_inet_common(data, n, True)


cdef int _enc_inet_common(WriteBuffer buf, object value, bint is_cidr) except -1:
    cdef str pgtype = "cidr" if is_cidr else "inet"
    cdef object addr
    cdef object prefix
    cdef bytes packed
    if isinstance(value, str):
        # Only reached for array elements (a top-level str goes as text).
        try:
            value = _ip_interface(value.strip())
        except ValueError as e:
            return _raise_encode(pgtype, pgtype, value, str(e))
    # (Interfaces are subclasses of the address classes: test them first.)
    if isinstance(value, _IP_INTERFACE_TYPES):
        addr = value.ip
        prefix = value.network.prefixlen
        if is_cidr and addr != value.network.network_address:
            return _raise_encode(pgtype, pgtype, value,
                                 "it has bits set to the right of the prefix "
                                 "(pass its .network)")
    elif isinstance(value, _IP_ADDRESS_TYPES):
        addr = value
        prefix = value.max_prefixlen
    elif isinstance(value, _IP_NETWORK_TYPES):
        addr = value.network_address
        prefix = value.prefixlen
    else:
        return _raise_encode(pgtype, pgtype, value,
                             "expected an ipaddress address, interface or network (or str)")
    packed = addr.packed
    buf.write_byte(PGSQL_AF_INET if PyBytes_GET_SIZE(packed) == 4 else PGSQL_AF_INET6)
    buf.write_byte(<char><uint8_t><int>prefix)
    buf.write_byte(1 if is_cidr else 0)
    buf.write_byte(<char><uint8_t>PyBytes_GET_SIZE(packed))
    return buf.write_raw(PyBytes_AS_STRING(packed), PyBytes_GET_SIZE(packed))


cdef int _enc_inet(WriteBuffer buf, object value) except -1:
    return _enc_inet_common(buf, value, False)


cdef int _enc_cidr(WriteBuffer buf, object value) except -1:
    return _enc_inet_common(buf, value, True)


# --------------------------------------------------------------------------- MAC

cdef const char* _HEX_UPPER = "0123456789ABCDEF"


cdef str _mac_str(const char* data, Py_ssize_t n):
    """``n`` octets as uppercase hex pairs joined by ':'."""
    cdef str s = PyUnicode_New(3 * n - 1, 127)
    cdef char* out = <char*>PyUnicode_DATA(s)
    cdef Py_ssize_t i
    cdef uint8_t b
    for i in range(n):
        b = <uint8_t>data[i]
        if i:
            out[3 * i - 1] = b':'
        out[3 * i] = _HEX_UPPER[b >> 4]
        out[3 * i + 1] = _HEX_UPPER[b & 15]
    return s


cdef object _dec_macaddr(const char* data, Py_ssize_t n):
    if n != 6:
        _raise_bad_len("macaddr", 6, n)
    return _mac_str(data, 6)


cdef object _dec_macaddr8(const char* data, Py_ssize_t n):
    if n != 8:
        _raise_bad_len("macaddr8", 8, n)
    return _mac_str(data, 8)


cdef bytes _mac_octets(object value, str pgtype):
    """The octets of a MAC address given as str, bytes or a MacAddr wrapper."""
    cdef object octets
    cdef str digits
    if isinstance(value, bytes):
        return <bytes>value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        digits = value.strip().replace(":", "").replace("-", "").replace(".", "")
        try:
            if len(digits) % 2 or not digits.isascii():
                raise ValueError
            return bytes.fromhex(digits)
        except ValueError:
            _raise_encode(pgtype, pgtype, value, "not a MAC address")
    octets = getattr(value, "octets", None)     # MacAddr6 / MacAddr8 wrappers
    if isinstance(octets, bytes):
        return <bytes>octets
    _raise_encode(pgtype, pgtype, value, "expected str, bytes or MacAddr6/MacAddr8")
    return None


cdef int _enc_macaddr(WriteBuffer buf, object value) except -1:
    cdef bytes b = _mac_octets(value, "macaddr")
    if PyBytes_GET_SIZE(b) != 6:
        return _raise_encode("macaddr", "macaddr", value,
                             f"expected 6 octets, got {PyBytes_GET_SIZE(b)}")
    return buf.write_raw(PyBytes_AS_STRING(b), 6)


cdef int _enc_macaddr8(WriteBuffer buf, object value) except -1:
    cdef bytes b = _mac_octets(value, "macaddr8")
    if PyBytes_GET_SIZE(b) == 6:
        b = b[:3] + b"\xff\xfe" + b[3:]
    if PyBytes_GET_SIZE(b) != 8:
        return _raise_encode("macaddr8", "macaddr8", value,
                             f"expected 6 or 8 octets, got {PyBytes_GET_SIZE(b)}")
    return buf.write_raw(PyBytes_AS_STRING(b), 8)


# --------------------------------------------------------------------------- money

cdef object _dec_money(const char* data, Py_ssize_t n):
    if n != 8:
        _raise_bad_len("money", 8, n)
    return <int64_t>unpack_uint64(data)


cdef int _enc_money(WriteBuffer buf, object value) except -1:
    if isinstance(value, (bool, float, _decimal_mod.Decimal)):
        # A Decimal or float would be ambiguous (dollars or cents?): refused;
        # a str such as '12.34' goes as text and the server parses it.
        return _raise_encode("money", "money", value,
                             "expected int (the amount in cents) or Money")
    return buf.write_int64(_int_in_range(value, "money", "money", _I64_MIN, _I64_MAX))
