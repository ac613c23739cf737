/* The fast path's parse of an explicit VR little endian element stream, compiled.
 *
 * explicit_level(data, pos, end, depth, top, last) is veil.engine.fast.parse._explicit_level
 * (with its _element, _items and _level for explicit VR) in C: the same tree of the same
 * Element and Item objects, or the same Unsupported(reason) raised by the same check in the
 * same order. parse.py stays the reference and the fallback; tests compare the two on real,
 * generated, cut and damaged files (tests/engine/test_fast_parse_backends.py).
 *
 * The Element and Item classes are parse.py's own slotted dataclasses, handed over by
 * bind(): a record is allocated with the class's tp_alloc and its slots are filled at the
 * offsets the class lists in tp_members, without a call of the generated __init__ (which
 * only stores its arguments). That call was most of the cost of the Python loop; the values
 * stored are the very objects Python would store (the VR strings are parse.py's own).
 * bind() refuses a class whose layout it does not know (a __dict__, another base, a slot it
 * would not fill), and parse.py then keeps its Python loop.
 *
 * Bounds: every read is checked against `end`, and `end` against the buffer's size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

#ifdef Py_T_OBJECT_EX
#define OBJECT_EX Py_T_OBJECT_EX
#define READ_ONLY Py_READONLY
#else
#define OBJECT_EX T_OBJECT_EX
#define READ_ONLY READONLY
#endif

#define UNDEFINED 0xFFFFFFFFu
#define ITEM 0xFFFEE000LL
#define ITEM_END 0xFFFEE00DLL
#define SEQUENCE_END 0xFFFEE0DDLL
#define ALL (1LL << 32) /* parse.py's _ALL: above every tag, read to the end */
#define MAX_VRS 64

enum { E_TAG, E_VR, E_START, E_VALUE_START, E_VALUE_END, E_END, E_UNDEFINED, E_ITEMS, E_FIELDS };
enum { I_START, I_VALUE_START, I_VALUE_END, I_END, I_UNDEFINED, I_ELEMENTS, I_FIELDS };
static const char *const ELEMENT_FIELDS[E_FIELDS] = {
    "tag", "vr", "start", "value_start", "value_end", "end", "undefined", "items"};
static const char *const ITEM_FIELDS[I_FIELDS] = {
    "start", "value_start", "value_end", "end", "undefined", "elements"};

/* What bind() was given (NULL until then). */
static PyTypeObject *element_type;
static PyTypeObject *item_type;
static PyObject *unsupported;
static Py_ssize_t element_offsets[E_FIELDS];
static Py_ssize_t item_offsets[I_FIELDS];
static int max_depth = 32;
/* The two raw VR bytes (little endian as a 16-bit number) -> index in vr_names, or -1. */
static int8_t vr_index[65536];
static PyObject *vr_names[MAX_VRS];
static char vr_long[MAX_VRS];
static int vr_sq = -1, vr_un = -1;

typedef struct {
    const unsigned char *data;
} Stream;

static uint32_t u16(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static uint32_t u32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Raise Unsupported(reason); returns NULL for the caller to return. */
static PyObject *refuse(const char *reason) {
    PyObject *exc = PyObject_CallFunction(unsupported, "s", reason);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static void put(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    *(PyObject **)((char *)obj + offset) = value; /* steals the reference */
}

/* A new, empty record of `type` (its slots NULL); NULL (and an exception) on failure. The
 * caller sets every slot before anything else can see the record. */
static PyObject *record(PyTypeObject *type) { return type->tp_alloc(type, 0); }

/* Four positions as ints; `value_end` shares `end`'s object when equal, as in parse.py. */
static int positions(PyObject *out[4], Py_ssize_t start, Py_ssize_t value_start,
                     Py_ssize_t value_end, Py_ssize_t end) {
    out[0] = PyLong_FromSsize_t(start);
    out[1] = PyLong_FromSsize_t(value_start);
    out[3] = PyLong_FromSsize_t(end);
    if (value_end == end && out[3] != NULL) {
        Py_INCREF(out[3]);
        out[2] = out[3];
    } else {
        out[2] = PyLong_FromSsize_t(value_end);
    }
    if (out[0] == NULL || out[1] == NULL || out[2] == NULL || out[3] == NULL) {
        for (int i = 0; i < 4; i++) {
            Py_XDECREF(out[i]);
        }
        return -1;
    }
    return 0;
}

/* Element(tag, vr, start, value_start, value_end, end, undefined, items); steals `items`
 * (NULL: None). */
static PyObject *new_element(long long tag, int vr, Py_ssize_t start, Py_ssize_t value_start,
                             Py_ssize_t value_end, Py_ssize_t end, int undefined,
                             PyObject *items) {
    PyObject *pos[4];
    PyObject *tag_obj = PyLong_FromLongLong(tag);
    if (tag_obj == NULL || positions(pos, start, value_start, value_end, end) < 0) {
        Py_XDECREF(tag_obj);
        Py_XDECREF(items);
        return NULL;
    }
    PyObject *elem = record(element_type);
    if (elem == NULL) {
        Py_DECREF(tag_obj);
        for (int i = 0; i < 4; i++) {
            Py_DECREF(pos[i]);
        }
        Py_XDECREF(items);
        return NULL;
    }
    PyObject *flag = undefined ? Py_True : Py_False;
    Py_INCREF(flag);
    Py_INCREF(vr_names[vr]);
    if (items == NULL) {
        Py_INCREF(Py_None);
        items = Py_None;
    }
    put(elem, element_offsets[E_TAG], tag_obj);
    put(elem, element_offsets[E_VR], vr_names[vr]);
    put(elem, element_offsets[E_START], pos[0]);
    put(elem, element_offsets[E_VALUE_START], pos[1]);
    put(elem, element_offsets[E_VALUE_END], pos[2]);
    put(elem, element_offsets[E_END], pos[3]);
    put(elem, element_offsets[E_UNDEFINED], flag);
    put(elem, element_offsets[E_ITEMS], items);
    return elem;
}

/* Item(start, value_start, value_end, end, undefined, elements); steals `elements`. */
static PyObject *new_item(Py_ssize_t start, Py_ssize_t value_start, Py_ssize_t value_end,
                          Py_ssize_t end, int undefined, PyObject *elements) {
    PyObject *pos[4];
    if (positions(pos, start, value_start, value_end, end) < 0) {
        Py_DECREF(elements);
        return NULL;
    }
    PyObject *item = record(item_type);
    if (item == NULL) {
        for (int i = 0; i < 4; i++) {
            Py_DECREF(pos[i]);
        }
        Py_DECREF(elements);
        return NULL;
    }
    PyObject *flag = undefined ? Py_True : Py_False;
    Py_INCREF(flag);
    put(item, item_offsets[I_START], pos[0]);
    put(item, item_offsets[I_VALUE_START], pos[1]);
    put(item, item_offsets[I_VALUE_END], pos[2]);
    put(item, item_offsets[I_END], pos[3]);
    put(item, item_offsets[I_UNDEFINED], flag);
    put(item, item_offsets[I_ELEMENTS], elements);
    return item;
}

/* start + length > end, for start <= end, without computing a sum that could overflow a
 * 32-bit Py_ssize_t. */
static int beyond(Py_ssize_t start, uint32_t length, Py_ssize_t end) {
    return (uint64_t)length > (uint64_t)(end - start);
}

/* Append and drop the reference; -1 on failure. */
static int append(PyObject *list, PyObject *obj) {
    if (obj == NULL) {
        return -1;
    }
    int failed = PyList_Append(list, obj);
    Py_DECREF(obj);
    return failed;
}

/* data.find(b"\xfe\xff\xdd\xe0", start, end): the first sequence delimiter wholly inside. */
static Py_ssize_t find_delimiter(const unsigned char *data, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t i = start;
    while (end - i >= 4) {
        const unsigned char *hit = memchr(data + i, 0xFE, (size_t)(end - 3 - i));
        if (hit == NULL) {
            return -1;
        }
        i = hit - data;
        if (data[i + 1] == 0xFF && data[i + 2] == 0xDD && data[i + 3] == 0xE0) {
            return i;
        }
        i++;
    }
    return -1;
}

static PyObject *level(const Stream *s, Py_ssize_t pos, Py_ssize_t end, int depth, int top,
                       long long last, Py_ssize_t *stop);

/* parse.py's _level for explicit VR (a nested dataset: not top, read to the end). */
static PyObject *nested(const Stream *s, Py_ssize_t pos, Py_ssize_t end, int depth,
                        Py_ssize_t *stop) {
    if (depth > max_depth) {
        return refuse("nesting too deep");
    }
    return level(s, pos, end, depth, 0, ALL, stop);
}

/* parse.py's _items: the items of a sequence from `pos`; `*after` the position after it. */
static PyObject *items(const Stream *s, Py_ssize_t pos, Py_ssize_t end, int depth,
                       int undefined, Py_ssize_t *after) {
    const unsigned char *data = s->data;
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (;;) {
        if (!undefined && pos == end) {
            *after = pos;
            return list;
        }
        if (pos + 8 > end) {
            goto truncated;
        }
        long long tag = ((long long)u16(data + pos) << 16) | u16(data + pos + 2);
        uint32_t length = u32(data + pos + 4);
        if (tag == SEQUENCE_END) {
            if (!undefined || length != 0) {
                Py_DECREF(list);
                return refuse("unexpected sequence delimiter");
            }
            *after = pos + 8;
            return list;
        }
        if (tag != ITEM) {
            Py_DECREF(list);
            return refuse("not an item in a sequence");
        }
        Py_ssize_t start = pos + 8, stop;
        PyObject *item;
        if (length == UNDEFINED) {
            PyObject *elements = nested(s, start, end, depth + 1, &stop);
            if (elements == NULL) {
                goto failed;
            }
            if (stop + 8 > end || u16(data + stop) != 0xFFFE || u16(data + stop + 2) != 0xE00D ||
                u32(data + stop + 4) != 0) {
                Py_DECREF(elements);
                Py_DECREF(list);
                return refuse("item not closed");
            }
            item = new_item(pos, start, stop, stop + 8, 1, elements);
            pos = stop + 8;
        } else {
            if (beyond(start, length, end)) {
                goto truncated;
            }
            Py_ssize_t item_end = start + (Py_ssize_t)length;
            PyObject *elements = nested(s, start, item_end, depth + 1, &stop);
            if (elements == NULL) {
                goto failed;
            }
            if (stop != item_end) {
                Py_DECREF(elements);
                Py_DECREF(list);
                return refuse("item length mismatch");
            }
            item = new_item(pos, start, item_end, item_end, 0, elements);
            pos = item_end;
        }
        if (append(list, item) < 0) {
            goto failed;
        }
    }
truncated:
    Py_DECREF(list);
    return refuse("truncated");
failed:
    Py_DECREF(list);
    return NULL;
}

/* parse.py's _element for explicit VR: the element whose header is at `pos` and value at
 * `start`, sequences parsed; `*after` its end. */
static PyObject *element(const Stream *s, long long tag, int vr, Py_ssize_t pos,
                         Py_ssize_t start, uint32_t length, Py_ssize_t end, int depth,
                         Py_ssize_t *after) {
    if (length == UNDEFINED) {
        if (vr == vr_sq) {
            PyObject *found = items(s, start, end, depth, 1, after);
            if (found == NULL) {
                return NULL;
            }
            return new_element(tag, vr, pos, start, *after - 8, *after, 1, found);
        }
        if (vr == vr_un) {
            return refuse("UN of undefined length");
        }
        /* Encapsulated pixel data (or another undefined-length value): up to the first
         * sequence delimiter, as the reference reader finds it. */
        Py_ssize_t stop = find_delimiter(s->data, start, end);
        if (stop < 0 || stop + 8 > end) {
            return refuse("truncated");
        }
        *after = stop + 8;
        return new_element(tag, vr, pos, start, stop, stop + 8, 1, NULL);
    }
    if (beyond(start, length, end)) {
        return refuse("truncated");
    }
    Py_ssize_t value_end = start + (Py_ssize_t)length;
    *after = value_end;
    if (vr == vr_sq) {
        Py_ssize_t last;
        PyObject *found = items(s, start, value_end, depth, 0, &last);
        if (found == NULL) {
            return NULL;
        }
        if (last != value_end) {
            Py_DECREF(found);
            return refuse("sequence length mismatch");
        }
        return new_element(tag, vr, pos, start, value_end, value_end, 0, found);
    }
    return new_element(tag, vr, pos, start, value_end, value_end, 0, NULL);
}

/* parse.py's _delimiter: the reason to refuse a delimiter found where an element header was
 * expected, or NULL when it ends the level (an item's end, in an item). */
static const char *delimiter_refusal(long long tag, int top, long long last) {
    if (last != ALL) {
        return "elements out of order"; /* `parse_head`'s word for it */
    }
    if (tag != ITEM_END) {
        return "delimiter out of place";
    }
    if (top) {
        return "delimiter outside a sequence";
    }
    return NULL;
}

/* parse.py's _explicit_level: the elements of one dataset in [pos, end); stops at an item
 * delimiter (not consumed) or before the first element past tag `last`. */
static PyObject *level(const Stream *s, Py_ssize_t pos, Py_ssize_t end, int depth, int top,
                       long long last, Py_ssize_t *stop) {
    const unsigned char *data = s->data;
    PyObject *elements = PyList_New(0);
    if (elements == NULL) {
        return NULL;
    }
    long long previous = -1;
    while (pos < end) {
        if (pos + 8 > end) {
            goto truncated;
        }
        const unsigned char *header = data + pos;
        uint32_t group = u16(header);
        long long tag = ((long long)group << 16) | u16(header + 2);
        if (group == 0xFFFE) {
            const char *refusal = delimiter_refusal(tag, top, last);
            if (refusal != NULL) {
                Py_DECREF(elements);
                return refuse(refusal);
            }
            *stop = pos;
            return elements;
        }
        int vr = vr_index[u16(header + 4)];
        if (vr < 0) {
            Py_DECREF(elements);
            return refuse("unknown VR");
        }
        uint32_t length;
        Py_ssize_t start;
        if (vr_long[vr]) {
            if (pos + 12 > end) {
                goto truncated;
            }
            length = u32(header + 8);
            start = pos + 12;
        } else {
            length = u16(header + 6);
            start = pos + 8;
        }
        if (tag <= previous) {
            Py_DECREF(elements);
            return refuse("elements out of order");
        }
        if (tag > last) {
            *stop = pos;
            return elements;
        }
        previous = tag;
        Py_ssize_t after;
        if (append(elements, element(s, tag, vr, pos, start, length, end, depth, &after)) < 0) {
            Py_DECREF(elements);
            return NULL;
        }
        pos = after;
    }
    if (pos != end) {
        goto truncated;
    }
    *stop = pos;
    return elements;
truncated:
    Py_DECREF(elements);
    return refuse("truncated");
}

static PyObject *explicit_level(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t pos, end, stop = 0;
    int depth, top;
    long long last = ALL;
    if (!PyArg_ParseTuple(args, "y*nnip|L", &view, &pos, &end, &depth, &top, &last)) {
        return NULL;
    }
    if (element_type == NULL) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "explicit_level before bind");
        return NULL;
    }
    if (pos < 0 || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "positions outside the data");
        return NULL;
    }
    Stream s = {(const unsigned char *)view.buf};
    PyObject *elements = level(&s, pos, end, depth, top, last, &stop);
    PyBuffer_Release(&view);
    if (elements == NULL) {
        return NULL;
    }
    PyObject *result = Py_BuildValue("(Nn)", elements, stop);
    return result;
}

/* -- raw_scan: veil.engine.fast.header._raw_scan_python in C --------------------------------
 *
 * raw_scan(elements, data, tags, apart, pixel_tags, charset, implicit) -> (key, apart's (VR,
 * value) or None, charset's (VR, value) or None, creators [(tag, VR, value)]): the facts
 * memo's reading of a parsed top level, one C pass over the Element records (their slots read
 * at bind()'s offsets) instead of a Python loop over ~150 of them. A record that is not of the
 * bound classes, or a position outside the buffer, raises TypeError/ValueError and header.py
 * runs its Python loop, which stays the reference (tests compare the two). */
#define SCAN_MAX_DEPTH 64

typedef struct {
    const char *data;
    Py_ssize_t size;
} Buffer;

static PyObject *slot(PyObject *obj, Py_ssize_t offset) {
    return *(PyObject **)((char *)obj + offset);
}

/* A position slot as a size in [0, size]; -1 (and an exception) otherwise. */
static Py_ssize_t position_of(PyObject *obj, Py_ssize_t offset, Py_ssize_t size) {
    PyObject *value = slot(obj, offset);
    if (value == NULL || !PyLong_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: a position that is not an int");
        return -1;
    }
    Py_ssize_t at = PyLong_AsSsize_t(value);
    if (at == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (at < 0 || at > size) {
        PyErr_SetString(PyExc_ValueError, "raw_scan: a position outside the buffer");
        return -1;
    }
    return at;
}

/* data[start:end] as bytes (empty when end <= start, as a Python slice). */
static PyObject *slice_of(const Buffer *b, Py_ssize_t start, Py_ssize_t end) {
    return PyBytes_FromStringAndSize(b->data + start, end > start ? end - start : 0);
}

/* The element's tag as a C number (and its object in *obj); -1 (exception) if not one. */
static long long tag_of_element(PyObject *elem, PyObject **obj) {
    if (Py_TYPE(elem) != element_type) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: not an Element");
        return -1;
    }
    PyObject *tag = slot(elem, element_offsets[E_TAG]);
    if (tag == NULL || !PyLong_CheckExact(tag)) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: a tag that is not an int");
        return -1;
    }
    long long value = PyLong_AsLongLong(tag);
    if (value < 0 || value >= ALL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "raw_scan: a tag out of range");
        }
        return -1;
    }
    *obj = tag;
    return value;
}

/* (VR, data[value_start:value_end]) of an element, or NULL. */
static PyObject *vr_and_value(PyObject *elem, const Buffer *b) {
    PyObject *vr = slot(elem, element_offsets[E_VR]);
    Py_ssize_t start = position_of(elem, element_offsets[E_VALUE_START], b->size);
    Py_ssize_t end = start < 0 ? -1 : position_of(elem, element_offsets[E_VALUE_END], b->size);
    if (end < 0) {
        return NULL;
    }
    if (vr == NULL) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: no VR");
        return NULL;
    }
    return Py_BuildValue("(ON)", vr, slice_of(b, start, end));
}

static int is_private_creator(long long tag) {
    return (tag & 0x10000) && (tag & 0xFFFF) >= 0x10 && (tag & 0xFFFF) <= 0xFF;
}

static int scan_creators(PyObject *elements, const Buffer *b, PyObject *found, int depth);

/* The creators inside a sequence element's items (header.private_creator_elements). */
static int scan_items(PyObject *elem, const Buffer *b, PyObject *found, int depth) {
    PyObject *items = slot(elem, element_offsets[E_ITEMS]);
    if (items == NULL || items == Py_None) {
        return 0;
    }
    if (!PyList_CheckExact(items)) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: items that are not a list");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (Py_TYPE(item) != item_type) {
            PyErr_SetString(PyExc_TypeError, "raw_scan: not an Item");
            return -1;
        }
        PyObject *inner = slot(item, item_offsets[I_ELEMENTS]);
        if (inner == NULL || !PyList_CheckExact(inner)) {
            PyErr_SetString(PyExc_TypeError, "raw_scan: item elements that are not a list");
            return -1;
        }
        if (scan_creators(inner, b, found, depth + 1) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Append (tag, VR, value) of a private creator element to `found`. */
static int add_creator(PyObject *elem, PyObject *tag_obj, const Buffer *b, PyObject *found) {
    PyObject *pair = vr_and_value(elem, b);
    if (pair == NULL) {
        return -1;
    }
    PyObject *entry = Py_BuildValue("(OOO)", tag_obj, PyTuple_GET_ITEM(pair, 0),
                                    PyTuple_GET_ITEM(pair, 1));
    Py_DECREF(pair);
    if (entry == NULL) {
        return -1;
    }
    int failed = PyList_Append(found, entry);
    Py_DECREF(entry);
    return failed;
}

static int scan_creators(PyObject *elements, const Buffer *b, PyObject *found, int depth) {
    if (depth > SCAN_MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "raw_scan: nesting too deep");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(elements); i++) {
        PyObject *elem = PyList_GET_ITEM(elements, i), *tag_obj;
        long long tag = tag_of_element(elem, &tag_obj);
        if (tag < 0) {
            return -1;
        }
        int failed = is_private_creator(tag) ? add_creator(elem, tag_obj, b, found)
                                              : scan_items(elem, b, found, depth);
        if (failed < 0) {
            return -1;
        }
    }
    return 0;
}

/* The key's runs of adjacent elements: (start, end) pairs, grown as needed. */
typedef struct {
    Py_ssize_t *at;
    Py_ssize_t count, capacity, total;
} Runs;

static int add_run(Runs *runs, Py_ssize_t start, Py_ssize_t end) {
    if (runs->count == runs->capacity) {
        Py_ssize_t capacity = runs->capacity ? runs->capacity * 2 : 16;
        Py_ssize_t *grown = PyMem_Realloc(runs->at, (size_t)capacity * 2 * sizeof(Py_ssize_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        runs->at = grown;
        runs->capacity = capacity;
    }
    runs->at[2 * runs->count] = start;
    runs->at[2 * runs->count + 1] = end;
    runs->count++;
    runs->total += end > start ? end - start : 0;
    return 0;
}

static PyObject *joined(const Runs *runs, const Buffer *b, int implicit) {
    PyObject *key = PyBytes_FromStringAndSize(NULL, runs->total + 1);
    if (key == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(key);
    *out++ = implicit ? '\1' : '\0'; /* the header layout */
    for (Py_ssize_t i = 0; i < runs->count; i++) {
        Py_ssize_t start = runs->at[2 * i], end = runs->at[2 * i + 1];
        if (end > start) {
            memcpy(out, b->data + start, (size_t)(end - start));
            out += end - start;
        }
    }
    return key;
}

typedef struct {
    PyObject *tags, *pixel, *found;
    long long apart, charset;
    PyObject *moved, *charset_value;
    Runs runs;
    Py_ssize_t start, end; /* the run being built (end -1: none yet) */
} Scan;

/* One top-level element among the tags: held apart, or added to the key's runs. */
static int scan_read(Scan *s, PyObject *elem, long long tag, PyObject *tag_obj, const Buffer *b) {
    if (tag == s->apart) {
        Py_XSETREF(s->moved, vr_and_value(elem, b));
        return s->moved == NULL ? -1 : 0;
    }
    Py_ssize_t start = position_of(elem, element_offsets[E_START], b->size);
    if (start < 0) {
        return -1;
    }
    if (start != s->end) {
        if (s->end >= 0 && add_run(&s->runs, s->start, s->end) < 0) {
            return -1;
        }
        s->start = start;
    }
    int pixel = PySet_Contains(s->pixel, tag_obj);
    if (pixel < 0) {
        return -1;
    }
    s->end = position_of(elem, element_offsets[pixel ? E_VALUE_START : E_END], b->size);
    if (s->end < 0) {
        return -1;
    }
    if (tag == s->charset) {
        Py_XSETREF(s->charset_value, vr_and_value(elem, b));
        return s->charset_value == NULL ? -1 : 0;
    }
    return 0;
}

static int scan_top(Scan *s, PyObject *elements, const Buffer *b) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(elements); i++) {
        PyObject *elem = PyList_GET_ITEM(elements, i), *tag_obj;
        long long tag = tag_of_element(elem, &tag_obj);
        if (tag < 0) {
            return -1;
        }
        int read = PySet_Contains(s->tags, tag_obj);
        if (read < 0 || (read && scan_read(s, elem, tag, tag_obj, b) < 0)) {
            return -1;
        }
        int failed = is_private_creator(tag) ? add_creator(elem, tag_obj, b, s->found)
                                              : scan_items(elem, b, s->found, 0);
        if (failed < 0) {
            return -1;
        }
    }
    if (s->end >= 0) {
        return add_run(&s->runs, s->start, s->end);
    }
    return 0;
}

static PyObject *raw_scan(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *elements, *data, *tags, *pixel;
    long long apart, charset;
    int implicit;
    if (!PyArg_ParseTuple(args, "O!O!O!LO!Lp", &PyList_Type, &elements, &PyBytes_Type, &data,
                          &PyFrozenSet_Type, &tags, &apart, &PyFrozenSet_Type, &pixel, &charset,
                          &implicit)) {
        return NULL;
    }
    if (element_type == NULL || item_type == NULL) {
        PyErr_SetString(PyExc_TypeError, "raw_scan: the classes are not bound");
        return NULL;
    }
    Buffer b = {PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)};
    Scan s = {tags, pixel, PyList_New(0), apart, charset, NULL, NULL, {NULL, 0, 0, 0}, -1, -1};
    PyObject *result = NULL;
    if (s.found != NULL && scan_top(&s, elements, &b) == 0) {
        PyObject *key = joined(&s.runs, &b, implicit);
        if (key != NULL) {
            result = Py_BuildValue("(NOOO)", key, s.moved ? s.moved : Py_None,
                                   s.charset_value ? s.charset_value : Py_None, s.found);
        }
    }
    PyMem_Free(s.runs.at);
    Py_XDECREF(s.moved);
    Py_XDECREF(s.charset_value);
    Py_XDECREF(s.found);
    return result;
}

/* -- changes_key: veil.engine.fast.header._changes_key_python in C ---------------------------
 *
 * changes_key(data, chunks, spans, ordered, added) -> bytes: for each tag of `ordered` (sorted)
 * that the rewrite added (`added`: [(tag, encoded)], the last one wins) or touched (`spans`:
 * tag -> (first chunk, end chunk) of `chunks`, each a (start, end) slice of `data` or bytes),
 * in tag order: the tag and the length of its output bytes (4 bytes each, little endian), then
 * those bytes (none: removed). Equal only when the rewrite's output of those elements is: the
 * facts memo's "after" key, one hash and one compare instead of a tuple of ~13 pairs. Anything
 * not of those shapes, or a slice outside `data`, raises TypeError/ValueError and header.py
 * runs its Python route, the reference (tests compare the two). */
typedef struct {
    const char *at; /* NULL: a run of chunks (first, end) of the list */
    Py_ssize_t size, first, end;
} Part;
/* The bytes of one chunk (a slice of data, or bytes) as a pointer and a size. */
static int chunk_bytes(PyObject *chunk, const Buffer *b, const char **at, Py_ssize_t *size) {
    if (PyBytes_CheckExact(chunk)) {
        *at = PyBytes_AS_STRING(chunk);
        *size = PyBytes_GET_SIZE(chunk);
        return 0;
    }
    if (!PyTuple_CheckExact(chunk) || PyTuple_GET_SIZE(chunk) != 2) {
        PyErr_SetString(PyExc_TypeError, "changes_key: a chunk that is not bytes or a slice");
        return -1;
    }
    Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(chunk, 0));
    Py_ssize_t end = start == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(PyTuple_GET_ITEM(chunk, 1));
    if (PyErr_Occurred()) {
        return -1;
    }
    if (start < 0 || end < start || end > b->size) {
        PyErr_SetString(PyExc_ValueError, "changes_key: a slice outside the data");
        return -1;
    }
    *at = b->data + start;
    *size = end - start;
    return 0;
}
/* The part of one tag: the added element's bytes, or its span of chunks; 0 if neither. */
static int tag_part(PyObject *tag, PyObject *spans, PyObject *chunks, PyObject *added,
                    const Buffer *b, Part *part) {
    for (Py_ssize_t i = PyList_GET_SIZE(added) - 1; i >= 0; i--) {
        PyObject *pair = PyList_GET_ITEM(added, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "changes_key: an added element not (tag, bytes)");
            return -1;
        }
        int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 0), tag, Py_EQ);
        if (same < 0) {
            return -1;
        }
        if (same) {
            PyObject *encoded = PyTuple_GET_ITEM(pair, 1);
            part->at = PyBytes_AS_STRING(encoded);
            part->size = PyBytes_GET_SIZE(encoded);
            return 1;
        }
    }
    PyObject *span = PyDict_GetItemWithError(spans, tag);
    if (span == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (!PyTuple_CheckExact(span) || PyTuple_GET_SIZE(span) != 2) {
        PyErr_SetString(PyExc_TypeError, "changes_key: a span that is not (first, end)");
        return -1;
    }
    Py_ssize_t first = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 0));
    Py_ssize_t end = first == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 1));
    if (PyErr_Occurred()) {
        return -1;
    }
    if (first < 0 || end < first || end > PyList_GET_SIZE(chunks)) {
        PyErr_SetString(PyExc_ValueError, "changes_key: a span outside the chunks");
        return -1;
    }
    part->at = NULL;
    part->first = first;
    part->end = end;
    part->size = 0;
    for (Py_ssize_t i = first; i < end; i++) {
        const char *at;
        Py_ssize_t size;
        if (chunk_bytes(PyList_GET_ITEM(chunks, i), b, &at, &size) < 0) {
            return -1;
        }
        part->size += size;
    }
    return 1;
}
static void put_u32(char *out, Py_ssize_t value) {
    uint32_t v = (uint32_t)value;
    out[0] = (char)(v & 0xFF);
    out[1] = (char)((v >> 8) & 0xFF);
    out[2] = (char)((v >> 16) & 0xFF);
    out[3] = (char)((v >> 24) & 0xFF);
}
#define CHANGES_MAX_TAGS 512
static PyObject *changes_key(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data, *chunks, *spans, *ordered, *added;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!", &PyBytes_Type, &data, &PyList_Type, &chunks,
                          &PyDict_Type, &spans, &PyTuple_Type, &ordered, &PyList_Type, &added)) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(ordered);
    if (count > CHANGES_MAX_TAGS) {
        PyErr_SetString(PyExc_ValueError, "changes_key: too many tags");
        return NULL;
    }
    Buffer b = {PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)};
    Part parts[CHANGES_MAX_TAGS];
    uint32_t tags[CHANGES_MAX_TAGS];
    Py_ssize_t used = 0, total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *tag = PyTuple_GET_ITEM(ordered, i);
        long long value = PyLong_Check(tag) ? PyLong_AsLongLong(tag) : -1;
        if (value < 0 || value > 0xFFFFFFFFLL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "changes_key: a tag that is not a tag");
            }
            return NULL;
        }
        int found = tag_part(tag, spans, chunks, added, &b, &parts[used]);
        if (found < 0) {
            return NULL;
        }
        if (found) {
            if (parts[used].size > 0xFFFFFFFFLL) {
                PyErr_SetString(PyExc_ValueError, "changes_key: an element too long");
                return NULL;
            }
            tags[used] = (uint32_t)value;
            total += 8 + parts[used].size;
            used++;
        }
    }
    PyObject *key = PyBytes_FromStringAndSize(NULL, total);
    if (key == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 0; i < used; i++) {
        put_u32(out, tags[i]);
        put_u32(out + 4, parts[i].size);
        out += 8;
        if (parts[i].at != NULL) {
            memcpy(out, parts[i].at, (size_t)parts[i].size);
            out += parts[i].size;
            continue;
        }
        for (Py_ssize_t c = parts[i].first; c < parts[i].end; c++) {
            const char *at;
            Py_ssize_t size;
            /* (checked in the first pass: cannot fail) */
            if (chunk_bytes(PyList_GET_ITEM(chunks, c), &b, &at, &size) < 0) {
                Py_DECREF(key);
                return NULL;
            }
            if (size > 0) {
                memcpy(out, at, (size_t)size);
            }
            out += size;
        }
    }
    return key;
}

/* The slot offsets of a slotted class whose slots are exactly `names`; -1 if it is not one. */
static int slot_offsets(PyTypeObject *type, const char *const *names, int count,
                        Py_ssize_t *offsets) {
    if (!PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE) || type->tp_base != &PyBaseObject_Type ||
        type->tp_dictoffset != 0 || type->tp_itemsize != 0 || type->tp_members == NULL ||
        type->tp_alloc == NULL || type->tp_new != PyBaseObject_Type.tp_new) {
        return -1;
    }
    int seen = 0;
    for (PyMemberDef *m = type->tp_members; m->name != NULL; m++) {
        int found = -1;
        for (int i = 0; i < count; i++) {
            if (strcmp(m->name, names[i]) == 0) {
                found = i;
            }
        }
        if (found < 0 || m->type != OBJECT_EX || (m->flags & READ_ONLY) ||
            m->offset < (Py_ssize_t)sizeof(PyObject) || m->offset >= type->tp_basicsize) {
            return -1;
        }
        offsets[found] = m->offset;
        seen++;
    }
    return seen == count ? 0 : -1;
}

static int bind_vrs(PyObject *raw_vrs) {
    PyObject *key, *value;
    Py_ssize_t at = 0;
    int count = 0;
    memset(vr_index, -1, sizeof(vr_index));
    vr_sq = vr_un = -1;
    while (PyDict_Next(raw_vrs, &at, &key, &value)) {
        PyObject *name;
        int is_long;
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) != 2 || count >= MAX_VRS ||
            !PyArg_ParseTuple(value, "Up", &name, &is_long)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "raw_vrs: {2 bytes: (VR, long)} expected");
            return -1;
        }
        const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(key);
        Py_INCREF(name);
        Py_XSETREF(vr_names[count], name);
        vr_long[count] = (char)is_long;
        vr_index[u16(raw)] = (int8_t)count;
        if (PyUnicode_CompareWithASCIIString(name, "SQ") == 0) {
            vr_sq = count;
        } else if (PyUnicode_CompareWithASCIIString(name, "UN") == 0) {
            vr_un = count;
        }
        count++;
    }
    return 0;
}

static PyObject *bind(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *element, *item, *exc, *raw_vrs;
    int depth;
    if (!PyArg_ParseTuple(args, "O!O!OO!i", &PyType_Type, &element, &PyType_Type, &item, &exc,
                          &PyDict_Type, &raw_vrs, &depth)) {
        return NULL;
    }
    Py_CLEAR(element_type); /* unbound until all is in place: a refused bind leaves it so */
    Py_ssize_t e_offsets[E_FIELDS], i_offsets[I_FIELDS];
    if (slot_offsets((PyTypeObject *)element, ELEMENT_FIELDS, E_FIELDS, e_offsets) < 0 ||
        slot_offsets((PyTypeObject *)item, ITEM_FIELDS, I_FIELDS, i_offsets) < 0) {
        PyErr_SetString(PyExc_TypeError, "Element or Item is not the slotted class expected");
        return NULL;
    }
    if (bind_vrs(raw_vrs) < 0) {
        return NULL;
    }
    memcpy(element_offsets, e_offsets, sizeof(e_offsets));
    memcpy(item_offsets, i_offsets, sizeof(i_offsets));
    max_depth = depth;
    Py_INCREF(element);
    Py_XSETREF(element_type, (PyTypeObject *)element);
    Py_INCREF(item);
    Py_XSETREF(item_type, (PyTypeObject *)item);
    Py_INCREF(exc);
    Py_XSETREF(unsupported, exc);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(Element, Item, Unsupported, raw_vrs, max_depth): the classes and tables to use."},
    {"explicit_level", explicit_level, METH_VARARGS,
     "explicit_level(data, pos, end, depth, top, last=1<<32) -> (elements, stop)."},
    {"raw_scan", raw_scan, METH_VARARGS,
     "raw_scan(elements, data, tags, apart, pixel_tags, charset, implicit) -> (key, apart, "
     "charset, creators): veil.engine.fast.header.raw_scan in C."},
    {"changes_key", changes_key, METH_VARARGS,
     "changes_key(data, chunks, spans, ordered, added) -> bytes: "
     "veil.engine.fast.header.changes_key in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "veil.engine.fast._parse",
    .m_doc = "Compiled parse of an explicit VR little endian element stream (see parse.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__parse(void) { return PyModule_Create(&module); }
