/* What other layers may do with the snapshot file (mr-file.h): format/ keeps
 * its descriptor to itself. */
#include "mr-file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "mr-error.h"

#define LOCK_POLL_US (20 * 1000)

gboolean
mr_file_lock(MrFile *f, MrLockMode mode, gint64 wait_us, GError **err)
{
    gint64 deadline = g_get_monotonic_time() + MAX(wait_us, 0);
    int op = mode == MR_LOCK_SHARED ? LOCK_SH : LOCK_EX, e;

    for (;;) {
        if (flock(f->fd, op | LOCK_NB) == 0)
            return TRUE;
        e = errno;
        if (e == EINTR)
            continue;
        if (e != EWOULDBLOCK || g_get_monotonic_time() >= deadline)
            break;
        g_usleep(LOCK_POLL_US);
    }
    if (e == EWOULDBLOCK)
        mr_set_error(err, MR_ERROR_BUSY, f->path, MR_NO_OFFSET,
                     "the snapshot is in use: it is locked by %s",
                     mode == MR_LOCK_SHARED ? "a read-write mount or a repair"
                                            : "a mount or a repair");
    else
        mr_set_error(err, MR_ERROR_IO, f->path, MR_NO_OFFSET,
                     "cannot lock: %s", g_strerror(e));
    return FALSE;
}

gboolean
mr_file_stat(const MrFile *f, struct stat *st, GError **err)
{
    if (fstat(f->fd, st) == 0)
        return TRUE;
    mr_set_error(err, MR_ERROR_IO, f->path, MR_NO_OFFSET, "cannot stat: %s",
                 g_strerror(errno));
    return FALSE;
}

int
mr_file_watch_descriptor(const MrFile *f, GError **err)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", f->fd);
    int fd = open(proc, O_RDONLY | O_CLOEXEC);

    /* Without /proc, the same open file: as good for marking the inode. */
    if (fd < 0)
        fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        mr_set_error(err, MR_ERROR_IO, f->path, MR_NO_OFFSET,
                     "cannot open a descriptor to watch it: %s",
                     g_strerror(errno));
    return fd;
}

char *
mr_file_current_name(const MrFile *f)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", f->fd);

    return g_file_read_link(proc, NULL);
}

gboolean
mr_file_check_length(MrFile *f, guint64 end, GError **err)
{
    struct stat st;
    guint64 size;

    if (!mr_file_stat(f, &st, err))
        return FALSE;
    size = (guint64)st.st_size;
    if (size < f->file_size)
        g_atomic_int_set(&f->truncated, 1);
    if (end == MR_FILE_AS_OPENED ? !g_atomic_int_get(&f->truncated) : size >= end)
        return TRUE;
    mr_set_error(err, MR_ERROR_TRUNCATED, f->path, size,
                 "the snapshot was truncated while open (0x%" G_GINT64_MODIFIER
                 "x bytes, 0x%" G_GINT64_MODIFIER "x when opened): what lay "
                 "past its end is gone, and nothing is written to it any more",
                 size, f->file_size);
    return FALSE;
}

gboolean
mr_block_check_length(MrFile *f, const MrRamBlock *b, guint64 end,
                      GError **err)
{
    return mr_file_check_length(f, mr_block_file_offset(b, end), err);
}

guint64
mr_block_file_offset(const MrRamBlock *b, guint64 off)
{
    return b->pages_offset + off;
}

int
mr_block_splice_source(const MrFile *f, const MrRamBlock *b, guint64 off,
                       guint64 *file_off)
{
    *file_off = mr_block_file_offset(b, off);
    return f->fd;
}

gboolean
mr_section_read(const MrFile *f, const MrSection *s, guint64 offset,
                void *buf, gsize n, GError **err)
{
    g_autofree char *what = NULL;

    if (offset < s->offset || offset > s->end_offset ||
        n > s->end_offset - offset) {
        mr_set_error(err, MR_ERROR_RANGE, f->path, offset,
                     "%" G_GSIZE_FORMAT " bytes here lie outside section "
                     "\"%s\" (instance %u) [0x%" G_GINT64_MODIFIER "x, 0x%"
                     G_GINT64_MODIFIER "x)", n, s->idstr, s->instance_id,
                     s->offset, s->end_offset);
        return FALSE;
    }
    what = g_strdup_printf("section \"%s\" (instance %u)", s->idstr,
                           s->instance_id);
    return mr_pread_exact(f->fd, f->path, buf, n, offset, what, err);
}

gboolean
mr_section_read_at(const MrFile *f, guint64 offset, void *buf, gsize n,
                   GError **err)
{
    for (guint i = 0; i < f->devices->len; i++) {
        const MrSection *s = g_ptr_array_index(f->devices, i);
        if (offset >= s->offset && offset <= s->end_offset &&
            n <= s->end_offset - offset)
            return mr_section_read(f, s, offset, buf, n, err);
    }
    mr_set_error(err, MR_ERROR_RANGE, f->path, offset,
                 "%" G_GSIZE_FORMAT " bytes here lie in no one device section",
                 n);
    return FALSE;
}

void
mr_section_cursor(const MrFile *f, const MrSection *s, MrCursor *c)
{
    mr_file_cursor(f, s->body_offset, s->body_offset + s->body_size, c);
}

void
mr_file_cursor(const MrFile *f, guint64 pos, guint64 limit, MrCursor *c)
{
    mr_cursor_init(c, f->fd, f->path, pos, limit);
}
