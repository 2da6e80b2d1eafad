#include "mr-vfile.h"

#include <string.h>

#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-parse.h"
#include "mr-read.h"

struct MrVfile {
    MrFile *file;
    GArray *pieces; /* MrPiece, increasing offset, no overlap */
    guint64 size;
};

static void
clear_piece(gpointer p)
{
    MrPiece *pc = p;

    if (pc->bytes)
        g_bytes_unref(pc->bytes);
}

MrVfile *
mr_vfile_new(MrFile *f)
{
    MrVfile *v = g_new0(MrVfile, 1);

    v->file = f;
    v->pieces = g_array_new(FALSE, TRUE, sizeof(MrPiece));
    g_array_set_clear_func(v->pieces, clear_piece);
    return v;
}

void
mr_vfile_free(MrVfile *v)
{
    if (v == NULL)
        return;
    g_array_unref(v->pieces);
    g_free(v);
}

static gboolean
check_at(MrVfile *v, guint64 at, guint64 length, GError **err)
{
    if (at < v->size || length > G_MAXUINT64 - at) {
        mr_set_error(err, MR_ERROR_RANGE, v->file->path, MR_NO_OFFSET,
                     "virtual file: a piece at 0x%" G_GINT64_MODIFIER "x+0x%"
                     G_GINT64_MODIFIER "x overlaps the one before it (which "
                     "ends at 0x%" G_GINT64_MODIFIER "x) or passes 2^64",
                     at, length, v->size);
        return FALSE;
    }
    return TRUE;
}

static void
append(MrVfile *v, const MrPiece *p)
{
    g_array_append_vals(v->pieces, p, 1);
    v->size = p->offset + p->length;
}

gboolean
mr_vfile_add_block(MrVfile *v, guint64 at, MrRamBlock *b, guint64 block_offset,
                   guint64 length, GError **err)
{
    MrPiece p = { .kind = MR_PIECE_BLOCK, .offset = at, .length = length,
                  .block = b, .source = block_offset };

    if (!check_at(v, at, length, err))
        return FALSE;
    if (!b->stored || block_offset > b->used_length ||
        length > b->used_length - block_offset) {
        mr_set_error(err, MR_ERROR_RANGE, v->file->path, MR_NO_OFFSET,
                     "virtual file: ram block \"%s\" range 0x%" G_GINT64_MODIFIER
                     "x+0x%" G_GINT64_MODIFIER "x is not stored in the file "
                     "(the block has 0x%" G_GINT64_MODIFIER "x bytes%s)",
                     b->idstr, block_offset, length, b->used_length,
                     b->stored ? "" : ", none of them stored");
        return FALSE;
    }
    if (length > 0)
        append(v, &p);
    return TRUE;
}

gboolean
mr_vfile_add_snapshot(MrVfile *v, guint64 at, guint64 file_offset,
                      guint64 length, GError **err)
{
    MrPiece p = { .kind = MR_PIECE_SNAPSHOT, .offset = at, .length = length,
                  .source = file_offset };

    if (!check_at(v, at, length, err))
        return FALSE;
    if (file_offset > v->file->file_size ||
        length > v->file->file_size - file_offset) {
        mr_set_error(err, MR_ERROR_RANGE, v->file->path, file_offset,
                     "virtual file: 0x%" G_GINT64_MODIFIER "x bytes of the "
                     "snapshot run past its end (0x%" G_GINT64_MODIFIER "x)",
                     length, v->file->file_size);
        return FALSE;
    }
    if (length > 0)
        append(v, &p);
    return TRUE;
}

gboolean
mr_vfile_add_bytes(MrVfile *v, guint64 at, GBytes *bytes, GError **err)
{
    MrPiece p = { .kind = MR_PIECE_BYTES, .offset = at,
                  .length = g_bytes_get_size(bytes) };

    if (!check_at(v, at, p.length, err))
        return FALSE;
    if (p.length > 0) {
        p.bytes = g_bytes_ref(bytes);
        append(v, &p);
    }
    return TRUE;
}

gboolean
mr_vfile_set_size(MrVfile *v, guint64 size, GError **err)
{
    if (!check_at(v, size, 0, err))
        return FALSE;
    v->size = size;
    return TRUE;
}

guint64
mr_vfile_size(const MrVfile *v)
{
    return v->size;
}

const MrPiece *
mr_vfile_pieces(const MrVfile *v, guint *n)
{
    *n = v->pieces->len;
    return (const MrPiece *)(gpointer)v->pieces->data;
}

guint64
mr_vfile_stored_bytes(const MrVfile *v)
{
    guint64 total = 0;

    for (guint i = 0; i < v->pieces->len; i++) {
        const MrPiece *p = &g_array_index(v->pieces, MrPiece, i);
        const MrRamBlock *b = p->block;

        if (p->kind != MR_PIECE_BLOCK) {
            total += p->length;
            continue;
        }
        /* Pages the piece touches; a piece cut inside a page counts it
         * whole, as a file system counts a partly written block. */
        total += mr_bitmap_count_range(b->bitmap, p->source / b->page_size,
                                       (p->source + p->length - 1) / b->page_size + 1) *
                 b->page_size;
    }
    return total;
}

/* The index of the first piece that ends after off (pieces->len if none). */
static guint
piece_after(const MrVfile *v, guint64 off)
{
    guint lo = 0, hi = v->pieces->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const MrPiece *p = &g_array_index(v->pieces, MrPiece, mid);
        if (p->offset + p->length <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* n bytes of piece p from its byte `within` into out. */
static gboolean
read_piece(const MrVfile *v, const MrPiece *p, guint8 *out, guint64 within,
           gsize n, GError **err)
{
    switch (p->kind) {
    case MR_PIECE_HOLE:
        memset(out, 0, n);
        return TRUE;
    case MR_PIECE_BYTES:
        memcpy(out, (const guint8 *)g_bytes_get_data(p->bytes, NULL) + within, n);
        return TRUE;
    case MR_PIECE_BLOCK:
        return mr_block_read(v->file, p->block, out, p->source + within, n, err);
    case MR_PIECE_SNAPSHOT:
        return mr_pread_exact(v->file->fd, v->file->path, out, n,
                              p->source + within, "virtual file bytes", err);
    }
    g_assert_not_reached();
}

gboolean
mr_vfile_read(const MrVfile *v, void *buf, guint64 off, gsize len, gsize *got,
              GError **err)
{
    guint8 *out = buf;
    guint64 end;
    guint i;

    *got = 0;
    if (off >= v->size)
        return TRUE;
    end = off + MIN((guint64)len, v->size - off);
    i = piece_after(v, off);
    while (off < end) {
        const MrPiece *p = i < v->pieces->len ? &g_array_index(v->pieces, MrPiece, i)
                                              : NULL;
        guint64 stop;

        if (p == NULL || off < p->offset) {
            /* A gap between pieces, or the hole at the end. */
            stop = p ? MIN(end, p->offset) : end;
            memset(out, 0, (gsize)(stop - off));
        } else {
            stop = MIN(end, p->offset + p->length);
            if (!read_piece(v, p, out, off - p->offset, (gsize)(stop - off), err))
                return FALSE;
            i++;
        }
        out += stop - off;
        off = stop;
    }
    *got = (gsize)(out - (guint8 *)buf);
    return TRUE;
}

/* The first offset at or after `within` of block piece p where the page is
 * present (data) or absent (!data), as an offset of the piece, or
 * p->length if there is none inside the piece. */
static guint64
block_seek(const MrPiece *p, guint64 within, gboolean data)
{
    const MrRamBlock *b = p->block;
    guint64 pos = p->source + within, page = pos / b->page_size;
    guint64 last = (p->source + p->length - 1) / b->page_size + 1, next;

    if (mr_bitmap_test(b->bitmap, page) == data)
        return within;
    next = data ? mr_bitmap_next_set_before(b->bitmap, page, last)
                : mr_bitmap_next_clear_before(b->bitmap, page, last);
    if (next >= last)
        return p->length;
    return next * b->page_size - p->source;
}

gboolean
mr_vfile_seek(const MrVfile *v, guint64 off, gboolean data, guint64 *out,
              GError **err)
{
    guint64 pos = off;

    for (guint i = piece_after(v, off); i < v->pieces->len; i++) {
        const MrPiece *p = &g_array_index(v->pieces, MrPiece, i);
        guint64 within;

        if (pos < p->offset) {
            /* The gap before this piece is a hole. */
            if (!data) {
                *out = pos;
                return TRUE;
            }
            pos = p->offset;
        }
        switch (p->kind) {
        case MR_PIECE_HOLE:
            if (!data) {
                *out = pos;
                return TRUE;
            }
            break;
        case MR_PIECE_BYTES:
        case MR_PIECE_SNAPSHOT:
            if (data) {
                *out = pos;
                return TRUE;
            }
            break;
        case MR_PIECE_BLOCK:
            within = block_seek(p, pos - p->offset, data);
            if (!mr_block_bitmap_ok(p->block, err))
                return FALSE;
            if (within < p->length) {
                *out = p->offset + within;
                return TRUE;
            }
            break;
        }
        pos = p->offset + p->length;
    }
    /* After the last piece there is only the hole that ends the file. */
    *out = data ? MR_VFILE_NONE : pos;
    return TRUE;
}

gboolean
mr_vfile_write(MrVfile *v, MrUpdater *u, const void *buf, guint64 off,
               gsize len, GError **err)
{
    const guint8 *in = buf;
    guint64 end, pos;
    guint first;

    if (len == 0)
        return TRUE;
    if (off >= v->size || len > v->size - off) {
        mr_set_error(err, MR_ERROR_RANGE, v->file->path, MR_NO_OFFSET,
                     "virtual file: a write of 0x%" G_GSIZE_MODIFIER "x bytes "
                     "at 0x%" G_GINT64_MODIFIER "x passes its end (0x%"
                     G_GINT64_MODIFIER "x)", len, off, v->size);
        return FALSE;
    }
    end = off + len;
    /* Every byte must be RAM before anything is written. */
    first = piece_after(v, off);
    pos = off;
    for (guint i = first; pos < end; i++) {
        const MrPiece *p = i < v->pieces->len ? &g_array_index(v->pieces, MrPiece, i)
                                              : NULL;
        if (p == NULL || p->offset > pos || p->kind != MR_PIECE_BLOCK) {
            mr_set_error(err, MR_ERROR_RANGE, v->file->path, MR_NO_OFFSET,
                         "virtual file: offset 0x%" G_GINT64_MODIFIER "x is "
                         "not backed by a RAM block: nothing written", pos);
            return FALSE;
        }
        pos = p->offset + p->length;
    }
    pos = off;
    for (guint i = first; pos < end; i++) {
        const MrPiece *p = &g_array_index(v->pieces, MrPiece, i);
        guint64 stop = MIN(end, p->offset + p->length);

        if (!mr_block_write(u, p->block, in ? in + (pos - off) : NULL,
                            p->source + (pos - p->offset), (gsize)(stop - pos), err))
            return FALSE;
        pos = stop;
    }
    return TRUE;
}
