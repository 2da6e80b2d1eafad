#include "mr-read.h"

#include <string.h>

#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-parse.h"

gboolean
mr_block_run_at(const MrRamBlock *b, guint64 page, guint64 limit,
                MrPageRun *out, GError **err)
{
    guint64 end;

    *out = (MrPageRun){ .first = page };
    limit = MIN(limit, b->num_pages);
    if (!b->stored || page >= limit) {
        out->count = page < limit ? limit - page : 0;
        return TRUE;
    }
    out->present = mr_bitmap_test(b->bitmap, page);
    end = out->present ? mr_bitmap_next_clear_before(b->bitmap, page, limit)
                       : mr_bitmap_next_set_before(b->bitmap, page, limit);
    out->count = end - page;
    return mr_block_bitmap_ok(b, err);
}

gboolean
mr_block_count_present(const MrRamBlock *b, guint64 *count, GError **err)
{
    *count = b->bitmap ? mr_bitmap_count(b->bitmap) : 0;
    return mr_block_bitmap_ok(b, err);
}

gboolean
mr_block_seek(const MrRamBlock *b, guint64 off, gboolean data, guint64 *out,
              GError **err)
{
    guint64 page = off / b->page_size, next;
    gboolean present = b->stored && mr_bitmap_test(b->bitmap, page);

    if (present == data)
        next = page;
    else if (!b->stored)
        next = b->num_pages;
    else
        next = present ? mr_bitmap_next_clear(b->bitmap, page)
                       : mr_bitmap_next_set(b->bitmap, page);
    if (!mr_block_bitmap_ok(b, err))
        return FALSE;
    if (next >= b->num_pages && data)
        *out = MR_SEEK_NONE;
    else
        *out = next == page ? off : MIN(next * b->page_size, b->used_length);
    return TRUE;
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
        guint64 last = (end - 1) / b->page_size + 1, run_end;
        MrPageRun r;
        gsize n;

        if (!mr_block_run_at(b, page, last, &r, err))
            return FALSE;
        run_end = MIN(end, (r.first + r.count) * b->page_size);
        n = (gsize)(run_end - offset);

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
