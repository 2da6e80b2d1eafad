/* fuzz-open: mr_file_open() on arbitrary bytes, then everything a user of
 * the model may do with it.
 *
 * mr-file.h promises that once a file is open every offset in the model
 * has been checked against the file, so that users pread without further
 * checks; this target checks that promise (the layout invariants of
 * docs/FORMAT.md §11 that the model records), then reads a few ranges of every
 * block and compares them with the input bytes (a present page is the
 * file's bytes, an absent one zeros, §9.9), walks the page runs and the
 * bitmap, and prints the summary JSON.  A file that opens is opened a
 * second time with a big-endian bitmap order and the stream offset given
 * instead of found.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "mr-error.h"
#include "mr-file.h"
#include "mr-read.h"
#include "mr-summary.h"

#define MAX_STEPS 256

typedef struct {
    const guint8 *data;
    gsize size;
} Input;

static void
check_layout(const MrFile *f, const Input *in)
{
    guint64 end = f->stream_offset + 8, sum = 0;

    FUZZ_CHECK(f->file_size == in->size, "file_size %" G_GUINT64_FORMAT,
               f->file_size);
    FUZZ_CHECK(f->stream_offset <= in->size && in->size - f->stream_offset >= 8,
               "stream_offset %" G_GUINT64_FORMAT, f->stream_offset);
    FUZZ_CHECK(memcmp(in->data + f->stream_offset, "QEVM", 4) == 0, "magic");
    FUZZ_CHECK(f->cap_mapped_ram, "a file without mapped-ram opened");
    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);

        FUZZ_CHECK(b->idstr && *b->idstr, "block %u has no name", i);
        FUZZ_CHECK(mr_file_find_block(f, b->idstr) == b,
                   "block \"%s\" is not unique", b->idstr);
        FUZZ_CHECK(b->page_size == f->page_size && b->page_size >= 1024 &&
                   b->page_size <= 65536 && !(b->page_size & (b->page_size - 1)),
                   "block \"%s\": page size %" G_GUINT64_FORMAT, b->idstr,
                   b->page_size);
        FUZZ_CHECK(b->num_pages * b->page_size == b->used_length &&
                   b->num_pages == b->used_length / b->page_size,
                   "block \"%s\": pages", b->idstr);
        FUZZ_CHECK(b->desc_offset >= end && b->header_offset > b->desc_offset &&
                   b->header_offset + 28 <= in->size,
                   "block \"%s\" at 0x%" G_GINT64_MODIFIER "x overlaps what "
                   "precedes it (0x%" G_GINT64_MODIFIER "x)", b->idstr,
                   b->desc_offset, end);
        sum += b->used_length;
        if (!b->stored) {
            FUZZ_CHECK(b->bitmap == NULL && f->cap_ignore_shared,
                       "unstored block \"%s\"", b->idstr);
            end = b->header_offset + 28;
            continue;
        }
        FUZZ_CHECK(b->bitmap && b->bitmap->nbits == b->num_pages,
                   "block \"%s\": bitmap", b->idstr);
        FUZZ_CHECK(b->bitmap_offset >= b->header_offset + 28 &&
                   b->bitmap_size >= (b->num_pages + 31) / 32 * 4 &&
                   b->bitmap_offset <= in->size &&
                   b->bitmap_size <= b->pages_offset - b->bitmap_offset &&
                   b->pages_offset >= b->bitmap_offset,
                   "block \"%s\": bitmap 0x%" G_GINT64_MODIFIER "x+0x%"
                   G_GINT64_MODIFIER "x, pages 0x%" G_GINT64_MODIFIER "x",
                   b->idstr, b->bitmap_offset, b->bitmap_size,
                   b->pages_offset);
        FUZZ_CHECK(b->pages_offset <= in->size &&
                   b->used_length <= in->size - b->pages_offset &&
                   b->pages_offset % b->page_size == 0,
                   "block \"%s\": pages 0x%" G_GINT64_MODIFIER "x+0x%"
                   G_GINT64_MODIFIER "x past the end (0x%" G_GSIZE_MODIFIER
                   "x)", b->idstr, b->pages_offset, b->used_length, in->size);
        end = b->pages_offset + b->used_length;
    }
    FUZZ_CHECK(sum == f->ram_total, "MEM_SIZE 0x%" G_GINT64_MODIFIER "x, blocks "
               "0x%" G_GINT64_MODIFIER "x", f->ram_total, sum);
    FUZZ_CHECK(f->eof_offset < in->size && in->data[f->eof_offset] == 0,
               "eof_offset 0x%" G_GINT64_MODIFIER "x", f->eof_offset);
    if (f->has_vmdesc) {
        FUZZ_CHECK(f->vmdesc != NULL && f->vmdesc_offset == f->eof_offset + 1 &&
                   f->vmdesc_json_offset == f->vmdesc_offset + 5 &&
                   f->vmdesc_json_offset + f->vmdesc_size == in->size &&
                   in->data[f->vmdesc_offset] == 6, "vmdesc");
    }
    end = 0;
    for (guint i = 0; i < f->devices->len; i++) {
        const MrSection *s = g_ptr_array_index(f->devices, i);

        FUZZ_CHECK(s->idstr && *s->idstr, "section %u has no name", i);
        FUZZ_CHECK(s->offset >= end && s->offset < s->body_offset &&
                   s->body_size <= s->end_offset - s->body_offset &&
                   s->body_offset <= s->end_offset &&
                   s->end_offset <= f->eof_offset,
                   "section \"%s\": 0x%" G_GINT64_MODIFIER "x body 0x%"
                   G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x end 0x%"
                   G_GINT64_MODIFIER "x, previous end 0x%" G_GINT64_MODIFIER
                   "x, EOF 0x%" G_GINT64_MODIFIER "x", s->idstr, s->offset,
                   s->body_offset, s->body_size, s->end_offset, end,
                   f->eof_offset);
        FUZZ_CHECK(in->data[s->offset] == 0x04, "section \"%s\": type 0x%02x",
                   s->idstr, in->data[s->offset]);
        FUZZ_CHECK((s->desc != NULL) == f->has_vmdesc, "section \"%s\" desc",
                   s->idstr);
        end = s->end_offset;
    }
    for (guint i = 0; i < f->warnings->len; i++)
        FUZZ_CHECK(strlen(g_ptr_array_index(f->warnings, i)) > 0, "warning %u", i);
}

/* Reads [offset, offset + len) of the block and compares it with the input:
 * the file's bytes where the page's bit is set, zeros elsewhere. */
static void
check_read(const MrFile *f, const MrRamBlock *b, const Input *in,
           guint64 offset, gsize len)
{
    g_autofree guint8 *buf = g_malloc(MAX(len, 1));
    g_autoptr(GError) err = NULL;

    if (!mr_block_read(f, b, buf, offset, len, &err))
        fuzz_fail(__FILE__, __LINE__, "block \"%s\": read 0x%" G_GINT64_MODIFIER
                  "x+0x%" G_GSIZE_MODIFIER "x failed: %s", b->idstr, offset,
                  len, err->message);
    for (gsize k = 0; k < len; k++) {
        guint64 x = offset + k;
        gboolean present = b->stored && mr_bitmap_test(b->bitmap, x / b->page_size);
        guint8 want = present ? in->data[b->pages_offset + x] : 0;
        FUZZ_CHECK(buf[k] == want, "block \"%s\" byte 0x%" G_GINT64_MODIFIER
                   "x: 0x%02x, want 0x%02x", b->idstr, x, buf[k], want);
    }
}

static void
check_block(const MrFile *f, const MrRamBlock *b, const Input *in)
{
    const guint64 len = b->used_length, ps = b->page_size;
    g_autoptr(GError) err = NULL;
    guint8 byte;
    guint64 page, count = 0;

    /* The start, a page boundary in the middle, the end, the first present
     * page: at most three pages each. */
    check_read(f, b, in, 0, (gsize)MIN(len, 2 * ps + ps / 2));
    if (b->num_pages >= 2) {
        guint64 mid = (b->num_pages / 2) * ps - 7;
        check_read(f, b, in, mid, (gsize)MIN(ps + 14, len - mid));
    }
    check_read(f, b, in, len - MIN(len, ps + 3), (gsize)MIN(len, ps + 3));
    if (b->stored) {
        page = mr_bitmap_next_set(b->bitmap, 0);
        if (page < b->num_pages)
            check_read(f, b, in, page * ps + 1,
                       (gsize)MIN(2 * ps, len - page * ps - 1));
    }
    check_read(f, b, in, len, 0);

    /* Outside the block: refused, not read. */
    FUZZ_CHECK(!mr_block_read(f, b, &byte, len, 1, &err) &&
               g_error_matches(err, MR_ERROR, MR_ERROR_RANGE),
               "block \"%s\": read past the end", b->idstr);
    g_clear_error(&err);
    FUZZ_CHECK(!mr_block_read(f, b, &byte, G_MAXUINT64, 1, &err) &&
               g_error_matches(err, MR_ERROR, MR_ERROR_RANGE),
               "block \"%s\": read at 2^64-1", b->idstr);
    g_clear_error(&err);

    /* Runs are maximal and agree with the bitmap. */
    page = 0;
    for (int k = 0; k < MAX_STEPS && page < b->num_pages; k++) {
        MrPageRun r;
        gboolean first;

        /* The file does not change under the fuzzer: the bitmap reads. */
        FUZZ_CHECK(mr_block_run_at(b, page, b->num_pages, &r, NULL),
                   "block \"%s\": run at page %" G_GUINT64_FORMAT " failed",
                   b->idstr, page);
        first = b->stored && mr_bitmap_test(b->bitmap, page);
        FUZZ_CHECK(r.first == page && r.count > 0 &&
                   r.count <= b->num_pages - page && r.present == first,
                   "block \"%s\": run at page %" G_GUINT64_FORMAT, b->idstr,
                   page);
        if (b->stored) {
            gboolean last = mr_bitmap_test(b->bitmap, page + r.count - 1);
            FUZZ_CHECK(last == r.present, "block \"%s\": run end", b->idstr);
            if (page + r.count < b->num_pages)
                FUZZ_CHECK(mr_bitmap_test(b->bitmap, page + r.count) != r.present,
                           "block \"%s\": run not maximal", b->idstr);
        }
        if (r.present)
            count += r.count;
        page += r.count;
    }
    {
        MrPageRun r;
        guint64 present = 0;
        FUZZ_CHECK(mr_block_run_at(b, b->num_pages, G_MAXUINT64, &r, NULL) &&
                   r.count == 0, "block \"%s\": run past the end", b->idstr);
        FUZZ_CHECK(mr_block_count_present(b, &present, NULL),
                   "block \"%s\": count of present pages failed", b->idstr);
        if (page >= b->num_pages)
            FUZZ_CHECK(count == present, "block \"%s\": present pages %"
                       G_GUINT64_FORMAT " by runs, %" G_GUINT64_FORMAT
                       " by count", b->idstr, count, present);
    }

    if (b->stored) {
        const MrBitmap *bm = b->bitmap;
        guint64 at = 0;
        FUZZ_CHECK(mr_bitmap_count(bm) == mr_bitmap_count_range(bm, 0, G_MAXUINT64),
                   "block \"%s\": count", b->idstr);
        for (int k = 0; k < MAX_STEPS && at < bm->nbits; k++)
            at = k % 2 ? mr_bitmap_next_set(bm, at) : mr_bitmap_next_clear(bm, at);
        FUZZ_CHECK(mr_bitmap_next_set(bm, bm->nbits) == bm->nbits, "next_set");
        (void)mr_block_allocated_bytes(f, b);
    }
}

static void
exercise(const MrFile *f, const Input *in)
{
    check_layout(f, in);
    for (guint i = 0; i < f->blocks->len; i++)
        check_block(f, g_ptr_array_index(f->blocks, i), in);
    fuzz_check_json(mr_summary_json(f), "summary");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const Input in = { data, size };
    MrOpenOptions again = { 0 };
    g_autoptr(MrFile) f = NULL;
    g_autoptr(MrFile) g = NULL;
    g_autoptr(GError) err = NULL;

    fuzz_set_file(data, size);
    f = mr_file_open(fuzz_path(), NULL, &err);
    if (fuzz_verbose())
        fprintf(stderr, "  %s\n", f ? "opens" : err->message);
    if (f == NULL) {
        FUZZ_CHECK(err != NULL && err->domain == MR_ERROR && err->message[0],
                   "mr_file_open failed without an MR_ERROR");
        return 0;
    }
    FUZZ_CHECK(err == NULL, "mr_file_open succeeded with an error set");
    exercise(f, &in);

    again.has_stream_offset = TRUE;
    again.stream_offset = f->stream_offset;
    again.bitmap_order = size & 1 ? MR_BITMAP_BE32 : MR_BITMAP_BE64;
    g = mr_file_open(fuzz_path(), &again, &err);
    if (g != NULL) {
        FUZZ_CHECK(g->blocks->len == f->blocks->len &&
                   g->devices->len == f->devices->len,
                   "the bitmap order changed the layout");
        exercise(g, &in);
    }
    return 0;
}
