# Parameters that are not plain values: enum.Enum members and the
# psqlpy.extra_types wrappers.
#
# Classification is by the value's exact type, cached in a dict (type ->
# kind), so the common builtin types cost one pointer comparison and any
# other type one dict lookup after its first use:
#
#   KIND_PLAIN    anything else: encoded as it is
#   KIND_ENUM     an enum.Enum member (also IntEnum / StrEnum / mixins): its
#                 ``.value`` is encoded instead, by the same rules, so a
#                 member passed for a text, varchar, unknown or PostgreSQL
#                 enum parameter (dynamic OID, no binary encoder -> text
#                 format) sends its value's text; an IntEnum for an int4
#                 parameter sends the int.
#   KIND_WRAPPER  an extra_types wrapper (a class with ``inner_value`` and a
#                 str class attribute ``pg_type``)
#   KIND_CUSTOM   extra_types.CustomType: its bytes are sent as they are, in
#                 binary format, for whatever type the server inferred
#   KIND_VECTOR   extra_types.PgVector (pgvector's ``vector``, an extension
#                 type with no fixed OID): always the text "[1.0,2.0,...]"
#
# The wrapper rule (encode_param):
#   1. The parameter keeps the type the server inferred (the statement is
#      already prepared; we cannot change its parameter types at Bind).
#   2. The wrapper is replaced by its *payload*: ``inner_value`` (int, float,
#      str, normalised geometry tuples, nested lists for array wrappers),
#      except MacAddr6/MacAddr8 -> their 6/8 octets, JSON/JSONB -> the JSON
#      text of ``inner_value`` (so JSONB("x") is the JSON string "x"), Path
#      -> a tuple of points when closed, a list when open.
#   3. If the server's type has a binary encoder that accepts the payload, it
#      is sent binary by that encoder (SmallInt(5) for an int4 parameter is
#      an int4; Money(5) for money is 5 cents; Point for point is a point).
#   4. Otherwise -- the server's type has no binary encoder (PostgreSQL enum,
#      domain, extension type, OID 0), or it is a text-like type (text,
#      varchar, unknown, ...) and the payload is not a str -- the wrapper's
#      PostgreSQL *text* form is sent in text format and the server parses it
#      as its own type: "5", "(1.0,2.0)", "08:00:2b:01:02:03", "{1,2}".
#      Binary is never sent under an OID it was not encoded for.
#   5. A payload the server's binary encoder refuses for a non-text type is
#      an error (PyToRustValueMappingError), e.g. Point((1, 2)) for an int4.
#   Array elements that are wrappers or enum members are unwrapped the same
#   way (payload / .value) before the element encoder sees them.

import enum as _enum_mod

cdef object _Enum = _enum_mod.Enum

cdef enum:
    KIND_PLAIN = 0
    KIND_ENUM = 1
    KIND_WRAPPER = 2
    KIND_CUSTOM = 3
    KIND_VECTOR = 4

cdef dict _kind_cache = {}
cdef object _CustomType = None          # psqlpy.extra_types.CustomType (lazy import)
cdef bint _extra_types_loaded = False


cdef int _classify(type t) except -1:
    global _CustomType, _extra_types_loaded
    cdef object pg_type
    if not _extra_types_loaded:
        try:
            from psqlpy.extra_types import CustomType
            _CustomType = CustomType
        except ImportError:  # pragma: no cover
            _CustomType = None
        _extra_types_loaded = True
    if issubclass(t, _Enum):
        return KIND_ENUM
    if _CustomType is not None and issubclass(t, _CustomType):
        return KIND_CUSTOM
    pg_type = getattr(t, "pg_type", None)
    if isinstance(pg_type, str) and hasattr(t, "inner_value"):
        if pg_type == "vector":
            return KIND_VECTOR
        return KIND_WRAPPER
    return KIND_PLAIN


cdef inline int _value_kind(object value) except -1:
    cdef type t = type(value)
    cdef object k
    if t is int or t is str or t is float or t is bool or t is bytes or t is list \
            or t is tuple or t is dict:
        return KIND_PLAIN
    k = _kind_cache.get(t)
    if k is not None:
        return <int>k
    kind = _classify(t)
    if len(_kind_cache) >= 4096:      # classes created on the fly: stay bounded
        _kind_cache.clear()
    _kind_cache[t] = kind
    return kind


cdef str _json_text(object value, str pgtype):
    try:
        return _json_encode(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise PyToRustValueMappingError(
            f"cannot encode {type(value).__name__} as {pgtype}: {e}") from None


cdef object _wrapper_payload(object w):
    """The value a wrapper stands for (rule 2 above)."""
    cdef str pg_type = type(w).pg_type
    cdef object inner = w.inner_value
    if pg_type == "macaddr" or pg_type == "macaddr8":
        return w.octets
    if pg_type == "json" or pg_type == "jsonb":
        return _json_text(inner, pg_type)
    if pg_type == "path":
        return tuple(inner) if getattr(w, "closed", False) else list(inner)
    return inner


cdef str _vector_text(object w):
    return "[" + ",".join([_text_form(float(x)) for x in w.inner_value]) + "]"


cdef str _wrapper_text(object w, int kind):
    """The PostgreSQL input text of a wrapper (rule 4 above)."""
    cdef str pg_type
    cdef object payload
    cdef str s
    if kind == KIND_VECTOR:
        return _vector_text(w)
    pg_type = type(w).pg_type
    payload = _wrapper_payload(w)
    if pg_type == "macaddr" or pg_type == "macaddr8":
        return str(w)
    if pg_type == "money":
        # Money holds cents; money's text input is an amount in currency
        # units.  Assumes 2 fractional digits and '.' (lc_monetary C/en_*).
        return str(_Decimal(payload).scaleb(-2))
    if pg_type == "money[]":
        return _text_form(_cents_to_amounts(payload, 0))
    s = _geo_text(pg_type, payload)
    if s is not None:
        return s
    return _text_form(payload)


cdef object _cents_to_amounts(object v, int depth):
    # money[] text form: int leaves (cents) -> Decimal amounts (see above).
    if depth > 6:
        raise PyToRustValueMappingError("cannot encode money[]: too deeply nested")
    if isinstance(v, (list, tuple)):
        return [_cents_to_amounts(x, depth + 1) for x in v]
    if _value_kind(v) != KIND_PLAIN:
        v = _unwrap_element(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return _Decimal(v).scaleb(-2)
    return v


cdef object _unwrap_element(object item):
    """An array element with enum members and wrappers replaced by what they
    stand for (CustomType cannot be an element: it has no element type)."""
    cdef int kind = _value_kind(item)
    cdef int depth = 0
    while kind != KIND_PLAIN:
        if kind == KIND_ENUM:
            item = item.value
        elif kind == KIND_WRAPPER:
            item = _wrapper_payload(item)
        elif kind == KIND_VECTOR:
            item = _vector_text(item)
        else:
            raise PyToRustValueMappingError(
                "cannot encode CustomType as an array element")
        depth += 1
        if depth > 8:
            raise PyToRustValueMappingError(
                f"cannot encode {type(item).__name__}: nested wrappers")
        kind = _value_kind(item)
    return item
