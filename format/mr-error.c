#include "mr-error.h"

#include <string.h>

G_DEFINE_QUARK(mramfs-format-error-quark, mr_error)

/* Bytes of the printable character at s (n bytes left), or 0 for a byte
 * that must be escaped. */
static gsize
plain_char(const char *s, gsize n)
{
    guchar c = (guchar)s[0];
    gunichar u;

    if (c >= 0x20 && c < 0x7f)
        return 1;
    if (c < 0x80)
        return 0;
    u = g_utf8_get_char_validated(s, (gssize)n);
    /* -1: invalid, -2: cut short; U+0080-U+009F: the C1 controls. */
    if (u == (gunichar)-1 || u == (gunichar)-2 || u < 0xa0)
        return 0;
    return (gsize)g_utf8_skip[c];
}

gboolean
mr_text_is_plain(const char *s, gssize len)
{
    gsize n = len < 0 ? strlen(s) : (gsize)len;

    for (gsize i = 0; i < n;) {
        gsize k = plain_char(s + i, n - i);
        if (k == 0)
            return FALSE;
        i += k;
    }
    return TRUE;
}

char *
mr_escape_text(const char *s, gssize len)
{
    gsize n = len < 0 ? strlen(s) : (gsize)len;
    GString *out = g_string_sized_new(n + 1);

    for (gsize i = 0; i < n;) {
        gsize k = plain_char(s + i, n - i);
        if (k == 0) {
            g_string_append_printf(out, "\\x%02x", (guchar)s[i]);
            i++;
            continue;
        }
        g_string_append_len(out, s + i, (gssize)k);
        i += k;
    }
    return g_string_free(out, FALSE);
}

char *
mr_format_message(const char *path, guint64 offset, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    g_autofree char *text = NULL;

    if (offset == MR_NO_OFFSET)
        text = g_strdup_printf("%s: %s", path, msg);
    else
        text = g_strdup_printf("%s: offset 0x%" G_GINT64_MODIFIER "x: %s",
                               path, offset, msg);
    return mr_escape_text(text, -1);
}

void
mr_set_error(GError **err, MrErrorCode code, const char *path, guint64 offset,
             const char *fmt, ...)
{
    va_list ap;
    char *text;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    text = mr_format_message(path, offset, fmt, ap);
    va_end(ap);
    g_set_error_literal(err, MR_ERROR, code, text);
    g_free(text);
}
