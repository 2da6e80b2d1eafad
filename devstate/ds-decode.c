/* Building a section's JSON from the walk's visitor calls: a stack of frames,
 * one per struct or subsection being decoded. */
#include "ds-decode.h"

#include <string.h>

#include "mr-cursor.h"
#include "mr-devwalk.h"
#include "mr-error.h"
#include "mr-summary.h"

typedef struct {
    json_object *node;   /* the struct/subsection/device object */
    json_object *fields; /* its "fields" object */
    guint64 offset;
} Frame;

typedef struct {
    MrSection *s;
    const guint8 *bytes; /* the section, from s->offset */
    GArray *stack;       /* Frame */
} Decoder;

static Frame *
top(Decoder *d)
{
    return &g_array_index(d->stack, Frame, d->stack->len - 1);
}

static const char *
str_of(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* Adds node under name; a repeated name (an uncompressed array, §13.2)
 * turns the entry into a list of its elements. */
static void
add_named(json_object *fields, const char *name, json_object *node)
{
    json_object *old;

    if (!json_object_object_get_ex(fields, name, &old)) {
        json_object_object_add(fields, name, node);
        return;
    }
    if (!json_object_is_type(old, json_type_array)) {
        json_object *list = json_object_new_array();
        json_object_array_add(list, json_object_get(old));
        json_object_object_add(fields, name, list);
        old = list;
    }
    json_object_array_add(old, node);
}

static json_object *
new_field(const char *type, guint64 offset, guint64 size)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "offset", json_object_new_uint64(offset));
    json_object_object_add(o, "size", json_object_new_uint64(size));
    return o;
}

static gboolean
on_leaf(void *ud, json_object *field, gint64 element, guint64 offset,
        guint64 size, guint depth, GError **err)
{
    Decoder *d = ud;
    const char *name = str_of(field, "name");
    const char *type = str_of(field, "type");
    const guint8 *p = d->bytes + (offset - d->s->offset);
    json_object *value = ds_leaf_value(type, p, (gsize)size), *entry;
    Frame *f = top(d);

    if (type == NULL) {
        /* An old-style section: the walk hands over the device itself. */
        name = "data";
        type = "buffer";
    }
    if (element < 0 && json_object_object_get_ex(field, "array_len", NULL)) {
        /* An array the walk hands over whole (empty, zero-sized or long):
         * its bytes as one hex string. */
        json_object_put(value);
        entry = new_field(type, offset, size);
        json_object_object_add(entry, "array_len",
                               json_object_get(json_object_object_get(field, "array_len")));
        json_object_object_add(entry, "value", ds_leaf_value("buffer", p, (gsize)size));
        add_named(f->fields, name, entry);
        return TRUE;
    }
    if (element <= 0) {
        entry = new_field(type, offset, size);
        if (element == 0) {
            json_object *list = json_object_new_array();
            json_object *n;
            json_object_array_add(list, value);
            json_object_object_get_ex(field, "array_len", &n);
            json_object_object_add(entry, "array_len", json_object_get(n));
            json_object_object_add(entry, "value", list);
        } else {
            json_object_object_add(entry, "value", value);
        }
        add_named(f->fields, name, entry);
        return TRUE;
    }
    /* Later elements of a compressed array join the list of element 0. */
    entry = json_object_object_get(f->fields, name);
    if (json_object_is_type(entry, json_type_array))
        entry = json_object_array_get_idx(entry, json_object_array_length(entry) - 1);
    json_object_array_add(json_object_object_get(entry, "value"), value);
    return TRUE;
}

static gboolean
on_enter(void *ud, json_object *field, gint64 element, gboolean subsection,
         guint64 offset, guint depth, GError **err)
{
    Decoder *d = ud;
    Frame *parent = top(d);
    Frame f = { .node = json_object_new_object(),
                .fields = json_object_new_object(), .offset = offset };

    if (subsection) {
        json_object *subs;
        json_object_object_add(f.node, "version",
                               json_object_get(json_object_object_get(field, "version")));
        json_object_object_add(f.node, "offset", json_object_new_uint64(offset));
        if (!json_object_object_get_ex(parent->node, "subsections", &subs)) {
            subs = json_object_new_object();
            json_object_object_add(parent->node, "subsections", subs);
        }
        add_named(subs, str_of(field, "vmsd_name"), f.node);
    } else {
        json_object *sd = json_object_object_get(field, "struct");
        json_object_object_add(f.node, "type", json_object_new_string("struct"));
        const char *vmsd = str_of(sd, "vmsd_name");
        json_object_object_add(f.node, "vmsd_name",
                               json_object_new_string(vmsd ? vmsd : ""));
        json_object_object_add(f.node, "offset", json_object_new_uint64(offset));
        if (element >= 0)
            json_object_object_add(f.node, "element", json_object_new_int64(element));
        if (element == 0) {
            /* A compressed array of structs is a list, even of one. */
            json_object *list = json_object_new_array();
            json_object_array_add(list, f.node);
            add_named(parent->fields, str_of(field, "name"), list);
        } else if (element > 0) {
            json_object *list = json_object_object_get(parent->fields, str_of(field, "name"));
            if (json_object_is_type(list, json_type_array))
                json_object_array_add(list, f.node);
            else
                add_named(parent->fields, str_of(field, "name"), f.node);
        } else {
            add_named(parent->fields, str_of(field, "name"), f.node);
        }
    }
    json_object_object_add(f.node, "fields", f.fields);
    g_array_append_val(d->stack, f);
    return TRUE;
}

static gboolean
on_leave(void *ud, guint64 end, guint depth, GError **err)
{
    Decoder *d = ud;
    Frame *f = top(d);

    json_object_object_add(f->node, "size", json_object_new_uint64(end - f->offset));
    g_array_set_size(d->stack, d->stack->len - 1);
    return TRUE;
}

json_object *
ds_undecoded_section(const MrSection *s, const char *reason)
{
    json_object *dev = mr_section_json(s);

    json_object_object_add(dev, "decoded", json_object_new_boolean(FALSE));
    json_object_object_add(dev, "reason", json_object_new_string(reason));
    return dev;
}

json_object *
ds_decode_section(MrFile *f, MrSection *s, GError **err)
{
    static const MrDevVisitor visitor = { on_leaf, on_enter, on_leave };
    g_autofree guint8 *bytes = NULL;
    json_object *dev, *fields;
    Decoder d = { .s = s };
    Frame root;
    MrCursor c;
    gboolean ok;

    if (s->end_offset - s->offset > DS_DECODE_MAX_SECTION) {
        g_autofree char *why = g_strdup_printf(
            "the section has %" G_GINT64_MODIFIER "u bytes, more than the "
            "%u MiB that are decoded", s->end_offset - s->offset,
            DS_DECODE_MAX_SECTION >> 20);
        return ds_undecoded_section(s, why);
    }
    dev = mr_section_json(s);
    fields = json_object_new_object();
    root = (Frame){ .node = dev, .fields = fields, .offset = s->body_offset };

    if (s->desc == NULL) {
        /* No vmdesc: the bytes are all there is (docs/FORMAT.md §8.2). */
        g_autofree guint8 *body = g_malloc(MAX(s->body_size, 1));
        json_object_put(fields);
        if (!mr_section_read(f, s, s->body_offset, body, s->body_size, err)) {
            json_object_put(dev);
            return NULL;
        }
        json_object_object_add(dev, "decoded", json_object_new_boolean(FALSE));
        json_object_object_add(dev, "reason", json_object_new_string(
            "the snapshot has no vmdesc: only the raw bytes are known"));
        json_object_object_add(dev, "raw", ds_leaf_value("buffer", body, s->body_size));
        return dev;
    }
    bytes = g_malloc(MAX(s->end_offset - s->offset, 1));
    if (!mr_section_read(f, s, s->offset, bytes, s->end_offset - s->offset,
                         err)) {
        json_object_put(dev);
        json_object_put(fields);
        return NULL;
    }
    d.bytes = bytes;
    d.stack = g_array_new(FALSE, FALSE, sizeof(Frame));
    g_array_append_val(d.stack, root);
    if (json_object_object_get_ex(s->desc, "vmsd_name", NULL))
        json_object_object_add(dev, "vmsd_name",
                               json_object_new_string(str_of(s->desc, "vmsd_name")));
    json_object_object_add(dev, "decoded", json_object_new_boolean(TRUE));
    json_object_object_add(dev, "fields", fields);
    mr_section_cursor(f, s, &c);
    ok = mr_devwalk_section(f, &c, s, &visitor, &d, err);
    mr_cursor_clear(&c);
    g_array_unref(d.stack);
    if (!ok) {
        json_object_put(dev);
        return NULL;
    }
    return dev;
}

MrSection *
ds_find_section(const MrFile *f, const char *idstr, gint64 instance)
{
    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        if (g_str_equal(s->idstr, idstr) &&
            (instance < 0 || s->instance_id == (guint64)instance))
            return s;
    }
    return NULL;
}

json_object *
ds_find_field(json_object *device, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    json_object *cur = device;

    for (guint i = 0; parts[i]; i++) {
        json_object *fields;
        if (!json_object_object_get_ex(cur, "fields", &fields) ||
            !json_object_object_get_ex(fields, parts[i], &cur))
            return NULL;
        if (json_object_is_type(cur, json_type_array))
            cur = json_object_array_get_idx(cur, 0);
    }
    return cur;
}
