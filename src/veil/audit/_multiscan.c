/* A small compiled multi-needle scanner for the audit's raw-byte search.
 *
 * Matcher(needles) compiles a list of byte strings (lower case, 2 bytes or longer) once;
 * Matcher.find(data, start, stop) returns every (offset, needle index) where a needle occurs
 * in data[start:], starting before stop, comparing ASCII letters case-insensitively (the
 * needles are lowered by the caller, the data is folded on the fly: no lowered copy of a
 * file is ever made). Overlapping matches are all reported, in ascending offset order.
 *
 * How: a 64 Ki-bit filter on the (folded) first two bytes of every needle. Per byte of
 * data, one table lookup and one bit test; only where the bit is set are the needles that
 * begin with that pair compared, found through a small hash table of the needles' pairs
 * (sized by the needle count: a table of all 65536 pairs was 256 KiB to allocate and clear
 * for every file's needles, ~20 us a file). The Python fallback (veil.audit.multiscan) gives the same
 * answers with numpy; tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static unsigned char FOLD[256];

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    unsigned char **needles; /* folded copies */
    Py_ssize_t *lengths;
    int32_t *next;           /* next needle with the same first pair, -1 at the end */
    uint32_t *slot_pairs;    /* open addressing: a first pair per slot, EMPTY_SLOT if none */
    int32_t *slot_heads;     /* the first needle of that pair */
    uint32_t slot_mask;      /* slots - 1 (a power of two, at least twice the needles) */
    int slot_shift;          /* 32 - log2(slots) */
    uint8_t bits[8192];      /* the pair filter */
} MatcherObject;

#define EMPTY_SLOT 0xFFFFFFFFu

/* The slot of ``pair``: where it is, or the empty slot where it goes. */
static uint32_t slot_of(const MatcherObject *self, uint32_t pair) {
    uint32_t slot = (uint32_t)(pair * 2654435761u) >> self->slot_shift;
    while (self->slot_pairs[slot] != EMPTY_SLOT && self->slot_pairs[slot] != pair) {
        slot = (slot + 1) & self->slot_mask;
    }
    return slot;
}

static void Matcher_dealloc(MatcherObject *self) {
    if (self->needles != NULL) {
        for (Py_ssize_t i = 0; i < self->count; i++) {
            PyMem_Free(self->needles[i]);
        }
        PyMem_Free(self->needles);
    }
    PyMem_Free(self->lengths);
    PyMem_Free(self->next);
    PyMem_Free(self->slot_pairs);
    PyMem_Free(self->slot_heads);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Matcher_init(MatcherObject *self, PyObject *args, PyObject *kwds) {
    PyObject *sequence;
    static char *kwlist[] = {"needles", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &sequence)) {
        return -1;
    }
    PyObject *fast = PySequence_Fast(sequence, "needles must be a sequence of bytes");
    if (fast == NULL) {
        return -1;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count > INT32_MAX - 1) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many needles");
        return -1;
    }
    self->count = 0;
    self->needles = PyMem_Calloc(count ? count : 1, sizeof(unsigned char *));
    self->lengths = PyMem_Calloc(count ? count : 1, sizeof(Py_ssize_t));
    self->next = PyMem_Calloc(count ? count : 1, sizeof(int32_t));
    Py_ssize_t slots = 8;
    int bits_used = 3;
    while (slots < 2 * count) {
        slots *= 2;
        bits_used++;
    }
    self->slot_pairs = PyMem_Malloc(slots * sizeof(uint32_t));
    self->slot_heads = PyMem_Malloc(slots * sizeof(int32_t));
    if (!self->needles || !self->lengths || !self->next || !self->slot_pairs ||
        !self->slot_heads) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    self->slot_mask = (uint32_t)(slots - 1);
    self->slot_shift = 32 - bits_used;
    memset(self->slot_pairs, 0xFF, slots * sizeof(uint32_t));
    memset(self->bits, 0, sizeof(self->bits));
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        char *data;
        Py_ssize_t length;
        if (PyBytes_AsStringAndSize(item, &data, &length) < 0) {
            Py_DECREF(fast);
            return -1;
        }
        if (length < 2) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "needles must be 2 bytes or longer");
            return -1;
        }
        unsigned char *copy = PyMem_Malloc(length);
        if (copy == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t k = 0; k < length; k++) {
            copy[k] = FOLD[(unsigned char)data[k]];
        }
        self->needles[i] = copy;
        self->lengths[i] = length;
        self->count = i + 1;
        unsigned int pair = copy[0] | ((unsigned int)copy[1] << 8);
        self->bits[pair >> 3] |= (uint8_t)(1u << (pair & 7));
        /* Append, so needles of one pair are compared (and reported) in the given order. */
        self->next[i] = -1;
        uint32_t slot = slot_of(self, pair);
        if (self->slot_pairs[slot] == EMPTY_SLOT) {
            self->slot_pairs[slot] = pair;
            self->slot_heads[slot] = (int32_t)i;
        } else {
            int32_t last = self->slot_heads[slot];
            while (self->next[last] >= 0) {
                last = self->next[last];
            }
            self->next[last] = (int32_t)i;
        }
    }
    Py_DECREF(fast);
    return 0;
}

static int append_hit(PyObject *out, Py_ssize_t offset, int32_t index) {
    PyObject *hit = Py_BuildValue("(ni)", offset, (int)index);
    if (hit == NULL) {
        return -1;
    }
    int failed = PyList_Append(out, hit);
    Py_DECREF(hit);
    return failed;
}

static PyObject *Matcher_find(MatcherObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start = 0, stop = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "y*|nn", &view, &start, &stop)) {
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t size = view.len;
    if (start < 0) {
        start = 0;
    }
    if (stop > size - 1) {
        stop = size - 1; /* a match needs two bytes */
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *bits = self->bits;
    int failed = 0;
    /* Hits are collected in C first (offset, index) and turned into Python objects after,
       so the loop runs without the interpreter lock. */
    Py_ssize_t capacity = 64, used = 0;
    Py_ssize_t *found = malloc(capacity * 2 * sizeof(Py_ssize_t));
    if (found == NULL) {
        failed = 1;
    }
    Py_BEGIN_ALLOW_THREADS
    unsigned int previous = start < size ? FOLD[data[start]] : 0;
    for (Py_ssize_t i = start; !failed && i < stop; i++) {
        unsigned int current = FOLD[data[i + 1]];
        unsigned int pair = previous | (current << 8);
        previous = current;
        if (!(bits[pair >> 3] & (1u << (pair & 7)))) {
            continue;
        }
        uint32_t slot = slot_of(self, pair);
        int32_t head = self->slot_pairs[slot] == pair ? self->slot_heads[slot] : -1;
        for (int32_t n = head; n >= 0; n = self->next[n]) {
            Py_ssize_t length = self->lengths[n];
            if (i + length > size) {
                continue;
            }
            const unsigned char *needle = self->needles[n];
            Py_ssize_t k = 2;
            while (k < length && FOLD[data[i + k]] == needle[k]) {
                k++;
            }
            if (k < length) {
                continue;
            }
            if (used == capacity) {
                capacity *= 2;
                Py_ssize_t *grown = realloc(found, capacity * 2 * sizeof(Py_ssize_t));
                if (grown == NULL) {
                    failed = 1;
                    break;
                }
                found = grown;
            }
            found[2 * used] = i;
            found[2 * used + 1] = n;
            used++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failed) {
        free(found);
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t h = 0; h < used; h++) {
        if (append_hit(out, found[2 * h], (int32_t)found[2 * h + 1]) < 0) {
            free(found);
            Py_DECREF(out);
            return NULL;
        }
    }
    free(found);
    return out;
}

static Py_ssize_t Matcher_len(MatcherObject *self) { return self->count; }

static PyMethodDef Matcher_methods[] = {
    {"find", (PyCFunction)Matcher_find, METH_VARARGS,
     "find(data, start=0, stop=len(data)) -> list of (offset, needle index), ascending; "
     "ASCII letters compared case-insensitively; matches start in [start, stop)."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Matcher_as_sequence = {
    .sq_length = (lenfunc)Matcher_len,
};

static PyTypeObject MatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "veil.audit._multiscan.Matcher",
    .tp_doc = "Matcher(needles): a compiled set of lower-case byte needles (2+ bytes each).",
    .tp_basicsize = sizeof(MatcherObject),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Matcher_init,
    .tp_dealloc = (destructor)Matcher_dealloc,
    .tp_methods = Matcher_methods,
    .tp_as_sequence = &Matcher_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "veil.audit._multiscan",
    .m_doc = "Compiled multi-needle, ASCII-case-insensitive byte scanner (see multiscan.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__multiscan(void) {
    for (int c = 0; c < 256; c++) {
        FOLD[c] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : (unsigned char)c;
    }
    if (PyType_Ready(&MatcherType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&MatcherType);
    if (PyModule_AddObject(m, "Matcher", (PyObject *)&MatcherType) < 0) {
        Py_DECREF(&MatcherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
