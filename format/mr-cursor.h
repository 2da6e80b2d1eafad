/* A bounds-checked, buffered reader of the sequential part of the stream.
 *
 * The stream records have no lengths (docs/FORMAT.md §2), so they are read a field
 * at a time; a cursor turns each field into one bounded copy out of a 64 KiB
 * window instead of one pread per byte.  Every read that would pass `limit`
 * (end of the stream) fails with MR_ERROR_TRUNCATED naming the offset and
 * the field that was being read.
 */
#ifndef MR_CURSOR_H
#define MR_CURSOR_H

#include <glib.h>

typedef struct {
    int fd;
    const char *path;
    guint64 pos;   /* absolute file offset of the next byte */
    guint64 limit; /* first offset the cursor may not read */
    guint8 *buf;
    guint64 buf_start;
    gsize buf_len;
} MrCursor;

void mr_cursor_init(MrCursor *c, int fd, const char *path, guint64 pos,
                    guint64 limit);
void mr_cursor_clear(MrCursor *c);

/* Copies n bytes at the cursor into out and advances.  `what` names the field
 * for the error message. */
gboolean mr_cursor_read(MrCursor *c, void *out, gsize n, const char *what,
                        GError **err);
/* Looks at the next byte without consuming it. */
gboolean mr_cursor_peek_u8(MrCursor *c, guint8 *out, const char *what,
                           GError **err);
gboolean mr_cursor_u8(MrCursor *c, guint8 *out, const char *what, GError **err);
gboolean mr_cursor_be16(MrCursor *c, guint16 *out, const char *what,
                        GError **err);
gboolean mr_cursor_be32(MrCursor *c, guint32 *out, const char *what,
                        GError **err);
gboolean mr_cursor_be64(MrCursor *c, guint64 *out, const char *what,
                        GError **err);
/* A u8-counted string (docs/FORMAT.md §2); out gets a NUL-terminated copy. */
gboolean mr_cursor_counted_string(MrCursor *c, char **out, guint8 *len,
                                  const char *what, GError **err);
/* Moves to an absolute offset; fails past the limit. */
gboolean mr_cursor_seek(MrCursor *c, guint64 pos, const char *what,
                        GError **err);

/* pread of exactly n bytes, retrying short reads; a short file is an error. */
gboolean mr_pread_exact(int fd, const char *path, void *buf, gsize n,
                        guint64 offset, const char *what, GError **err);

#endif
