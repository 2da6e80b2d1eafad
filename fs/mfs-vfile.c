#include "mfs-vfile.h"

#include "mfs-fs.h"
#include "mr-vfile.h"

guint64
mfs_vfile_size(MfsFs *fs, const MfsNode *n)
{
    return mr_vfile_size(n->data);
}

guint64
mfs_vfile_stored(MfsFs *fs, const MfsNode *n)
{
    return mr_vfile_stored_bytes(n->data);
}

int
mfs_vfile_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
               gsize *got)
{
    g_autoptr(GError) err = NULL;

    if (!mr_vfile_read(n->data, buf, off, len, got, &err))
        return mfs_errno_from_error(err, "read");
    return 0;
}

/* MR_VFILE_NONE and MFS_SEEK_NONE both say "no data at or after off". */
G_STATIC_ASSERT(MR_VFILE_NONE == MFS_SEEK_NONE);

int
mfs_vfile_seek(MfsFs *fs, const MfsNode *n, guint64 off, gboolean data,
               guint64 *out)
{
    g_autoptr(GError) err = NULL;

    if (!mr_vfile_seek(n->data, off, data, out, &err))
        return mfs_errno_from_error(err, "lseek");
    return 0;
}

/* mr_vfile_write() takes no NULL buffer: zeros come from the mount's
 * buffer of zeros, max_read bytes at a time. */
int
mfs_vfile_write(MfsFs *fs, MfsNode *n, const void *buf, guint64 off, gsize len)
{
    g_autoptr(GError) err = NULL;

    while (len > 0) {
        gsize step = buf ? len : MIN(len, (gsize)fs->opts.max_read);

        if (!mr_vfile_write(n->data, fs->updater, buf ? buf : fs->zeros, off,
                            step, &err))
            return mfs_errno_from_error(err, buf ? "write" : "fallocate");
        off += step;
        len -= step;
    }
    return 0;
}

void
mfs_vfile_free(gpointer data)
{
    mr_vfile_free(data);
}

const MfsFileOps mfs_vfile_ops = {
    .size = mfs_vfile_size,
    .stored = mfs_vfile_stored,
    .read = mfs_vfile_read,
    .seek = mfs_vfile_seek,
    .free = mfs_vfile_free,
};
