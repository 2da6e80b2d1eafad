/* Applying ops to a work file, and undoing them (crash-apply.h). */
#include "crash-apply.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash-states.h"
#include "mr-error.h"

typedef struct {
    guint64 at, len;
    guint64 file_size;  /* before the change */
    guint8 *bytes;      /* len bytes */
    GArray *holes;      /* guint64 pairs [a, b): holes inside the range */
} Saved;

struct CrashUndo {
    int fd;
    guint64 block;      /* allocation unit of the file system */
    GArray *saved;      /* Saved, oldest first */
};

static gboolean
io_fail(GError **err, const char *what, guint64 at)
{
    g_set_error(err, MR_ERROR, MR_ERROR_IO, "work file: %s at 0x%" G_GINT64_MODIFIER
                "x: %s", what, at, g_strerror(errno));
    return FALSE;
}

CrashUndo *
crash_undo_new(int fd)
{
    CrashUndo *u = g_new0(CrashUndo, 1);
    struct stat st;

    u->fd = fd;
    u->block = fstat(fd, &st) == 0 && st.st_blksize > 0 ? (guint64)st.st_blksize : 4096;
    u->saved = g_array_new(FALSE, FALSE, sizeof(Saved));
    return u;
}

static void
saved_clear(Saved *s)
{
    g_free(s->bytes);
    g_array_unref(s->holes);
}

void
crash_undo_free(CrashUndo *u)
{
    if (u == NULL)
        return;
    for (guint i = 0; i < u->saved->len; i++)
        saved_clear(&g_array_index(u->saved, Saved, i));
    g_array_unref(u->saved);
    g_free(u);
}

static gboolean
pread_all(int fd, guint8 *buf, guint64 len, guint64 at, GError **err)
{
    while (len > 0) {
        ssize_t r = pread(fd, buf, len, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return io_fail(err, "pread", at);
        if (r == 0) { /* past the end: reads as nothing, restored by size */
            memset(buf, 0, len);
            return TRUE;
        }
        buf += r;
        at += (guint64)r;
        len -= (guint64)r;
    }
    return TRUE;
}

static gboolean
pwrite_all(int fd, const guint8 *buf, guint64 len, guint64 at, GError **err)
{
    while (len > 0) {
        ssize_t r = pwrite(fd, buf, len, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return io_fail(err, "pwrite", at);
        buf += r;
        at += (guint64)r;
        len -= (guint64)r;
    }
    return TRUE;
}

gboolean
crash_undo_save(CrashUndo *u, guint64 at, guint64 len, GError **err)
{
    Saved s = { 0 };
    struct stat st;
    guint64 pos, end;

    if (fstat(u->fd, &st) != 0)
        return io_fail(err, "fstat", 0);
    s.file_size = (guint64)st.st_size;
    s.at = at / u->block * u->block;
    end = MIN((at + len + u->block - 1) / u->block * u->block,
              MAX(s.file_size, at + len));
    s.len = end > s.at ? end - s.at : 0;
    s.bytes = g_malloc(MAX(s.len, 1));
    s.holes = g_array_new(FALSE, FALSE, sizeof(guint64));
    if (!pread_all(u->fd, s.bytes, s.len, s.at, err)) {
        saved_clear(&s);
        return FALSE;
    }
    /* The holes inside, at the file system's granularity. */
    for (pos = s.at; pos < MIN(end, s.file_size);) {
        off_t d = lseek(u->fd, (off_t)pos, SEEK_DATA);
        guint64 h;
        if (d < 0 && errno != ENXIO) {
            saved_clear(&s);
            return io_fail(err, "SEEK_DATA", pos);
        }
        h = d < 0 ? MIN(end, s.file_size) : MIN((guint64)d, MIN(end, s.file_size));
        if (h > pos) {
            g_array_append_val(s.holes, pos);
            g_array_append_val(s.holes, h);
        }
        if (d < 0 || (guint64)d >= end)
            break;
        d = lseek(u->fd, d, SEEK_HOLE);
        if (d < 0) {
            saved_clear(&s);
            return io_fail(err, "SEEK_HOLE", pos);
        }
        pos = (guint64)d;
    }
    g_array_append_val(u->saved, s);
    return TRUE;
}

static gboolean
restore(CrashUndo *u, Saved *s, GError **err)
{
    struct stat st;
    guint64 pos = s->at;

    if (fstat(u->fd, &st) != 0)
        return io_fail(err, "fstat", 0);
    if ((guint64)st.st_size != s->file_size && ftruncate(u->fd, (off_t)s->file_size) != 0)
        return io_fail(err, "ftruncate", s->file_size);
    for (guint i = 0; i <= s->holes->len; i += 2) {
        guint64 ha = i < s->holes->len ? g_array_index(s->holes, guint64, i)
                                       : MIN(s->at + s->len, s->file_size);
        guint64 hb = i < s->holes->len ? g_array_index(s->holes, guint64, i + 1) : ha;

        if (ha > pos && !pwrite_all(u->fd, s->bytes + (pos - s->at), ha - pos, pos, err))
            return FALSE;
        if (hb > ha && fallocate(u->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                 (off_t)ha, (off_t)(hb - ha)) != 0)
            return io_fail(err, "punching a hole", ha);
        pos = MAX(pos, hb);
    }
    return TRUE;
}

gboolean
crash_undo_run(CrashUndo *u, GError **err)
{
    gboolean ok = TRUE;

    for (guint i = u->saved->len; i-- > 0;) {
        Saved *s = &g_array_index(u->saved, Saved, i);
        if (ok)
            ok = restore(u, s, err);
        saved_clear(s);
    }
    g_array_set_size(u->saved, 0);
    return ok;
}

gboolean
crash_apply_op(int fd, const CrashOp *op, const guint8 *sectors, CrashUndo *u,
               GError **err)
{
    struct stat st;

    if (u != NULL) {
        guint64 at = op->offset, len = op->length;
        if (op->type == CRASH_OP_FTRUNCATE) {
            if (fstat(fd, &st) != 0)
                return io_fail(err, "fstat", 0);
            at = MIN(op->length, (guint64)st.st_size);
            len = MAX(op->length, (guint64)st.st_size) - at;
        }
        if (!crash_undo_save(u, at, len, err))
            return FALSE;
    }
    switch (op->type) {
    case CRASH_OP_WRITE:
        if (sectors == NULL)
            return pwrite_all(fd, op->data, op->length, op->offset, err);
        for (guint64 k = 0, first = op->offset / CRASH_SECTOR; k < crash_op_sectors(op); k++) {
            guint64 a = MAX(op->offset, (first + k) * CRASH_SECTOR);
            guint64 b = MIN(op->offset + op->length, (first + k + 1) * CRASH_SECTOR);
            if (sectors[k] && !pwrite_all(fd, op->data + (a - op->offset), b - a, a, err))
                return FALSE;
        }
        return TRUE;
    case CRASH_OP_FALLOCATE:
        if (fallocate(fd, op->mode, (off_t)op->offset, (off_t)op->length) != 0)
            return io_fail(err, "fallocate", op->offset);
        return TRUE;
    case CRASH_OP_FTRUNCATE:
        if (ftruncate(fd, (off_t)op->length) != 0)
            return io_fail(err, "ftruncate", op->length);
        return TRUE;
    default:
        g_set_error(err, MR_ERROR, MR_ERROR_INVALID, "op type %u cannot be applied",
                    op->type);
        return FALSE;
    }
}

gboolean
crash_copy_sparse(const char *src, const char *dst, GError **err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    g_autofree guint8 *buf = g_malloc(1 << 20);
    struct stat st;
    off_t pos = 0;
    gboolean ok = FALSE;

    if (in < 0 || fstat(in, &st) != 0) {
        io_fail(err, src, 0);
        goto done;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0 || ftruncate(out, st.st_size) != 0) {
        io_fail(err, dst, 0);
        goto done;
    }
    while (pos < st.st_size) {
        off_t d = lseek(in, pos, SEEK_DATA), h;
        if (d < 0 && errno == ENXIO)
            break;
        if (d < 0 || (h = lseek(in, d, SEEK_HOLE)) < 0) {
            io_fail(err, "seeking the source", (guint64)pos);
            goto done;
        }
        for (pos = d; pos < h;) {
            ssize_t n = pread(in, buf, (size_t)MIN((off_t)(1 << 20), h - pos), pos);
            if (n <= 0 || !pwrite_all(out, buf, (guint64)n, (guint64)pos, err)) {
                if (n <= 0)
                    io_fail(err, "reading the source", (guint64)pos);
                goto done;
            }
            pos += n;
        }
    }
    ok = TRUE;
done:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && ok)
        ok = io_fail(err, dst, 0);
    return ok;
}
