/* 128-bit unsigned big-endian <-> Python int, for uuid, with public C API only.
 *
 * Python 3.13 has PyLong_FromNativeBytes / PyLong_AsNativeBytes; before it the
 * value is built from (or split into) two 64-bit halves. */
#ifndef PSQLPY_PYLONG_H
#define PSQLPY_PYLONG_H
#include <Python.h>
#include <stdint.h>

static inline uint64_t psqlpy_be64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void psqlpy_put_be64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static PyObject *psqlpy_long_from_be128(const char *p)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_FromNativeBytes(p, 16, Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER);
#else
    PyObject *hi, *lo, *shift, *t, *r;
    hi = PyLong_FromUnsignedLongLong(psqlpy_be64((const unsigned char *)p));
    if (hi == NULL)
        return NULL;
    shift = PyLong_FromLong(64);
    if (shift == NULL) {
        Py_DECREF(hi);
        return NULL;
    }
    t = PyNumber_Lshift(hi, shift);
    Py_DECREF(hi);
    Py_DECREF(shift);
    if (t == NULL)
        return NULL;
    lo = PyLong_FromUnsignedLongLong(psqlpy_be64((const unsigned char *)p + 8));
    if (lo == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    r = PyNumber_Or(t, lo);
    Py_DECREF(t);
    Py_DECREF(lo);
    return r;
#endif
}

/* 0, or -1 with an exception set (not an int, negative, or 2**128 and above). */
static int psqlpy_long_to_be128(PyObject *v, char *out)
{
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t need;
    if (!PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "an int is required");
        return -1;
    }
    need = PyLong_AsNativeBytes(v, out, 16,
        Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER | Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    if (need < 0)
        return -1;
    if (need > 16) {
        PyErr_SetString(PyExc_OverflowError, "int too big for 128 bits");
        return -1;
    }
    return 0;
#else
    PyObject *shift, *hi_obj;
    unsigned long long hi, lo;
    if (!PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "an int is required");
        return -1;
    }
    shift = PyLong_FromLong(64);
    if (shift == NULL)
        return -1;
    hi_obj = PyNumber_Rshift(v, shift);
    Py_DECREF(shift);
    if (hi_obj == NULL)
        return -1;
    hi = PyLong_AsUnsignedLongLong(hi_obj);     /* OverflowError if negative or too big */
    Py_DECREF(hi_obj);
    if (hi == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    lo = PyLong_AsUnsignedLongLongMask(v);
    if (lo == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    psqlpy_put_be64((unsigned char *)out, (uint64_t)hi);
    psqlpy_put_be64((unsigned char *)out + 8, (uint64_t)lo);
    return 0;
#endif
}
#endif
