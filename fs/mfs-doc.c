/* Writable documents (files whose ops have apply(): superio/pc87312.json):
 * what a program writes into one is collected per open file and applied
 * whole when the file is closed (FLUSH: its error is what close()
 * returns), so `cat edited.json > superio/pc87312.json` never applies half
 * a document: one that does not parse, or asks for what cannot be, fails
 * close() with EINVAL and changes nothing (what an I/O error part-way
 * through applying leaves is the document's apply()'s to say). */
#include <errno.h>
#include <string.h>

#include "mfs-fs.h"

/* A Super I/O document is a few hundred bytes. */
#define DOC_MAX (1024 * 1024)
#define DOC_CHUNK 4096

typedef struct {
    MfsNode *node;
    GByteArray *buf;
    gboolean dirty;
} Doc;

static Doc *
doc_of(const struct fuse_file_info *fi)
{
    return fi ? (Doc *)(uintptr_t)fi->fh : NULL;
}

static void
doc_free(Doc *d)
{
    g_byte_array_unref(d->buf);
    g_free(d);
}

/* The document as it is now, read through its ops until they come short. */
static int
load(MfsFs *fs, Doc *d)
{
    for (;;) {
        guint len = d->buf->len;
        gsize got;
        int r;

        if (len >= DOC_MAX)
            return -EFBIG;
        g_byte_array_set_size(d->buf, len + DOC_CHUNK);
        r = d->node->ops->read(fs, d->node, d->buf->data + len, len, DOC_CHUNK, &got);
        g_byte_array_set_size(d->buf, len + (guint)(r < 0 ? 0 : got));
        if (r < 0 || got < DOC_CHUNK)
            return r;
    }
}

int
mfs_doc_open(MfsFs *fs, MfsNode *n, struct fuse_file_info *fi)
{
    Doc *d = g_new0(Doc, 1);
    int r = 0;

    d->node = n;
    d->buf = g_byte_array_new();
    /* Writes that do not truncate edit the current document. */
    if (fi->flags & O_TRUNC)
        d->dirty = TRUE;
    else
        r = load(fs, d);
    if (r < 0) {
        doc_free(d);
        return r;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    return 0;
}

gboolean
mfs_doc_is_open(const struct fuse_file_info *fi)
{
    return doc_of(fi) != NULL;
}

int
mfs_doc_write(struct fuse_file_info *fi, const char *buf, size_t size, off_t off)
{
    Doc *d = doc_of(fi);

    if (d == NULL)
        return -EBADF;
    if (off < 0 || (guint64)off + size > DOC_MAX)
        return -EFBIG;
    if ((guint64)off + size > d->buf->len)
        g_byte_array_set_size(d->buf, (guint)(off + (off_t)size));
    memcpy(d->buf->data + off, buf, size);
    d->dirty = TRUE;
    return 0;
}

int
mfs_doc_truncate(struct fuse_file_info *fi, off_t size)
{
    Doc *d = doc_of(fi);

    if (d == NULL)
        return -EBADF;
    if (size < 0 || size > DOC_MAX)
        return -EFBIG;
    g_byte_array_set_size(d->buf, (guint)size);
    d->dirty = TRUE;
    return 0;
}

void
mfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    Doc *d = doc_of(fi);
    int r;

    if (d == NULL || !d->dirty) {
        fuse_reply_err(req, 0);
        return;
    }
    d->dirty = FALSE;
    g_mutex_lock(&fs->doc_lock);
    if ((r = mfs_snapshot_enter(fs, d->node)) == 0) {
        r = d->node->ops->apply(fs, d->node, (const char *)d->buf->data,
                                d->buf->len);
        mfs_snapshot_leave(fs, d->node);
    }
    g_mutex_unlock(&fs->doc_lock);
    fuse_reply_err(req, -r);
}

void
mfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    Doc *d = doc_of(fi);

    if (d)
        doc_free(d);
    fuse_reply_err(req, 0);
}

void
mfs_fs_section_changed(MfsFs *fs, const MrSection *s)
{
    GPtrArray *nodes = fs->tree->nodes;

    for (guint i = 0; i < nodes->len; i++) {
        MfsNode *n = g_ptr_array_index(nodes, i);
        if (n->ops && n->ops->refresh)
            n->ops->refresh(fs, n, s);
    }
}
