/* The FUSE low-level handlers (libfuse 3.14).  Every handler ends in exactly
 * one fuse_reply_*; helpers return -errno.  The tree never changes after
 * mount, so lookups take no lock; block reads are preads into the reply
 * (or, with -o splice, fd buffers libfuse splices from the snapshot), and
 * fail with EIO where the snapshot no longer reaches. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>

#include "mfs-fs.h"
#include "mr-read.h"

/* The tree is fixed for the life of the mount. */
#define MFS_TIMEOUT 86400.0
#define XATTR_PREFIX "user.mramfs."

static MfsFs *
fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static MfsNode *
node_of(fuse_req_t req, fuse_ino_t ino)
{
    return mfs_tree_get(fs_of(req)->tree, ino);
}

/* Block files of a read-write mount change st_blocks as pages appear. */
double
mfs_attr_timeout(const MfsFs *fs, const MfsNode *n)
{
    return fs->updater && n->kind != MFS_NODE_DIR ? 1.0 : MFS_TIMEOUT;
}

void
mfs_fill_stat(const MfsFs *fs, const MfsNode *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_uid = fs->opts.has_uid ? fs->opts.uid : fs->file_st.st_uid;
    st->st_gid = fs->opts.has_gid ? fs->opts.gid : fs->file_st.st_gid;
    st->st_atim = fs->file_st.st_atim;
    st->st_mtim = fs->file_st.st_mtim;
    st->st_ctim = fs->file_st.st_ctim;
    st->st_blksize = fs->opts.max_read;
    switch (n->kind) {
    case MFS_NODE_DIR:
        /* The tree itself never changes, even on a read-write mount. */
        st->st_mode = S_IFDIR | (0555 & ~fs->opts.umask);
        st->st_nlink = 2;
        for (guint i = 0; i < n->children->len; i++)
            if (((MfsNode *)g_ptr_array_index(n->children, i))->kind == MFS_NODE_DIR)
                st->st_nlink++;
        break;
    case MFS_NODE_BLOCK: {
        const MrRamBlock *b = n->block;
        mode_t perm = fs->updater ? 0644 : 0444;
        st->st_mode = S_IFREG | (perm & ~fs->opts.umask);
        st->st_nlink = 1;
        st->st_size = (off_t)b->used_length;
        /* du counts what the snapshot holds, not the guest's RAM size. */
        st->st_blocks = (blkcnt_t)(mr_block_present_pages(b) * b->page_size / 512);
        break;
    }
    case MFS_NODE_BLOB: {
        st->st_nlink = 1;
        g_autoptr(GBytes) blob = mfs_tree_blob(fs->tree, n);
        st->st_mode = S_IFREG | ((n->apply && fs->updater ? 0644 : 0444) & ~fs->opts.umask);
        st->st_size = (off_t)g_bytes_get_size(blob);
        st->st_blocks = (st->st_size + 511) / 512;
        break;
    }
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

    if (dir == NULL || dir->kind != MFS_NODE_DIR) {
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
    MfsNode *n = node_of(req, ino);
    struct stat st;

    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    mfs_fill_stat(fs_of(req), n, &st);
    fuse_reply_attr(req, &st, mfs_attr_timeout(fs_of(req), n));
}

static void
mfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsNode *n = node_of(req, ino);

    if (n == NULL || n->kind != MFS_NODE_DIR) {
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

    if (dir == NULL || dir->kind != MFS_NODE_DIR) {
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
            st.st_mode = c->kind == MFS_NODE_DIR ? S_IFDIR : S_IFREG;
        }
        len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
        if (len > size - used)
            break;
        used += len;
    }
    fuse_reply_buf(req, buf, used);
}

static void
mfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n = mfs_tree_get(fs->tree, ino);

    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == MFS_NODE_DIR) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY &&
        (fs->opts.read_only || (n->kind == MFS_NODE_BLOB && n->apply == NULL))) {
        fuse_reply_err(req, fs->opts.read_only ? EROFS : EACCES);
        return;
    }
    if (n->kind == MFS_NODE_BLOB && (fi->flags & O_ACCMODE) != O_RDONLY) {
        mfs_doc_open(fs, n, fi);
        fuse_reply_open(req, fi);
        return;
    }
    /* The kernel passes O_TRUNC here (atomic_o_trunc): a block keeps its
     * size, so truncation is refused before the file is opened. */
    if ((fi->flags & O_TRUNC) && n->kind == MFS_NODE_BLOCK &&
        n->block->used_length != 0) {
        fuse_reply_err(req, EPERM);
        return;
    }
    /* Only this daemon changes the file while it is mounted, so pages the
     * kernel cached stay right across opens. */
    fi->keep_cache = !fs->opts.direct_io;
    fi->direct_io = fs->opts.direct_io;
    /* A JSON file can change under a read-write mount (Super I/O writes):
     * never serve it from a stale cache. */
    if (n->kind == MFS_NODE_BLOB && fs->updater) {
        fi->keep_cache = 0;
        fi->direct_io = 1;
    }
    /* Nothing to flush for a reader, and a FLUSH sent by close() after a
     * lazy unmount races with the kernel ending the connection (ENOTCONN
     * from close). */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
    fuse_reply_open(req, fi);
}

/* The snapshot never changes size by our hand (FORMAT.md §12), but someone
 * else may truncate it under the mount.  Slots past its end are gone: the
 * read fails with EIO rather than a short reply, which the kernel takes for
 * the end of the file (and then shrinks the file's size in its cache).
 * Absent pages count too: the block is no longer in the file.  Said once
 * per mount in the log. */
static int
check_in_file(MfsFs *fs, const MrRamBlock *b, guint64 end)
{
    const MrFile *f = fs->tree->file;
    struct stat st;

    if (fstat(f->fd, &st) != 0) {
        int e = errno;
        mfs_log(LOG_ERR, "%s: fstat: %s", f->path, g_strerror(e));
        return e;
    }
    if ((guint64)st.st_size >= b->pages_offset + end)
        return 0;
    if (g_atomic_int_compare_and_exchange(&fs->truncation_logged, 0, 1))
        mfs_log(LOG_ERR, "%s: offset 0x%" G_GINT64_MODIFIER "x: the snapshot "
                "was truncated to 0x%" G_GINT64_MODIFIER "x bytes while mounted "
                "(it had 0x%" G_GINT64_MODIFIER "x): reads past its end fail "
                "with EIO, writes fail", f->path, (guint64)st.st_size,
                (guint64)st.st_size, f->file_size);
    return EIO;
}

/* -o splice: one buffer per run of pages, the snapshot's descriptor for
 * present runs and shared zeros for absent ones, so that libfuse can
 * splice.  libfuse preads or splices them after we return and sends what
 * it got, so a truncation racing with this read can still come out short;
 * check_in_file() has made that a narrow window. */
static void
reply_spliced(fuse_req_t req, const MfsFs *fs, const MrRamBlock *b,
              guint64 pos, guint64 end)
{
    struct fuse_bufvec *bv;
    size_t nbufs = 0, cap;
    g_autoptr(GError) err = NULL;

    cap = (size_t)((end - pos) / b->page_size + 2);
    bv = g_malloc0(sizeof(*bv) + cap * sizeof(struct fuse_buf));
    while (pos < end) {
        guint64 page = pos / b->page_size;
        MrPageRun r = mr_block_run_at(b, page, (end - 1) / b->page_size + 1);
        guint64 run_end = MIN(end, (r.first + r.count) * b->page_size);
        struct fuse_buf *fb = &bv->buf[nbufs++];

        fb->size = (size_t)(run_end - pos);
        if (r.present) {
            fb->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
            fb->fd = fs->tree->file->fd;
            fb->pos = (off_t)(b->pages_offset + pos);
        } else {
            fb->mem = fs->zeros;
        }
        pos = run_end;
    }
    bv->count = nbufs;
    bv->idx = 0;
    bv->off = 0;
    /* The runs came from bitmap chunks that may have failed to load. */
    if (!mr_block_bitmap_ok(b, &err))
        fuse_reply_err(req, mfs_errno_from_error(err, "read"));
    else
        fuse_reply_data(req, bv, 0);
    g_free(bv);
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

/* The default: the pages are read here (one pread per run of present
 * pages, as libfuse would) into the reply, so that a read cut short by a
 * truncation is an error (EIO), never a short reply.  mfs_read() caps
 * end - pos at max_read. */
static void
reply_copied(fuse_req_t req, const MfsFs *fs, const MrRamBlock *b,
             guint64 pos, guint64 end)
{
    g_autoptr(GError) err = NULL;
    guint8 *buf = thread_reply_buffer(fs);

    if (!mr_block_read(fs->tree->file, b, buf, pos, (gsize)(end - pos), &err))
        fuse_reply_err(req, mfs_errno_from_error(err, "read"));
    else
        fuse_reply_buf(req, (const char *)buf, (size_t)(end - pos));
}

static void
read_block(fuse_req_t req, MfsFs *fs, const MrRamBlock *b, size_t size,
           off_t off)
{
    guint64 pos = (guint64)off, end;
    int e;

    if (pos >= b->used_length) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    end = pos + MIN((guint64)size, b->used_length - pos);
    if (b->stored && (e = check_in_file(fs, b, end)) != 0) {
        fuse_reply_err(req, e);
        return;
    }
    if (fs->opts.splice)
        reply_spliced(req, fs, b, pos, end);
    else
        reply_copied(req, fs, b, pos, end);
}

static void
mfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
    MfsFs *fs = fs_of(req);
    MfsNode *n = mfs_tree_get(fs->tree, ino);

    if (n == NULL || n->kind == MFS_NODE_DIR) {
        fuse_reply_err(req, n ? EISDIR : ENOENT);
        return;
    }
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    /* The kernel never asks for more than max_read; the zero buffer is that
     * large. */
    size = MIN(size, (size_t)fs->opts.max_read);
    if (n->kind == MFS_NODE_BLOB) {
        g_autoptr(GBytes) blob = mfs_tree_blob(fs->tree, n);
        gsize len;
        const char *data = g_bytes_get_data(blob, &len);
        if ((guint64)off >= len)
            fuse_reply_buf(req, NULL, 0);
        else
            fuse_reply_buf(req, data + off, MIN(size, len - (gsize)off));
        return;
    }
    read_block(req, fs, n->block, size, off);
}

/* 0, or -EIO (logged) if part of the block's bitmap failed to load. */
static int
bitmap_errno(const MrRamBlock *b)
{
    g_autoptr(GError) err = NULL;

    return mr_block_bitmap_ok(b, &err) ? 0 : -mfs_errno_from_error(err, "lseek");
}

/* SEEK_DATA/SEEK_HOLE from the bitmap (FORMAT.md §11): EINVAL for a negative
 * offset, ENXIO at or past the end, and a hole at the end of every file. */
static int
seek_block(const MrRamBlock *b, off_t off, int whence, off_t *out)
{
    guint64 page, next;
    gboolean present;

    if (off < 0)
        return -EINVAL;
    if ((guint64)off >= b->used_length)
        return -ENXIO;
    page = (guint64)off / b->page_size;
    present = b->stored && mr_bitmap_test(b->bitmap, page);
    if (present == (whence == SEEK_DATA))
        next = page;
    else if (!b->stored)
        next = b->num_pages;
    else
        next = present ? mr_bitmap_next_clear(b->bitmap, page)
                       : mr_bitmap_next_set(b->bitmap, page);
    if (bitmap_errno(b) < 0)
        return -EIO;
    if (next >= b->num_pages && whence == SEEK_DATA)
        return -ENXIO;
    *out = next == page ? off : (off_t)MIN(next * b->page_size, b->used_length);
    return 0;
}

static void
mfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
          struct fuse_file_info *fi)
{
    MfsNode *n = node_of(req, ino);
    off_t out = 0;
    int r;

    if (n == NULL || n->kind == MFS_NODE_DIR) {
        fuse_reply_err(req, n ? EISDIR : ENOENT);
        return;
    }
    if (whence != SEEK_DATA && whence != SEEK_HOLE) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (n->kind == MFS_NODE_BLOCK) {
        r = seek_block(n->block, off, whence, &out);
    } else {
        g_autoptr(GBytes) blob = mfs_tree_blob(fs_of(req)->tree, n);
        off_t size = (off_t)g_bytes_get_size(blob);
        r = off < 0 ? -EINVAL : off >= size ? -ENXIO : 0;
        out = whence == SEEK_DATA ? off : size;
    }
    if (r < 0)
        fuse_reply_err(req, -r);
    else
        fuse_reply_lseek(req, out);
}

/* The xattrs of a block file: its identity and layout in the snapshot. */
static char *
block_xattr(const MrRamBlock *b, const char *name)
{
    if (!g_str_has_prefix(name, XATTR_PREFIX))
        return NULL;
    name += strlen(XATTR_PREFIX);
    if (g_str_equal(name, "idstr"))
        return g_strdup(b->idstr);
    if (g_str_equal(name, "page_size"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->page_size);
    if (g_str_equal(name, "used_length"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->used_length);
    if (g_str_equal(name, "present_pages"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", mr_block_present_pages(b));
    if (g_str_equal(name, "stored"))
        return g_strdup(b->stored ? "1" : "0");
    if (!b->stored)
        return NULL;
    if (g_str_equal(name, "header_offset"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->header_offset);
    if (g_str_equal(name, "bitmap_offset"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->bitmap_offset);
    if (g_str_equal(name, "pages_offset"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->pages_offset);
    return NULL;
}

static const char *const block_xattrs[] = {
    "idstr", "page_size", "used_length", "present_pages", "stored",
    "header_offset", "bitmap_offset", "pages_offset", NULL
};

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
    MfsNode *n = node_of(req, ino);
    g_autofree char *value = NULL;

    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == MFS_NODE_BLOCK)
        value = block_xattr(n->block, name);
    if (value == NULL) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    reply_xattr_value(req, value, strlen(value), size);
}

static void
mfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    MfsNode *n = node_of(req, ino);
    g_autoptr(GString) list = g_string_new(NULL);

    if (n == NULL) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == MFS_NODE_BLOCK) {
        for (guint i = 0; block_xattrs[i]; i++) {
            if (!n->block->stored && i >= 5)
                break;
            g_string_append(list, XATTR_PREFIX);
            g_string_append(list, block_xattrs[i]);
            g_string_append_c(list, '\0');
        }
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

    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        stored += mr_block_present_pages(b) * b->page_size;
    }
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
