/* CPU registers by field name from a decoded section (ds-cpufield.h). */
#include <string.h>

#include "ds-cpufield.h"
#include "ds-decode.h"
#include "mr-error.h"

gboolean
ds_cpu_section_open(DsCpuSection *cs, MrFile *f, MrSection *s, GError **err)
{
    json_object *decoded;

    memset(cs, 0, sizeof(*cs));
    cs->file = f;
    cs->section = s;
    if (s->desc == NULL) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "device section \"%s\" instance %u: the file has no "
                     "vmdesc, so the CPU registers cannot be found by name",
                     s->idstr, s->instance_id);
        return FALSE;
    }
    cs->device = ds_decode_section(f, s, err);
    if (cs->device == NULL)
        return FALSE;
    if (json_object_object_get_ex(cs->device, "decoded", &decoded) &&
        !json_object_get_boolean(decoded)) {
        json_object *why = NULL;
        json_object_object_get_ex(cs->device, "reason", &why);
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "device section \"%s\" instance %u was not decoded: %s",
                     s->idstr, s->instance_id,
                     why ? json_object_get_string(why) : "no reason given");
        ds_cpu_section_close(cs);
        return FALSE;
    }
    return TRUE;
}

void
ds_cpu_section_close(DsCpuSection *cs)
{
    if (cs->device)
        json_object_put(cs->device);
    cs->device = NULL;
}

json_object *
ds_cpu_scope(const DsCpuSection *cs, const char *sub)
{
    json_object *subs, *o;

    if (sub == NULL)
        return cs->device;
    if (!json_object_object_get_ex(cs->device, "subsections", &subs) ||
        !json_object_object_get_ex(subs, sub, &o))
        return NULL;
    return o;
}

guint
ds_cpu_count(json_object *scope, const char *name)
{
    json_object *fields, *node, *len;

    if (scope == NULL || !json_object_object_get_ex(scope, "fields", &fields) ||
        !json_object_object_get_ex(fields, name, &node))
        return 0;
    if (json_object_is_type(node, json_type_array))
        return (guint)json_object_array_length(node);
    if (json_object_object_get_ex(node, "array_len", &len))
        return (guint)json_object_get_uint64(len);
    return 1;
}

static gboolean
fail(const DsCpuSection *cs, json_object *at, const char *name, guint index,
     const char *member, GError **err, const char *what)
{
    json_object *off;
    guint64 offset = cs->section->offset;

    if (at && json_object_object_get_ex(at, "offset", &off))
        offset = json_object_get_uint64(off);
    mr_set_error(err, MR_ERROR_UNSUPPORTED, cs->file->path, offset,
                 "device section \"%s\" instance %u: field \"%s\"[%u]%s%s: %s",
                 cs->section->idstr, cs->section->instance_id, name, index,
                 member ? "." : "", member ? member : "", what);
    return FALSE;
}

/* The leaf node and, for a compressed array, its value element. */
static gboolean
find_leaf(const DsCpuSection *cs, json_object *scope, const char *name,
          guint index, const char *member, guint size, json_object **value,
          GError **err)
{
    json_object *fields, *node, *o, *sz, *len;

    if (scope == NULL || !json_object_object_get_ex(scope, "fields", &fields) ||
        !json_object_object_get_ex(fields, name, &node))
        return fail(cs, NULL, name, index, member, err,
                    scope ? "absent" : "its subsection is absent");
    if (json_object_is_type(node, json_type_array)) {
        if (index >= json_object_array_length(node))
            return fail(cs, NULL, name, index, member, err, "absent");
        node = json_object_array_get_idx(node, index);
        index = 0;
    }
    if (member) {
        if (!json_object_object_get_ex(node, "fields", &o) ||
            !json_object_object_get_ex(o, member, &node) ||
            json_object_is_type(node, json_type_array))
            return fail(cs, node, name, index, member, err,
                        "not a struct with that member");
    }
    if (!json_object_object_get_ex(node, "size", &sz) ||
        json_object_get_uint64(sz) != size)
        return fail(cs, node, name, index, member, err,
                    "its size is not the register's");
    if (!json_object_object_get_ex(node, "value", &o))
        return fail(cs, node, name, index, member, err, "has no value");
    if (json_object_object_get_ex(node, "array_len", &len)) {
        if (!json_object_is_type(o, json_type_array) ||
            index >= json_object_array_length(o))
            return fail(cs, node, name, index, member, err,
                        "array too short");
        o = json_object_array_get_idx(o, index);
    } else if (index != 0) {
        return fail(cs, node, name, index, member, err, "not an array");
    }
    *value = o;
    return TRUE;
}

gboolean
ds_cpu_uint(const DsCpuSection *cs, json_object *scope, const char *name,
            guint index, const char *member, guint size, guint64 *out,
            GError **err)
{
    json_object *v;

    if (!find_leaf(cs, scope, name, index, member, size, &v, err))
        return FALSE;
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v) ? 1 : 0;
        return TRUE;
    }
    if (!json_object_is_type(v, json_type_int))
        return fail(cs, NULL, name, index, member, err,
                    "not an integer type");
    *out = json_object_get_uint64(v);
    if (json_object_get_int64(v) < 0)
        *out = (guint64)json_object_get_int64(v);
    if (size < 8)
        *out &= (G_GUINT64_CONSTANT(1) << (size * 8)) - 1;
    return TRUE;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

gboolean
ds_cpu_bytes(const DsCpuSection *cs, json_object *scope, const char *name,
             guint index, const char *member, guint size, guint8 *out,
             GError **err)
{
    json_object *v;
    const char *s;

    if (!find_leaf(cs, scope, name, index, member, size, &v, err))
        return FALSE;
    if (!json_object_is_type(v, json_type_string) ||
        (gsize)json_object_get_string_len(v) != 2 * (gsize)size)
        return fail(cs, NULL, name, index, member, err, "not a byte string");
    s = json_object_get_string(v);
    for (guint i = 0; i < size; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(cs, NULL, name, index, member, err, "not hex");
        out[i] = (guint8)(hi << 4 | lo);
    }
    return TRUE;
}
