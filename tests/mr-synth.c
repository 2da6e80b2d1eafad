/* Test helper: writes a synthetic mapped-ram file from a JSON spec, for the
 * mount tests that need what QEMU cannot produce (stale slots, odd block
 * names, huge sparse blocks) or need no QEMU (device sections: devices/
 * and superio/ through a mount).  Spec (every key optional but "blocks"):
 *
 *   {"machine": "pc-i440fx-10.0", "page_size": 4096,
 *    "capabilities": ["mapped-ram"], "stream_offset": 0,
 *    "bitmap_order": "le", "long_bits": 64, "vmdesc": true, "footers": true,
 *    "parts": 0, "multifd_flushes": 0,
 *    "blocks": [{"name": "pc.ram", "size": 1048576,
 *                "present": [[first, count], ...],
 *                "stale":   [[first, count], ...]}],
 *    "devices": [DEVICE, ...]}
 *
 * A DEVICE, in stream order after the RAM (tests/support/synth-devices.h
 * has their shapes, docs/FORMAT.md §14):
 *   {"kind": "pc87312", "regs": [FER, FAR, PTR], "selected_index": N,
 *    "read_id_step": N, "buffer": false}   (buffer: regs as a 3-byte
 *                                           buffer the view cannot read)
 *   {"kind": "serial", "instance_id": N, "divider": N, "lcr": N}
 *   {"kind": "via-isa", "chip": "vt82c686b" or "vt8231",
 *    "idstr": "pci:05.0/via-isa", "config": {"0x85": BYTE, ...}}
 *   {"kind": "raw", "idstr": S, "instance_id": N, "version_id": N,
 *    "desc": {vmdesc entry without name and instance_id},
 *    "body": "HEX", "body_size": N}   (body_size: that many zeros)
 *
 * Present page i of block NAME holds "NAME:i;" repeated to fill the page
 * (tests/fs/mountlib.py's pattern_page() computes the same bytes); a stale
 * slot holds "STALE!" repeated with its bit clear.  Prints the layout as
 * JSON on stdout: file_size, eof_offset, blocks (header_offset,
 * bitmap_offset, bitmap_size, pages_offset) and devices (offset,
 * body_offset, end_offset).
 */
#include <stdio.h>
#include <json-c/json.h>
#include <string.h>

#include "mr-writer.h"
#include "synth-devices.h"

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
bad_spec(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
bad_spec(GError **err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, msg);
    return FALSE;
}

static gint64
int_or(json_object *o, const char *key, gint64 dflt)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

static const char *
str_or(json_object *o, const char *key, const char *dflt)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : dflt;
}

/* One DEVICE of the spec (see the top of this file). */
static gboolean
add_device(MrWriter *w, json_object *d, gsize i, GError **err)
{
    const char *kind = str_or(d, "kind", "");
    guint8 body[TS_VIA_ISA_BODY];
    TsDevice dev = { .body = body };
    g_autofree char *desc = NULL;
    g_autofree guint8 *raw = NULL;
    json_object *v;

    memset(body, 0, sizeof(body));
    dev.instance_id = (guint32)int_or(d, "instance_id", 0);
    if (g_str_equal(kind, "pc87312")) {
        json_object *regs = json_object_object_get(d, "regs");
        dev.idstr = "pc87312";
        dev.version_id = 1;
        dev.desc = json_object_get_boolean(json_object_object_get(d, "buffer"))
                       ? ts_pc87312_buffer_desc : ts_pc87312_desc;
        dev.len = TS_PC87312_BODY;
        body[0] = (guint8)int_or(d, "read_id_step", 2);
        body[1] = (guint8)int_or(d, "selected_index", 1);
        /* FER FAR PTR of QEMU's strap 12 by default (§14.1.2). */
        body[2] = 0x0f, body[3] = 0x10, body[4] = 0x00;
        for (guint k = 0; regs && k < 3 && k < json_object_array_length(regs); k++)
            body[2 + k] = (guint8)json_object_get_int(json_object_array_get_idx(regs, k));
    } else if (g_str_equal(kind, "serial")) {
        guint16 div = (guint16)int_or(d, "divider", 12);
        dev.idstr = "serial";
        dev.version_id = 3;
        dev.desc = ts_serial_desc;
        dev.len = TS_SERIAL_BODY;
        body[0] = (guint8)(div >> 8), body[1] = (guint8)div;
        body[2] = (guint8)int_or(d, "lcr", 3);
    } else if (g_str_equal(kind, "via-isa")) {
        const char *chip = str_or(d, "chip", "vt82c686b");
        dev.idstr = str_or(d, "idstr", "pci:05.0/via-isa");
        dev.version_id = 1;
        dev.desc = ts_via_isa_desc;
        dev.len = TS_VIA_ISA_BODY;
        if (!g_str_equal(chip, "vt82c686b") && !g_str_equal(chip, "vt8231"))
            return bad_spec(err, "device %zu: chip \"%s\"", i, chip);
        ts_via_isa_body(body, g_str_equal(chip, "vt8231") ? 0x8231 : 0x0686);
        if (json_object_object_get_ex(d, "config", &v)) {
            json_object_object_foreach(v, reg, val) {
                guint64 at = g_ascii_strtoull(reg, NULL, 0);
                if (at > 0xff)
                    return bad_spec(err, "device %zu: config register %s", i, reg);
                body[TS_VIA_CONFIG_AT + at] = (guint8)json_object_get_int(val);
            }
        }
    } else if (g_str_equal(kind, "raw")) {
        const char *hex = str_or(d, "body", "");
        gsize n = strlen(hex) / 2;
        dev.idstr = str_or(d, "idstr", NULL);
        dev.version_id = (guint32)int_or(d, "version_id", 1);
        if (dev.idstr == NULL || !json_object_object_get_ex(d, "desc", &v))
            return bad_spec(err, "device %zu: a raw device needs idstr and desc", i);
        desc = g_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        dev.desc = desc;
        dev.len = MAX(n, (gsize)int_or(d, "body_size", 0));
        if (dev.len > (1u << 24))
            return bad_spec(err, "device %zu: body too large for a test", i);
        raw = g_malloc0(MAX(dev.len, 1));
        for (gsize k = 0; k < n; k++) {
            char byte[3] = { hex[2 * k], hex[2 * k + 1], 0 };
            raw[k] = (guint8)g_ascii_strtoull(byte, NULL, 16);
        }
        dev.body = raw;
    } else {
        return bad_spec(err, "device %zu: kind \"%s\" is not pc87312, serial, "
                        "via-isa or raw", i, kind);
    }
    return ts_writer_add_device(w, &dev, err);
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
    if (json_object_object_get_ex(spec, "devices", &v))
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!add_device(w, json_object_array_get_idx(v, i), i, err))
                return FALSE;
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
    v = json_object_new_array();
    for (guint i = 0; i < layout.devices->len; i++) {
        MrWrittenSection *ws = &g_array_index(layout.devices, MrWrittenSection, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "offset", json_object_new_uint64(ws->offset));
        json_object_object_add(o, "body_offset", json_object_new_uint64(ws->body_offset));
        json_object_object_add(o, "end_offset", json_object_new_uint64(ws->end_offset));
        json_object_array_add(v, o);
    }
    json_object_object_add(res, "devices", v);
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
