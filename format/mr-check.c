#include "mr-check.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-parse.h"

/* Slots of absent pages in data extents are read this much at a time. */
#define MR_CHECK_CHUNK (1024 * 1024)

typedef struct {
    const MrFile *f;
    const MrRamBlock *b;
    MrBlockCheck *out;
    guint8 *buf;
    MrCheckProgress progress;
    gpointer data;
} Walk;

static void
add_range(GArray *a, guint64 first, guint64 count)
{
    MrPageRange *last = a->len ? &g_array_index(a, MrPageRange, a->len - 1) : NULL;

    if (last && last->first + last->count == first) {
        last->count += count;
        return;
    }
    g_array_append_val(a, ((MrPageRange){ first, count }));
}

static gboolean
is_zero(const guint8 *p, gsize n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Pages [from, to) have no data on disk: the present ones are suspicious. */
static void
walk_hole(Walk *w, guint64 from, guint64 to)
{
    const MrBitmap *bm = w->b->bitmap;

    for (guint64 p = mr_bitmap_next_set_before(bm, from, to); p < to;) {
        guint64 q = mr_bitmap_next_clear_before(bm, p, to);

        add_range(w->out->in_hole, p, q - p);
        w->out->present_in_hole += q - p;
        p = mr_bitmap_next_set_before(bm, q, to);
    }
}

/* Pages [from, to) touch a data extent: an absent one is stale if its slot
 * holds anything but zeros.  Allocated zeros are not stale: a file system
 * allocates whole blocks (bigger than a 1 KiB page), a copy may not be
 * sparse, and fallocate leaves zeros. */
static gboolean
walk_data(Walk *w, guint64 from, guint64 to, GError **err)
{
    const MrRamBlock *b = w->b;
    const guint64 ps = b->page_size, chunk = MR_CHECK_CHUNK / ps;

    for (guint64 p = mr_bitmap_next_clear_before(b->bitmap, from, to); p < to;) {
        guint64 q = mr_bitmap_next_set_before(b->bitmap, p, to);

        for (guint64 c = p; c < q;) {
            guint64 n = MIN(q - c, chunk);
            g_autofree char *what = g_strdup_printf(
                "slots of absent pages %" G_GINT64_MODIFIER "u-%"
                G_GINT64_MODIFIER "u of ram block \"%s\"", c, c + n - 1,
                b->idstr);

            if (!mr_pread_exact(w->f->fd, w->f->path, w->buf, n * ps,
                                b->pages_offset + c * ps, what, err))
                return FALSE;
            for (guint64 k = 0; k < n; k++) {
                if (is_zero(w->buf + k * ps, ps))
                    continue;
                add_range(w->out->stale, c + k, 1);
                w->out->stale_slots++;
            }
            c += n;
            if (w->progress)
                w->progress(c * ps, w->data);
        }
        p = mr_bitmap_next_clear_before(b->bitmap, q, to);
    }
    return TRUE;
}

static gboolean
seek_error(Walk *w, guint64 at, const char *what, GError **err)
{
    mr_set_error(err, MR_ERROR_IO, w->f->path, at, "ram block \"%s\": %s: %s",
                 w->b->idstr, what, g_strerror(errno));
    return FALSE;
}

gboolean
mr_block_check(const MrFile *f, const MrRamBlock *b, MrBlockCheck *out,
               MrCheckProgress progress, gpointer data, GError **err)
{
    const guint64 ps = b->page_size, start = b->pages_offset;
    const guint64 end = b->pages_offset + b->used_length;
    Walk w = { f, b, out, NULL, progress, data };
    guint64 pos = start, next = 0; /* first page not yet classified */
    gboolean ok = TRUE;

    memset(out, 0, sizeof(*out));
    out->stale = g_array_new(FALSE, FALSE, sizeof(MrPageRange));
    out->in_hole = g_array_new(FALSE, FALSE, sizeof(MrPageRange));
    if (!b->stored)
        return TRUE;
    out->present_pages = mr_bitmap_count(b->bitmap);
    if (!mr_block_bitmap_ok(b, err))
        return FALSE;
    w.buf = g_malloc(MR_CHECK_CHUNK);
    while (pos < end) {
        off_t d = lseek(f->fd, (off_t)pos, SEEK_DATA), h;
        guint64 first, last;

        if (d < 0 && errno == ENXIO) /* only holes up to end of file */
            break;
        if (d < 0) {
            ok = seek_error(&w, pos, "SEEK_DATA", err);
            break;
        }
        if ((guint64)d >= end)
            break;
        h = lseek(f->fd, d, SEEK_HOLE);
        if (h < 0) {
            ok = seek_error(&w, (guint64)d, "SEEK_HOLE", err);
            break;
        }
        h = (off_t)MIN((guint64)h, end);
        out->allocated_bytes += (guint64)(h - d);
        /* An extent may end inside a page that the next one continues:
         * that page was classified with the first. */
        first = MAX(((guint64)d - start) / ps, next);
        last = ((guint64)h - start + ps - 1) / ps;
        walk_hole(&w, next, first);
        if (first < last && !(ok = walk_data(&w, first, last, err)))
            break;
        next = MAX(next, last);
        pos = (guint64)h;
        if (progress)
            progress(pos - start, data);
    }
    if (ok) {
        walk_hole(&w, next, b->num_pages);
        if (progress)
            progress(b->used_length, data);
    }
    g_free(w.buf);
    return ok && mr_block_bitmap_ok(b, err);
}

void
mr_block_check_clear(MrBlockCheck *c)
{
    if (c->stale)
        g_array_unref(c->stale);
    if (c->in_hole)
        g_array_unref(c->in_hole);
    c->stale = c->in_hole = NULL;
}

gboolean
mr_block_stray_bits(const MrFile *f, const MrRamBlock *b, MrStrayBits *out,
                    GError **err)
{
    guint8 bytes[8], valid[8] = { 0 };
    guint64 start, n;
    int first = -1, last = -1;
    g_autofree char *what = NULL;

    memset(out, 0, sizeof(*out));
    if (!b->stored || b->bitmap_size == 0)
        return TRUE;
    /* bitmap_size is a whole number of the host's longs (4 or 8 bytes) and
     * the last one holds page num_pages - 1, so the last 8 bytes start on a
     * long boundary and every bit before them is a page's. */
    start = b->bitmap_size > 8 ? b->bitmap_size - 8 : 0;
    n = b->bitmap_size - start;
    what = g_strdup_printf("last word of the bitmap of ram block \"%s\"",
                           b->idstr);
    if (!mr_pread_exact(f->fd, f->path, bytes, n, b->bitmap_offset + start,
                        what, err))
        return FALSE;
    for (guint64 i = start * 8; i < b->num_pages; i++) {
        guint64 at;
        guint8 mask;

        mr_bitmap_file_position(f->bitmap_order, i, &at, &mask);
        g_assert(at >= start && at < start + n);
        valid[at - start] |= mask;
    }
    for (guint64 k = 0; k < n; k++) {
        guint8 stray = bytes[k] & (guint8)~valid[k];

        if (stray == 0)
            continue;
        out->count += (guint64)__builtin_popcount(stray);
        if (first < 0)
            first = (int)k;
        last = (int)k;
    }
    if (first < 0)
        return TRUE;
    out->offset = b->bitmap_offset + start + (guint64)first;
    out->len = (guint)(last - first + 1);
    for (guint k = 0; k < out->len; k++) {
        out->old_bytes[k] = bytes[first + (int)k];
        out->new_bytes[k] = bytes[first + (int)k] & valid[first + (int)k];
    }
    return TRUE;
}
