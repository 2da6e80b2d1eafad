#include "mr-read.h"

#include <string.h>

#include "mr-cursor.h"
#include "mr-error.h"

MrPageRun
mr_block_run_at(const MrRamBlock *b, guint64 page, guint64 limit)
{
    MrPageRun r = { .first = page };
    guint64 end;

    limit = MIN(limit, b->num_pages);
    if (!b->stored || page >= limit) {
        r.count = page < limit ? limit - page : 0;
        return r;
    }
    r.present = mr_bitmap_test(b->bitmap, page);
    end = r.present ? mr_bitmap_next_clear_before(b->bitmap, page, limit)
                    : mr_bitmap_next_set_before(b->bitmap, page, limit);
    r.count = end - page;
    return r;
}

gboolean
mr_block_read(const MrFile *f, const MrRamBlock *b, void *buf, guint64 offset,
              gsize len, GError **err)
{
    guint8 *out = buf;
    guint64 end;

    if (offset > b->used_length || len > b->used_length - offset) {
        mr_set_error(err, MR_ERROR_RANGE, f->path, MR_NO_OFFSET,
                     "ram block \"%s\": range 0x%" G_GINT64_MODIFIER "x+0x%"
                     G_GSIZE_MODIFIER "x lies outside its 0x%" G_GINT64_MODIFIER
                     "x bytes", b->idstr, offset, len, b->used_length);
        return FALSE;
    }
    end = offset + len;
    while (offset < end) {
        guint64 page = offset / b->page_size;
        guint64 last = (end - 1) / b->page_size + 1;
        MrPageRun r = mr_block_run_at(b, page, last);
        guint64 run_end = MIN(end, (r.first + r.count) * b->page_size);
        gsize n = (gsize)(run_end - offset);

        if (!mr_block_bitmap_ok(b, err))
            return FALSE;

        /* The range check above makes this impossible; a loop that cannot
         * advance must still not spin. */
        if (r.count == 0 || run_end <= offset) {
            mr_set_error(err, MR_ERROR_RANGE, f->path, MR_NO_OFFSET,
                         "ram block \"%s\": no page at 0x%" G_GINT64_MODIFIER
                         "x", b->idstr, offset);
            return FALSE;
        }

        if (r.present) {
            g_autofree char *what = g_strdup_printf("page %" G_GINT64_MODIFIER
                                                    "u of ram block \"%s\"",
                                                    page, b->idstr);
            if (!mr_pread_exact(f->fd, f->path, out, n,
                                b->pages_offset + offset, what, err))
                return FALSE;
        } else {
            memset(out, 0, n);
        }
        out += n;
        offset = run_end;
    }
    return TRUE;
}
