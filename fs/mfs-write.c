/* The handlers that change the snapshot: write, setattr, fallocate, fsync.
 * What may change is docs/FORMAT.md §12: page data and bitmap bits of blocks
 * and fixed-size leaves of device sections, never the file's size or
 * anything else, so every size change is refused before anything is
 * written.  The files' own writes are their ops' (mfs-view.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <syslog.h>

#include "mfs-fs.h"

/* The file a write-side request names: 0, -ENOENT, -EISDIR, -EROFS on a
 * read-only mount, -EACCES for a file that cannot be written in place. */
static int
writable_node(MfsFs *fs, fuse_ino_t ino, MfsNode **out)
{
    int r = mfs_node_of(fs, ino, TRUE, out);

    if (r == 0 && fs->updater == NULL)
        r = -EROFS;
    if (r == 0 && (*out)->ops->write == NULL)
        r = -EACCES;
    return r;
}

/* A file never grows.  Like a write that reaches a file-size limit, a write
 * running past the end writes what lies inside the file and returns that
 * short count; a write at or past the end gets EFBIG.  (The kernel splits
 * writes at uncached partial pages, so the daemon could not refuse a
 * crossing write whole anyway.) */
static int
write_file(MfsFs *fs, MfsNode *n, const char *buf, size_t size, off_t off,
           size_t *done)
{
    guint64 end = n->ops->size(fs, n);
    int r;

    if (off < 0 || (guint64)off >= end)
        return -EFBIG;
    size = (size_t)MIN((guint64)size, end - (guint64)off);
    if ((r = n->ops->write(fs, n, buf, (guint64)off, size)) < 0)
        return r;
    *done = size;
    return 0;
}

void
mfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    MfsNode *n;
    size_t done = size;
    int r;

    /* A document open for writing collects what is written (mfs-doc.c). */
    if (mfs_doc_is_open(fi)) {
        r = mfs_doc_write(fi, buf, size, off);
    } else if ((r = writable_node(fs, ino, &n)) == 0 &&
               (r = mfs_snapshot_enter(fs, n)) == 0) {
        r = write_file(fs, n, buf, size, off, &done);
        mfs_snapshot_leave(fs, n);
        __atomic_add_fetch(&n->stats.writes, 1, __ATOMIC_RELAXED);
        if (r == 0)
            __atomic_add_fetch(&n->stats.write_bytes, done, __ATOMIC_RELAXED);
    }
    if (r < 0)
        fuse_reply_err(req, -r);
    else
        fuse_reply_write(req, done);
}

void
mfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
            struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    MfsNode *n = mfs_tree_get(fs->tree, ino);
    struct stat st;
    int r = 0;

    if (n == NULL)
        r = -ENOENT;
    else if (fs->updater == NULL)
        r = -EROFS;
    /* A document being rewritten (">" or ftruncate on an open file). */
    else if (to_set == FUSE_SET_ATTR_SIZE && mfs_doc_is_open(fi))
        r = mfs_doc_truncate(fi, attr->st_size);
    /* Truncating to the size a file already has changes nothing; any other
     * size, mode, owner or time cannot be stored in a migration file. */
    else if ((to_set & ~FUSE_SET_ATTR_SIZE) != 0 ||
             ((to_set & FUSE_SET_ATTR_SIZE) &&
              (MFS_NODE_IS_DIR(n) || n->ops->write == NULL ||
               (guint64)attr->st_size != mfs_file_size(fs, n))))
        r = -EPERM;
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    mfs_fill_stat(fs, n, &st);
    fuse_reply_attr(req, &st, mfs_attr_timeout(fs, n));
}

/* Zeroing and punching holes write zeros, which a RAM block stores as
 * absent pages; allocating is a no-op (every page has its slot). */
static int
fallocate_file(MfsFs *fs, MfsNode *n, int mode, off_t off, off_t length)
{
    guint64 size = n->ops->size(fs, n), end;

    if (off < 0 || length <= 0)
        return -EINVAL;
    end = (guint64)off + (guint64)length;
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size)
        return -EFBIG;
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
        return 0;
    case FALLOC_FL_PUNCH_HOLE:
    case FALLOC_FL_ZERO_RANGE:
        if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
            return -EINVAL;
        if ((guint64)off >= size)
            return 0;
        return n->ops->write(fs, n, NULL, (guint64)off,
                             (gsize)(MIN(end, size) - (guint64)off));
    default:
        return -EOPNOTSUPP;
    }
}

void
mfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
              off_t length, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    MfsNode *n;
    int r = writable_node(fs, ino, &n);

    if (r == 0 && (r = mfs_snapshot_enter(fs, n)) == 0) {
        r = fallocate_file(fs, n, mode, off, length);
        mfs_snapshot_leave(fs, n);
    }
    fuse_reply_err(req, -r);
}

void
mfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
          struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    g_autoptr(GError) err = NULL;
    gboolean ok;

    /* The commit writes bitmap words, which a reload replaces; nothing is
     * written into a file another program changed (mfs-change.c). */
    g_rw_lock_reader_lock(&fs->model_lock);
    if (g_atomic_int_get(&fs->state) != MFS_SNAPSHOT_VALID) {
        g_rw_lock_reader_unlock(&fs->model_lock);
        fuse_reply_err(req, EIO);
        return;
    }
    ok = fs->updater == NULL || mr_updater_sync(fs->updater, &err);
    g_rw_lock_reader_unlock(&fs->model_lock);
    fuse_reply_err(req, ok ? 0 : -mfs_errno_from_error(err, "fsync"));
}

/* Names, links and xattrs are the snapshot's, not the user's. */
static void
refuse(fuse_req_t req)
{
    MfsFs *fs = fuse_req_userdata(req);

    fuse_reply_err(req, fs->updater ? EPERM : EROFS);
}

void
mfs_refuse_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, struct fuse_file_info *fi)
{
    refuse(req);
}

void
mfs_refuse_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode, dev_t rdev)
{
    refuse(req);
}

void
mfs_refuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode)
{
    refuse(req);
}

void
mfs_refuse_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    refuse(req);
}

void
mfs_refuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                   const char *name)
{
    refuse(req);
}

void
mfs_refuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    refuse(req);
}

void
mfs_refuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                const char *newname)
{
    refuse(req);
}

void
mfs_refuse_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    const char *value, size_t size, int flags)
{
    refuse(req);
}

void
mfs_refuse_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    refuse(req);
}

void
mfs_destroy(void *userdata)
{
    MfsFs *fs = userdata;
    g_autoptr(GError) err = NULL;

    /* Unmounting makes every write durable, data before bitmaps. */
    g_rw_lock_reader_lock(&fs->model_lock);
    if (fs->updater && g_atomic_int_get(&fs->state) != MFS_SNAPSHOT_VALID)
        mfs_log(LOG_WARNING, "%s: not synced at unmount: another program "
                "changed it", fs->tree->file->path);
    else if (fs->updater && !mr_updater_sync(fs->updater, &err))
        mfs_errno_from_error(err, "sync at unmount");
    g_rw_lock_reader_unlock(&fs->model_lock);
}
