#include "mr-error.h"

G_DEFINE_QUARK(mramfs-format-error-quark, mr_error)

char *
mr_format_message(const char *path, guint64 offset, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);

    if (offset == MR_NO_OFFSET)
        return g_strdup_printf("%s: %s", path, msg);
    return g_strdup_printf("%s: offset 0x%" G_GINT64_MODIFIER "x: %s", path,
                           offset, msg);
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
