/* Test helper: writes a synthetic mapped-ram file from a JSON spec, for the
 * mount tests that need what QEMU cannot produce (stale slots, odd block
 * names, huge sparse blocks).  Spec (every key optional but "blocks"):
 *
 *   {"machine": "pc-i440fx-10.0", "page_size": 4096,
 *    "capabilities": ["mapped-ram"], "stream_offset": 0,
 *    "bitmap_order": "le", "long_bits": 64, "vmdesc": true, "footers": true,
 *    "parts": 0, "multifd_flushes": 0,
 *    "blocks": [{"name": "pc.ram", "size": 1048576,
 *                "present": [[first, count], ...],
 *                "stale":   [[first, count], ...]}]}
 *
 * Present page i of block NAME holds "NAME:i;" repeated to fill the page
 * (tests/fs/synth.py computes the same bytes); a stale slot holds "STALE!"
 * repeated with its bit clear.  Prints the layout as JSON on stdout.
 */
#include <stdio.h>
#include <json-c/json.h>
#include <string.h>

#include "mr-writer.h"

static guint8 *
fill(const char *unit, guint64 page_size)
{
    guint8 *p = g_malloc(page_size);
    gsize n = strlen(unit);

    for (guint64 i = 0; i < page_size; i++)
        p[i] = (guint8)unit[i % n];
    return p;
}

static gboolean
add_runs(MrWriter *w, guint block, const char *name, json_object *runs,
         gboolean present, guint64 page_size, GError **err)
{
    g_autofree guint8 *stale = fill("STALE!", page_size);

    for (size_t i = 0; runs && i < json_object_array_length(runs); i++) {
        json_object *r = json_object_array_get_idx(runs, i);
        guint64 first = (guint64)json_object_get_int64(json_object_array_get_idx(r, 0));
        guint64 count = (guint64)json_object_get_int64(json_object_array_get_idx(r, 1));

        if (count > (1u << 24)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "block %s: run of %" G_GINT64_MODIFIER "u pages is "
                        "too long for a test", name, count);
            return FALSE;
        }
        for (guint64 p = first; p < first + count; p++) {
            if (present) {
                g_autofree char *unit = g_strdup_printf("%s:%" G_GINT64_MODIFIER "u;",
                                                        name, p);
                g_autofree guint8 *data = fill(unit, page_size);
                mr_writer_set_page(w, block, p, data);
            } else {
                mr_writer_set_stale(w, block, p, stale);
            }
        }
    }
    return TRUE;
}

static gboolean
build(json_object *spec, const char *out, GError **err)
{
    json_object *v, *blocks;
    g_autoptr(MrWriter) w = NULL;
    guint64 page_size = 4096;
    MrWriterLayout layout;
    json_object *res;

    w = mr_writer_new(json_object_object_get_ex(spec, "machine", &v)
                          ? json_object_get_string(v) : "pc-i440fx-10.0");
    if (json_object_object_get_ex(spec, "page_size", &v))
        page_size = (guint64)json_object_get_int64(v);
    mr_writer_set_page_size(w, page_size);
    if (json_object_object_get_ex(spec, "capabilities", &v)) {
        g_autoptr(GPtrArray) caps = g_ptr_array_new();
        for (size_t i = 0; i < json_object_array_length(v); i++)
            g_ptr_array_add(caps, (gpointer)json_object_get_string(
                                      json_object_array_get_idx(v, i)));
        g_ptr_array_add(caps, NULL);
        mr_writer_set_capabilities(w, (const char *const *)caps->pdata);
    }
    if (json_object_object_get_ex(spec, "stream_offset", &v))
        mr_writer_set_stream_offset(w, (guint64)json_object_get_int64(v));
    if (json_object_object_get_ex(spec, "bitmap_order", &v)) {
        MrBitmapOrder order;
        json_object *lb;
        if (!mr_bitmap_order_parse(json_object_get_string(v), &order)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "bad bitmap_order");
            return FALSE;
        }
        mr_writer_set_bitmap_layout(w, order,
                                    json_object_object_get_ex(spec, "long_bits", &lb)
                                        ? (unsigned)json_object_get_int(lb) : 64);
    }
    if (json_object_object_get_ex(spec, "vmdesc", &v))
        mr_writer_set_vmdesc(w, json_object_get_boolean(v));
    if (json_object_object_get_ex(spec, "footers", &v))
        mr_writer_set_footers(w, json_object_get_boolean(v));
    if (json_object_object_get_ex(spec, "multifd_flushes", &v))
        mr_writer_set_multifd_flushes(w, (guint)json_object_get_int(v));
    if (json_object_object_get_ex(spec, "parts", &v))
        mr_writer_set_parts(w, (guint)json_object_get_int(v));
    if (!json_object_object_get_ex(spec, "blocks", &blocks)) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "spec has no \"blocks\"");
        return FALSE;
    }
    for (size_t i = 0; i < json_object_array_length(blocks); i++) {
        json_object *b = json_object_array_get_idx(blocks, i), *name, *size,
                    *runs;
        guint idx;
        if (!json_object_object_get_ex(b, "name", &name) ||
            !json_object_object_get_ex(b, "size", &size)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "block %zu lacks name or size", i);
            return FALSE;
        }
        idx = mr_writer_add_block(w, json_object_get_string(name),
                                  (guint64)json_object_get_int64(size));
        if (!add_runs(w, idx, json_object_get_string(name),
                      json_object_object_get_ex(b, "present", &runs) ? runs : NULL,
                      TRUE, page_size, err) ||
            !add_runs(w, idx, json_object_get_string(name),
                      json_object_object_get_ex(b, "stale", &runs) ? runs : NULL,
                      FALSE, page_size, err))
            return FALSE;
    }
    if (!mr_writer_write(w, out, &layout, err))
        return FALSE;
    res = json_object_new_object();
    json_object_object_add(res, "file_size", json_object_new_uint64(layout.file_size));
    v = json_object_new_array();
    for (guint i = 0; i < layout.blocks->len; i++) {
        MrWrittenBlock *wb = &g_array_index(layout.blocks, MrWrittenBlock, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "header_offset", json_object_new_uint64(wb->header_offset));
        json_object_object_add(o, "bitmap_offset", json_object_new_uint64(wb->bitmap_offset));
        json_object_object_add(o, "bitmap_size", json_object_new_uint64(wb->bitmap_size));
        json_object_object_add(o, "pages_offset", json_object_new_uint64(wb->pages_offset));
        json_object_array_add(v, o);
    }
    json_object_object_add(res, "blocks", v);
    json_object_object_add(res, "eof_offset", json_object_new_uint64(layout.eof_offset));
    puts(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
    json_object_put(res);
    mr_writer_layout_clear(&layout);
    return TRUE;
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    json_object *spec;
    gboolean ok;

    if (argc != 3) {
        fprintf(stderr, "usage: mr-synth SPEC.json OUTPUT\n");
        return 2;
    }
    spec = json_object_from_file(argv[1]);
    if (spec == NULL) {
        fprintf(stderr, "mr-synth: %s: not JSON\n", argv[1]);
        return 2;
    }
    ok = build(spec, argv[2], &err);
    json_object_put(spec);
    if (!ok) {
        fprintf(stderr, "mr-synth: %s\n", err->message);
        return 1;
    }
    return 0;
}
