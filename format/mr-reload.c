/* mr-reload.h: comparing the layout of a rewritten snapshot with the open
 * model, and taking its new bitmaps when nothing moved. */
#include "mr-reload.h"

#include <string.h>

#include "mr-parse.h"

typedef struct {
    const char *what;
    guint64 was, now;
} Field;

/* "OBJECT: FIELD 0xWAS, now 0xNOW" for the first field that differs. */
static char *
first_difference(const char *object, const Field *fields, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (fields[i].was != fields[i].now)
            return g_strdup_printf("%s%s%s 0x%" G_GINT64_MODIFIER "x, now 0x%"
                                   G_GINT64_MODIFIER "x", object ? object : "",
                                   object ? ": " : "", fields[i].what,
                                   fields[i].was, fields[i].now);
    return NULL;
}

static char *
block_difference(const MrRamBlock *a, const MrRamBlock *b)
{
    g_autofree char *object = g_strdup_printf("ram block \"%s\"", a->idstr);
    const Field fields[] = {
        { "used_length", a->used_length, b->used_length },
        { "page size", a->page_size, b->page_size },
        { "header offset", a->header_offset, b->header_offset },
        { "stored", a->stored, b->stored },
        { "bitmap_offset", a->bitmap_offset, b->bitmap_offset },
        { "bitmap size", a->bitmap_size, b->bitmap_size },
        { "pages_offset", a->pages_offset, b->pages_offset },
        { "mr_addr", a->has_mr_addr ? a->mr_addr : 0,
          b->has_mr_addr ? b->mr_addr : 0 },
    };

    if (!g_str_equal(a->idstr, b->idstr))
        return g_strdup_printf("ram block %u is \"%s\", now \"%s\"", a->index,
                               a->idstr, b->idstr);
    return first_difference(object, fields, G_N_ELEMENTS(fields));
}

static char *
section_difference(const MrSection *a, const MrSection *b)
{
    g_autofree char *object = g_strdup_printf("section \"%s\" (instance %u)",
                                              a->idstr, a->instance_id);
    const Field fields[] = {
        { "instance id", a->instance_id, b->instance_id },
        { "version", a->version_id, b->version_id },
        { "offset", a->offset, b->offset },
        { "body offset", a->body_offset, b->body_offset },
        { "body size", a->body_size, b->body_size },
        { "end", a->end_offset, b->end_offset },
    };

    if (!g_str_equal(a->idstr, b->idstr))
        return g_strdup_printf("device section at 0x%" G_GINT64_MODIFIER "x "
                               "is \"%s\", now \"%s\"", a->offset, a->idstr,
                               b->idstr);
    return first_difference(object, fields, G_N_ELEMENTS(fields));
}

static gboolean
same_strings(const GPtrArray *a, const GPtrArray *b)
{
    if (a->len != b->len)
        return FALSE;
    for (guint i = 0; i < a->len; i++)
        if (!g_str_equal(g_ptr_array_index(a, i), g_ptr_array_index(b, i)))
            return FALSE;
    return TRUE;
}

gboolean
mr_file_same_layout(const MrFile *old, const MrFile *now, char **why)
{
    const Field counts[] = {
        { "stream offset", old->stream_offset, now->stream_offset },
        { "RAM blocks", old->blocks->len, now->blocks->len },
    };
    const Field fields[] = {
        { "ram section offset", old->ram_offset, now->ram_offset },
        { "guest RAM size", old->ram_total, now->ram_total },
        { "device sections", old->devices->len, now->devices->len },
        { "devices bounded", old->devices_bounded, now->devices_bounded },
        { "devices offset", old->devices_offset, now->devices_offset },
        { "EOF record offset", old->eof_offset, now->eof_offset },
        { "vmdesc offset", old->has_vmdesc ? old->vmdesc_offset : 0,
          now->has_vmdesc ? now->vmdesc_offset : 0 },
        { "vmdesc size", old->vmdesc_size, now->vmdesc_size },
        { "file size", old->file_size, now->file_size },
    };

    /* Most telling first: a block that moved or grew. */
    if ((*why = first_difference(NULL, counts, G_N_ELEMENTS(counts))))
        return FALSE;
    for (guint i = 0; i < old->blocks->len; i++)
        if ((*why = block_difference(g_ptr_array_index(old->blocks, i),
                                     g_ptr_array_index(now->blocks, i))))
            return FALSE;
    if ((*why = first_difference(NULL, fields, G_N_ELEMENTS(fields))))
        return FALSE;
    if (g_strcmp0(old->machine, now->machine) != 0 ||
        !same_strings(old->capabilities, now->capabilities)) {
        *why = g_strdup_printf("machine \"%s\" with %u capabilities, now "
                               "\"%s\" with %u", old->machine ? old->machine : "",
                               old->capabilities->len,
                               now->machine ? now->machine : "",
                               now->capabilities->len);
        return FALSE;
    }
    for (guint i = 0; i < old->devices->len; i++)
        if ((*why = section_difference(g_ptr_array_index(old->devices, i),
                                       g_ptr_array_index(now->devices, i))))
            return FALSE;
    /* Device files are decoded with the vmdesc: the same sizes must also
     * describe the same fields. */
    if (old->has_vmdesc && !json_object_equal(old->vmdesc, now->vmdesc)) {
        *why = g_strdup("the vmdesc describes other device fields");
        return FALSE;
    }
    return TRUE;
}

/* Messages about the reopened file name it as the user knows it, escaped
 * as every message is (mr-error.h). */
static void
rename_in(char **message, const char *proc_path, const char *path)
{
    if (g_str_has_prefix(*message, proc_path)) {
        g_autofree char *name = mr_escape_text(path, -1);
        char *msg = g_strconcat(name, *message + strlen(proc_path), NULL);
        g_free(*message);
        *message = msg;
    }
}

gboolean
mr_file_reload(MrFile *f, GError **err)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", f->fd);
    g_autofree char *why = NULL;
    g_autoptr(MrFile) now = NULL;
    g_autoptr(GPtrArray) bitmaps = g_ptr_array_new();
    MrOpenOptions opts = { .bitmap_order = f->bitmap_order };
    GError *local = NULL;

    /* A libvirt header or a found magic may have moved with the new
     * bytes; an offset that was given stays given. */
    if (f->libvirt == NULL && !f->stream_offset_detected) {
        opts.has_stream_offset = TRUE;
        opts.stream_offset = f->stream_offset;
    }
    now = mr_file_open(proc, &opts, &local);
    if (now == NULL) {
        rename_in(&local->message, proc, f->path);
        g_propagate_error(err, local);
        return FALSE;
    }
    if (!mr_file_same_layout(f, now, &why)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, MR_NO_OFFSET,
                     "rewritten with another layout: %s", why);
        return FALSE;
    }
    /* A reader may have seen the file short while it was being rewritten
     * (O_TRUNC, then the bytes): that was the rewrite, not a truncation
     * of the file now validated, whose size is f's. */
    g_atomic_int_set(&f->truncated, 0);
    /* New bitmaps on f's own descriptor, all or none. */
    for (guint i = 0; i < f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        MrBitmap *bm = b->stored ? mr_block_open_bitmap(f, b, &local) : NULL;

        if (b->stored && bm == NULL) {
            g_ptr_array_set_free_func(bitmaps, (GDestroyNotify)mr_bitmap_free);
            g_propagate_error(err, local);
            return FALSE;
        }
        g_ptr_array_add(bitmaps, bm);
    }
    for (guint i = 0; i < f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        mr_bitmap_free(b->bitmap);
        b->bitmap = g_ptr_array_index(bitmaps, i);
    }
    mr_libvirt_header_free(f->libvirt);
    f->libvirt = g_steal_pointer(&now->libvirt);
    g_ptr_array_unref(f->warnings);
    f->warnings = g_ptr_array_ref(now->warnings);
    for (guint i = 0; i < f->warnings->len; i++)
        rename_in((char **)&g_ptr_array_index(f->warnings, i), proc, f->path);
    return TRUE;
}
