/* Writable JSON documents: what a program writes into one is collected per
 * open file and applied as a whole when the file is closed (FLUSH: its
 * error is what close() returns), so `cat edited.json > superio/x.json`
 * either changes the snapshot or fails with EINVAL and changes nothing. */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "mfs-fs.h"
#include "mr-error.h"

/* A Super I/O document is a few hundred bytes. */
#define DOC_MAX (1024 * 1024)

typedef struct {
    MfsNode *node;
    GByteArray *buf;
    gboolean dirty;
} Doc;

void
mfs_doc_open(MfsFs *fs, MfsNode *n, struct fuse_file_info *fi)
{
    Doc *d = g_new0(Doc, 1);

    d->node = n;
    d->buf = g_byte_array_new();
    if (!(fi->flags & O_TRUNC)) {
        /* Writes that do not truncate edit the current document. */
        g_autoptr(GBytes) cur = mfs_tree_blob(fs->tree, n);
        gsize len;
        const guint8 *p = g_bytes_get_data(cur, &len);
        g_byte_array_append(d->buf, p, (guint)len);
    } else {
        d->dirty = TRUE;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    fi->direct_io = 1;
    fi->keep_cache = 0;
}

static Doc *
doc_of(struct fuse_file_info *fi)
{
    return fi ? (Doc *)(uintptr_t)fi->fh : NULL;
}

gboolean
mfs_doc_write(MfsFs *fs, struct fuse_file_info *fi, const char *buf,
              size_t size, off_t off, int *e)
{
    Doc *d = doc_of(fi);

    if (d == NULL) {
        *e = EBADF;
        return FALSE;
    }
    if (off < 0 || (guint64)off + size > DOC_MAX) {
        *e = EFBIG;
        return FALSE;
    }
    if ((guint64)off + size > d->buf->len)
        g_byte_array_set_size(d->buf, (guint)(off + (off_t)size));
    memcpy(d->buf->data + off, buf, size);
    d->dirty = TRUE;
    *e = 0;
    return TRUE;
}

gboolean
mfs_doc_truncate(struct fuse_file_info *fi, off_t size)
{
    Doc *d = doc_of(fi);

    if (d == NULL || size < 0 || size > DOC_MAX)
        return FALSE;
    g_byte_array_set_size(d->buf, (guint)size);
    d->dirty = TRUE;
    return TRUE;
}

void
mfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    MfsFs *fs = fuse_req_userdata(req);
    g_autoptr(GError) err = NULL;
    Doc *d = doc_of(fi);
    gboolean ok;

    if (d == NULL || !d->dirty) {
        fuse_reply_err(req, 0);
        return;
    }
    d->dirty = FALSE;
    g_mutex_lock(&fs->doc_lock);
    ok = d->node->apply(fs, d->node, (const char *)d->buf->data, d->buf->len, &err);
    g_mutex_unlock(&fs->doc_lock);
    if (!ok) {
        mfs_log(LOG_ERR, "%s: refused, nothing written: %s", d->node->name,
                err->message);
        fuse_reply_err(req, err->domain == MR_ERROR ? mfs_errno_from_error(err, "apply")
                                                   : EINVAL);
        return;
    }
    fuse_reply_err(req, 0);
}

void
mfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    Doc *d = doc_of(fi);

    if (d) {
        g_byte_array_unref(d->buf);
        g_free(d);
    }
    fuse_reply_err(req, 0);
}
