/* Leaf encodings of docs/FORMAT.md §13.5, bytes to JSON. */
#include <math.h>
#include <string.h>

#include "ds-decode.h"

static guint64
be(const guint8 *p, gsize n)
{
    guint64 v = 0;

    for (gsize i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static json_object *
hex_string(const guint8 *p, gsize n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = g_malloc(2 * n + 1);
    json_object *o;

    for (gsize i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    o = json_object_new_string_len(s, (int)(2 * n));
    g_free(s);
    return o;
}

static json_object *
integer(const char *type, const guint8 *p, gsize size)
{
    gboolean is_signed = type[0] == 'i';
    guint64 v = be(p, size);

    if (!is_signed || size == 0)
        return json_object_new_uint64(v);
    if (size < 8 && (v >> (size * 8 - 1)) & 1)
        v |= ~G_GUINT64_CONSTANT(0) << (size * 8);
    return json_object_new_int64((gint64)v);
}

json_object *
ds_leaf_value(const char *type, const guint8 *p, gsize size)
{
    static const struct { const char *name; gsize size; } ints[] = {
        { "int8", 1 }, { "uint8", 1 }, { "int16", 2 }, { "uint16", 2 },
        { "int32", 4 }, { "uint32", 4 }, { "int64", 8 }, { "uint64", 8 },
        { "int32 equal", 4 }, { "uint32 equal", 4 }, { "uint8 equal", 1 },
        { "uint16 equal", 2 }, { "int32 le", 4 }, { "timer", 8 },
    };

    if (type == NULL)
        return hex_string(p, size);
    for (gsize i = 0; i < G_N_ELEMENTS(ints); i++) {
        if (g_str_equal(type, ints[i].name) && size == ints[i].size)
            return integer(g_str_equal(type, "timer") ? "int64" : type, p, size);
    }
    /* "int64 equal" is stored as an unsigned 64-bit value (§13.5). */
    if (g_str_equal(type, "int64 equal") && size == 8)
        return json_object_new_uint64(be(p, 8));
    if (g_str_equal(type, "bool") && size == 1)
        return json_object_new_boolean(p[0] != 0);
    if (g_str_equal(type, "nullptr") && size == 1)
        return NULL;
    if (g_str_equal(type, "float64") && size == 8) {
        guint64 bits = be(p, 8);
        double d;
        memcpy(&d, &bits, sizeof(d));
        /* JSON has no NaN or infinities (RFC 8259 §6; json-c would print
         * a bare NaN that most parsers refuse): keep the bits as hex. */
        if (!isfinite(d))
            return hex_string(p, size);
        return json_object_new_double(d);
    }
    if (g_str_equal(type, "pci irq state") && size == 16) {
        json_object *a = json_object_new_array();
        for (int i = 0; i < 4; i++)
            json_object_array_add(a, json_object_new_int64((gint32)be(p + 4 * i, 4)));
        return a;
    }
    return hex_string(p, size);
}
