/* Finding and parsing the vmdesc JSON at the end of the file (docs/FORMAT.md §8).
 *
 * The vmdesc is untrusted: its size is capped, the parser's nesting depth is
 * capped, and its shape is checked here once so that the device walk can
 * rely on "devices" being an array of objects.  Its names reach messages,
 * logs and JSON documents (devstate/): every string and key that is not
 * printable UTF-8 is replaced here by its escaped text (mr_escape_text()),
 * so that no consumer can hand a terminal control bytes, and every JSON
 * document made from it stays valid UTF-8. */
#include <string.h>

#include "mr-parse.h"

#define MR_VMDESC_MAX (64u * 1024 * 1024)
#define MR_VMDESC_DEPTH 64
#define MR_SEARCH_CHUNK (1024u * 1024)

/* The rule of docs/FORMAT.md §8.1: byte 0x06 at p, be32 at p+1 equal to the bytes
 * left after p+5, '{' at p+5 and the EOF byte 0x00 at p-1.  JSON has no raw
 * 0x00, so searching backwards, the first match is the only one. */
static gboolean
find_vmdesc(MrFile *f, guint64 *found, GError **err)
{
    guint64 lo = f->stream_offset + 9, size = f->file_size;
    guint64 window_lo = size > MR_VMDESC_MAX + 6 ? size - MR_VMDESC_MAX - 6 : 0;
    g_autofree guint8 *buf = g_malloc(MR_SEARCH_CHUNK + 6);
    guint64 hi = size;

    lo = MAX(lo, window_lo);
    /* Candidates p in [lo, size - 7]: at least "{}" after the length. */
    while (hi > lo && hi >= 7) {
        guint64 start = hi > lo + MR_SEARCH_CHUNK ? hi - MR_SEARCH_CHUNK : lo;
        guint64 base = start - 1;
        guint64 end = MIN(hi + 5, size);
        gsize n = (gsize)(end - base);

        if (!mr_pread_exact(f->fd, f->path, buf, n, base, "vmdesc search", err))
            return FALSE;
        for (guint64 p = MIN(hi, size - 6); p-- > start;) {
            const guint8 *q = buf + (p - base);
            guint32 len;

            if (q[0] != MR_REC_VMDESCRIPTION || q[-1] != MR_REC_EOF ||
                q[5] != '{')
                continue;
            len = (guint32)q[1] << 24 | (guint32)q[2] << 16 |
                  (guint32)q[3] << 8 | q[4];
            if ((guint64)len == size - (p + 5)) {
                *found = p;
                return TRUE;
            }
        }
        hi = start;
    }
    *found = 0;
    return TRUE;
}

/* Replaces o's strings and keys that are not printable UTF-8 by their
 * escaped text; returns o, or a new object that must replace it (json-c
 * cannot rename a key): the caller's replacing drops o.  The depth is the
 * parser's, MR_VMDESC_DEPTH. */
static json_object *
escape_strings(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string: {
        const char *s = json_object_get_string(o);
        gssize n = json_object_get_string_len(o);
        if (!mr_text_is_plain(s, n)) {
            g_autofree char *e = mr_escape_text(s, n);
            json_object_set_string(o, e);
        }
        return o;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            json_object *v = json_object_array_get_idx(o, i);
            json_object *w = escape_strings(v);
            if (w != v)
                json_object_array_put_idx(o, i, w);
        }
        return o;
    case json_type_object: {
        gboolean rename = FALSE;
        json_object *copy;
        json_object_object_foreach(o, key, val) {
            json_object *w = escape_strings(val);
            if (w != val)
                json_object_object_add(o, key, w);
            rename |= !mr_text_is_plain(key, -1);
        }
        if (!rename)
            return o;
        /* Two keys may escape to the same text: the later wins, as a
         * repeated key does in json-c's parser. */
        copy = json_object_new_object();
        json_object_object_foreach(o, k, v) {
            g_autofree char *e = mr_escape_text(k, -1);
            json_object_object_add(copy, e, json_object_get(v));
        }
        return copy;
    }
    default:
        return o;
    }
}

static gboolean
check_shape(MrFile *f, GError **err)
{
    json_object *devs, *ps;
    guint64 at = f->vmdesc_json_offset;

    if (!json_object_is_type(f->vmdesc, json_type_object) ||
        !json_object_object_get_ex(f->vmdesc, "devices", &devs) ||
        !json_object_is_type(devs, json_type_array)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "vmdesc: expected an object with a \"devices\" array");
        return FALSE;
    }
    for (size_t i = 0; i < json_object_array_length(devs); i++) {
        json_object *d = json_object_array_get_idx(devs, i);
        if (!json_object_is_type(d, json_type_object)) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                         "vmdesc: devices[%zu] is not an object", i);
            return FALSE;
        }
    }
    if (json_object_object_get_ex(f->vmdesc, "page_size", &ps)) {
        gint64 v = json_object_get_int64(ps);
        if (!json_object_is_type(ps, json_type_int) || v < 1024 || v > 65536 ||
            (v & (v - 1))) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                         "vmdesc: page_size %s, expected a power of two from "
                         "1 KiB to 64 KiB", json_object_to_json_string(ps));
            return FALSE;
        }
        f->page_size = (guint64)v;
    }
    return TRUE;
}

gboolean
mr_vmdesc_load(MrFile *f, GError **err)
{
    g_autofree char *json = NULL;
    json_tokener *tok;
    enum json_tokener_error jerr;
    guint64 p, parsed;
    guint8 last;

    if (f->file_size < f->stream_offset + 16)
        return TRUE;
    if (!mr_pread_exact(f->fd, f->path, &last, 1, f->file_size - 1,
                        "last byte", err))
        return FALSE;
    if (last != '}')
        return TRUE;
    if (!find_vmdesc(f, &p, err))
        return FALSE;
    if (p == 0) {
        mr_file_warn(f, f->file_size - 1, "the file ends with '}' but no "
                     "vmdesc header (00 06 LEN '{') was found before it");
        return TRUE;
    }
    f->vmdesc_offset = p;
    f->vmdesc_json_offset = p + 5;
    f->vmdesc_size = f->file_size - f->vmdesc_json_offset;
    json = g_malloc(f->vmdesc_size);
    if (!mr_pread_exact(f->fd, f->path, json, f->vmdesc_size,
                        f->vmdesc_json_offset, "vmdesc JSON", err))
        return FALSE;
    tok = json_tokener_new_ex(MR_VMDESC_DEPTH);
    f->vmdesc = json_tokener_parse_ex(tok, json, (int)f->vmdesc_size);
    jerr = json_tokener_get_error(tok);
    parsed = (guint64)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (f->vmdesc == NULL || jerr != json_tokener_success ||
        parsed != f->vmdesc_size) {
        mr_set_error(err, MR_ERROR_INVALID, f->path,
                     f->vmdesc_json_offset + parsed,
                     "vmdesc JSON (%" G_GINT64_MODIFIER "u bytes from 0x%"
                     G_GINT64_MODIFIER "x): %s", f->vmdesc_size,
                     f->vmdesc_json_offset,
                     jerr != json_tokener_success
                         ? json_tokener_error_desc(jerr)
                         : "bytes after the end of the JSON value");
        return FALSE;
    }
    f->has_vmdesc = TRUE;
    {
        json_object *escaped = escape_strings(f->vmdesc);
        if (escaped != f->vmdesc) {
            json_object_put(f->vmdesc);
            f->vmdesc = escaped;
        }
    }
    return check_shape(f, err);
}
