/* In-place updates (mr-update.h, docs/FORMAT.md §12) without a mount: a commit
 * keeps the bits past a block's last page as the file had them, a device
 * section write is one write inside one sector or none, a truncated file
 * takes no more writes (the one length check, mr_file_check_length()),
 * and an fsync with nothing to commit flushes once.
 *
 * fdatasync() is counted here: this program's definition comes before
 * libc's for the format library linked into it. */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mr-update.h"
#include "test-helpers.h"

static guint fdatasyncs;

int fdatasync(int fd);

int
fdatasync(int fd)
{
    fdatasyncs++;
    return (int)syscall(SYS_fdatasync, fd);
}

/* One block of 10 pages (a 64-bit host's 8-byte bitmap: 54 bits past the
 * last page), page 1 present, opened writable. */
static MrFile *
ten_pages(const char *name, MrWriterLayout *l, char **path)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    MrOpenOptions opts = { .writable = TRUE };
    guint8 page[4096];

    mr_writer_add_block(w, "pc.rom", 10 * 4096);
    mrt_fill_page(0, 1, page, sizeof(page));
    mr_writer_set_page(w, 0, 1, page);
    *path = mrt_path(name);
    mrt_write(w, *path, l);
    return MRT_OPEN(*path, &opts);
}

/* docs/FORMAT.md §12 never changes the bits past num_pages: a page write that
 * makes page 9 present writes the last word back with them as they were
 * (only --repair clears them). */
static void
test_a_commit_keeps_the_bits_past_the_last_page(void)
{
    MrWriterLayout l;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(MrUpdater) u = NULL;
    g_autoptr(GError) err = NULL;
    guint8 bytes[8], page[4096];
    guint64 bm;

    /* The file says pages 10-15 and 40, 47 are present: stray bits. */
    path = mrt_path("stray.mig");
    {
        g_autoptr(MrWriter) w = mr_writer_new("pc");
        mr_writer_add_block(w, "pc.rom", 10 * 4096);
        mrt_fill_page(0, 1, page, sizeof(page));
        mr_writer_set_page(w, 0, 1, page);
        mrt_write(w, path, &l);
    }
    bm = MRT_BLOCK(&l, 0)->bitmap_offset;
    mrt_patch_u8(path, bm + 1, 0xfc);
    mrt_patch_u8(path, bm + 5, 0x81);
    {
        MrOpenOptions opts = { .writable = TRUE };
        f = MRT_OPEN(path, &opts);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    u = mr_updater_new(f, FALSE);
    memset(page, 0x5a, sizeof(page));
    MRT_CHECK(mr_block_write(u, g_ptr_array_index(f->blocks, 0), page, 9 * 4096,
                             sizeof(page), &err) &&
              mr_updater_sync(u, &err), "page 9 written: %s",
              err ? err->message : "");
    mrt_read(path, bm, bytes, sizeof(bytes));
    /* Page 1 and page 9 (bit 1 of byte 1), the stray bits untouched. */
    MRT_CHECK(bytes[0] == 0x02 && bytes[1] == (0xfc | 0x02) && bytes[5] == 0x81,
              "bitmap bytes %02x %02x .. %02x: expected 02 fe .. 81", bytes[0],
              bytes[1], bytes[5]);
    mr_writer_layout_clear(&l);
}

/* A device section with a 600-byte body: it crosses a sector boundary. */
static const char wide_desc[] =
    "{\"vmsd_name\":\"wide\",\"version\":1,\"fields\":["
    "{\"name\":\"data\",\"type\":\"buffer\",\"size\":600}]}";

static MrFile *
wide_device(const char *name, MrWriterLayout *l, char **path)
{
    static guint8 body[600];
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    const MrtDeviceSpec dev = { "wide", 0, 1, wide_desc, body, sizeof(body) };
    MrOpenOptions opts = { .writable = TRUE };

    mr_writer_add_block(w, "pc.rom", 4 * 4096);
    mr_writer_set_vmdesc(w, TRUE);
    mrt_add_device(w, &dev, FALSE);
    *path = mrt_path(name);
    mrt_write(w, *path, l);
    return MRT_OPEN(*path, &opts);
}

/* All or nothing across a power loss: a range inside one sector is one
 * write; one across a sector boundary is refused, nothing written. */
static void
test_a_section_write_is_one_write_inside_one_sector_or_none(void)
{
    MrWriterLayout l;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = wide_device("sector.mig", &l, &path);
    g_autoptr(MrUpdater) u = NULL;
    g_autoptr(GError) err = NULL;
    const MrSection *s;
    const guint8 data[4] = { 1, 2, 3, 4 };
    guint8 got[4];
    guint64 edge;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = g_ptr_array_index(f->devices, 0);
    u = mr_updater_new(f, FALSE);
    edge = (s->body_offset / MR_SECTOR_SIZE + 1) * MR_SECTOR_SIZE;
    MRT_CHECK(edge + 8 < s->body_offset + s->body_size, "the body crosses 0x%"
              G_GINT64_MODIFIER "x", edge);
    MRT_CHECK(!mr_section_write(u, s, edge - 2, data, 4, &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED) &&
              strstr(err->message, "sector"),
              "across the sector boundary: refused: %s", err ? err->message : "");
    mrt_read(path, edge - 2, got, sizeof(got));
    MRT_CHECK(memcmp(got, "\0\0\0\0", 4) == 0, "nothing written");
    g_clear_error(&err);
    MRT_CHECK(mr_section_write(u, s, edge - 4, data, 4, &err),
              "up to the boundary: %s", err ? err->message : "");
    MRT_CHECK(mr_section_write(u, s, edge, data, 4, &err),
              "from the boundary: %s", err ? err->message : "");
    mrt_read(path, edge - 4, got, sizeof(got));
    MRT_CHECK(memcmp(got, data, 4) == 0, "written before the boundary");
    mrt_read(path, edge, got, sizeof(got));
    MRT_CHECK(memcmp(got, data, 4) == 0, "written after the boundary");
    mr_writer_layout_clear(&l);
}

/* One flag, one message: once the file has been seen shorter than when it
 * was opened, no write is made, while reads of what is left go on. */
static void
test_a_truncated_file_takes_no_more_writes(void)
{
    MrWriterLayout l;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = ten_pages("cut.mig", &l, &path);
    g_autoptr(MrUpdater) u = NULL;
    g_autoptr(GError) err = NULL;
    MrRamBlock *b;
    guint8 page[4096];
    guint64 cut;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    u = mr_updater_new(f, FALSE);
    cut = b->pages_offset + 5 * 4096;
    MRT_CHECK(mr_block_check_length(f, b, 10 * 4096, &err), "whole: %s",
              err ? err->message : "");
    mrt_truncate(path, cut);
    MRT_CHECK(mr_block_check_length(f, b, 5 * 4096, &err),
              "what is left is still there: %s", err ? err->message : "");
    MRT_CHECK(!mr_block_check_length(f, b, 5 * 4096 + 1, &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_TRUNCATED),
              "past the new end: truncated");
    if (err) {
        g_autofree char *at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER
                                              "x: ", cut);
        MRT_CHECK(g_str_has_prefix(err->message, path) && strstr(err->message, at) &&
                  strstr(err->message, "truncated"), "%s", err->message);
    }
    g_clear_error(&err);
    memset(page, 0xa5, sizeof(page));
    MRT_CHECK(!mr_block_write(u, b, page, 1 * 4096, sizeof(page), &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_TRUNCATED),
              "a write before the cut is refused too");
    g_clear_error(&err);
    /* Grown back to its size, it still takes no writes. */
    mrt_truncate(path, l.file_size);
    MRT_CHECK(!mr_block_write(u, b, page, 1 * 4096, sizeof(page), &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_TRUNCATED),
              "seen truncated once: refused for good");
    mr_writer_layout_clear(&l);
}

/* An fsync with nothing to commit: one flush makes everything durable. */
static void
test_a_sync_with_nothing_to_commit_flushes_once(void)
{
    MrWriterLayout l;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = ten_pages("sync.mig", &l, &path);
    g_autoptr(MrUpdater) u = NULL;
    g_autoptr(GError) err = NULL;
    guint8 page[4096];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    u = mr_updater_new(f, FALSE);
    fdatasyncs = 0;
    MRT_CHECK(mr_updater_sync(u, &err), "sync: %s", err ? err->message : "");
    MRT_CHECK(fdatasyncs == 1, "%u fdatasyncs, expected 1", fdatasyncs);
    /* With a bitmap word to write: data, word, and the word made durable. */
    memset(page, 0x5a, sizeof(page));
    fdatasyncs = 0;
    MRT_CHECK(mr_block_write(u, g_ptr_array_index(f->blocks, 0), page, 3 * 4096,
                             sizeof(page), &err), "write: %s",
              err ? err->message : "");
    MRT_CHECK(mr_updater_sync(u, &err), "sync: %s", err ? err->message : "");
    MRT_CHECK(fdatasyncs == 2, "%u fdatasyncs after a new page, expected 2",
              fdatasyncs);
    mr_writer_layout_clear(&l);
}

static const MrtTest update_tests[] = {
    MRT_TEST(test_a_commit_keeps_the_bits_past_the_last_page),
    MRT_TEST(test_a_section_write_is_one_write_inside_one_sector_or_none),
    MRT_TEST(test_a_truncated_file_takes_no_more_writes),
    MRT_TEST(test_a_sync_with_nothing_to_commit_flushes_once),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "in-place updates", update_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
