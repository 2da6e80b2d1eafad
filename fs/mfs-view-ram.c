/* ram/: one sparse file per RAM block, read from the pages' fixed offsets
 * in the snapshot and written in place (docs/FORMAT.md §9, §12).
 *
 * The read path is the mount's hot path: a read is one call through the
 * ops into mr_block_read() (one pread per run of present pages) into the
 * thread's reply buffer, with no allocation and only the model's reader
 * lock, which a rewrite by another program takes as the writer
 * (mfs-change.c); -o splice hands libfuse the snapshot's descriptor
 * instead.  Reads fail with EIO where the
 * snapshot no longer reaches. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "mfs-fs.h"
#include "mr-error.h"
#include "mr-read.h"

#define XATTR_PREFIX "user.mramfs."

extern const MfsView mfs_view_ram;

static guint64
block_size(MfsFs *fs, const MfsNode *n)
{
    return ((const MrRamBlock *)n->data)->used_length;
}

/* du counts what the snapshot holds, not the guest's RAM size. */
static guint64
block_stored(MfsFs *fs, const MfsNode *n)
{
    const MrRamBlock *b = n->data;
    g_autoptr(GError) err = NULL;
    guint64 present;

    /* What could be counted: stat has no way to say more. */
    if (!mr_block_count_present(b, &present, &err))
        mfs_errno_from_error(err, "stat");
    return present * b->page_size;
}

/* The part of [off, off + len) inside the block: 0 with *end == off when
 * nothing is left to read.  The snapshot never changes size by our hand
 * (docs/FORMAT.md §12), but someone else may truncate it under the mount: a
 * read of what is gone fails with EIO rather than a short reply, which
 * the kernel would take for the end of the file (and then shrink the
 * file's size in its cache).  Absent pages count too: the block is no
 * longer in the file. */
static int
clip_read(MfsFs *fs, const MrRamBlock *b, guint64 off, gsize len,
          guint64 *end)
{
    g_autoptr(GError) err = NULL;

    if (off >= b->used_length) {
        *end = off;
        return 0;
    }
    *end = off + MIN((guint64)len, b->used_length - off);
    if (b->stored && !mr_block_check_length(fs->tree->file, b, *end, &err))
        return mfs_errno_from_error(err, "read");
    return 0;
}

/* The default: the pages are read here (one pread per run of present
 * pages, as libfuse would) into the reply, so that a read cut short by a
 * truncation is an error (EIO), never a short reply. */
static int
block_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
           gsize *got)
{
    const MrRamBlock *b = n->data;
    g_autoptr(GError) err = NULL;
    guint64 end;
    int r;

    *got = 0;
    if ((r = clip_read(fs, b, off, len, &end)) < 0 || end == off)
        return r;
    if (!mr_block_read(fs->tree->file, b, buf, off, (gsize)(end - off), &err))
        return mfs_errno_from_error(err, "read");
    *got = (gsize)(end - off);
    return 0;
}

/* -o splice: one buffer per run of pages, the snapshot's descriptor for
 * present runs (mr_block_splice_source()) and shared zeros for absent
 * ones, so that libfuse can splice.  libfuse preads or splices them after
 * we return and sends what it got, so a truncation racing with this read
 * can still come out short; clip_read() has made that a narrow window. */
static int
block_splice(MfsFs *fs, const MfsNode *n, guint64 pos, gsize len,
             struct fuse_bufvec **out)
{
    const MrRamBlock *b = n->data;
    g_autoptr(GError) err = NULL;
    struct fuse_bufvec *bv;
    size_t nbufs = 0;
    guint64 end;
    int r;

    if ((r = clip_read(fs, b, pos, len, &end)) < 0)
        return r;
    bv = g_malloc0(sizeof(*bv) + (size_t)((end - pos) / b->page_size + 2) *
                   sizeof(struct fuse_buf));
    while (pos < end) {
        guint64 page = pos / b->page_size, run_end, at;
        struct fuse_buf *fb = &bv->buf[nbufs++];
        MrPageRun run;

        if (!mr_block_run_at(b, page, (end - 1) / b->page_size + 1, &run, &err)) {
            g_free(bv);
            return mfs_errno_from_error(err, "read");
        }
        run_end = MIN(end, (run.first + run.count) * b->page_size);
        if (run.present) {
            int fd = mr_block_splice_source(fs->tree->file, b, pos, &at);
            *fb = (struct fuse_buf){
                .size = (size_t)(run_end - pos),
                .flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY,
                .fd = fd,
                .pos = (off_t)at,
            };
        } else {
            *fb = (struct fuse_buf){ .size = (size_t)(run_end - pos),
                                     .mem = fs->zeros };
        }
        pos = run_end;
    }
    bv->count = nbufs;
    *out = bv;
    return 0;
}

/* SEEK_DATA/SEEK_HOLE from the bitmap (docs/FORMAT.md §11). */
static int
block_seek(MfsFs *fs, const MfsNode *n, guint64 off, gboolean data,
           guint64 *out)
{
    g_autoptr(GError) err = NULL;

    /* MR_SEEK_NONE is MFS_SEEK_NONE. */
    if (!mr_block_seek(n->data, off, data, out, &err))
        return mfs_errno_from_error(err, "lseek");
    return 0;
}

static int
block_write(MfsFs *fs, MfsNode *n, const void *buf, guint64 off, gsize len)
{
    g_autoptr(GError) err = NULL;

    if (!mr_block_write(fs->updater, n->data, buf, off, len, &err))
        return mfs_errno_from_error(err, buf ? "write" : "fallocate");
    return 0;
}

/* The xattrs of a block file: its identity and layout in the snapshot. */
static const char *const block_xattrs[] = {
    "idstr", "page_size", "used_length", "present_pages", "stored",
    /* Only for a block stored in the file: */
    "header_offset", "bitmap_offset", "pages_offset", NULL
};
#define STORED_ONLY 5

static char *
block_getxattr(MfsFs *fs, const MfsNode *n, const char *name)
{
    const MrRamBlock *b = n->data;

    if (!g_str_has_prefix(name, XATTR_PREFIX))
        return NULL;
    name += strlen(XATTR_PREFIX);
    if (g_str_equal(name, "idstr"))
        return g_strdup(b->idstr);
    if (g_str_equal(name, "page_size"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->page_size);
    if (g_str_equal(name, "used_length"))
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", b->used_length);
    if (g_str_equal(name, "present_pages")) {
        g_autoptr(GError) err = NULL;
        guint64 present;
        if (!mr_block_count_present(b, &present, &err)) {
            mfs_errno_from_error(err, "getxattr");
            return NULL;
        }
        return g_strdup_printf("%" G_GINT64_MODIFIER "u", present);
    }
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

static void
block_listxattr(MfsFs *fs, const MfsNode *n, GString *names)
{
    const MrRamBlock *b = n->data;

    for (guint i = 0; block_xattrs[i]; i++) {
        if (!b->stored && i >= STORED_ONLY)
            break;
        g_string_append(names, XATTR_PREFIX);
        g_string_append(names, block_xattrs[i]);
        g_string_append_c(names, '\0');
    }
}

/* The block belongs to the MrFile: nothing to free. */
static const MfsFileOps block_ops = {
    .size = block_size,
    .stored = block_stored,
    .read = block_read,
    .splice = block_splice,
    .seek = block_seek,
    .write = block_write,
    .getxattr = block_getxattr,
    .listxattr = block_listxattr,
};

const MrRamBlock *
mfs_ram_block_of(const MfsNode *n)
{
    return n->ops == &block_ops ? n->data : NULL;
}

/* The file of block b in the directory dir of ram/, or NULL. */
static MfsNode *
file_of(const MfsNode *dir, const MrRamBlock *b)
{
    for (guint i = 0; i < dir->children->len; i++) {
        MfsNode *n = g_ptr_array_index(dir->children, i);
        MfsNode *found = MFS_NODE_IS_DIR(n) ? file_of(n, b)
                         : mfs_ram_block_of(n) == b ? n : NULL;

        if (found)
            return found;
    }
    return NULL;
}

void
mfs_ram_invalidate(MfsFs *fs, const MrRamBlock *b, guint64 off, guint64 len)
{
    MfsNode *ram = mfs_tree_lookup(fs->tree->root, mfs_view_ram.name), *n;

    if (fs->se == NULL || len == 0 || ram == NULL)
        return;
    /* Found by what it serves, not by its path: a long or clashing idstr
     * gets a name mfs-tree.c makes up.  A walk of ram/ (a node a block),
     * with no allocation on the write path. */
    n = file_of(ram, b);
    /* Another inode than the one being written: no lock of the request's
     * is held on it (libfuse's rule for notifying from a handler). */
    if (n)
        fuse_lowlevel_notify_inval_inode(fs->se, n->ino, (off_t)off,
                                         (off_t)len);
}

static gboolean
build_ram(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    for (guint i = 0; i < f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        g_auto(GStrv) parts = mfs_block_path(b->idstr);

        if (!mfs_tree_add(tb, parts, 0, &block_ops, b)) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, b->desc_offset,
                         "ram block \"%s\" maps to the same path as another "
                         "block (empty path components are dropped)", b->idstr);
            return FALSE;
        }
    }
    return TRUE;
}

const MfsView mfs_view_ram = { "ram", TRUE, build_ram };
