/* Virtual files (mr-vfile.h): pieces of RAM blocks, of the snapshot and of
 * memory laid out with holes between them read, seek and count exactly as
 * an image built here byte by byte says, and writes land only on RAM. */
#include <string.h>

#include "mr-read.h"
#include "mr-update.h"
#include "mr-vfile.h"
#include "test-helpers.h"

#define PS 4096u

/* The test file: [hole 2 pages] [pc.ram pages 0..130] [hole 3 pages]
 * [16 bytes in memory] [hole to the next page] [64 bytes of the snapshot
 * from offset 0] [pc.bios pages 59..63] [hole of 5 pages to
 * the end]. */
typedef struct {
    MrVfile *v;
    guint8 *image;   /* the expected bytes */
    gboolean *data;  /* per byte: data (TRUE) or hole */
    guint64 size;
} Layout;

static const guint8 magic_bytes[16] = "ELF-HEADER-BYTES";

static void
fill_block(Layout *t, guint64 at, const MrRamBlock *b, guint block,
           guint64 first_page, guint64 pages)
{
    const MrtBlockSpec *s = &mrt_pc_blocks[block];

    for (gsize i = 0; i < s->npages; i++) {
        guint64 p = s->pages[i];
        if (p < first_page || p >= first_page + pages)
            continue;
        mrt_fill_page(block, p, t->image + at + (p - first_page) * PS, PS);
        for (guint64 k = 0; k < PS; k++)
            t->data[at + (p - first_page) * PS + k] = TRUE;
    }
    g_assert(b->page_size == PS);
}

static void
build(Layout *t, MrFile *f, const char *path)
{
    MrRamBlock *ram = g_ptr_array_index(f->blocks, 0);
    MrRamBlock *bios = g_ptr_array_index(f->blocks, 2);
    g_autoptr(GBytes) bytes = g_bytes_new_static(magic_bytes, sizeof(magic_bytes));
    g_autoptr(GError) err = NULL;
    guint64 at_ram = 2 * PS, at_bytes = at_ram + 131 * PS + 3 * PS;
    guint64 at_snap = at_bytes + PS, at_bios = at_snap + 2 * PS;

    t->size = at_bios + 5 * PS + 5 * PS;
    t->image = g_malloc0(t->size);
    t->data = g_new0(gboolean, t->size);
    t->v = mr_vfile_new(f);
    CU_ASSERT_FATAL(mr_vfile_add_block(t->v, at_ram, ram, 0, 131 * PS, &err));
    fill_block(t, at_ram, ram, 0, 0, 131);
    CU_ASSERT_FATAL(mr_vfile_add_bytes(t->v, at_bytes, bytes, &err));
    memcpy(t->image + at_bytes, magic_bytes, sizeof(magic_bytes));
    for (guint k = 0; k < sizeof(magic_bytes); k++)
        t->data[at_bytes + k] = TRUE;
    CU_ASSERT_FATAL(mr_vfile_add_snapshot(t->v, at_snap, 0, 64, &err));
    mrt_read(path, 0, t->image + at_snap, 64);
    for (guint k = 0; k < 64; k++)
        t->data[at_snap + k] = TRUE;
    CU_ASSERT_FATAL(mr_vfile_add_block(t->v, at_bios, bios, 59 * PS, 5 * PS, &err));
    fill_block(t, at_bios, bios, 2, 59, 5);
    CU_ASSERT_FATAL(mr_vfile_set_size(t->v, t->size, &err));
}

static void
layout_clear(Layout *t)
{
    mr_vfile_free(t->v);
    g_free(t->image);
    g_free(t->data);
}

static void
test_reads_equal_the_image_at_every_page_edge(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("vfile.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    Layout t;
    g_autofree guint8 *buf = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    build(&t, f, path);
    MRT_CHECK_U64(mr_vfile_size(t.v), t.size);
    buf = g_malloc(t.size + PS);
    for (guint64 off = 0; off < t.size + PS; off += PS / 2) {
        for (gsize len = 1; len <= 3 * PS; len = len * 3 + 1) {
            g_autoptr(GError) err = NULL;
            guint64 start = off ? off - 1 : 0;
            gsize got = 12345, want = start >= t.size ? 0 : MIN(len, t.size - start);
            memset(buf, 0x5a, len);
            CU_ASSERT_FATAL(mr_vfile_read(t.v, buf, start, len, &got, &err));
            MRT_CHECK(got == want, "read %zu at 0x%" G_GINT64_MODIFIER "x: got %zu, want %zu",
                      len, start, got, want);
            MRT_CHECK(got == 0 || memcmp(buf, t.image + start, got) == 0,
                      "bytes at 0x%" G_GINT64_MODIFIER "x+%zu", start, got);
        }
    }
    /* The whole file in one read. */
    {
        g_autoptr(GError) err = NULL;
        gsize got = 0;
        CU_ASSERT_FATAL(mr_vfile_read(t.v, buf, 0, t.size, &got, &err));
        MRT_CHECK_U64(got, t.size);
        CU_ASSERT_EQUAL(memcmp(buf, t.image, t.size), 0);
    }
    layout_clear(&t);
    mr_writer_layout_clear(&l);
}

/* What lseek must answer, by scanning the image's data map. */
static guint64
expected_seek(const Layout *t, guint64 off, gboolean data)
{
    for (guint64 i = off; i < t->size; i++)
        if (t->data[i] == data)
            return i;
    return data ? MR_VFILE_NONE : t->size;
}

static void
test_seek_data_and_hole_equal_the_image_everywhere(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("vfile.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    Layout t;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    build(&t, f, path);
    for (guint64 off = 0; off < t.size; off += off % PS == 0 ? 1 : PS / 4 - 1) {
        for (int d = 0; d < 2; d++) {
            g_autoptr(GError) err = NULL;
            guint64 out = 0;
            CU_ASSERT_FATAL(mr_vfile_seek(t.v, off, d, &out, &err));
            MRT_CHECK(out == expected_seek(&t, off, d),
                      "SEEK_%s from 0x%" G_GINT64_MODIFIER "x: got 0x%"
                      G_GINT64_MODIFIER "x, want 0x%" G_GINT64_MODIFIER "x",
                      d ? "DATA" : "HOLE", off, out, expected_seek(&t, off, d));
        }
    }
    layout_clear(&t);
    mr_writer_layout_clear(&l);
}

static void
test_stored_bytes_count_present_pages_and_data_pieces(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("vfile.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    Layout t;
    guint64 want = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    build(&t, f, path);
    for (guint64 i = 0; i < t.size; i++)
        want += t.data[i];
    /* Block pieces are page aligned here, so the count is exact. */
    MRT_CHECK_U64(mr_vfile_stored_bytes(t.v), want);
    layout_clear(&t);
    mr_writer_layout_clear(&l);
}

static void
test_pieces_may_not_overlap_or_leave_their_source(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("vfile.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MrVfile) v = NULL;
    MrRamBlock *ram, *rom;
    GError *err = NULL;
    guint n = 99;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ram = g_ptr_array_index(f->blocks, 0);
    rom = g_ptr_array_index(f->blocks, 3);
    v = mr_vfile_new(f);
    CU_ASSERT_FATAL(mr_vfile_add_block(v, PS, ram, 0, PS, &err));
    CU_ASSERT_FALSE(mr_vfile_add_block(v, PS, ram, PS, PS, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE);
    g_clear_error(&err);
    CU_ASSERT_FALSE(mr_vfile_add_block(v, 4 * PS, ram, ram->used_length - PS, 2 * PS, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE && strstr(err->message, "pc.ram"));
    g_clear_error(&err);
    CU_ASSERT_FALSE(mr_vfile_add_snapshot(v, 8 * PS, f->file_size - 1, 2, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE);
    g_clear_error(&err);
    CU_ASSERT_FALSE(mr_vfile_add_block(v, 16 * PS, ram, G_MAXUINT64 - 1, 4, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE);
    g_clear_error(&err);
    CU_ASSERT_FALSE(mr_vfile_set_size(v, PS, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE);
    g_clear_error(&err);
    /* pc.rom is stored with no page present: it may be a piece. */
    CU_ASSERT(rom->stored);
    CU_ASSERT(mr_vfile_add_block(v, 2 * PS, rom, 0, PS, &err));
    mr_vfile_pieces(v, &n);
    MRT_CHECK_U64(n, 2);
    MRT_CHECK_U64(mr_vfile_size(v), 3 * PS);
    mr_writer_layout_clear(&l);
}

static void
test_writes_land_on_ram_and_refuse_holes_writing_nothing(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("vfile.mig", &l);
    MrOpenOptions o = { .writable = TRUE };
    g_autoptr(MrFile) f = MRT_OPEN(path, &o);
    g_autoptr(MrUpdater) u = NULL;
    g_autofree guint8 *before = NULL, *after = NULL;
    guint8 buf[3 * PS], back[3 * PS];
    GError *err = NULL;
    Layout t;
    gsize got;
    guint64 at_ram = 2 * PS, fsize;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    build(&t, f, path);
    u = mr_updater_new(f, FALSE);
    memset(buf, 0xa7, sizeof(buf));
    /* Over the hole before pc.ram: refused, the file unchanged. */
    fsize = mrt_file_size(path);
    before = g_malloc(fsize);
    mrt_read(path, 0, before, fsize);
    CU_ASSERT_FALSE(mr_vfile_write(t.v, u, buf, at_ram - 10, 100, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE && strstr(err->message, "nothing written"));
    g_clear_error(&err);
    /* Over the end of pc.ram's piece into the hole after it. */
    CU_ASSERT_FALSE(mr_vfile_write(t.v, u, buf, at_ram + 130 * PS, 2 * PS, &err));
    CU_ASSERT(err && err->code == MR_ERROR_RANGE);
    g_clear_error(&err);
    /* Over the memory bytes. */
    CU_ASSERT_FALSE(mr_vfile_write(t.v, u, buf, at_ram + 134 * PS, 4, &err));
    g_clear_error(&err);
    after = g_malloc(fsize);
    mrt_read(path, 0, after, fsize);
    CU_ASSERT_EQUAL(memcmp(before, after, fsize), 0);
    /* Into pc.ram, across a present and an absent page. */
    CU_ASSERT_FATAL(mr_vfile_write(t.v, u, buf, at_ram + 2 * PS + 7, 2 * PS, &err));
    CU_ASSERT_FATAL(mr_updater_sync(u, &err));
    CU_ASSERT_FATAL(mr_vfile_read(t.v, back, at_ram + 2 * PS + 7, 2 * PS, &got, &err));
    CU_ASSERT_EQUAL(memcmp(back, buf, 2 * PS), 0);
    CU_ASSERT(mr_block_read(f, g_ptr_array_index(f->blocks, 0), back, 2 * PS + 7,
                            2 * PS, &err));
    CU_ASSERT_EQUAL(memcmp(back, buf, 2 * PS), 0);
    /* buf NULL writes zeros, over the same range. */
    CU_ASSERT_FATAL(mr_vfile_write(t.v, u, NULL, at_ram + 2 * PS + 7, 2 * PS, &err));
    CU_ASSERT_FATAL(mr_updater_sync(u, &err));
    memset(buf, 0, sizeof(buf));
    CU_ASSERT_FATAL(mr_vfile_read(t.v, back, at_ram + 2 * PS + 7, 2 * PS, &got, &err));
    CU_ASSERT_EQUAL(memcmp(back, buf, 2 * PS), 0);
    layout_clear(&t);
    mr_writer_layout_clear(&l);
}

static const MrtTest vfile_tests[] = {
    MRT_TEST(test_reads_equal_the_image_at_every_page_edge),
    MRT_TEST(test_seek_data_and_hole_equal_the_image_everywhere),
    MRT_TEST(test_stored_bytes_count_present_pages_and_data_pieces),
    MRT_TEST(test_pieces_may_not_overlap_or_leave_their_source),
    MRT_TEST(test_writes_land_on_ram_and_refuse_holes_writing_nothing),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "virtual files", vfile_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
