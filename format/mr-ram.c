/* The RAM section under mapped-ram (docs/FORMAT.md §9) and its invariants
 * R3-R12 of §11. */
#include <string.h>

#include "mr-parse.h"

/* RAM_SAVE_FLAG_* (docs/FORMAT.md §9.1).  Flags fit in the smallest target page
 * (1 KiB), so 0x3ff masks them before the page size is known. */
#define RAM_FLAG_MASK 0x3ffu
#define RAM_FLAG_MEM_SIZE 0x004u
#define RAM_FLAG_EOS 0x010u
#define RAM_FLAG_MULTIFD_FLUSH 0x200u

#define MR_PAGE_SIZE_MIN 1024u
#define MR_PAGE_SIZE_MAX 65536u

typedef struct {
    guint64 used_length;
    guint32 version;
    guint64 page_size;
    guint64 bitmap_offset;
    guint64 pages_offset;
} RawBlock;

static gboolean
check_page_size(MrFile *f, MrRamBlock *b, GError **err)
{
    guint64 ps = b->page_size, at = b->header_offset + 4;

    if (ps < MR_PAGE_SIZE_MIN || ps > MR_PAGE_SIZE_MAX || (ps & (ps - 1))) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "ram block \"%s\": page size 0x%" G_GINT64_MODIFIER "x, "
                     "expected a power of two from 1 KiB to 64 KiB",
                     b->idstr, ps);
        return FALSE;
    }
    if (f->page_size != 0 && ps != f->page_size) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "ram block \"%s\": page size 0x%" G_GINT64_MODIFIER "x "
                     "differs from 0x%" G_GINT64_MODIFIER "x (earlier blocks "
                     "or the vmdesc)", b->idstr, ps, f->page_size);
        return FALSE;
    }
    if (f->has_target_page_bits &&
        ps != (G_GUINT64_CONSTANT(1) << f->target_page_bits)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "ram block \"%s\": page size 0x%" G_GINT64_MODIFIER "x "
                     "does not match the configuration's target page bits %u",
                     b->idstr, ps, f->target_page_bits);
        return FALSE;
    }
    f->page_size = ps;
    if (b->used_length % ps != 0) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->desc_offset,
                     "ram block \"%s\": used_length 0x%" G_GINT64_MODIFIER "x "
                     "is not a multiple of the page size 0x%" G_GINT64_MODIFIER
                     "x", b->idstr, b->used_length, ps);
        return FALSE;
    }
    b->num_pages = b->used_length / ps;
    return TRUE;
}

/* R8-R11: where the bitmap and the page area lie, checked against the header
 * just read, the end of the stream and each other.  `stream_limit` is the
 * first byte the RAM data may not reach (the vmdesc, or end of file). */
static gboolean
check_layout(MrFile *f, MrRamBlock *b, guint64 header_end, guint64 stream_limit,
             GError **err)
{
    guint64 r64 = mr_bitmap_reserved_bytes(b->num_pages, 64);
    guint64 r32 = mr_bitmap_reserved_bytes(b->num_pages, 32);
    guint64 room;
    /* Even the empty bitmap of a 0-page block must come before the page
     * area: the stream resumes at pages_offset + used_length, so a page area
     * before its header would send it backwards (R8, R11). */
    gboolean after = b->pages_offset >= b->bitmap_offset;

    if (b->bitmap_offset < header_end) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->header_offset + 12,
                     "ram block \"%s\": bitmap_offset 0x%" G_GINT64_MODIFIER
                     "x lies before the end of its header (0x%"
                     G_GINT64_MODIFIER "x)", b->idstr, b->bitmap_offset,
                     header_end);
        return FALSE;
    }
    if (b->bitmap_offset != header_end)
        mr_file_warn(f, b->header_offset + 12, "ram block \"%s\": bitmap at "
                     "0x%" G_GINT64_MODIFIER "x, QEMU puts it right after the "
                     "header (0x%" G_GINT64_MODIFIER "x)", b->idstr,
                     b->bitmap_offset, header_end);
    room = after ? b->pages_offset - b->bitmap_offset : 0;
    if (after && room >= r64 && f->bitmap_order != MR_BITMAP_BE32) {
        b->bitmap_size = r64;
    } else if (after && room >= r32 && f->bitmap_order != MR_BITMAP_BE64) {
        /* Only a 32-bit host reserves 4-byte multiples. */
        b->bitmap_size = r32;
    } else {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->header_offset + 20,
                     "ram block \"%s\": pages_offset 0x%" G_GINT64_MODIFIER
                     "x leaves no room for the %" G_GINT64_MODIFIER "u-byte "
                     "bitmap at 0x%" G_GINT64_MODIFIER "x (page area overlaps "
                     "the bitmap or the header)", b->idstr, b->pages_offset,
                     r64, b->bitmap_offset);
        return FALSE;
    }
    if (b->pages_offset % b->page_size != 0) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->header_offset + 20,
                     "ram block \"%s\": pages_offset 0x%" G_GINT64_MODIFIER
                     "x is not page aligned (page size 0x%" G_GINT64_MODIFIER
                     "x)", b->idstr, b->pages_offset, b->page_size);
        return FALSE;
    }
    if (b->pages_offset % MR_PAGES_ALIGNMENT != 0)
        mr_file_warn(f, b->header_offset + 20, "ram block \"%s\": "
                     "pages_offset 0x%" G_GINT64_MODIFIER "x is not 1 MiB "
                     "aligned as QEMU writes it", b->idstr, b->pages_offset);
    if (b->pages_offset > G_MAXUINT64 - b->used_length ||
        b->pages_offset + b->used_length > stream_limit) {
        gboolean past_eof = b->pages_offset > f->file_size ||
                            b->used_length > f->file_size - b->pages_offset;
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->header_offset + 20,
                     "ram block \"%s\": pages_offset 0x%" G_GINT64_MODIFIER
                     "x + used_length 0x%" G_GINT64_MODIFIER "x runs past %s "
                     "(0x%" G_GINT64_MODIFIER "x)", b->idstr, b->pages_offset,
                     b->used_length,
                     past_eof ? "end of file" : "the start of the vmdesc",
                     past_eof ? f->file_size : stream_limit);
        return FALSE;
    }
    return TRUE;
}

/* What a lazily read bitmap needs to find its bytes.  Bitmaps are queried
 * only while their file is open, so fd and path stay valid. */
typedef struct {
    int fd;
    const char *path;
    guint64 offset;
    char *what;
} BitmapSource;

static void
bitmap_source_free(gpointer p)
{
    BitmapSource *s = p;

    g_free(s->what);
    g_free(s);
}

static gboolean
bitmap_source_read(gpointer data, guint8 *buf, guint64 offset, gsize n,
                   GError **err)
{
    const BitmapSource *s = data;

    return mr_pread_exact(s->fd, s->path, buf, n, s->offset + offset, s->what, err);
}

MrBitmap *
mr_block_open_bitmap(MrFile *f, const MrRamBlock *b, GError **err)
{
    BitmapSource *src = g_new0(BitmapSource, 1);
    guint64 stray = 0;
    MrBitmap *bm;

    src->fd = f->fd;
    src->path = f->path;
    src->offset = b->bitmap_offset;
    src->what = g_strdup_printf("bitmap of ram block \"%s\"", b->idstr);
    bm = mr_bitmap_open(b->num_pages, b->bitmap_size, f->bitmap_order,
                        bitmap_source_read, src, bitmap_source_free, &stray,
                        err);
    if (bm != NULL && stray)
        mr_file_warn(f, b->bitmap_offset, "ram block \"%s\": %"
                     G_GINT64_MODIFIER "u bits set beyond its %"
                     G_GINT64_MODIFIER "u pages (ignored)", b->idstr, stray,
                     b->num_pages);
    return bm;
}

static gboolean
load_bitmap(MrFile *f, MrRamBlock *b, GError **err)
{
    b->bitmap = mr_block_open_bitmap(f, b, err);
    return b->bitmap != NULL;
}

static gboolean
read_block_desc(MrFile *f, MrCursor *c, MrRamBlock *b, RawBlock *raw,
                GError **err)
{
    guint8 len;

    b->desc_offset = c->pos;
    if (!mr_cursor_counted_string(c, &b->idstr, &len, "ram block idstr", err))
        return FALSE;
    if (len == 0 || !mr_is_printable(b->idstr, len)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->desc_offset,
                     "ram block idstr is empty or not printable ASCII");
        return FALSE;
    }
    if (!mr_cursor_be64(c, &raw->used_length, "ram block used_length", err))
        return FALSE;
    if (f->cap_ignore_shared) {
        b->has_mr_addr = TRUE;
        if (!mr_cursor_be64(c, &b->mr_addr, "ram block mr_addr", err))
            return FALSE;
    }
    b->header_offset = c->pos;
    return mr_cursor_be32(c, &raw->version, "mapped-ram header version", err) &&
           mr_cursor_be64(c, &raw->page_size, "mapped-ram page size", err) &&
           mr_cursor_be64(c, &raw->bitmap_offset, "bitmap_offset", err) &&
           mr_cursor_be64(c, &raw->pages_offset, "pages_offset", err);
}

static gboolean
parse_block(MrFile *f, MrCursor *c, guint64 remaining, MrRamBlock *b,
            GError **err)
{
    RawBlock raw = { 0 };

    if (!read_block_desc(f, c, b, &raw, err))
        return FALSE;
    if (mr_file_find_block(f, b->idstr) != NULL) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->desc_offset,
                     "ram block \"%s\" appears twice", b->idstr);
        return FALSE;
    }
    if (raw.used_length > remaining) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->desc_offset,
                     "ram block \"%s\": used_length 0x%" G_GINT64_MODIFIER "x "
                     "exceeds what the MEM_SIZE total leaves (0x%"
                     G_GINT64_MODIFIER "x)", b->idstr, raw.used_length,
                     remaining);
        return FALSE;
    }
    if (raw.version != 1) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, b->header_offset,
                     "ram block \"%s\": mapped-ram header version %u, "
                     "expected 1", b->idstr, raw.version);
        return FALSE;
    }
    b->used_length = raw.used_length;
    b->page_size = raw.page_size;
    b->bitmap_offset = raw.bitmap_offset;
    b->pages_offset = raw.pages_offset;
    if (!check_page_size(f, b, err))
        return FALSE;
    if (raw.bitmap_offset == 0 && raw.pages_offset == 0 && f->cap_ignore_shared) {
        /* A shared block QEMU skipped: the stream goes on after the header
         * (docs/FORMAT.md §9.7, QEMU 11.0). */
        b->stored = FALSE;
        return TRUE;
    }
    if (raw.bitmap_offset == 0 || raw.pages_offset == 0) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, b->header_offset + 12,
                     "ram block \"%s\": bitmap_offset 0x%" G_GINT64_MODIFIER
                     "x and pages_offset 0x%" G_GINT64_MODIFIER "x: offset 0 "
                     "is only allowed for both, with x-ignore-shared",
                     b->idstr, raw.bitmap_offset, raw.pages_offset);
        return FALSE;
    }
    b->stored = TRUE;
    if (!check_layout(f, b, c->pos, c->limit, err) || !load_bitmap(f, b, err))
        return FALSE;
    return mr_cursor_seek(c, b->pages_offset + b->used_length,
                          "end of the page area", err);
}

gboolean
mr_parse_ram_start(MrFile *f, MrCursor *c, GError **err)
{
    guint64 at = c->pos, word, sum = 0;

    if (!mr_cursor_be64(c, &word, "MEM_SIZE record", err))
        return FALSE;
    if ((word & RAM_FLAG_MASK) != RAM_FLAG_MEM_SIZE) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "first ram record has flags 0x%03" G_GINT64_MODIFIER "x, "
                     "expected MEM_SIZE (0x004)", word & RAM_FLAG_MASK);
        return FALSE;
    }
    f->ram_total = word & ~(guint64)RAM_FLAG_MASK;
    while (sum < f->ram_total) {
        MrRamBlock *b = g_new0(MrRamBlock, 1);

        if (!parse_block(f, c, f->ram_total - sum, b, err)) {
            g_free(b->idstr);
            mr_bitmap_free(b->bitmap);
            g_free(b);
            return FALSE;
        }
        b->index = f->blocks->len;
        g_ptr_array_add(f->blocks, b);
        /* A zero-length block leaves the sum as it is, but the cursor has
         * moved on, so the loop still ends at the end of the stream. */
        sum += b->used_length;
    }
    return mr_parse_ram_eos(f, c, "ram section START", err);
}

gboolean
mr_parse_ram_eos(MrFile *f, MrCursor *c, const char *what, GError **err)
{
    for (;;) {
        guint64 at = c->pos, word;

        if (!mr_cursor_be64(c, &word, "ram EOS record", err))
            return FALSE;
        if (word == RAM_FLAG_EOS)
            return TRUE;
        if (word == RAM_FLAG_MULTIFD_FLUSH) {
            /* QEMU >= 9.0 never writes these with mapped-ram and refuses
             * them on load (docs/FORMAT.md §9.1): readable, but flag it. */
            f->multifd_flushes++;
            mr_file_warn(f, at, "%s: MULTIFD_FLUSH record, which QEMU "
                         "refuses in a mapped-ram stream", what);
            continue;
        }
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "%s: ram record 0x%016" G_GINT64_MODIFIER "x, expected "
                     "EOS (0x10): a mapped-ram stream carries no page records",
                     what, word);
        return FALSE;
    }
}
