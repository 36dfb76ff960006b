/* 128-bit unsigned big-endian <-> Python int, for uuid.
 *
 * Python 3.13 made this public (PyLong_FromNativeBytes / PyLong_AsNativeBytes);
 * before it, the same conversion is _PyLong_FromByteArray / _PyLong_AsByteArray,
 * the functions Cython's own generated code uses for wide C integers. */
#ifndef PSQLPY_PYLONG_H
#define PSQLPY_PYLONG_H
#include <Python.h>

static inline PyObject *psqlpy_long_from_be128(const char *p)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_FromNativeBytes(p, 16, Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER);
#else
    return _PyLong_FromByteArray((const unsigned char *)p, 16, 0, 0);
#endif
}

/* 0, or -1 with an exception set (negative, or 2**128 and above). */
static inline int psqlpy_long_to_be128(PyObject *v, char *out)
{
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t need = PyLong_AsNativeBytes(v, out, 16,
        Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER | Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    if (need < 0)
        return -1;
    if (need > 16) {
        PyErr_SetString(PyExc_OverflowError, "int too big for 128 bits");
        return -1;
    }
    return 0;
#else
    if (!PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "an int is required");
        return -1;
    }
    return _PyLong_AsByteArray((PyLongObject *)v, (unsigned char *)out, 16, 0, 0);
#endif
}
#endif
