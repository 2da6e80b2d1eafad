#include "mfs-text.h"

#include <string.h>

#include "mfs-tree.h"

struct MfsText {
    GMutex lock;          /* bytes is replaced while others read it */
    GBytes *bytes;
    GBytes *(*generate)(MfsFs *fs, const MfsNode *n);
    gpointer source;
};

MfsText *
mfs_text_new(GBytes *bytes, gpointer source)
{
    MfsText *t = g_new0(MfsText, 1);

    g_mutex_init(&t->lock);
    t->bytes = bytes;
    t->source = source;
    return t;
}

MfsText *
mfs_text_new_generated(GBytes *(*generate)(MfsFs *fs, const MfsNode *n))
{
    MfsText *t = mfs_text_new(NULL, NULL);

    t->generate = generate;
    return t;
}

void
mfs_text_free(gpointer data)
{
    MfsText *t = data;

    g_mutex_clear(&t->lock);
    if (t->bytes)
        g_bytes_unref(t->bytes);
    g_free(t);
}

gpointer
mfs_text_source(const MfsNode *n)
{
    return ((const MfsText *)n->data)->source;
}

/* A generated file is made afresh for a stat and for a read at offset 0,
 * and kept for the reads that follow: a reader going through it gets one
 * version, not pieces of several of different lengths. */
static GBytes *
text_bytes(MfsFs *fs, const MfsNode *n, gboolean fresh)
{
    MfsText *t = n->data;
    GBytes *b;

    if (t->generate && fresh) {
        b = t->generate(fs, n);
        mfs_text_set((MfsNode *)n, g_bytes_ref(b));
        return b;
    }
    g_mutex_lock(&t->lock);
    b = t->bytes ? g_bytes_ref(t->bytes) : NULL;
    g_mutex_unlock(&t->lock);
    if (b == NULL)
        b = t->generate ? text_bytes(fs, n, TRUE) : g_bytes_new(NULL, 0);
    return b;
}

GBytes *
mfs_text_bytes(MfsFs *fs, const MfsNode *n)
{
    return text_bytes(fs, n, TRUE);
}

void
mfs_text_set(MfsNode *n, GBytes *bytes)
{
    MfsText *t = n->data;
    GBytes *old;

    g_mutex_lock(&t->lock);
    old = t->bytes;
    t->bytes = bytes;
    g_mutex_unlock(&t->lock);
    if (old)
        g_bytes_unref(old);
}

GBytes *
mfs_json_bytes(json_object *o)
{
    /* Text files end with a newline. */
    char *text = g_strconcat(json_object_to_json_string_ext(
                                 o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED),
                             "\n", NULL);

    json_object_put(o);
    return g_bytes_new_take(text, strlen(text));
}

guint64
mfs_text_size(MfsFs *fs, const MfsNode *n)
{
    g_autoptr(GBytes) b = mfs_text_bytes(fs, n);

    return g_bytes_get_size(b);
}

int
mfs_text_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
              gsize *got)
{
    g_autoptr(GBytes) b = text_bytes(fs, n, off == 0);
    gsize size;
    const guint8 *data = g_bytes_get_data(b, &size);

    *got = off < size ? MIN(len, size - (gsize)off) : 0;
    if (*got)
        memcpy(buf, data + off, *got);
    return 0;
}

const MfsFileOps mfs_text_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .free = mfs_text_free,
};
