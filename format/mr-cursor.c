#include "mr-cursor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mr-error.h"

#define MR_CURSOR_WINDOW (64 * 1024)

gboolean
mr_pread_exact(int fd, const char *path, void *buf, gsize n, guint64 offset,
               const char *what, GError **err)
{
    guint8 *p = buf;
    gsize done = 0;

    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)(offset + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            mr_set_error(err, MR_ERROR_IO, path, offset + done,
                         "reading %s: %s", what, g_strerror(errno));
            return FALSE;
        }
        if (r == 0) {
            mr_set_error(err, MR_ERROR_TRUNCATED, path, offset + done,
                         "file ends inside %s (%" G_GSIZE_FORMAT
                         " more bytes expected)", what, n - done);
            return FALSE;
        }
        done += (gsize)r;
    }
    return TRUE;
}

void
mr_cursor_init(MrCursor *c, int fd, const char *path, guint64 pos,
               guint64 limit)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->path = path;
    c->pos = pos;
    c->limit = limit;
    c->buf = g_malloc(MR_CURSOR_WINDOW);
}

void
mr_cursor_clear(MrCursor *c)
{
    g_clear_pointer(&c->buf, g_free);
}

static gboolean
check_room(MrCursor *c, gsize n, const char *what, GError **err)
{
    if (c->pos > c->limit || n > c->limit - c->pos) {
        mr_set_error(err, MR_ERROR_TRUNCATED, c->path, c->pos,
                     "stream ends at 0x%" G_GINT64_MODIFIER "x inside %s "
                     "(%" G_GSIZE_FORMAT " bytes expected)",
                     c->limit, what, n);
        return FALSE;
    }
    return TRUE;
}

gboolean
mr_cursor_read(MrCursor *c, void *out, gsize n, const char *what, GError **err)
{
    guint8 *o = out;

    if (!check_room(c, n, what, err))
        return FALSE;
    while (n > 0) {
        if (c->pos >= c->buf_start && c->pos < c->buf_start + c->buf_len) {
            gsize off = (gsize)(c->pos - c->buf_start);
            gsize take = MIN(n, c->buf_len - off);
            memcpy(o, c->buf + off, take);
            o += take;
            n -= take;
            c->pos += take;
            continue;
        }
        gsize want = (gsize)MIN((guint64)MR_CURSOR_WINDOW, c->limit - c->pos);
        if (!mr_pread_exact(c->fd, c->path, c->buf, want, c->pos, what, err))
            return FALSE;
        c->buf_start = c->pos;
        c->buf_len = want;
    }
    return TRUE;
}

gboolean
mr_cursor_peek_u8(MrCursor *c, guint8 *out, const char *what, GError **err)
{
    guint64 pos = c->pos;

    if (!mr_cursor_read(c, out, 1, what, err))
        return FALSE;
    c->pos = pos;
    return TRUE;
}

gboolean
mr_cursor_u8(MrCursor *c, guint8 *out, const char *what, GError **err)
{
    return mr_cursor_read(c, out, 1, what, err);
}

gboolean
mr_cursor_be16(MrCursor *c, guint16 *out, const char *what, GError **err)
{
    guint16 v;

    if (!mr_cursor_read(c, &v, sizeof(v), what, err))
        return FALSE;
    *out = GUINT16_FROM_BE(v);
    return TRUE;
}

gboolean
mr_cursor_be32(MrCursor *c, guint32 *out, const char *what, GError **err)
{
    guint32 v;

    if (!mr_cursor_read(c, &v, sizeof(v), what, err))
        return FALSE;
    *out = GUINT32_FROM_BE(v);
    return TRUE;
}

gboolean
mr_cursor_be64(MrCursor *c, guint64 *out, const char *what, GError **err)
{
    guint64 v;

    if (!mr_cursor_read(c, &v, sizeof(v), what, err))
        return FALSE;
    *out = GUINT64_FROM_BE(v);
    return TRUE;
}

gboolean
mr_cursor_counted_string(MrCursor *c, char **out, guint8 *len,
                         const char *what, GError **err)
{
    guint8 n;
    char *s;

    if (!mr_cursor_u8(c, &n, what, err))
        return FALSE;
    s = g_malloc((gsize)n + 1);
    if (!mr_cursor_read(c, s, n, what, err)) {
        g_free(s);
        return FALSE;
    }
    s[n] = '\0';
    *out = s;
    if (len)
        *len = n;
    return TRUE;
}

gboolean
mr_cursor_seek(MrCursor *c, guint64 pos, const char *what, GError **err)
{
    if (pos > c->limit) {
        mr_set_error(err, MR_ERROR_TRUNCATED, c->path, c->pos,
                     "%s at 0x%" G_GINT64_MODIFIER "x is past the end of the "
                     "stream (0x%" G_GINT64_MODIFIER "x)", what, pos, c->limit);
        return FALSE;
    }
    c->pos = pos;
    return TRUE;
}
