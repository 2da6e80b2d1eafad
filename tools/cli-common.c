#include "cli-common.h"

#include <errno.h>
#include <stdlib.h>

gboolean
cli_parse_u64(const char *s, guint64 *out)
{
    char *end;
    guint64 v;

    if (s == NULL || *s == '\0' || *s == '-')
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return FALSE;
    *out = v;
    return TRUE;
}

gboolean
cli_open_options(const char *offset, const char *order, MrOpenOptions *opts,
                 GError **err)
{
    if (offset) {
        if (!cli_parse_u64(offset, &opts->stream_offset)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--offset: \"%s\" is not a number (decimal or 0x hex)",
                        offset);
            return FALSE;
        }
        opts->has_stream_offset = TRUE;
    }
    if (order && !mr_bitmap_order_parse(order, &opts->bitmap_order)) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--bitmap-order: \"%s\" is not le, be64 or be32", order);
        return FALSE;
    }
    return TRUE;
}
