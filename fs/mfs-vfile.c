/* Virtual files of the mount (mfs-vfile.h): an adapter from MfsFileOps to
 * format/mr-vfile.h, which owns where every byte is. */
#include <errno.h>

#include "mfs-fs.h"
#include "mfs-vfile.h"

struct MfsVfile {
    MrVfile *v;    /* NULL: the pieces could not be made again */
    guint64 size;  /* the last pieces' size */
};

MfsVfile *
mfs_vfile_new(MrVfile *v)
{
    MfsVfile *h = g_new0(MfsVfile, 1);

    h->v = v;
    h->size = mr_vfile_size(v);
    return h;
}

void
mfs_vfile_replace(MfsNode *n, MrVfile *v)
{
    MfsVfile *h = n->data;

    g_return_if_fail(n->ops == &mfs_vfile_ro_uncached_ops ||
                     n->ops == &mfs_vfile_ram_ops);
    mr_vfile_free(h->v);
    h->v = v;
    if (v)
        h->size = mr_vfile_size(v);
}

/* The pieces, or NULL: said in the log by the view when they were lost. */
static MrVfile *
pieces(const MfsNode *n)
{
    return ((const MfsVfile *)n->data)->v;
}

static guint64
vfile_size(MfsFs *fs, const MfsNode *n)
{
    return ((const MfsVfile *)n->data)->size;
}

static guint64
vfile_stored(MfsFs *fs, const MfsNode *n)
{
    return pieces(n) ? mr_vfile_stored_bytes(pieces(n)) : 0;
}

static int
vfile_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
           gsize *got)
{
    g_autoptr(GError) err = NULL;

    if (pieces(n) == NULL)
        return -EIO;
    if (!mr_vfile_read(pieces(n), buf, off, len, got, &err))
        return mfs_errno_from_error(err, "read");
    return 0;
}

static int
vfile_seek(MfsFs *fs, const MfsNode *n, guint64 off, gboolean data,
           guint64 *out)
{
    g_autoptr(GError) err = NULL;

    if (pieces(n) == NULL)
        return -EIO;
    if (!mr_vfile_seek(pieces(n), off, data, out, &err))
        return mfs_errno_from_error(err, "lseek");
    if (*out == MR_VFILE_NONE)
        *out = MFS_SEEK_NONE;
    return 0;
}

/* Is every byte of [off, off + len) a RAM block piece? */
static gboolean
all_ram(const MrVfile *v, guint64 off, gsize len)
{
    guint n;
    const MrPiece *p = mr_vfile_pieces(v, &n);
    guint64 pos = off, end = off + len;

    for (guint i = 0; i < n && pos < end; i++) {
        if (p[i].offset + p[i].length <= pos)
            continue;
        if (p[i].offset > pos || p[i].kind != MR_PIECE_BLOCK)
            return FALSE;
        pos = p[i].offset + p[i].length;
    }
    return pos >= end;
}

/* The block files cache their pages in the kernel: drop those this write
 * changed. */
static void
invalidate_blocks(MfsFs *fs, const MrVfile *v, guint64 off, gsize len)
{
    guint n;
    const MrPiece *p = mr_vfile_pieces(v, &n);
    guint64 end = off + len;

    for (guint i = 0; i < n; i++) {
        guint64 a = MAX(off, p[i].offset), z = MIN(end, p[i].offset + p[i].length);
        if (p[i].kind == MR_PIECE_BLOCK && a < z)
            mfs_ram_invalidate(fs, p[i].block, p[i].source + (a - p[i].offset),
                               z - a);
    }
}

/* Where no RAM block is behind a byte (a guest-physical address with no
 * memory): ENXIO (mramfs(5)), decided here before anything is written,
 * not the EINVAL a range error of the format layer means elsewhere.  buf
 * NULL (fallocate) writes zeros. */
static int
vfile_write(MfsFs *fs, MfsNode *n, const void *buf, guint64 off, gsize len)
{
    MrVfile *v = pieces(n);
    g_autoptr(GError) err = NULL;

    if (v == NULL)
        return -EIO;
    if (!all_ram(v, off, len))
        return -ENXIO;
    if (!mr_vfile_write(v, fs->updater, buf, off, len, &err))
        return mfs_errno_from_error(err, buf ? "write" : "fallocate");
    invalidate_blocks(fs, v, off, len);
    return 0;
}

static void
vfile_free(gpointer data)
{
    MfsVfile *h = data;

    mr_vfile_free(h->v);
    g_free(h);
}

const MfsFileOps mfs_vfile_ro_uncached_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = vfile_size,
    .stored = vfile_stored,
    .read = vfile_read,
    .seek = vfile_seek,
    .free = vfile_free,
};

const MfsFileOps mfs_vfile_ram_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = vfile_size,
    .stored = vfile_stored,
    .read = vfile_read,
    .seek = vfile_seek,
    .write = vfile_write,
    .free = vfile_free,
};
