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
 * for every file's needles, ~20 us a file). That is the scalar route (~1.35 GB/s).
 *
 * The SIMD routes (AVX2, 32 bytes a step; SSSE3, 16), chosen at run time by what the CPU
 * supports, put a Teddy-style prefilter in front of the same check (as in Hyperscan and
 * Rust's aho-corasick): the distinct first pairs of the needles are spread over 8 buckets,
 * a bucket also taking the third bytes of its needles (any byte, for a 2-byte needle), and
 * for each of the three positions two 16-entry tables give, for the low and the high nibble
 * of a data byte, the buckets that allow that nibble there (both cases of a letter: the
 * folding is in the tables). Two pshufb and two ands per position and vector; a position whose three
 * bucket sets share a bit is a candidate, and only there does the scalar check run, so the
 * answers are the scalar route's by construction. On the needles and outputs of 300 benchmark
 * files (~150 needles, ~190 KB, few candidates: pixel data rarely passes three positions),
 * a file's scan takes 0.015 ms with AVX2 (12.4 GB/s), 0.028 with SSSE3, 0.138 scalar
 * (benchmarks/RESULTS.md). Building with -DMULTISCAN_NO_SIMD leaves the scalar route only.
 *
 * The Python fallback (veil.audit.multiscan) gives the same answers with numpy; tests compare
 * the numpy backend and every route the CPU supports.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(MULTISCAN_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define MULTISCAN_X86 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RARELY(x) __builtin_expect(!!(x), 0)
#else
#define RARELY(x) (x)
#endif

static unsigned char FOLD[256];

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    unsigned char **needles; /* folded copies, all in one block (storage) */
    unsigned char *storage;
    Py_ssize_t *lengths;
    int32_t *next;           /* next needle with the same first pair, -1 at the end */
    uint32_t *slot_pairs;    /* open addressing: a first pair per slot, EMPTY_SLOT if none */
    int32_t *slot_heads;     /* the first needle of that pair */
    uint32_t slot_mask;      /* slots - 1 (a power of two, at least twice the needles) */
    int slot_shift;          /* 32 - log2(slots) */
    uint8_t bits[8192];      /* the pair filter */
    /* The SIMD prefilter: per prefix position, bucket bits by low and by high nibble. */
    uint8_t low[3][16];
    uint8_t high[3][16];
    int route;               /* ROUTE_SCALAR, ROUTE_SSSE3 or ROUTE_AVX2 */
} MatcherObject;

enum { ROUTE_SCALAR = 0, ROUTE_SSSE3 = 1, ROUTE_AVX2 = 2 };
static const char *ROUTE_NAMES[] = {"scalar", "ssse3", "avx2"};
static int BEST_ROUTE = ROUTE_SCALAR; /* the fastest the CPU supports, set at import */

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
    PyMem_Free(self->needles);
    PyMem_Free(self->storage);
    PyMem_Free(self->lengths);
    PyMem_Free(self->next);
    PyMem_Free(self->slot_pairs);
    PyMem_Free(self->slot_heads);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int SUPPORTED_ROUTES = 1 << ROUTE_SCALAR; /* a bit per route, set at import */

static int route_by_name(const char *name) {
    for (int r = 0; r < 3; r++) {
        if (strcmp(name, ROUTE_NAMES[r]) == 0) {
            if (!(SUPPORTED_ROUTES & (1 << r))) {
                PyErr_Format(PyExc_ValueError, "scan route %s is not supported by this CPU",
                             name);
                return -1;
            }
            return r;
        }
    }
    PyErr_SetString(PyExc_ValueError, "unknown scan route; use 'scalar', 'ssse3' or 'avx2'");
    return -1;
}

static int compare_pairs(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Bucket bits of one byte at one prefix position; a letter sets the nibbles of both cases. */
static void allow_byte(MatcherObject *self, int position, unsigned char c, uint8_t bucket) {
    self->low[position][c & 15] |= bucket;
    self->high[position][c >> 4] |= bucket;
    if (c >= 'a' && c <= 'z') {
        self->low[position][(c - 32) & 15] |= bucket;
        self->high[position][(c - 32) >> 4] |= bucket;
    }
}

/* The prefilter's nibble tables. The distinct first pairs of the needles (the slot table
   holds them) are sorted by their first then second byte and dealt out to the 8 buckets in
   runs, so a bucket holds neighbours (digits with digits), which keeps its nibble sets
   narrow; each needle adds its third byte to its pair's bucket, and a 2-byte needle lets
   its bucket take any third byte. (Sorting the pairs of the slot table, not every needle's
   prefix, and one block for all needles: compiling ~150 needles costs what it did before
   the prefilter, ~5.5 us.) */
static int build_prefilter(MatcherObject *self, Py_ssize_t slots) {
    memset(self->low, 0, sizeof(self->low));
    memset(self->high, 0, sizeof(self->high));
    uint64_t *order = PyMem_Malloc(slots * sizeof(uint64_t));
    if (order == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t distinct = 0;
    for (Py_ssize_t slot = 0; slot < slots; slot++) {
        uint32_t pair = self->slot_pairs[slot];
        if (pair != EMPTY_SLOT) { /* by first byte, then second; the slot below */
            order[distinct++] = ((uint64_t)(((pair & 0xFF) << 8) | (pair >> 8)) << 32) | (uint64_t)slot;
        }
    }
    qsort(order, (size_t)distinct, sizeof(uint64_t), compare_pairs);
    for (Py_ssize_t j = 0; j < distinct; j++) {
        uint8_t bucket = (uint8_t)(1u << (j * 8 / distinct));
        uint32_t pair = self->slot_pairs[order[j] & 0xFFFFFFFFu];
        int32_t head = self->slot_heads[order[j] & 0xFFFFFFFFu];
        allow_byte(self, 0, (unsigned char)(pair & 0xFF), bucket);
        allow_byte(self, 1, (unsigned char)(pair >> 8), bucket);
        for (int32_t n = head; n >= 0; n = self->next[n]) {
            if (self->lengths[n] >= 3) {
                allow_byte(self, 2, self->needles[n][2], bucket);
                continue;
            }
            for (int nib = 0; nib < 16; nib++) {
                self->low[2][nib] |= bucket;
                self->high[2][nib] |= bucket;
            }
        }
    }
    PyMem_Free(order);
    return 0;
}

static int Matcher_init(MatcherObject *self, PyObject *args, PyObject *kwds) {
    PyObject *sequence;
    const char *route = NULL;
    static char *kwlist[] = {"needles", "route", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|z", kwlist, &sequence, &route)) {
        return -1;
    }
    if (self->needles != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this Matcher is compiled already");
        return -1;
    }
    self->route = route == NULL ? BEST_ROUTE : route_by_name(route);
    if (self->route < 0) {
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
    /* The folded needles in one block: their lengths first (every item checked), then
       the copies. */
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t length = PyBytes_Size(PySequence_Fast_GET_ITEM(fast, i));
        if (length < 0) {
            Py_DECREF(fast);
            return -1;
        }
        if (length < 2) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "needles must be 2 bytes or longer");
            return -1;
        }
        if (total > PY_SSIZE_T_MAX - length) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        self->lengths[i] = length;
        total += length;
    }
    self->storage = PyMem_Malloc(total ? total : 1);
    if (self->storage == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    unsigned char *copy = self->storage;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *data =
            (const unsigned char *)PyBytes_AS_STRING(PySequence_Fast_GET_ITEM(fast, i));
        Py_ssize_t length = self->lengths[i];
        for (Py_ssize_t k = 0; k < length; k++) {
            copy[k] = FOLD[data[k]];
        }
        self->needles[i] = copy;
        self->count = i + 1;
        unsigned int pair = copy[0] | ((unsigned int)copy[1] << 8);
        copy += length;
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
    return build_prefilter(self, slots);
}

/* The hits found so far, as (offset, needle index) pairs, collected in C (without the
   interpreter lock) and turned into Python objects after. */
typedef struct {
    Py_ssize_t *found;
    Py_ssize_t used;
    Py_ssize_t capacity;
} Hits;

static int push_hit(Hits *hits, Py_ssize_t offset, int32_t index) {
    if (hits->used == hits->capacity) {
        Py_ssize_t *grown = realloc(hits->found, hits->capacity * 4 * sizeof(Py_ssize_t));
        if (grown == NULL) {
            return -1;
        }
        hits->found = grown;
        hits->capacity *= 2;
    }
    hits->found[2 * hits->used] = offset;
    hits->found[2 * hits->used + 1] = index;
    hits->used++;
    return 0;
}

/* Every needle starting at ``i`` whose first (folded) pair is ``pair``, in the given order:
   the exact check both routes share. ``i + 1 < size`` holds. -1: out of memory. */
static inline int check_at(const MatcherObject *self, const unsigned char *data,
                           Py_ssize_t size, Py_ssize_t i, unsigned int pair, Hits *hits) {
    if (!(self->bits[pair >> 3] & (1u << (pair & 7)))) {
        return 0;
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
        if (k == length && push_hit(hits, i, n) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The scalar route, from ``i`` to ``stop`` (``stop < size``): the pair filter at every byte.
   Also the tail of the SIMD routes. */
static int scan_scalar(const MatcherObject *self, const unsigned char *data, Py_ssize_t size,
                       Py_ssize_t i, Py_ssize_t stop, Hits *hits) {
    if (i >= stop) {
        return 0;
    }
    const uint8_t *bits = self->bits;
    unsigned int previous = FOLD[data[i]];
    for (; i < stop; i++) {
        unsigned int current = FOLD[data[i + 1]];
        unsigned int pair = previous | (current << 8);
        previous = current;
        /* The hint and the filter's address kept in a local: 1.20 -> 1.34 GB/s. */
        if (!RARELY(bits[pair >> 3] & (1u << (pair & 7)))) {
            continue;
        }
        if (check_at(self, data, size, i, pair, hits) < 0) {
            return -1;
        }
    }
    return 0;
}

#ifdef MULTISCAN_X86
/* The candidates of one vector (bit k: position i + k) go to the exact check. */
static inline int check_candidates(const MatcherObject *self, const unsigned char *data,
                                   Py_ssize_t size, Py_ssize_t i, uint32_t candidates,
                                   Hits *hits) {
    while (candidates) {
        Py_ssize_t at = i + __builtin_ctz(candidates);
        candidates &= candidates - 1;
        unsigned int pair = FOLD[data[at]] | ((unsigned int)FOLD[data[at + 1]] << 8);
        if (check_at(self, data, size, at, pair, hits) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The AVX2 prefilter over [i, stop): whole vectors only, and only where the three loads
   (data[i .. i + 34)) lie inside the buffer. Returns where it stopped (the scalar route
   does the rest), -1 when out of memory. */
__attribute__((target("avx2"))) static Py_ssize_t
prefilter_avx2(const MatcherObject *self, const unsigned char *data, Py_ssize_t size,
               Py_ssize_t i, Py_ssize_t stop, Hits *hits) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i zero = _mm256_setzero_si256();
    __m256i low[3], high[3];
    for (int p = 0; p < 3; p++) {
        low[p] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)self->low[p]));
        high[p] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)self->high[p]));
    }
    for (; i + 32 <= stop && i + 34 <= size; i += 32) {
        __m256i buckets = _mm256_set1_epi8(-1);
        for (int p = 0; p < 3; p++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(data + i + p));
            __m256i lo = _mm256_shuffle_epi8(low[p], _mm256_and_si256(v, nibble));
            __m256i hi = _mm256_shuffle_epi8(
                high[p], _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
            buckets = _mm256_and_si256(buckets, _mm256_and_si256(lo, hi));
        }
        uint32_t candidates =
            ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(buckets, zero));
        if (candidates && check_candidates(self, data, size, i, candidates, hits) < 0) {
            return -1;
        }
    }
    return i;
}

/* The same, 16 bytes a step (loads data[i .. i + 18)). */
__attribute__((target("ssse3"))) static Py_ssize_t
prefilter_ssse3(const MatcherObject *self, const unsigned char *data, Py_ssize_t size,
                Py_ssize_t i, Py_ssize_t stop, Hits *hits) {
    const __m128i nibble = _mm_set1_epi8(0x0F);
    const __m128i zero = _mm_setzero_si128();
    __m128i low[3], high[3];
    for (int p = 0; p < 3; p++) {
        low[p] = _mm_loadu_si128((const __m128i *)self->low[p]);
        high[p] = _mm_loadu_si128((const __m128i *)self->high[p]);
    }
    for (; i + 16 <= stop && i + 18 <= size; i += 16) {
        __m128i buckets = _mm_set1_epi8(-1);
        for (int p = 0; p < 3; p++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(data + i + p));
            __m128i lo = _mm_shuffle_epi8(low[p], _mm_and_si128(v, nibble));
            __m128i hi = _mm_shuffle_epi8(high[p], _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
            buckets = _mm_and_si128(buckets, _mm_and_si128(lo, hi));
        }
        uint32_t candidates =
            ~(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(buckets, zero)) & 0xFFFFu;
        if (candidates && check_candidates(self, data, size, i, candidates, hits) < 0) {
            return -1;
        }
    }
    return i;
}
#endif

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
    Hits hits = {malloc(64 * 2 * sizeof(Py_ssize_t)), 0, 64};
    int failed = hits.found == NULL;
    Py_BEGIN_ALLOW_THREADS
    if (!failed) {
        Py_ssize_t i = start;
#ifdef MULTISCAN_X86
        if (self->route == ROUTE_AVX2) {
            i = prefilter_avx2(self, data, size, start, stop, &hits);
        } else if (self->route == ROUTE_SSSE3) {
            i = prefilter_ssse3(self, data, size, start, stop, &hits);
        }
#endif
        failed = i < 0 || scan_scalar(self, data, size, i, stop, &hits) < 0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failed) {
        free(hits.found);
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t h = 0; h < hits.used; h++) {
        if (append_hit(out, hits.found[2 * h], (int32_t)hits.found[2 * h + 1]) < 0) {
            free(hits.found);
            Py_DECREF(out);
            return NULL;
        }
    }
    free(hits.found);
    return out;
}

static Py_ssize_t Matcher_len(MatcherObject *self) { return self->count; }

static PyObject *Matcher_route(MatcherObject *self, void *closure) {
    (void)closure;
    return PyUnicode_FromString(ROUTE_NAMES[self->route]);
}

static PyGetSetDef Matcher_getset[] = {
    {"route", (getter)Matcher_route, NULL, "the route find() takes: avx2, ssse3 or scalar",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

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
    .tp_doc = "Matcher(needles, route=None): a compiled set of lower-case byte needles (2+ "
              "bytes each); route: one of ROUTES (default: the first, the fastest).",
    .tp_basicsize = sizeof(MatcherObject),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Matcher_init,
    .tp_dealloc = (destructor)Matcher_dealloc,
    .tp_methods = Matcher_methods,
    .tp_getset = Matcher_getset,
    .tp_as_sequence = &Matcher_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "veil.audit._multiscan",
    .m_doc = "Compiled multi-needle, ASCII-case-insensitive byte scanner (see multiscan.py).",
    .m_size = -1,
};

/* Which routes this CPU (and its OS, for the AVX state) supports, the fastest first. */
static PyObject *detect_routes(void) {
#ifdef MULTISCAN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("ssse3")) {
        SUPPORTED_ROUTES |= 1 << ROUTE_SSSE3;
        BEST_ROUTE = ROUTE_SSSE3;
    }
    if (__builtin_cpu_supports("avx2")) {
        SUPPORTED_ROUTES |= 1 << ROUTE_AVX2;
        BEST_ROUTE = ROUTE_AVX2;
    }
#endif
    PyObject *routes = PyList_New(0);
    if (routes == NULL) {
        return NULL;
    }
    for (int r = ROUTE_AVX2; r >= ROUTE_SCALAR; r--) {
        if (!(SUPPORTED_ROUTES & (1 << r))) {
            continue;
        }
        PyObject *name = PyUnicode_FromString(ROUTE_NAMES[r]);
        if (name == NULL || PyList_Append(routes, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(routes);
            return NULL;
        }
        Py_DECREF(name);
    }
    PyObject *tuple = PyList_AsTuple(routes);
    Py_DECREF(routes);
    return tuple;
}

PyMODINIT_FUNC PyInit__multiscan(void) {
    for (int c = 0; c < 256; c++) {
        FOLD[c] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : (unsigned char)c;
    }
    if (PyType_Ready(&MatcherType) < 0) {
        return NULL;
    }
    PyObject *routes = detect_routes();
    if (routes == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        Py_DECREF(routes);
        return NULL;
    }
    if (PyModule_AddObject(m, "ROUTES", routes) < 0) {
        Py_DECREF(routes);
        Py_DECREF(m);
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
