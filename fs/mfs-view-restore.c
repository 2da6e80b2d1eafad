/* restore/: what a lazy restore of this snapshot needs (mr-lazy.h,
 * docs/LAZY-RESTORE.md):
 *   lazy.mig   the migration stream QEMU loads with -incoming: the snapshot
 *              with the lazily served RAM block's bitmap and pages as holes;
 *   qemu-args  the arguments to add to the saved VM's command line, one a
 *              line, naming this mount's files by absolute path.
 * Both come from the mount of this very snapshot, so the stream is never
 * paired with another snapshot's RAM.  Both depend only on the layout and
 * the mount point: after a same-layout rewrite (mfs-change.c) the stream's
 * pieces read the new bytes, and nothing needs a refresh. */
#include <string.h>

#include "mfs-fs.h"
#include "mfs-vfile.h"
#include "mr-lazy.h"

/* Made at each read from the model and the mount point, which a
 * same-layout rewrite of the snapshot leaves as they were: nothing to
 * refresh. */
static char *
args_text(MfsFs *fs, const MfsNode *n, GError **err)
{
    return mr_lazy_qemu_args_text(fs->tree->file, mr_lazy_block(fs->tree->file),
                                  fs->mountpoint, err);
}

/* A file whose arguments cannot be made still has a byte, so that a read
 * reaches args_read() and fails: an empty file would read as "no
 * arguments" and start a fresh VM. */
static guint64
args_size(MfsFs *fs, const MfsNode *n)
{
    g_autofree char *text = args_text(fs, n, NULL);

    return text ? strlen(text) : 1;
}

/* A mount point QEMU's command line cannot name fails the read, said in
 * the log, rather than give arguments that would start the wrong VM. */
static int
args_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
          gsize *got)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = args_text(fs, n, &err);
    gsize size;

    if (text == NULL)
        return mfs_errno_from_error(err, "read restore/qemu-args");
    size = strlen(text);
    *got = off < size ? MIN(len, size - (gsize)off) : 0;
    memcpy(buf, text + off, *got);
    return 0;
}

static const MfsFileOps args_ops = {
    .size = args_size,
    .read = args_read,
};

static gboolean
build_restore(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    char *mig[] = { (char *)"lazy.mig", NULL };
    char *args[] = { (char *)"qemu-args", NULL };
    MrRamBlock *lazy = mr_lazy_block(f);
    MrVfile *v = mr_lazy_stream_new(f, lazy, err);

    if (v == NULL)
        return FALSE;
    /* Two fixed names in a directory of their own: never taken.  On a
     * read-write mount a write under ram/ or superio/ changes bytes of the
     * stream: it is read through the daemon, never from a stale cache. */
    mfs_tree_add(tb, mig, 0, &mfs_vfile_ro_uncached_ops, mfs_vfile_new(v));
    mfs_tree_add(tb, args, 0, &args_ops, NULL);
    return TRUE;
}

const MfsView mfs_view_restore = { "restore", TRUE, build_restore };
