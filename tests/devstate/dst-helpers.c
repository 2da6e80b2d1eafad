#include "dst-helpers.h"

#include <math.h>
#include <string.h>

char *
dst_write(const char *name, const char *machine, const DstDevice *devs,
          guint n, gboolean vmdesc, MrWriterLayout *layout)
{
    g_autoptr(MrWriter) w = mr_writer_new(machine);
    char *path = mrt_path(name);
    static guint8 page[4096];

    /* A block with one present page: the devices follow a real RAM
     * section, as in every QEMU file (docs/FORMAT.md §4). */
    guint b = mr_writer_add_block(w, "ram", 0x10000);
    memset(page, 0x5a, sizeof(page));
    mr_writer_set_page(w, b, 1, page);
    mr_writer_set_vmdesc(w, vmdesc);
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) err = NULL;
        gboolean ok = mr_writer_add_device(w, devs[i].idstr,
                                           devs[i].instance_id,
                                           devs[i].version_id, devs[i].desc,
                                           devs[i].body, devs[i].body_len,
                                           FALSE, &err);
        MRT_CHECK(ok, "writer accepts device \"%s\": %s", devs[i].idstr,
                  err ? err->message : "");
    }
    mrt_write(w, path, layout);
    return path;
}

/* A path component with JSON Pointer escapes (RFC 6901): "~1" is '/',
 * "~0" is '~', so subsection names ("serial/fifo") can be addressed. */
static char *
unescape(const char *s)
{
    GString *out = g_string_new(NULL);

    for (; *s; s++) {
        if (s[0] == '~' && (s[1] == '0' || s[1] == '1')) {
            g_string_append_c(out, s[1] == '1' ? '/' : '~');
            s++;
        } else {
            g_string_append_c(out, *s);
        }
    }
    return g_string_free(out, FALSE);
}

json_object *
dst_get(json_object *o, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);

    for (guint i = 0; parts[i]; i++) {
        char *u = unescape(parts[i]);
        g_free(parts[i]);
        parts[i] = u;
    }
    for (guint i = 0; parts[i] && o; i++) {
        if (json_object_is_type(o, json_type_array)) {
            char *end;
            guint64 k = g_ascii_strtoull(parts[i], &end, 10);
            if (*parts[i] == '\0' || *end != '\0' ||
                k >= json_object_array_length(o))
                return NULL;
            o = json_object_array_get_idx(o, (size_t)k);
        } else if (json_object_is_type(o, json_type_object)) {
            if (!json_object_object_get_ex(o, parts[i], &o))
                return NULL;
        } else {
            return NULL;
        }
    }
    return o;
}

gboolean
dst_has(json_object *o, const char *path)
{
    g_autofree char *parent = NULL;
    const char *slash = strrchr(path, '/');
    g_autofree char *last = unescape(slash ? slash + 1 : path);
    json_object *p;

    if (slash) {
        parent = g_strndup(path, (gsize)(slash - path));
        p = dst_get(o, parent);
    } else {
        p = o;
    }
    if (p == NULL)
        return FALSE;
    if (json_object_is_type(p, json_type_object))
        return json_object_object_get_ex(p, last, NULL);
    if (json_object_is_type(p, json_type_array)) {
        char *end;
        guint64 k = g_ascii_strtoull(last, &end, 10);
        return *last != '\0' && *end == '\0' &&
               k < json_object_array_length(p);
    }
    return FALSE;
}

static const char *
text_of(json_object *v)
{
    return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
             : "(absent or null)";
}

void
dst_check_int_at(json_object *o, const char *path, gint64 want,
                 const char *file, int line)
{
    json_object *v = dst_get(o, path);

    mrt_check_at(v && json_object_is_type(v, json_type_int) &&
                 json_object_get_int64(v) == want &&
                 /* a uint64 above INT64_MAX reads as INT64_MAX */
                 !(want == G_MAXINT64 && json_object_get_uint64(v) != (guint64)want),
                 file, line, "%s == %" G_GINT64_FORMAT " (got %s)", path, want,
                 text_of(v));
}

void
dst_check_u64_at(json_object *o, const char *path, guint64 want,
                 const char *file, int line)
{
    json_object *v = dst_get(o, path);

    mrt_check_at(v && json_object_is_type(v, json_type_int) &&
                 json_object_get_uint64(v) == want &&
                 (want > G_MAXINT64 || json_object_get_int64(v) == (gint64)want),
                 file, line, "%s == %" G_GUINT64_FORMAT " (got %s)", path, want,
                 text_of(v));
}

void
dst_check_str_at(json_object *o, const char *path, const char *want,
                 const char *file, int line)
{
    json_object *v = dst_get(o, path);

    mrt_check_at(v && json_object_is_type(v, json_type_string) &&
                 g_str_equal(json_object_get_string(v), want),
                 file, line, "%s == \"%s\" (got %s)", path, want, text_of(v));
}

void
dst_check_bool_at(json_object *o, const char *path, gboolean want,
                  const char *file, int line)
{
    json_object *v = dst_get(o, path);

    mrt_check_at(v && json_object_is_type(v, json_type_boolean) &&
                 !json_object_get_boolean(v) == !want,
                 file, line, "%s == %s (got %s)", path, want ? "true" : "false",
                 text_of(v));
}

void
dst_check_null_at(json_object *o, const char *path, const char *file, int line)
{
    json_object *v = dst_get(o, path);

    mrt_check_at(dst_has(o, path) && v == NULL, file, line,
                 "%s is present and null (got %s)", path,
                 dst_has(o, path) ? text_of(v) : "absent");
}

void
dst_check_absent_at(json_object *o, const char *path, const char *file, int line)
{
    mrt_check_at(!dst_has(o, path), file, line, "%s is absent (got %s)", path,
                 text_of(dst_get(o, path)));
}

void
dst_check_leaf_at(json_object *o, const char *path, const char *type,
                  guint64 offset, guint64 size, const char *file, int line)
{
    g_autofree char *t = g_strconcat(path, "/type", NULL);
    g_autofree char *off = g_strconcat(path, "/offset", NULL);
    g_autofree char *sz = g_strconcat(path, "/size", NULL);

    dst_check_str_at(o, t, type, file, line);
    dst_check_u64_at(o, off, offset, file, line);
    dst_check_u64_at(o, sz, size, file, line);
}

/* JSON has no NaN or infinities (RFC 8259 §6). */
static gboolean
all_numbers_finite(json_object *o, GString *where, const char *at)
{
    if (json_object_is_type(o, json_type_double)) {
        if (isfinite(json_object_get_double(o)))
            return TRUE;
        g_string_append(where, at);
        return FALSE;
    }
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            g_autofree char *p = g_strdup_printf("%s/%zu", at, i);
            if (!all_numbers_finite(json_object_array_get_idx(o, i), where, p))
                return FALSE;
        }
    }
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            g_autofree char *p = g_strdup_printf("%s/%s", at, k);
            if (!all_numbers_finite(v, where, p))
                return FALSE;
        }
    }
    return TRUE;
}

void
dst_check_text_round_trip_at(json_object *o, const char *what,
                             const char *file, int line)
{
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
    json_tokener *tok = json_tokener_new();
    g_autoptr(GString) where = g_string_new(NULL);
    json_object *back;

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    back = json_tokener_parse_ex(tok, text, (int)strlen(text));
    mrt_check_at(back != NULL &&
                 json_tokener_get_error(tok) == json_tokener_success,
                 file, line, "%s: the text parses as strict JSON: %s", what,
                 json_tokener_error_desc(json_tokener_get_error(tok)));
    mrt_check_at(back == NULL || json_object_equal(o, back), file, line,
                 "%s: the text parses back to the same document", what);
    mrt_check_at(all_numbers_finite(o, where, ""), file, line,
                 "%s: every number is representable in JSON (not at %s)",
                 what, where->str);
    json_object_put(back);
    json_tokener_free(tok);
}

char *
dst_hex(const guint8 *p, gsize n)
{
    GString *s = g_string_sized_new(2 * n + 1);

    for (gsize i = 0; i < n; i++)
        g_string_append_printf(s, "%02x", p[i]);
    return g_string_free(s, FALSE);
}
