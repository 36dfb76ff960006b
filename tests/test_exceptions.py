"""psqlpy.exceptions: the reference hierarchy, server errors, the SQLSTATE tables.

No database needed.
"""

from __future__ import annotations

import importlib
import pathlib
import pickle
import subprocess
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent




exc = importlib.import_module("psqlpy.exceptions")
errcodes = importlib.import_module("psqlpy._errcodes")

HIERARCHY = {
    "WarningError": "Exception",
    "Error": "Exception",
    "InterfaceError": "Error",
    "BaseConnectionPoolError": "InterfaceError",
    "ConnectionPoolBuildError": "BaseConnectionPoolError",
    "ConnectionPoolConfigurationError": "BaseConnectionPoolError",
    "ConnectionPoolExecuteError": "BaseConnectionPoolError",
    "BaseConnectionError": "InterfaceError",
    "ConnectionExecuteError": "BaseConnectionError",
    "ConnectionClosedError": "BaseConnectionError",
    "BaseTransactionError": "InterfaceError",
    "TransactionBeginError": "BaseTransactionError",
    "TransactionCommitError": "BaseTransactionError",
    "TransactionRollbackError": "BaseTransactionError",
    "TransactionSavepointError": "BaseTransactionError",
    "TransactionExecuteError": "BaseTransactionError",
    "TransactionClosedError": "BaseTransactionError",
    "BaseCursorError": "InterfaceError",
    "CursorStartError": "BaseCursorError",
    "CursorCloseError": "BaseCursorError",
    "CursorFetchError": "BaseCursorError",
    "CursorClosedError": "BaseCursorError",
    "BaseListenerError": "InterfaceError",
    "ListenerStartError": "BaseListenerError",
    "ListenerClosedError": "BaseListenerError",
    "ListenerCallbackError": "BaseListenerError",
    "DatabaseError": "Error",
    "DataError": "DatabaseError",
    "UUIDValueConvertError": "DataError",
    "MacAddrConversionError": "DataError",
    "RustToPyValueMappingError": "DataError",
    "PyToRustValueMappingError": "DataError",
    "OperationalError": "DatabaseError",
    "IntegrityError": "DatabaseError",
    "InternalError": "DatabaseError",
    "ProgrammingError": "DatabaseError",
    "NotSupportedError": "DatabaseError",
    "SSLError": "DatabaseError",
    # ours
    "ProtocolError": "InterfaceError",
    "PostgresError": "DatabaseError",
}


def _cls(name: str) -> type:
    return getattr(exc, name) if name != "Exception" else Exception


@pytest.mark.parametrize("name,parent", sorted(HIERARCHY.items()))
def test_reference_hierarchy(name: str, parent: str) -> None:
    cls = _cls(name)
    assert issubclass(cls, _cls(parent))
    assert cls.__module__ == "psqlpy.exceptions"
    assert name in exc.__all__


def test_direct_bases_match_reference() -> None:
    for name, parent in HIERARCHY.items():
        assert _cls(name).__bases__ == (_cls(parent),), name


def test_warning_is_not_error() -> None:
    assert not issubclass(exc.WarningError, exc.Error)


def test_all_is_complete_and_unique() -> None:
    assert len(exc.__all__) == len(set(exc.__all__))
    for name in exc.__all__:
        assert hasattr(exc, name), name
    assert "make_server_error" in exc.__all__


def test_internal_alias() -> None:
    internal = importlib.import_module("psqlpy._internal.exceptions")
    assert internal.InterfaceError is exc.InterfaceError
    assert set(internal.__all__) == set(exc.__all__)
    for name in exc.__all__:
        assert getattr(internal, name) is getattr(exc, name)


def test_connection_lost_error() -> None:
    assert issubclass(exc.ConnectionLostError, exc.BaseConnectionError)
    assert issubclass(exc.ConnectionLostError, exc.OperationalError)
    assert issubclass(exc.ConnectionLostError, exc.Error)


def test_protocol_error() -> None:
    e = exc.ProtocolError("bad length", offset=12, msg_type=b"D")
    assert isinstance(e, exc.InterfaceError)
    assert e.offset == 12 and e.msg_type == "D"
    assert "bad length" in str(e) and "12" in str(e)
    assert exc.ProtocolError("x", msg_type=ord("T")).msg_type == "T"
    plain = exc.ProtocolError("bad")
    assert str(plain) == "bad" and plain.offset is None and plain.msg_type is None
    again = pickle.loads(pickle.dumps(e))
    assert (again.offset, again.msg_type, str(again)) == (12, "D", str(e))


UNIQUE_FIELDS = {
    "S": "ERROR",
    "V": "ERROR",
    "C": "23505",
    "M": 'duplicate key value violates unique constraint "t_pkey"',
    "D": "Key (id)=(1) already exists.",
    "s": "public",
    "t": "t",
    "n": "t_pkey",
    "F": "nbtinsert.c",
    "L": "664",
    "R": "_bt_check_unique",
}


def test_unique_violation_with_context() -> None:
    e = exc.make_server_error(UNIQUE_FIELDS, exc.ConnectionExecuteError)
    assert isinstance(e, exc.IntegrityError)
    assert isinstance(e, exc.ConnectionExecuteError)
    assert isinstance(e, exc.UniqueViolation)
    assert isinstance(e, exc.IntegrityConstraintViolationError)
    assert isinstance(e, exc.PostgresError)
    assert isinstance(e, exc.BaseConnectionError)
    assert isinstance(e, exc.InterfaceError)
    assert isinstance(e, exc.DatabaseError)
    assert type(e).__name__ == "UniqueViolation"
    assert type(e).__module__ == "psqlpy.exceptions"
    assert e.sqlstate == "23505"
    assert e.condition_name == "unique_violation"
    assert e.severity == "ERROR" and e.severity_nonlocalized == "ERROR"
    assert e.schema_name == "public" and e.table_name == "t"
    assert e.constraint_name == "t_pkey"
    assert e.source_file == "nbtinsert.c" and e.source_line == "664"
    assert e.source_function == "_bt_check_unique"
    assert e.hint is None and e.position is None and e.column_name is None
    assert e.fields == UNIQUE_FIELDS
    assert str(e) == (
        'duplicate key value violates unique constraint "t_pkey" (SQLSTATE 23505)\n'
        "DETAIL: Key (id)=(1) already exists."
    )
    with pytest.raises(exc.ConnectionExecuteError):
        raise e
    with pytest.raises(exc.UniqueViolation):
        raise e


def test_combined_class_cached() -> None:
    a = exc.make_server_error(UNIQUE_FIELDS, exc.ConnectionExecuteError)
    b = exc.make_server_error(UNIQUE_FIELDS, exc.ConnectionExecuteError)
    c = exc.make_server_error(UNIQUE_FIELDS, exc.TransactionExecuteError)
    assert type(a) is type(b)
    assert type(a) is not type(c)
    assert isinstance(c, exc.TransactionExecuteError) and not isinstance(c, exc.ConnectionExecuteError)


@pytest.mark.parametrize(
    "context",
    [
        "ConnectionExecuteError",
        "TransactionExecuteError",
        "CursorFetchError",
        "ListenerStartError",
        "ConnectionPoolExecuteError",
        "TransactionCommitError",
        "CursorStartError",
    ],
)
@pytest.mark.parametrize("code", ["23505", "40001", "42P01", "57014", "XX000", "HV000", "99999", "01000"])
def test_every_context_combines(context: str, code: str) -> None:
    ctx = getattr(exc, context)
    e = exc.make_server_error({"C": code, "M": "boom"}, ctx)
    assert isinstance(e, ctx)
    assert isinstance(e, exc.PostgresError)
    assert isinstance(e, exc.lookup_error_class(code))
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.fields == e.fields


def test_message_position_hint() -> None:
    e = exc.make_server_error(
        {"S": "ERROR", "C": "42601", "M": 'syntax error at or near "SELEC"', "P": "1",
         "H": "Try again.", "q": "x", "p": "7"}
    )
    assert type(e) is exc.PostgresSyntaxError
    assert isinstance(e, exc.ProgrammingError)
    assert not isinstance(e, exc.InterfaceError)
    assert e.position == 1 and e.internal_position == 7 and e.internal_query == "x"
    assert str(e) == 'syntax error at or near "SELEC" (SQLSTATE 42601)\nHINT: Try again.'
    bad = exc.make_server_error({"C": "42601", "M": "m", "P": "not a number"})
    assert bad.position is None and bad.fields["P"] == "not a number"


def test_unknown_code_falls_back_to_class_then_base() -> None:
    e = exc.make_server_error({"C": "23999", "M": "new integrity code"})
    assert type(e) is exc.IntegrityConstraintViolationError
    assert isinstance(e, exc.IntegrityError)
    assert e.condition_name is None
    e = exc.make_server_error({"C": "ZZ123", "M": "what"})
    assert type(e) is exc.PostgresError
    assert str(e) == "what (SQLSTATE ZZ123)"
    e = exc.make_server_error({"M": "no code"})
    assert type(e) is exc.PostgresError and e.sqlstate is None and str(e) == "no code"
    e = exc.make_server_error({})
    assert type(e) is exc.PostgresError and e.message is None


def test_generic_code_of_class_gets_class() -> None:
    e = exc.make_server_error({"C": "22000", "M": "data"})
    assert type(e) is exc.DataExceptionError
    assert isinstance(e, exc.DataError)
    assert e.condition_name == "data_exception"


def test_context_must_be_error() -> None:
    with pytest.raises(TypeError):
        exc.make_server_error({"C": "23505"}, ValueError)


def test_context_already_base_keeps_class() -> None:
    e = exc.make_server_error({"C": "23505"}, exc.DatabaseError)
    assert type(e) is exc.UniqueViolation


SPECIFIC = {
    "UniqueViolation": ("23505", "IntegrityError"),
    "ForeignKeyViolation": ("23503", "IntegrityError"),
    "NotNullViolation": ("23502", "IntegrityError"),
    "CheckViolation": ("23514", "IntegrityError"),
    "ExclusionViolation": ("23P01", "IntegrityError"),
    "SerializationFailure": ("40001", "OperationalError"),
    "DeadlockDetected": ("40P01", "OperationalError"),
    "QueryCanceled": ("57014", "OperationalError"),
    "AdminShutdown": ("57P01", "OperationalError"),
    "CannotConnectNow": ("57P03", "OperationalError"),
    "UndefinedTable": ("42P01", "ProgrammingError"),
    "UndefinedColumn": ("42703", "ProgrammingError"),
    "PostgresSyntaxError": ("42601", "ProgrammingError"),
    "InvalidTextRepresentation": ("22P02", "DataError"),
    "DivisionByZero": ("22012", "DataError"),
    "NumericValueOutOfRange": ("22003", "DataError"),
    "InvalidParameterValue": ("22023", "DataError"),
    "InvalidPassword": ("28P01", "OperationalError"),
    "InvalidAuthorizationSpecification": ("28000", "OperationalError"),
    "FeatureNotSupported": ("0A000", "NotSupportedError"),
    "InFailedSqlTransaction": ("25P02", "OperationalError"),
    "ProgramLimitExceeded": ("54000", "OperationalError"),
    "ObjectInUse": ("55006", "OperationalError"),
}


@pytest.mark.parametrize("name,spec", sorted(SPECIFIC.items()))
def test_specific_classes(name: str, spec: tuple[str, str]) -> None:
    code, category = spec
    cls = getattr(exc, name)
    assert name in exc.__all__
    assert cls.sqlstate_code == code
    assert issubclass(cls, getattr(exc, category))
    assert issubclass(cls, exc.SQLSTATE_CLASS_ERRORS[code[:2]])
    assert exc.lookup_error_class(code) is cls
    assert type(exc.make_server_error({"C": code, "M": "x"})) is cls


CATEGORIES = {
    "08": "OperationalError", "0A": "NotSupportedError", "22": "DataError",
    "23": "IntegrityError", "25": "OperationalError", "26": "InternalError",
    "28": "OperationalError", "2D": "InternalError", "2F": "InternalError",
    "34": "InternalError", "38": "InternalError", "39": "InternalError",
    "3B": "InternalError", "3D": "ProgrammingError", "3F": "ProgrammingError",
    "40": "OperationalError", "42": "ProgrammingError", "53": "OperationalError",
    "54": "OperationalError", "55": "OperationalError", "57": "OperationalError",
    "58": "OperationalError", "F0": "OperationalError", "HV": "OperationalError",
    "XX": "InternalError",
}


@pytest.mark.parametrize("prefix,category", sorted(CATEGORIES.items()))
def test_class_categories(prefix: str, category: str) -> None:
    assert issubclass(exc.SQLSTATE_CLASS_ERRORS[prefix], getattr(exc, category))


def test_every_error_class_generated() -> None:
    for prefix, camel in errcodes.CLASS_NAMES.items():
        if prefix in ("00", "01", "02"):
            assert prefix not in exc.SQLSTATE_CLASS_ERRORS
            continue
        cls = exc.SQLSTATE_CLASS_ERRORS[prefix]
        assert cls.__name__ in exc.__all__ and getattr(exc, cls.__name__) is cls
        assert cls.sqlstate_class == prefix
        assert cls.__name__.endswith("Error")
        assert cls.__name__.removeprefix("Postgres").startswith(camel)
        assert issubclass(cls, exc.PostgresError)
    assert exc.IntegrityConstraintViolationError is exc.SQLSTATE_CLASS_ERRORS["23"]
    # names that would clash with psqlpy's own classes or builtins get a prefix
    assert exc.SQLSTATE_CLASS_ERRORS["40"].__name__ == "PostgresTransactionRollbackError"
    assert exc.SQLSTATE_CLASS_ERRORS["58"].__name__ == "PostgresSystemError"
    assert exc.SQLSTATE_CLASS_ERRORS["XX"].__name__ == "PostgresInternalError"
    assert exc.InternalError is not exc.PostgresInternalError
    assert not issubclass(exc.PostgresTransactionRollbackError, exc.BaseTransactionError)


def test_errcode_tables() -> None:
    assert errcodes.SQLSTATE_NAMES["23505"] == "unique_violation"
    assert errcodes.SQLSTATE_NAMES["40P01"] == "deadlock_detected"
    assert errcodes.SQLSTATE_NAMES["22008"] == "datetime_field_overflow"  # spec name wins
    assert errcodes.CLASS_NAMES["23"] == "IntegrityConstraintViolation"
    assert errcodes.CLASS_NAMES["42"] == "SyntaxErrorOrAccessRuleViolation"
    assert errcodes.CLASS_NAMES["58"] == "SystemError"
    for code in errcodes.SQLSTATE_NAMES:
        assert len(code) == 5 and code[:2] in errcodes.CLASS_NAMES
    assert len(errcodes.SQLSTATE_NAMES) > 250


def test_generator_reproduces_committed_file(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "_errcodes.py"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_errcodes.py"),
         str(ROOT / "tools" / "errcodes.txt"), str(out)],
        check=True,
    )
    committed = (ROOT / "psqlpy" / "_errcodes.py").read_bytes()
    assert out.read_bytes() == committed
    assert committed.startswith(b"# generated by tools/gen_errcodes.py")
    assert b"do not edit" in committed.splitlines()[0]


def test_errcodes_txt_is_postgres_file() -> None:
    text = (ROOT / "tools" / "errcodes.txt").read_text()
    assert "PostgreSQL Global Development Group" in text
    assert "Section: Class 23 - Integrity Constraint Violation" in text
