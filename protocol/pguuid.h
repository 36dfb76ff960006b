/* psqlpy.protocol.UUID: a subclass of uuid.UUID that keeps its 16 bytes inline.
 *
 * uuid.UUID keeps its value as a Python int in a slot, so every decoded uuid would
 * cost an int object (48 bytes) besides the instance, and its construction.  This
 * subclass is made with PyType_FromSpecWithBases (public C API: a real subclass,
 * nothing patched afterwards) and adds 16 bytes of storage to uuid.UUID's layout:
 * decoding is an allocation and a 16-byte copy, an instance takes what asyncpg's
 * UUID takes.  `int` is a property computed from those bytes on first use and then
 * kept in uuid.UUID's own `int` slot, so every method uuid.UUID defines in Python
 * (hex, fields, version, ordering, ...) works unchanged.  str(), hash() and ==
 * are done here from the bytes: str() is the canonical lowercase hyphenated form,
 * the hash is uuid.UUID's (hash(self.int), i.e. the value mod 2**61 - 1), and a
 * UUID also equals that canonical str (what the reference driver returns).
 *
 * uuid.UUID's __init__ (used by UUID('...') and unpickling) sets `int` and
 * `is_safe` with object.__setattr__: the setters below take them.
 */
#ifndef PSQLPY_PGUUID_H
#define PSQLPY_PGUUID_H
#include <Python.h>
#include <structmember.h>
#include <string.h>
#include "pylong.h"

typedef struct {
    Py_ssize_t data_offset;        /* where our 16 bytes start in an instance */
    PyTypeObject *type;            /* psqlpy.protocol.UUID */
    PyTypeObject *std_type;        /* uuid.UUID */
    PyObject *int_slot;            /* uuid.UUID.__dict__['int'] (member descriptor) */
    PyObject *safe_unknown;        /* uuid.SafeUUID.unknown */
    int fast_hash;                 /* hash(int) is value mod 2**61 - 1 (checked at init) */
    Py_ssize_t int_offset;         /* where uuid.UUID keeps `int` in an instance */
} psqlpy_uuid_state;

static psqlpy_uuid_state psqlpy_uuid = {0, NULL, NULL, NULL, NULL, 0, 0};

#define PSQLPY_UUID_DATA(o) ((unsigned char *)(o) + psqlpy_uuid.data_offset)

static const char psqlpy_hex_lower[] = "0123456789abcdef";

static PyObject *psqlpy_uuid_text(const unsigned char *b)
{
    PyObject *s = PyUnicode_New(36, 127);
    char *out;
    int i, j = 0;
    if (s == NULL)
        return NULL;
    out = (char *)PyUnicode_DATA(s);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[j++] = '-';
        out[j++] = psqlpy_hex_lower[b[i] >> 4];
        out[j++] = psqlpy_hex_lower[b[i] & 15];
    }
    return s;
}

/* A new UUID from 16 big-endian bytes; untracked by the GC (it holds no
 * references until its int is cached, and an int cannot form a cycle). */
static PyObject *psqlpy_uuid_new(const char *data)
{
    PyObject *u = PyType_GenericAlloc(psqlpy_uuid.type, 0);
    if (u == NULL)
        return NULL;
    memcpy(PSQLPY_UUID_DATA(u), data, 16);
    PyObject_GC_UnTrack(u);
    return u;
}

static int psqlpy_uuid_check(PyObject *o)
{
    return psqlpy_uuid.type != NULL && PyObject_TypeCheck(o, psqlpy_uuid.type);
}

/* ---- int / is_safe -------------------------------------------------------- */

static PyObject *psqlpy_uuid_get_int(PyObject *self, void *closure)
{
    descrgetfunc get = Py_TYPE(psqlpy_uuid.int_slot)->tp_descr_get;
    descrsetfunc set = Py_TYPE(psqlpy_uuid.int_slot)->tp_descr_set;
    PyObject *v = get(psqlpy_uuid.int_slot, self, (PyObject *)psqlpy_uuid.std_type);
    if (v != NULL)
        return v;                       /* cached in uuid.UUID's own slot */
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return NULL;
    PyErr_Clear();
    v = psqlpy_long_from_be128((const char *)PSQLPY_UUID_DATA(self));
    if (v == NULL || set(psqlpy_uuid.int_slot, self, v) < 0) {
        Py_XDECREF(v);
        return NULL;
    }
    return v;
}

static int psqlpy_uuid_set_int(PyObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "UUID objects are immutable");
        return -1;
    }
    if (psqlpy_long_to_be128(value, (char *)PSQLPY_UUID_DATA(self)) < 0)
        return -1;
    return Py_TYPE(psqlpy_uuid.int_slot)->tp_descr_set(psqlpy_uuid.int_slot, self, value);
}

static PyObject *psqlpy_uuid_get_is_safe(PyObject *self, void *closure)
{
    Py_INCREF(psqlpy_uuid.safe_unknown);
    return psqlpy_uuid.safe_unknown;
}

static int psqlpy_uuid_set_is_safe(PyObject *self, PyObject *value, void *closure)
{
    return 0;       /* what the server sent carries no such information */
}

static PyObject *psqlpy_uuid_get_bytes(PyObject *self, void *closure)
{
    return PyBytes_FromStringAndSize((const char *)PSQLPY_UUID_DATA(self), 16);
}

/* ---- str, hash, == ------------------------------------------------------- */

static PyObject *psqlpy_uuid_str(PyObject *self)
{
    return psqlpy_uuid_text(PSQLPY_UUID_DATA(self));
}

static uint64_t psqlpy_mod_m61(uint64_t x)
{
    const uint64_t M = ((uint64_t)1 << 61) - 1;
    x = (x & M) + (x >> 61);
    return x >= M ? x - M : x;
}

static Py_hash_t psqlpy_uuid_hash(PyObject *self)
{
    /* hash(self.int), as uuid.UUID hashes.  With 64-bit hashes (the modulus
     * 2**61 - 1, where 2**64 is 8) it is computed from the bytes. */
    const unsigned char *b = PSQLPY_UUID_DATA(self);
    uint64_t hi = 0, lo = 0;
    int i;
    PyObject *v;
    Py_hash_t h;
    if (psqlpy_uuid.fast_hash) {
        for (i = 0; i < 8; i++) {
            hi = (hi << 8) | b[i];
            lo = (lo << 8) | b[i + 8];
        }
        return (Py_hash_t)psqlpy_mod_m61(psqlpy_mod_m61(psqlpy_mod_m61(hi) * 8)
                                         + psqlpy_mod_m61(lo));
    }
    v = psqlpy_uuid_get_int(self, NULL);
    if (v == NULL)
        return -1;
    h = PyObject_Hash(v);
    Py_DECREF(v);
    return h;
}

static PyObject *psqlpy_uuid_richcompare(PyObject *self, PyObject *other, int op)
{
    PyObject *a, *b, *r;
    if (psqlpy_uuid_check(other)) {
        int c = memcmp(PSQLPY_UUID_DATA(self), PSQLPY_UUID_DATA(other), 16);
        Py_RETURN_RICHCOMPARE(c, 0, op);
    }
    if (PyUnicode_Check(other)) {
        /* equal to its canonical text (lowercase, hyphenated) only */
        if (op != Py_EQ && op != Py_NE)
            Py_RETURN_NOTIMPLEMENTED;
        a = psqlpy_uuid_text(PSQLPY_UUID_DATA(self));
        if (a == NULL)
            return NULL;
        r = PyObject_RichCompare(a, other, op);
        Py_DECREF(a);
        return r;
    }
    if (!PyObject_TypeCheck(other, psqlpy_uuid.std_type))
        Py_RETURN_NOTIMPLEMENTED;
    /* another uuid.UUID: as uuid.UUID compares, by int */
    a = psqlpy_uuid_get_int(self, NULL);
    if (a == NULL)
        return NULL;
    b = PyObject_GetAttrString(other, "int");
    if (b == NULL) {
        Py_DECREF(a);
        return NULL;
    }
    r = PyObject_RichCompare(a, b, op);
    Py_DECREF(a);
    Py_DECREF(b);
    return r;
}

/* The only reference an instance may hold is its cached int (in uuid.UUID's
 * slot; `is_safe` is never stored), and its type. */
static int psqlpy_uuid_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(*(PyObject **)((char *)self + psqlpy_uuid.int_offset));
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static PyGetSetDef psqlpy_uuid_getset[] = {
    {"int", psqlpy_uuid_get_int, psqlpy_uuid_set_int, "the value as a 128-bit integer", NULL},
    {"is_safe", psqlpy_uuid_get_is_safe, psqlpy_uuid_set_is_safe, "uuid.SafeUUID.unknown", NULL},
    {"bytes", psqlpy_uuid_get_bytes, NULL, "the 16 bytes, big-endian", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Make the type (once); returns it (a new reference) or NULL. */
static PyObject *psqlpy_uuid_make_type(PyObject *std_type, PyObject *int_slot,
                                       PyObject *safe_unknown)
{
    PyType_Slot slots[] = {
        {Py_tp_doc, (void *)"A uuid.UUID decoded from the server (see psqlpy.protocol.UUID)."},
        {Py_tp_getset, psqlpy_uuid_getset},
        {Py_tp_str, (void *)psqlpy_uuid_str},
        {Py_tp_hash, (void *)psqlpy_uuid_hash},
        {Py_tp_richcompare, (void *)psqlpy_uuid_richcompare},
        {Py_tp_traverse, (void *)psqlpy_uuid_traverse},
        {0, NULL},
    };
    PyType_Spec spec = {
        "psqlpy.protocol.UUID",
        0, 0,
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        slots,
    };
    PyObject *bases, *type;
    if (!PyType_Check(std_type) || Py_TYPE(int_slot) != &PyMemberDescr_Type
            || ((PyMemberDescrObject *)int_slot)->d_member->type != T_OBJECT_EX) {
        PyErr_SetString(PyExc_TypeError, "uuid.UUID is not laid out as expected");
        return NULL;
    }
    psqlpy_uuid.int_offset = ((PyMemberDescrObject *)int_slot)->d_member->offset;
    psqlpy_uuid.data_offset = ((PyTypeObject *)std_type)->tp_basicsize;
    spec.basicsize = (int)(psqlpy_uuid.data_offset + 16);
    bases = PyTuple_Pack(1, std_type);
    if (bases == NULL)
        return NULL;
    type = PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    if (type == NULL)
        return NULL;
    Py_INCREF(std_type);
    Py_INCREF(int_slot);
    Py_INCREF(safe_unknown);
    Py_INCREF(type);
    psqlpy_uuid.type = (PyTypeObject *)type;
    psqlpy_uuid.std_type = (PyTypeObject *)std_type;
    psqlpy_uuid.int_slot = int_slot;
    psqlpy_uuid.safe_unknown = safe_unknown;
    return type;
}

#endif
