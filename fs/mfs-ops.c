/* The FUSE low-level handlers (libfuse 3.14) that read.  Every handler ends
 * in exactly one fuse_reply_*; helpers return 0 or -errno.  The tree never
 * changes shape after mount, so lookups take no lock; a file's bytes, size
 * and holes come from its node's ops (mfs-view.h), which the handlers call
 * without knowing which view a file belongs to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "mfs-fs.h"
#include "mr-read.h"

/* The tree is fixed for the life of the mount. */
#define MFS_TIMEOUT 86400.0

static MfsFs *
fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

int
mfs_node_of(MfsFs *fs, fuse_ino_t ino, gboolean want_file, MfsNode **out)
{
    MfsNode *n = mfs_tree_get(fs->tree, ino);

    *out = n;
    if (n == NULL)
        return -ENOENT;
    if (want_file && MFS_NODE_IS_DIR(n))
        return -EISDIR;
    return 0;
}

int
mfs_may_write(const MfsFs *fs, const MfsNode *n)
{
    if (fs->updater == NULL)
        return -EROFS;
    if (n->ops->write == NULL && n->ops->apply == NULL)
        return -EACCES;
    return 0;
}

/* Files of a read-write mount change st_blocks as pages appear, or their
 * bytes (mfs-view.h). */
double
mfs_attr_timeout(const MfsFs *fs, const MfsNode *n)
{
    if (n->ops && (n->ops->flags & MFS_FILE_DAEMON))
        return 0.0;
    return fs->updater && !MFS_NODE_IS_DIR(n) ? 1.0 : MFS_TIMEOUT;
}

/* Permission bits.  By default they follow the snapshot's and are never
 * wider: whoever may not read the snapshot may not read its guest's
 * memory through an allow_other mount either.  Read bits are the
 * snapshot's, write bits its own on a read-write mount for files that can
 * be written, and a directory is searchable where it is readable (its
 * entries cannot change).  umask= replaces that with fixed modes minus the
 * mask: directories 0555, files 0444, or 0666 if they can be written. */
static mode_t
perm_of(const MfsFs *fs, const MfsNode *n)
{
    gboolean dir = MFS_NODE_IS_DIR(n);
    gboolean writable = !dir && mfs_may_write(fs, n) == 0;
    mode_t snap = fs->file_st.st_mode, read;

    if (fs->opts.has_umask)
        return (dir ? 0555 : writable ? 0666 : 0444) & ~fs->opts.umask;
    read = snap & 0444;
    if (dir)
        return read | read >> 2;
    return read | (writable ? snap & 0222 : 0);
}

guint64
mfs_file_size(MfsFs *fs, const MfsNode *n)
{
    guint64 size;

    mfs_model_hold(fs, n);
    size = n->ops->size(fs, n);
    mfs_model_release(fs, n);
    return size;
}

void
mfs_fill_stat(MfsFs *fs, const MfsNode *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_uid = fs->opts.has_uid ? fs->opts.uid : fs->file_st.st_uid;
    st->st_gid = fs->opts.has_gid ? fs->opts.gid : fs->file_st.st_gid;
    st->st_atim = fs->file_st.st_atim;
    st->st_mtim = fs->file_st.st_mtim;
    st->st_ctim = fs->file_st.st_ctim;
    st->st_blksize = fs->opts.max_read;
    if (MFS_NODE_IS_DIR(n)) {
        st->st_mode = S_IFDIR | perm_of(fs, n);
        st->st_nlink = 2;
        for (guint i = 0; i < n->children->len; i++)
            if (MFS_NODE_IS_DIR((MfsNode *)g_ptr_array_index(n->children, i)))
                st->st_nlink++;
    } else {
        guint64 size, stored;

        mfs_model_hold(fs, n);
        size = n->ops->size(fs, n);
        stored = n->ops->stored ? n->ops->stored(fs, n) : size;
        mfs_model_release(fs, n);
        st->st_mode = S_IFREG | perm_of(fs, n);
        st->st_nlink = 1;
        st->st_size = (off_t)size;
        st->st_blocks = (blkcnt_t)((stored + 511) / 512);
    }
}

static void
mfs_init(void *userdata, struct fuse_conn_info *conn)
{
    MfsFs *fs = userdata;

    conn->max_write = fs->opts.max_read;
    conn->max_readahead = fs->opts.max_read;
    /* Copying replies (pread into a buffer, then writev) measured
     * faster than splicing them from the snapshot on a cold cache and equal
     * on a warm one (bench/run, rows 2 and 2c), so splice is opt-in. */
    if (fs->opts.splice)
        conn->want |= conn->capable & (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    else
        conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                                  FUSE_CAP_SPLICE_READ);
}

static void
mfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    MfsFs *fs = fs_of(req);
    MfsNode *dir = mfs_tree_get(fs->tree, parent), *n;
    struct fuse_entry_param e;

    if (dir == NULL || !MFS_NODE_IS_DIR(dir)) {
        fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
        return;
    }
    n = mfs_tree_lookup(dir, name);
    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.ino = n->ino;
    e.attr_timeout = mfs_attr_timeout(fs, n);
    e.entry_timeout = MFS_TIMEOUT;
    mfs_fill_stat(fs, n, &e.attr);
    fuse_reply_entry(req, &e);
}

static void
mfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    struct stat st;
    int r = mfs_node_of(fs, ino, FALSE, &n);

    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    mfs_fill_stat(fs, n, &st);
    fuse_reply_attr(req, &st, mfs_attr_timeout(fs, n));
}

static void
mfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsNode *n = mfs_tree_get(fs_of(req)->tree, ino);

    if (n == NULL || !MFS_NODE_IS_DIR(n)) {
        fuse_reply_err(req, n ? ENOTDIR : ENOENT);
        return;
    }
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void
mfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
            struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *dir = mfs_tree_get(fs->tree, ino);
    g_autofree char *buf = NULL;
    size_t used = 0;
    guint total;

    if (dir == NULL || !MFS_NODE_IS_DIR(dir)) {
        fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
        return;
    }
    buf = g_malloc(size);
    total = dir->children->len + 2;
    for (guint i = (guint)MAX(off, 0); i < total; i++) {
        struct stat st = { 0 };
        const char *name;
        size_t len;

        if (i < 2) {
            MfsNode *self = i == 0 ? dir : dir->parent;
            name = i == 0 ? "." : "..";
            st.st_ino = self->ino;
            st.st_mode = S_IFDIR;
        } else {
            MfsNode *c = g_ptr_array_index(dir->children, i - 2);
            name = c->name;
            st.st_ino = c->ino;
            st.st_mode = MFS_NODE_IS_DIR(c) ? S_IFDIR : S_IFREG;
        }
        len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
        if (len > size - used)
            break;
        used += len;
    }
    fuse_reply_buf(req, buf, used);
}

static int
open_file(MfsFs *fs, MfsNode *n, struct fuse_file_info *fi)
{
    gboolean writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    int r;

    if (writing && (r = mfs_may_write(fs, n)) < 0)
        return r;
    if (writing && n->ops->apply)
        return mfs_doc_open(fs, n, fi);
    /* The kernel passes O_TRUNC here (atomic_o_trunc): a file keeps its
     * size, so truncation is refused before the file is opened. */
    if ((fi->flags & O_TRUNC) && mfs_file_size(fs, n) != 0)
        return -EPERM;
    /* Pages the kernel cached stay right across opens: this daemon's
     * writes go through them, and another program's rewrite drops them
     * all (mfs-change.c; not watched with -o nowatch, mount.mramfs(8));
     * but not a file whose bytes change without a write to it
     * (mfs-view.h). */
    if ((fs->updater && (n->ops->flags & MFS_FILE_UNCACHED)) ||
        (n->ops->flags & MFS_FILE_DAEMON)) {
        fi->keep_cache = 0;
        fi->direct_io = 1;
    } else {
        fi->keep_cache = !fs->opts.direct_io;
        fi->direct_io = fs->opts.direct_io;
    }
    /* Nothing to flush for a reader, and a FLUSH sent by close() after a
     * lazy unmount races with the kernel ending the connection (ENOTCONN
     * from close). */
    fi->noflush = !writing;
    return 0;
}

static void
mfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    int r = mfs_node_of(fs, ino, TRUE, &n);

    if (r == 0)
        r = open_file(fs, n, fi);
    if (r < 0)
        fuse_reply_err(req, -r);
    else
        fuse_reply_open(req, fi);
}

/* One reply buffer of max_read bytes per libfuse worker thread, kept
 * between requests: a fresh 1 MiB allocation per read cost a page fault per
 * 4 KiB whenever glibc had given it back.  Worker threads come and go;
 * GPrivate frees a thread's buffer when it exits. */
typedef struct {
    gsize size;
    guint8 data[];
} ReplyBuffer;

static GPrivate reply_buffer = G_PRIVATE_INIT(g_free);

static guint8 *
thread_reply_buffer(const MfsFs *fs)
{
    ReplyBuffer *rb = g_private_get(&reply_buffer);

    if (rb == NULL || rb->size < fs->opts.max_read) {
        rb = g_malloc(sizeof(*rb) + fs->opts.max_read);
        rb->size = fs->opts.max_read;
        g_private_replace(&reply_buffer, rb);
    }
    return rb->data;
}

static void
mfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    int r = mfs_node_of(fs, ino, TRUE, &n);

    if (r == 0 && off < 0)
        r = -EINVAL;
    if (r == 0)
        r = mfs_snapshot_enter(fs, n);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    __atomic_add_fetch(&n->stats.reads, 1, __ATOMIC_RELAXED);
    /* The kernel never asks for more than max_read; the reply buffer and
     * the zero buffer are that large. */
    size = MIN(size, (size_t)fs->opts.max_read);
    if (fs->opts.splice && n->ops->splice) {
        struct fuse_bufvec *bv = NULL;
        r = n->ops->splice(fs, n, (guint64)off, size, &bv);
        if (r == 0)
            __atomic_add_fetch(&n->stats.read_bytes, fuse_buf_size(bv),
                               __ATOMIC_RELAXED);
        /* libfuse reads the snapshot's bytes here, in the reply: still
         * inside, or another program's rewrite noticed meanwhile could
         * mix its bytes with the old bitmap's runs (mfs-change.c). */
        if (r < 0)
            fuse_reply_err(req, -r);
        else
            fuse_reply_data(req, bv, 0);
        mfs_snapshot_leave(fs, n);
        g_free(bv);
    } else {
        guint8 *buf = thread_reply_buffer(fs);
        gsize got = 0;
        r = n->ops->read(fs, n, buf, (guint64)off, size, &got);
        mfs_snapshot_leave(fs, n);
        __atomic_add_fetch(&n->stats.read_bytes, got, __ATOMIC_RELAXED);
        if (r < 0)
            fuse_reply_err(req, -r);
        else
            fuse_reply_buf(req, (const char *)buf, got);
    }
}

/* SEEK_DATA/SEEK_HOLE: EINVAL for a negative offset, ENXIO at or past the
 * end, and a hole at the end of every file. */
static int
seek_file(MfsFs *fs, const MfsNode *n, off_t off, int whence, off_t *out)
{
    gboolean data = whence == SEEK_DATA;
    guint64 size, at;
    int r;

    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0)
        return -EINVAL;
    size = n->ops->size(fs, n);
    if ((guint64)off >= size)
        return -ENXIO;
    if (n->ops->seek == NULL)
        at = data ? (guint64)off : size;
    else if ((r = n->ops->seek(fs, n, (guint64)off, data, &at)) < 0)
        return r;
    if (at == MFS_SEEK_NONE)
        return -ENXIO;
    *out = (off_t)at;
    return 0;
}

static void
mfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
          struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    off_t out = 0;
    int r = mfs_node_of(fs, ino, TRUE, &n);

    if (r == 0 && (r = mfs_snapshot_enter(fs, n)) == 0) {
        __atomic_add_fetch(&n->stats.lseeks, 1, __ATOMIC_RELAXED);
        r = seek_file(fs, n, off, whence, &out);
        mfs_snapshot_leave(fs, n);
    }
    if (r < 0)
        fuse_reply_err(req, -r);
    else
        fuse_reply_lseek(req, out);
}

static void
reply_xattr_value(fuse_req_t req, const char *value, size_t len, size_t size)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static void
mfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    g_autofree char *value = NULL;
    int r = mfs_node_of(fs, ino, FALSE, &n);

    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    if (n->ops && n->ops->getxattr) {
        mfs_model_hold(fs, n);
        value = n->ops->getxattr(fs, n, name);
        mfs_model_release(fs, n);
    }
    if (value == NULL) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    reply_xattr_value(req, value, strlen(value), size);
}

static void
mfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n;
    g_autoptr(GString) list = g_string_new(NULL);
    int r = mfs_node_of(fs, ino, FALSE, &n);

    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    if (n->ops && n->ops->listxattr) {
        mfs_model_hold(fs, n);
        n->ops->listxattr(fs, n, list);
        mfs_model_release(fs, n);
    }
    reply_xattr_value(req, list->str, list->len, size);
}

static void
mfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
    MfsFs *fs = fs_of(req);
    const MrFile *f = fs->tree->file;
    struct statvfs sv;
    guint64 stored = 0, bsize = f->page_size ? f->page_size : 4096;

    g_rw_lock_reader_lock(&fs->model_lock);
    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        g_autoptr(GError) err = NULL;
        guint64 n;

        /* What could be counted: statfs has no way to say more. */
        if (!mr_block_count_present(b, &n, &err))
            mfs_errno_from_error(err, "statfs");
        stored += n * b->page_size;
    }
    g_rw_lock_reader_unlock(&fs->model_lock);
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = bsize;
    sv.f_frsize = bsize;
    sv.f_blocks = (f->ram_total + bsize - 1) / bsize;
    sv.f_bfree = sv.f_blocks - stored / bsize;
    sv.f_files = fs->tree->nodes->len;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops mfs_ops = {
    .init = mfs_init,
    .lookup = mfs_lookup,
    .getattr = mfs_getattr,
    .opendir = mfs_opendir,
    .readdir = mfs_readdir,
    .open = mfs_open,
    .read = mfs_read,
    .lseek = mfs_lseek,
    .getxattr = mfs_getxattr,
    .listxattr = mfs_listxattr,
    .statfs = mfs_statfs,
    .write = mfs_write,
    .setattr = mfs_setattr,
    .fallocate = mfs_fallocate,
    .fsync = mfs_fsync,
    .destroy = mfs_destroy,
    .flush = mfs_flush,
    .release = mfs_release,
    .create = mfs_refuse_create,
    .mknod = mfs_refuse_mknod,
    .mkdir = mfs_refuse_mkdir,
    .unlink = mfs_refuse_unlink,
    .rmdir = mfs_refuse_unlink,
    .symlink = mfs_refuse_symlink,
    .rename = mfs_refuse_rename,
    .link = mfs_refuse_link,
    .setxattr = mfs_refuse_setxattr,
    .removexattr = mfs_refuse_removexattr,
};
