/* The handlers that change the snapshot: write, setattr, fallocate, fsync.
 * What may change is FORMAT.md §12: page data and bitmap bits of blocks,
 * never the file's size or anything else, so every size change is refused
 * before anything is written. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <syslog.h>

#include "mfs-fs.h"

static MfsNode *
block_node(fuse_req_t req, fuse_ino_t ino, int *e)
{
    MfsFs *fs = fuse_req_userdata(req);
    MfsNode *n = mfs_tree_get(fs->tree, ino);

    *e = 0;
    if (n == NULL)
        *e = ENOENT;
    else if (n->kind == MFS_NODE_DIR)
        *e = EISDIR;
    else if (fs->updater == NULL)
        *e = EROFS;
    else if (n->kind != MFS_NODE_BLOCK)
        *e = EACCES;
    return *e ? NULL : n;
}

void
mfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    g_autoptr(GError) err = NULL;
    MfsNode *n;
    int e;

    n = mfs_tree_get(fs->tree, ino);
    if (n && n->kind == MFS_NODE_BLOB && n->apply && fs->updater) {
        if (mfs_doc_write(fs, fi, buf, size, off, &e))
            fuse_reply_write(req, size);
        else
            fuse_reply_err(req, e);
        return;
    }
    n = block_node(req, ino, &e);
    if (n == NULL) {
        fuse_reply_err(req, e);
        return;
    }
    /* A block never grows.  Like a write that reaches a file-size limit,
     * a write running past the end writes what lies inside the block and
     * returns that short count; a write at or past the end gets EFBIG.
     * (The kernel splits writes at uncached partial pages, so the daemon
     * could not refuse a crossing write whole anyway.) */
    if (off < 0 || (guint64)off >= n->block->used_length) {
        fuse_reply_err(req, EFBIG);
        return;
    }
    size = (size_t)MIN((guint64)size, n->block->used_length - (guint64)off);
    if (!mr_block_write(fs->updater, n->block, buf, (guint64)off, size, &err)) {
        fuse_reply_err(req, mfs_errno_from_error(err, "write"));
        return;
    }
    fuse_reply_write(req, size);
}

void
mfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
            struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    MfsNode *n = mfs_tree_get(fs->tree, ino);
    struct stat st;

    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (fs->updater == NULL) {
        fuse_reply_err(req, EROFS);
        return;
    }
    /* A document being rewritten (">" or ftruncate on an open file). */
    if (n->kind == MFS_NODE_BLOB && n->apply && to_set == FUSE_SET_ATTR_SIZE &&
        fi && mfs_doc_truncate(fi, attr->st_size)) {
        mfs_fill_stat(fs, n, &st);
        fuse_reply_attr(req, &st, mfs_attr_timeout(fs, n));
        return;
    }
    mfs_fill_stat(fs, n, &st);
    /* Truncating to the size a file already has changes nothing; any other
     * size, mode, owner or time cannot be stored in a migration file. */
    if ((to_set & ~FUSE_SET_ATTR_SIZE) != 0 ||
        ((to_set & FUSE_SET_ATTR_SIZE) &&
         (n->kind != MFS_NODE_BLOCK || attr->st_size != st.st_size))) {
        fuse_reply_err(req, EPERM);
        return;
    }
    fuse_reply_attr(req, &st, mfs_attr_timeout(fs, n));
}

void
mfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
              off_t length, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    g_autoptr(GError) err = NULL;
    MfsNode *n;
    guint64 size, end;
    int e;

    n = block_node(req, ino, &e);
    if (n == NULL) {
        fuse_reply_err(req, e);
        return;
    }
    size = n->block->used_length;
    if (off < 0 || length <= 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    end = (guint64)off + (guint64)length;
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size) {
        fuse_reply_err(req, EFBIG);
        return;
    }
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
        /* Every page already has its slot in the file. */
        fuse_reply_err(req, 0);
        return;
    case FALLOC_FL_PUNCH_HOLE:
    case FALLOC_FL_ZERO_RANGE:
        if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) {
            fuse_reply_err(req, EINVAL);
            return;
        }
        if ((guint64)off >= size) {
            fuse_reply_err(req, 0);
            return;
        }
        if (!mr_block_write(fs->updater, n->block, NULL, (guint64)off,
                            (gsize)(MIN(end, size) - (guint64)off), &err)) {
            fuse_reply_err(req, mfs_errno_from_error(err, "fallocate"));
            return;
        }
        fuse_reply_err(req, 0);
        return;
    default:
        fuse_reply_err(req, EOPNOTSUPP);
    }
}

void
mfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
          struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    g_autoptr(GError) err = NULL;

    if (fs->updater && !mr_updater_sync(fs->updater, &err)) {
        fuse_reply_err(req, mfs_errno_from_error(err, "fsync"));
        return;
    }
    fuse_reply_err(req, 0);
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
    if (fs->updater && !mr_updater_sync(fs->updater, &err))
        mfs_errno_from_error(err, "sync at unmount");
}
