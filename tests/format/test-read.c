/* Block reads (mr-read.h): present pages from the page area, absent pages as
 * zeros whatever their slot holds (docs/FORMAT.md §9.9, §11), range checks, and
 * the page runs the reads are built on. */
#include <string.h>

#include "mr-read.h"
#include "test-helpers.h"

/* The whole block as QEMU restores it, built from the fixture's tables. */
static guint8 *
expected_image(guint block)
{
    const MrtBlockSpec *s = &mrt_pc_blocks[block];
    guint8 *img = g_malloc0(s->used_length);

    for (gsize i = 0; i < s->npages; i++)
        mrt_fill_page(block, s->pages[i], img + s->pages[i] * 4096, 4096);
    return img;
}

/* The pc file with stale bytes in every absent slot of pc.ram from 0 to
 * 200 (a live save whose pages turned zero, §9.9). */
static char *
write_pc_with_stale_slots(MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    char *path = mrt_path("stale.mig");
    guint8 junk[4096];

    memset(junk, 0xdd, sizeof(junk));
    for (guint64 p = 0; p < 200; p++) {
        gboolean present = FALSE;
        for (gsize i = 0; i < mrt_pc_blocks[0].npages; i++)
            present |= mrt_pc_blocks[0].pages[i] == p;
        if (!present)
            mr_writer_set_stale(w, 0, p, junk);
    }
    mrt_write(w, path, l);
    return path;
}

static gboolean
read_ok(const MrFile *f, const MrRamBlock *b, guint8 *buf, guint64 off,
        gsize len)
{
    g_autoptr(GError) err = NULL;
    gboolean ok = mr_block_read(f, b, buf, off, len, &err);

    MRT_CHECK(ok, "read 0x%zx bytes at 0x%" G_GINT64_MODIFIER "x of %s: %s",
              len, off, b->idstr, err ? err->message : "");
    return ok;
}

static void
test_present_pages_come_from_the_page_area(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("read.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (guint b = 0; b < mrt_pc_nblocks; b++) {
        const MrRamBlock *rb = g_ptr_array_index(f->blocks, b);
        g_autofree guint8 *want = expected_image(b);
        g_autofree guint8 *got = g_malloc(rb->used_length);
        memset(got, 0x99, rb->used_length);
        if (read_ok(f, rb, got, 0, rb->used_length))
            MRT_CHECK(memcmp(got, want, rb->used_length) == 0,
                      "block %s reads as written", rb->idstr);
    }
    mr_writer_layout_clear(&l);
}

static void
test_absent_pages_read_as_zeros_even_over_stale_slots(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_pc_with_stale_slots(&l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autofree guint8 *want = expected_image(0);
    g_autofree guint8 *got = g_malloc(200 * 4096);
    guint8 slot[16];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    /* The stale bytes are really there... */
    mrt_read(path, MRT_BLOCK(&l, 0)->pages_offset + 3 * 4096, slot, 16);
    CU_ASSERT_EQUAL(slot[0], 0xdd);
    /* ...and are not read. */
    if (read_ok(f, g_ptr_array_index(f->blocks, 0), got, 0, 200 * 4096))
        CU_ASSERT_EQUAL(memcmp(got, want, 200 * 4096), 0);
    MRT_CHECK_U64(MRT_PRESENT(g_ptr_array_index(f->blocks, 0)),
                  mrt_pc_blocks[0].npages);
    mr_writer_layout_clear(&l);
}

/* pc.ram has pages 0-2, 63-65 and 127-128 present: reads that start and end
 * inside pages, across present/absent runs and 64-page words. */
static void
test_reads_crossing_page_and_run_boundaries(void)
{
    static const struct {
        guint64 off;
        gsize len;
    } reads[] = {
        { 0, 1 },
        { 4095, 2 },
        { 2 * 4096 + 100, 4096 },       /* present -> absent */
        { 62 * 4096 + 4000, 3 * 4096 }, /* absent -> present x3 -> absent */
        { 60 * 4096, 70 * 4096 },       /* several runs */
        { 127 * 4096 - 1, 4096 * 2 + 2 },
        { 999 * 4096 + 17, 4096 * 2 },
        { 3 * 4096, 4096 },             /* one absent page */
    };
    MrWriterLayout l;
    g_autofree char *path = write_pc_with_stale_slots(&l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autofree guint8 *want = expected_image(0);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (gsize i = 0; i < G_N_ELEMENTS(reads); i++) {
        g_autofree guint8 *got = g_malloc(reads[i].len);
        if (read_ok(f, g_ptr_array_index(f->blocks, 0), got, reads[i].off,
                    reads[i].len))
            MRT_CHECK(memcmp(got, want + reads[i].off, reads[i].len) == 0,
                      "read 0x%zx at 0x%" G_GINT64_MODIFIER "x matches",
                      reads[i].len, reads[i].off);
    }
    mr_writer_layout_clear(&l);
}

static void
test_random_reads_match_the_expected_image(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_pc_with_stale_slots(&l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autofree guint8 *want = expected_image(0);
    g_autofree guint8 *got = g_malloc(64 * 4096);
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    guint bad = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; i < 2000; i++) {
        /* Mostly within the first pages, where the runs are. */
        guint64 end = i % 2 ? 140 * 4096 : 0x800000;
        guint64 off = (guint64)g_rand_double_range(r, 0, (double)end - 1);
        gsize len = (gsize)g_rand_int_range(r, 1, 64 * 4096);
        g_autoptr(GError) err = NULL;
        len = (gsize)MIN((guint64)len, 0x800000 - off);
        if (!mr_block_read(f, g_ptr_array_index(f->blocks, 0), got, off, len,
                           &err) ||
            memcmp(got, want + off, len) != 0)
            bad++;
    }
    MRT_CHECK(bad == 0, "%u of 2000 random reads differ", bad);
    mr_writer_layout_clear(&l);
}

static void
test_read_of_the_last_byte(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("last.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    guint8 got = 0, page[4096];
    const MrRamBlock *ram, *rom;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ram = g_ptr_array_index(f->blocks, 0); /* page 2047 present */
    rom = g_ptr_array_index(f->blocks, 3); /* nothing present */
    mrt_fill_page(0, 2047, page, sizeof(page));
    if (read_ok(f, ram, &got, ram->used_length - 1, 1))
        CU_ASSERT_EQUAL(got, page[4095]);
    got = 0x55;
    if (read_ok(f, rom, &got, rom->used_length - 1, 1))
        CU_ASSERT_EQUAL(got, 0);
    /* An empty read at the very end is in range. */
    CU_ASSERT_TRUE(read_ok(f, ram, &got, ram->used_length, 0));
    mr_writer_layout_clear(&l);
}

static void
test_reads_outside_the_block_fail_with_range(void)
{
    static const struct {
        guint64 off;
        gsize len;
    } bad[] = {
        { 0x20000, 1 },          /* pc.rom is 0x20000 bytes */
        { 0x1ffff, 2 },
        { 0x20001, 0 },
        { G_MAXUINT64, 1 },
        { 1, G_MAXSIZE },        /* offset + len overflows */
        { G_MAXUINT64 - 1, 4 },
    };
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("range.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    guint8 buf[8];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        gboolean ok = mr_block_read(f, g_ptr_array_index(f->blocks, 3), buf,
                                    bad[i].off, bad[i].len, &err);
        MRT_CHECK(!ok && err && err->domain == MR_ERROR &&
                  err->code == MR_ERROR_RANGE &&
                  strstr(err->message, "\"pc.rom\"") &&
                  strstr(err->message, path),
                  "read 0x%zx at 0x%" G_GINT64_MODIFIER "x is refused: %s",
                  bad[i].len, bad[i].off, err ? err->message : "(none)");
    }
    mr_writer_layout_clear(&l);
}

static void
test_skipped_block_reads_as_zeros_and_is_one_absent_run(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("skipped.mig");
    g_autoptr(MrFile) f = NULL;
    g_autofree guint8 *got = g_malloc(0x10000);
    MrPageRun r;
    const MrRamBlock *b;

    mr_writer_set_capabilities(w, caps);
    mr_writer_add_block(w, "shared", 0x10000);
    mr_writer_block_set_skipped(w, 0);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    memset(got, 0x77, 0x10000);
    if (read_ok(f, b, got, 0, 0x10000)) {
        guint64 nonzero = 0;
        for (gsize i = 0; i < 0x10000; i++)
            nonzero += got[i] != 0;
        MRT_CHECK_U64(nonzero, 0);
    }
    MRT_CHECK(mr_block_run_at(b, 3, G_MAXUINT64, &r, NULL), "run_at");
    MRT_CHECK(r.first == 3 && r.count == 13 && !r.present,
              "skipped block: one absent run to its end (%" G_GUINT64_FORMAT
              "+%" G_GUINT64_FORMAT ")", r.first, r.count);
}

static void
test_run_at_returns_the_run_containing_a_page(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("runs.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    const MrRamBlock *ram, *bios, *rom;
    MrPageRun r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ram = g_ptr_array_index(f->blocks, 0);
    bios = g_ptr_array_index(f->blocks, 2);
    rom = g_ptr_array_index(f->blocks, 3);
#define RUN(b, page, limit, f0, n, pres)                                      \
    do {                                                                      \
        MRT_CHECK(mr_block_run_at((b), (page), (limit), &r, NULL), "run_at");  \
        MRT_CHECK(r.first == (f0) && r.count == (n) && r.present == (pres),   \
                  "run_at(%s, %d, %" G_GUINT64_FORMAT ") = %" G_GUINT64_FORMAT \
                  "+%" G_GUINT64_FORMAT " %s", (b)->idstr, (int)(page),       \
                  (guint64)(limit), r.first, r.count,                         \
                  r.present ? "present" : "absent");                          \
    } while (0)
    RUN(ram, 0, G_MAXUINT64, 0, 3, TRUE);
    RUN(ram, 1, G_MAXUINT64, 1, 2, TRUE);
    RUN(ram, 3, G_MAXUINT64, 3, 60, FALSE);
    RUN(ram, 63, G_MAXUINT64, 63, 3, TRUE);   /* across the word boundary */
    RUN(ram, 66, G_MAXUINT64, 66, 61, FALSE);
    RUN(ram, 127, G_MAXUINT64, 127, 2, TRUE);
    RUN(ram, 1001, G_MAXUINT64, 1001, 1046, FALSE);
    RUN(ram, 2047, G_MAXUINT64, 2047, 1, TRUE);
    RUN(ram, 3, 10, 3, 7, FALSE);             /* cut at the limit */
    RUN(ram, 63, 64, 63, 1, TRUE);
    RUN(ram, 10, 10, 10, 0, FALSE);           /* page at the limit */
    RUN(ram, 2048, G_MAXUINT64, 2048, 0, FALSE); /* past the block */
    RUN(bios, 0, G_MAXUINT64, 0, 64, TRUE);   /* all set */
    RUN(bios, 63, G_MAXUINT64, 63, 1, TRUE);
    RUN(rom, 0, G_MAXUINT64, 0, 32, FALSE);   /* none set */
#undef RUN
    mr_writer_layout_clear(&l);
}

/* A 16 GiB block in a sparse file: 4M pages, a 512 KiB bitmap. */
static void
test_big_sparse_block_reads_its_first_and_last_page(void)
{
    const guint64 size = G_GUINT64_CONSTANT(16) << 30, last = size / 4096 - 1;
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("big.mig");
    g_autoptr(MrFile) f = NULL;
    guint8 page[4096], got[4096];
    const MrRamBlock *b;
    MrPageRun r;

    mr_writer_add_block(w, "pc.ram", size);
    mrt_fill_page(0, 0, page, sizeof(page));
    mr_writer_set_page(w, 0, 0, page);
    mrt_fill_page(0, last, page, sizeof(page));
    mr_writer_set_page(w, 0, last, page);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    MRT_CHECK_U64(b->num_pages, last + 1);
    MRT_CHECK_U64(b->bitmap_size, 512 * 1024);
    MRT_CHECK_U64(MRT_PRESENT(b), 2);
    if (read_ok(f, b, got, size - 4096, 4096))
        CU_ASSERT_EQUAL(memcmp(got, page, 4096), 0);
    MRT_CHECK(mr_block_run_at(b, 1, G_MAXUINT64, &r, NULL), "run_at");
    MRT_CHECK_U64(r.count, last - 1);
    CU_ASSERT_FALSE(r.present);
}

/* A file cut after it was opened: the read fails, naming the page. */
static void
test_read_of_a_page_cut_off_after_open_fails_cleanly(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("cut.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    guint8 got[4096];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_truncate(path, MRT_BLOCK(&l, 0)->pages_offset + 64 * 4096);
    CU_ASSERT_TRUE(read_ok(f, g_ptr_array_index(f->blocks, 0), got,
                           63 * 4096, 4096));
    CU_ASSERT_FALSE(mr_block_read(f, g_ptr_array_index(f->blocks, 0), got,
                                  64 * 4096, 4096, &err));
    MRT_CHECK(err && err->code == MR_ERROR_TRUNCATED &&
              strstr(err->message, "page 64 of ram block \"pc.ram\""),
              "error names the page: %s", err ? err->message : "(none)");
    mr_writer_layout_clear(&l);
}

static const MrtTest read_tests[] = {
    MRT_TEST(test_present_pages_come_from_the_page_area),
    MRT_TEST(test_absent_pages_read_as_zeros_even_over_stale_slots),
    MRT_TEST(test_reads_crossing_page_and_run_boundaries),
    MRT_TEST(test_random_reads_match_the_expected_image),
    MRT_TEST(test_read_of_the_last_byte),
    MRT_TEST(test_reads_outside_the_block_fail_with_range),
    MRT_TEST(test_skipped_block_reads_as_zeros_and_is_one_absent_run),
    MRT_TEST(test_run_at_returns_the_run_containing_a_page),
    MRT_TEST(test_big_sparse_block_reads_its_first_and_last_page),
    MRT_TEST(test_read_of_a_page_cut_off_after_open_fails_cleanly),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "block reads", read_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
