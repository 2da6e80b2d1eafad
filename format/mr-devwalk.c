#include "mr-devwalk.h"

#include <string.h>

#include "mr-parse.h"

typedef struct {
    MrFile *f;
    MrCursor *c;
    MrSection *s;
    const MrDevVisitor *v;
    void *ud;
    guint steps;
} Walk;

static gboolean walk_object(Walk *w, json_object *obj, guint depth,
                            GError **err);

static gboolean
fail(Walk *w, GError **err, guint64 at, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static gboolean
fail(Walk *w, GError **err, guint64 at, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    mr_set_error(err, MR_ERROR_INVALID, w->f->path, at,
                 "section \"%s\" (id %u, instance %u): %s", w->s->idstr,
                 w->s->section_id, w->s->instance_id, msg);
    return FALSE;
}

static gboolean
get_int(json_object *o, const char *key, gboolean required, gint64 *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        return !required;
    if (!json_object_is_type(v, json_type_int))
        return FALSE;
    *out = json_object_get_int64(v);
    return *out >= 0;
}

static const char *
get_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static gboolean
step(Walk *w, GError **err)
{
    if (++w->steps > MR_DEVWALK_MAX_STEPS)
        return fail(w, err, w->c->pos, "vmdesc description needs more than "
                    "%u steps to walk; refusing it", MR_DEVWALK_MAX_STEPS);
    /* While the file is opened, all sections share one budget: many
     * sections each just under the limit must not add up to minutes. */
    if (w->f->walk_budget != 0) {
        if (w->f->walk_budget == 1)
            return fail(w, err, w->c->pos, "the vmdesc descriptions of all "
                        "sections need more than %u steps to walk; refusing "
                        "them", MR_DEVWALK_FILE_STEPS);
        w->f->walk_budget--;
    }
    return TRUE;
}

static gboolean
skip_leaf(Walk *w, json_object *field, gint64 element, guint64 size,
          guint depth, GError **err)
{
    guint64 at = w->c->pos;

    if (size > w->c->limit - at)
        return fail(w, err, at, "field \"%s\" of %" G_GINT64_MODIFIER "u bytes "
                    "runs past the end of the stream (0x%" G_GINT64_MODIFIER
                    "x)", get_str(field, "name"), size, w->c->limit);
    if (w->v && w->v->leaf &&
        !w->v->leaf(w->ud, field, element, at, size, depth, err))
        return FALSE;
    w->c->pos = at + size;
    return TRUE;
}

static gboolean
walk_struct(Walk *w, json_object *field, gint64 element, gint64 size,
            gboolean check_size, guint depth, GError **err)
{
    json_object *sub;
    guint64 start = w->c->pos;

    if (!json_object_object_get_ex(field, "struct", &sub) ||
        !json_object_is_type(sub, json_type_object))
        return fail(w, err, start, "vmdesc: struct field \"%s\" has no "
                    "\"struct\" object", get_str(field, "name"));
    if (w->v && w->v->enter &&
        !w->v->enter(w->ud, field, element, FALSE, start, depth, err))
        return FALSE;
    if (!walk_object(w, sub, depth + 1, err))
        return FALSE;
    if (check_size && w->c->pos - start != (guint64)size)
        return fail(w, err, start, "struct field \"%s\" took %"
                    G_GINT64_MODIFIER "u bytes, the vmdesc says %"
                    G_GINT64_MODIFIER "d", get_str(field, "name"),
                    w->c->pos - start, size);
    return !(w->v && w->v->leave && !w->v->leave(w->ud, w->c->pos, depth, err));
}

static gboolean
walk_field(Walk *w, json_object *field, guint depth, GError **err)
{
    const char *name = get_str(field, "name"), *type = get_str(field, "type");
    gint64 size = 0, n = 1;
    gboolean compressed;

    if (!json_object_is_type(field, json_type_object) || !name || !type ||
        !get_int(field, "size", TRUE, &size) ||
        !get_int(field, "array_len", FALSE, &n))
        return fail(w, err, w->c->pos, "vmdesc: field %s lacks a name, type, "
                    "size or valid array_len", name ? name : "(unnamed)");
    compressed = json_object_object_get_ex(field, "array_len", NULL);
    if (!g_str_equal(type, "struct")) {
        /* A compressed array of leaves is n equal-sized elements (§13.2);
         * report them one by one only to a visitor that wants them. */
        if (!compressed)
            return skip_leaf(w, field, -1, (guint64)size, depth, err);
        if ((guint64)size != 0 && (guint64)n > G_MAXUINT64 / (guint64)size)
            return fail(w, err, w->c->pos, "field \"%s\": array_len %"
                        G_GINT64_MODIFIER "d x size %" G_GINT64_MODIFIER "d "
                        "overflows", name, n, size);
        /* Empty, zero-sized or very long arrays go to the visitor as one
         * leaf: element by element a hostile array_len would make it build
         * millions of values. */
        if (w->v == NULL || w->v->leaf == NULL || n == 0 || size == 0 ||
            n > MR_DEVWALK_MAX_ELEMENTS)
            return skip_leaf(w, field, -1, (guint64)n * (guint64)size, depth,
                             err);
        for (gint64 i = 0; i < n; i++)
            if (!step(w, err) ||
                !skip_leaf(w, field, i, (guint64)size, depth, err))
                return FALSE;
        return TRUE;
    }
    /* Elements that take no bytes cost steps and memory, not stream: a
     * long array of them is a description no QEMU writes. */
    if (size == 0 && n > MR_DEVWALK_MAX_ELEMENTS)
        return fail(w, err, w->c->pos, "vmdesc: struct array \"%s\" of %"
                    G_GINT64_MODIFIER "d elements of 0 bytes", name, n);
    for (gint64 i = 0; i < n; i++) {
        /* Only the first element's size is recorded (§13.2). */
        if (!step(w, err) ||
            !walk_struct(w, field, compressed ? i : -1, size, i == 0, depth,
                         err))
            return FALSE;
    }
    return TRUE;
}

static gboolean
walk_subsection(Walk *w, json_object *sub, guint depth, GError **err)
{
    const char *want = get_str(sub, "vmsd_name");
    gint64 want_version = 0;
    g_autofree char *name = NULL, *shown = NULL;
    guint64 at = w->c->pos;
    guint32 version;
    guint8 marker, len;

    if (!json_object_is_type(sub, json_type_object) || !want ||
        !get_int(sub, "version", TRUE, &want_version))
        return fail(w, err, at, "vmdesc: a subsection lacks vmsd_name or "
                    "version");
    if (!mr_cursor_u8(w->c, &marker, "subsection marker", err))
        return FALSE;
    if (marker != MR_REC_SUBSECTION)
        return fail(w, err, at, "expected subsection \"%s\" (byte 0x05), "
                    "found 0x%02x", want, marker);
    if (!mr_cursor_counted_string(w->c, &name, &len, "subsection name", err) ||
        !mr_cursor_be32(w->c, &version, "subsection version", err))
        return FALSE;
    /* The vmdesc's names were escaped when it was loaded (mr-vmdesc.c):
     * compare the stream's name the same way. */
    shown = mr_escape_text(name, len);
    if (!g_str_equal(shown, want) || (gint64)version != want_version)
        return fail(w, err, at, "expected subsection \"%s\" version %"
                    G_GINT64_MODIFIER "d, found \"%s\" version %u", want,
                    want_version, shown, version);
    if (w->v && w->v->enter &&
        !w->v->enter(w->ud, sub, -1, TRUE, at, depth, err))
        return FALSE;
    if (!walk_object(w, sub, depth + 1, err))
        return FALSE;
    return !(w->v && w->v->leave && !w->v->leave(w->ud, w->c->pos, depth, err));
}

static gboolean
walk_object(Walk *w, json_object *obj, guint depth, GError **err)
{
    json_object *fields, *subs;

    if (depth > MR_DEVWALK_MAX_DEPTH)
        return fail(w, err, w->c->pos, "vmdesc nests structs deeper than %d",
                    MR_DEVWALK_MAX_DEPTH);
    if (!step(w, err))
        return FALSE;
    if (json_object_object_get_ex(obj, "fields", &fields)) {
        if (!json_object_is_type(fields, json_type_array))
            return fail(w, err, w->c->pos, "vmdesc: \"fields\" is not an array");
        for (size_t i = 0; i < json_object_array_length(fields); i++)
            if (!step(w, err) ||
                !walk_field(w, json_object_array_get_idx(fields, i), depth,
                            err))
                return FALSE;
    }
    if (json_object_object_get_ex(obj, "subsections", &subs)) {
        if (!json_object_is_type(subs, json_type_array))
            return fail(w, err, w->c->pos,
                        "vmdesc: \"subsections\" is not an array");
        for (size_t i = 0; i < json_object_array_length(subs); i++)
            if (!step(w, err) ||
                !walk_subsection(w, json_object_array_get_idx(subs, i), depth,
                                 err))
                return FALSE;
    }
    return TRUE;
}

gboolean
mr_devwalk_next_is_record(MrCursor *c)
{
    guint8 b;

    if (c->pos >= c->limit || !mr_cursor_peek_u8(c, &b, "next record", NULL))
        return FALSE;
    return b == MR_REC_EOF || (b >= MR_REC_SECTION_START &&
                               b <= MR_REC_SECTION_FULL) ||
           b == MR_REC_COMMAND;
}

gboolean
mr_devwalk_section(MrFile *f, MrCursor *c, MrSection *s,
                   const MrDevVisitor *v, void *ud, GError **err)
{
    Walk w = { .f = f, .c = c, .s = s, .v = v, .ud = ud };
    const char *name = get_str(s->desc, "name");
    gint64 inst = -1, version = -1, size = 0;

    if (name == NULL || !g_str_equal(name, s->idstr) ||
        !get_int(s->desc, "instance_id", TRUE, &inst) ||
        inst != (gint64)s->instance_id)
        return fail(&w, err, s->offset, "the vmdesc entry for this position "
                    "is \"%s\" instance %" G_GINT64_MODIFIER "d: device "
                    "sections and vmdesc devices are out of step",
                    name ? name : "?", inst);
    if (json_object_object_get_ex(s->desc, "vmsd_name", NULL)) {
        if (!get_int(s->desc, "version", TRUE, &version) ||
            version != (gint64)s->version_id)
            return fail(&w, err, s->offset, "vmdesc version %"
                        G_GINT64_MODIFIER "d, section header version %u",
                        version, s->version_id);
        return walk_object(&w, s->desc, 0, err);
    }
    /* An old-style (non-VMSD) saver: one opaque buffer (§13.4). */
    if (!get_int(s->desc, "size", TRUE, &size))
        return fail(&w, err, s->offset, "vmdesc entry has neither vmsd_name "
                    "nor size");
    return skip_leaf(&w, s->desc, -1, (guint64)size, 0, err);
}
