/* The CONFIGURATION record (docs/FORMAT.md §5): machine name and subsections. */
#include <string.h>

#include "mr-parse.h"

#define MR_MACHINE_NAME_MAX 256
#define MR_CAPABILITIES_MAX 64
#define MR_CONFIG_PREFIX "configuration/"

static gboolean
parse_capabilities(MrFile *f, MrCursor *c, GError **err)
{
    guint32 count;
    guint64 at = c->pos;

    if (!mr_cursor_be32(c, &count, "capability count", err))
        return FALSE;
    if (count > MR_CAPABILITIES_MAX) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "configuration lists %u capabilities, at most %d "
                     "expected", count, MR_CAPABILITIES_MAX);
        return FALSE;
    }
    for (guint32 i = 0; i < count; i++) {
        char *cap;
        guint8 len;

        at = c->pos;
        if (!mr_cursor_counted_string(c, &cap, &len, "capability name", err))
            return FALSE;
        g_ptr_array_add(f->capabilities, cap);
        if (len == 0 || !mr_is_printable(cap, len)) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                         "capability %u: empty or not printable ASCII", i);
            return FALSE;
        }
        for (guint j = 0; j + 1 < f->capabilities->len; j++) {
            if (g_str_equal(g_ptr_array_index(f->capabilities, j), cap)) {
                mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                             "capability \"%s\" listed twice", cap);
                return FALSE;
            }
        }
        if (g_str_equal(cap, "mapped-ram"))
            f->cap_mapped_ram = TRUE;
        else if (g_str_equal(cap, "x-ignore-shared"))
            f->cap_ignore_shared = TRUE;
        else
            mr_file_warn(f, at, "unknown capability \"%s\" (QEMU 10.0 "
                         "validates only x-ignore-shared and mapped-ram)", cap);
    }
    return TRUE;
}

static gboolean
parse_subsection(MrFile *f, MrCursor *c, GHashTable *seen, GError **err)
{
    g_autofree char *name = NULL;
    guint64 at = c->pos;
    guint32 version;
    guint8 marker, len;

    if (!mr_cursor_u8(c, &marker, "subsection marker", err) ||
        !mr_cursor_counted_string(c, &name, &len, "subsection name", err) ||
        !mr_cursor_be32(c, &version, "subsection version", err))
        return FALSE;
    if (!mr_is_printable(name, len) || !g_str_has_prefix(name, MR_CONFIG_PREFIX)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "configuration subsection name does not start with "
                     "\"" MR_CONFIG_PREFIX "\"");
        return FALSE;
    }
    if (!g_hash_table_add(seen, g_strdup(name))) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "configuration subsection \"%s\" appears twice", name);
        return FALSE;
    }
    if (version != 1) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, at,
                     "configuration subsection \"%s\" version %u, expected 1",
                     name, version);
        return FALSE;
    }
    if (g_str_equal(name, "configuration/capabilities"))
        return parse_capabilities(f, c, err);
    if (g_str_equal(name, "configuration/uuid")) {
        f->has_uuid = TRUE;
        return mr_cursor_read(c, f->uuid, sizeof(f->uuid), "uuid", err);
    }
    if (g_str_equal(name, "configuration/target-page-bits")) {
        at = c->pos;
        if (!mr_cursor_be32(c, &f->target_page_bits, "target page bits", err))
            return FALSE;
        if (f->target_page_bits < 10 || f->target_page_bits > 16) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, at,
                         "target page bits %u, expected 10..16",
                         f->target_page_bits);
            return FALSE;
        }
        f->has_target_page_bits = TRUE;
        return TRUE;
    }
    /* Subsections have no length: an unknown one cannot be skipped. */
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, at,
                 "unknown configuration subsection \"%s\"", name);
    return FALSE;
}

gboolean
mr_parse_config(MrFile *f, MrCursor *c, GError **err)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, NULL);
    guint64 at = c->pos;
    guint32 len;
    guint8 next;

    if (!mr_cursor_be32(c, &len, "machine name length", err))
        return FALSE;
    if (len == 0 || len > MR_MACHINE_NAME_MAX) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "machine name length %u, expected 1..%d", len,
                     MR_MACHINE_NAME_MAX);
        return FALSE;
    }
    f->machine = g_malloc0((gsize)len + 1);
    if (!mr_cursor_read(c, f->machine, len, "machine name", err))
        return FALSE;
    if (!mr_is_printable(f->machine, len)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at + 4,
                     "machine name is not printable ASCII");
        return FALSE;
    }
    for (;;) {
        if (!mr_cursor_peek_u8(c, &next, "record after configuration", err))
            return FALSE;
        if (next != MR_REC_SUBSECTION)
            return TRUE;
        if (!parse_subsection(f, c, seen, err))
            return FALSE;
    }
}
