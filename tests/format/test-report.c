/* mramfs-check's report (mr-report.h) without the command: each problem
 * class, what is counted and not a problem, the operational errors, and
 * each way the repair goes (mr-repair.c), on files made with mr-writer and
 * damaged at known offsets. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mr-report.h"
#include "test-helpers.h"

#define PS 4096

/* pc.ram 256 pages (0-2 and 100-103 present), pc.rom 10 pages (1, 2, 9):
 * pc.rom's 8-byte bitmap (64-bit host) holds 54 bits past its last page. */
static char *
two_blocks(const char *name, MrWriterLayout *l, MrBitmapOrder order,
           unsigned long_bits, guint multifd_flushes, gboolean stale)
{
    static const guint64 ram[] = { 0, 1, 2, 100, 101, 102, 103 };
    static const guint64 rom[] = { 1, 2, 9 };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    char *path = mrt_path(name);
    guint8 page[PS];

    mr_writer_add_block(w, "pc.ram", 256 * PS);
    mr_writer_add_block(w, "pc.rom", 10 * PS);
    for (gsize i = 0; i < G_N_ELEMENTS(ram); i++) {
        mrt_fill_page(0, ram[i], page, PS);
        mr_writer_set_page(w, 0, ram[i], page);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(rom); i++) {
        mrt_fill_page(1, rom[i], page, PS);
        mr_writer_set_page(w, 1, rom[i], page);
    }
    if (stale) {
        memset(page, 'S', PS);
        mr_writer_set_stale(w, 0, 7, page);
        mr_writer_set_stale(w, 0, 8, page);
    }
    mr_writer_set_bitmap_layout(w, order, long_bits);
    if (multifd_flushes) {
        mr_writer_set_parts(w, 1);
        mr_writer_set_multifd_flushes(w, multifd_flushes);
    }
    mrt_write(w, path, l);
    return path;
}

static MrReport *
run(const char *path, gboolean repair, MrBitmapOrder order)
{
    MrReportOptions o = { .repair = repair, .open.bitmap_order = order };

    return mr_report_run(path, &o);
}

static const MrBlockReport *
block(const MrReport *r, guint i)
{
    MRT_CHECK(i < r->blocks->len, "block %u of %u", i, r->blocks->len);
    return i < r->blocks->len ? &g_array_index(r->blocks, MrBlockReport, i) : NULL;
}

static MrProblemKind
kind(const MrReport *r, guint i)
{
    return ((MrProblem *)g_ptr_array_index(r->problems, i))->kind;
}

static void
test_a_clean_file_has_no_problem_and_counts_its_pages(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("clean.mig", &l, MR_BITMAP_LE, 64, 0, FALSE);
    g_autoptr(MrReport) r = run(path, FALSE, MR_BITMAP_LE);

    MRT_CHECK(r->valid && r->operational == NULL, "valid, checked");
    MRT_CHECK_U64(mr_report_problems(r), 0);
    MRT_CHECK_U64(r->warnings->len, 0);
    MRT_CHECK_U64(r->blocks->len, 2);
    MRT_CHECK_U64(block(r, 0)->check.present_pages, 7);
    MRT_CHECK_U64(block(r, 1)->check.present_pages, 3);
    MRT_CHECK_U64(block(r, 1)->stray.count, 0);
    mr_writer_layout_clear(&l);
}

/* Normal, so counted and never a problem (docs/FORMAT.md §9.9;
 * docs/CRASH-CONSISTENCY.md §3). */
static void
test_stale_slots_and_present_pages_in_holes_are_counted_not_problems(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("counted.mig", &l, MR_BITMAP_LE, 64, 0, TRUE);
    g_autoptr(MrReport) r = NULL;
    int fd = open(path, O_RDWR);

    /* Page 101 of pc.ram present, its slot punched. */
    MRT_CHECK(fd >= 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                   (off_t)(MRT_BLOCK(&l, 0)->pages_offset + 101 * PS),
                                   PS) == 0, "punched");
    close(fd);
    r = run(path, FALSE, MR_BITMAP_LE);
    MRT_CHECK_U64(mr_report_problems(r), 0);
    MRT_CHECK_U64(block(r, 0)->check.stale_slots, 2);
    MRT_CHECK_U64(block(r, 0)->check.present_in_hole, 1);
    MRT_CHECK_U64(block(r, 0)->check.stale->len, 1);
    if (block(r, 0)->check.in_hole->len == 1)
        MRT_CHECK_U64(g_array_index(block(r, 0)->check.in_hole, MrPageRange, 0).first, 101);
    mr_writer_layout_clear(&l);
}

static void
test_an_invalid_file_is_one_problem_with_its_message(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("invalid.mig", &l, MR_BITMAP_LE, 64, 0, FALSE);
    g_autoptr(MrReport) r = NULL;

    /* pages_offset off by one: not page aligned (R9). */
    mrt_patch_u8(path, MRT_BLOCK(&l, 0)->header_offset + 27, 0x01);
    r = run(path, TRUE, MR_BITMAP_LE);
    MRT_CHECK(!r->valid && r->operational == NULL, "invalid, not operational");
    MRT_CHECK_U64(mr_report_problems(r), 1);
    if (mr_report_problems(r) == 1) {
        const MrProblem *p = g_ptr_array_index(r->problems, 0);
        MRT_CHECK(p->kind == MR_PROBLEM_INVALID_FILE && !p->repaired &&
                  strstr(p->message, "not page aligned"), "%s", p->message);
    }
    MRT_CHECK_U64(r->blocks->len, 0);
    MRT_CHECK_U64(r->repairs->len, 0);
    mr_writer_layout_clear(&l);
}

/* A file cut short is the file's problem, not the checker's. */
static void
test_a_truncated_file_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("cut.mig", &l, MR_BITMAP_LE, 64, 0, FALSE);
    g_autoptr(MrReport) r = NULL;

    mrt_truncate(path, MRT_BLOCK(&l, 1)->pages_offset + 5 * PS);
    r = run(path, FALSE, MR_BITMAP_LE);
    MRT_CHECK(r->operational == NULL && mr_report_problems(r) == 1 &&
              kind(r, 0) == MR_PROBLEM_INVALID_FILE, "one invalid-file problem");
    mr_writer_layout_clear(&l);
}

static void
test_a_file_that_cannot_be_read_is_an_operational_error(void)
{
    g_autofree char *missing = mrt_path("missing.mig");
    g_autofree char *dir = mrt_path("a-directory");
    g_autoptr(MrReport) r = run(missing, FALSE, MR_BITMAP_LE);
    g_autoptr(MrReport) d = NULL;

    MRT_CHECK(r->operational && g_error_matches(r->operational, MR_ERROR, MR_ERROR_IO) &&
              strstr(r->operational->message, "No such file"), "missing: %s",
              r->operational ? r->operational->message : "");
    MRT_CHECK_U64(mr_report_problems(r), 0);
    mkdir(dir, 0700);
    d = run(dir, FALSE, MR_BITMAP_LE);
    MRT_CHECK(d->operational && strstr(d->operational->message, "not a regular file"),
              "a directory: %s", d->operational ? d->operational->message : "");
}

static void
test_multifd_flush_records_are_a_problem_no_repair_fixes(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("flush.mig", &l, MR_BITMAP_LE, 64, 2, FALSE);
    g_autoptr(MrReport) r = run(path, TRUE, MR_BITMAP_LE);

    MRT_CHECK(r->valid && mr_report_problems(r) == 1 &&
              kind(r, 0) == MR_PROBLEM_MULTIFD_FLUSH, "one MULTIFD_FLUSH problem");
    MRT_CHECK_U64(mr_report_repaired(r), 0);
    MRT_CHECK_U64(r->repairs->len, 0);
    mr_writer_layout_clear(&l);
}

/* Bits past the last page (R12): a problem per block; --repair writes only
 * the bytes that hold them, with their page bits as they were. */
static void
check_stray_repair(const char *name, MrBitmapOrder order, unsigned long_bits,
                   guint64 byte, guint8 set, guint8 want_after)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks(name, &l, order, long_bits, 0, FALSE);
    g_autoptr(MrReport) r = NULL;
    g_autoptr(MrReport) again = NULL;
    guint64 at = MRT_BLOCK(&l, 1)->bitmap_offset + byte;
    guint8 old, now;

    mrt_read(path, at, &old, 1);
    mrt_patch_u8(path, at, old | set);
    r = run(path, FALSE, order);
    MRT_CHECK(mr_report_problems(r) == 1 && kind(r, 0) == MR_PROBLEM_STRAY_BITS &&
              block(r, 1)->stray.count == (guint64)__builtin_popcount(set & ~old),
              "%s: one stray-bits problem in pc.rom", name);
    if (mr_report_problems(r) == 1)
        MRT_CHECK(strstr(((MrProblem *)g_ptr_array_index(r->problems, 0))->message,
                         "R12") != NULL, "the message cites R12");
    mrt_read(path, at, &now, 1);
    MRT_CHECK(now == (guint8)(old | set), "%s: a check without repair wrote", name);
    r = (mr_report_free(r), run(path, TRUE, order));
    MRT_CHECK(mr_report_repaired(r) == 1 && r->repairs->len == 1 &&
              r->operational == NULL, "%s: repaired", name);
    if (r->repairs->len == 1) {
        const MrRepair *rp = g_ptr_array_index(r->repairs, 0);
        g_autofree char *m = mr_repair_message(r, rp);
        MRT_CHECK(rp->fixed.offset == at && rp->fixed.len == 1 &&
                  rp->fixed.new_bytes[0] == want_after, "%s: one byte at 0x%"
                  G_GINT64_MODIFIER "x: %s", name, at, m);
    }
    mrt_read(path, at, &now, 1);
    MRT_CHECK(now == want_after, "%s: the byte is 0x%02x, expected 0x%02x", name,
              now, want_after);
    again = run(path, FALSE, order);
    MRT_CHECK_U64(mr_report_problems(again), 0);
    mr_writer_layout_clear(&l);
}

static void
test_stray_bits_are_a_problem_the_repair_clears(void)
{
    /* pc.rom has pages 1, 2, 9: LE byte 1 holds pages 8-15 (page 9: 0x02). */
    check_stray_repair("stray-le.mig", MR_BITMAP_LE, 64, 1, 0xfc, 0x02);
    /* BE64: pages 8-15 are byte 6 of the long. */
    check_stray_repair("stray-be64.mig", MR_BITMAP_BE64, 64, 6, 0xf0, 0x02);
    /* BE32 (4-byte longs): pages 8-15 are byte 2. */
    check_stray_repair("stray-be32.mig", MR_BITMAP_BE32, 32, 2, 0x80, 0x02);
}

static void
test_a_repair_with_nothing_to_repair_writes_nothing(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("nothing.mig", &l, MR_BITMAP_LE, 64, 0, TRUE);
    g_autofree guint8 *before = NULL, *after = NULL;
    gsize n1 = 0, n2 = 0;
    g_autoptr(MrReport) r = NULL;

    g_file_get_contents(path, (char **)&before, &n1, NULL);
    r = run(path, TRUE, MR_BITMAP_LE);
    g_file_get_contents(path, (char **)&after, &n2, NULL);
    MRT_CHECK(r->repairs->len == 0 && r->operational == NULL, "no repair");
    MRT_CHECK(n1 == n2 && memcmp(before, after, n1) == 0, "the file is unchanged");
    mr_writer_layout_clear(&l);
}

/* A mount holds the lock: the check warns, the repair is refused and
 * writes nothing; the problem stays. */
static void
test_a_locked_snapshot_warns_and_is_not_repaired(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("locked.mig", &l, MR_BITMAP_LE, 64, 0, FALSE);
    guint64 at = MRT_BLOCK(&l, 1)->bitmap_offset + 1;
    g_autoptr(MrReport) r = NULL;
    int holder;
    guint8 now;

    mrt_patch_u8(path, at, 0xfe);
    holder = open(path, O_RDONLY);
    MRT_CHECK(holder >= 0 && flock(holder, LOCK_EX) == 0, "an exclusive holder");
    r = run(path, TRUE, MR_BITMAP_LE);
    close(holder);
    /* The model's warning about the stray bits, and ours. */
    MRT_CHECK(r->warnings->len == 2 && strstr(g_ptr_array_index(r->warnings, 1),
                                              "locked"), "a warning that it is locked");
    MRT_CHECK(r->operational && g_error_matches(r->operational, MR_ERROR, MR_ERROR_BUSY) &&
              strstr(r->operational->message, "not repairing") &&
              strstr(r->operational->message, "in use"), "refused: %s",
              r->operational ? r->operational->message : "");
    MRT_CHECK(mr_report_problems(r) == 1 && mr_report_repaired(r) == 0,
              "the problem is left");
    mrt_read(path, at, &now, 1);
    MRT_CHECK(now == 0xfe, "nothing written");
    mr_writer_layout_clear(&l);
}

/* src's bytes over dst's inode, as `virsh save` or cp(1) writes. */
static gboolean
rewrite_in_place(const char *dst, const char *src)
{
    g_autofree char *bytes = NULL;
    gsize len = 0;
    gboolean ok;
    int fd;

    if (!g_file_get_contents(src, &bytes, &len, NULL) ||
        (fd = open(dst, O_WRONLY | O_TRUNC)) < 0)
        return FALSE;
    ok = write(fd, bytes, len) == (gssize)len;
    close(fd);
    return ok;
}

/* The repair opens the file again: one rewritten in place since the check
 * is not touched where it no longer matches. */
static void
test_a_file_changed_before_the_repair_is_not_repaired(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("changed.mig", &l, MR_BITMAP_LE, 64, 0, FALSE);
    g_autofree char *other = NULL;
    MrWriterLayout lo;
    g_autoptr(MrReport) r = NULL;
    MrOpenOptions open = { 0 };

    mrt_patch_u8(path, MRT_BLOCK(&l, 1)->bitmap_offset + 1, 0xfe);
    r = run(path, FALSE, MR_BITMAP_LE);
    MRT_CHECK_U64(mr_report_problems(r), 1);
    /* Now the path holds a file without pc.rom. */
    {
        g_autoptr(MrWriter) w = mr_writer_new("pc");
        mr_writer_add_block(w, "pc.ram", 16 * PS);
        other = mrt_path("other.mig");
        mrt_write(w, other, &lo);
    }
    MRT_CHECK(rewrite_in_place(path, other), "rewritten in place");
    MRT_CHECK(!mr_report_repair(r, &open) && r->operational &&
              strstr(r->operational->message, "is gone"), "refused: %s",
              r->operational ? r->operational->message : "");
    MRT_CHECK_U64(mr_report_repaired(r), 0);
    mr_writer_layout_clear(&l);
    mr_writer_layout_clear(&lo);
}

/* A file put at the path since the check (renamed over it) is not the one
 * locked: a mount of it may hold its bitmap.  Not repaired, even with the
 * same problem at the same place. */
static void
test_a_file_renamed_over_the_checked_one_is_not_repaired(void)
{
    MrWriterLayout l;
    /* A name with a terminal escape: the message escapes it. */
    g_autofree char *path = two_blocks("renamed\x1b[31m.mig", &l, MR_BITMAP_LE, 64, 0,
                                       FALSE);
    g_autofree char *copy = mrt_path("renamed-copy.mig");
    g_autofree char *before = NULL, *after = NULL;
    g_autoptr(MrReport) r = NULL;
    MrOpenOptions open = { 0 };
    gsize len_before, len_after;

    mrt_patch_u8(path, MRT_BLOCK(&l, 1)->bitmap_offset + 1, 0xfe);
    r = run(path, FALSE, MR_BITMAP_LE);
    MRT_CHECK_U64(mr_report_problems(r), 1);
    MRT_CHECK(g_file_get_contents(path, &before, &len_before, NULL) &&
              g_file_set_contents(copy, before, (gssize)len_before, NULL) &&
              rename(copy, path) == 0, "renamed over");
    MRT_CHECK(!mr_report_repair(r, &open) && r->operational &&
              strstr(r->operational->message, "another file was put at this "
                     "path") && strchr(r->operational->message, 0x1b) == NULL &&
              strstr(r->operational->message, "renamed\\x1b[31m.mig"),
              "refused: %s",
              r->operational ? r->operational->message : "");
    MRT_CHECK_U64(mr_report_repaired(r), 0);
    MRT_CHECK(g_file_get_contents(path, &after, &len_after, NULL) &&
              len_after == len_before && memcmp(before, after, len_after) == 0,
              "the file at the path is unchanged");
    mr_writer_layout_clear(&l);
}

static void
test_the_json_report_has_the_shape_mramfs_check_prints(void)
{
    MrWriterLayout l;
    g_autofree char *path = two_blocks("json.mig", &l, MR_BITMAP_LE, 64, 0, TRUE);
    g_autoptr(MrReport) r = NULL;
    static const char *const keys[] = { "file", "valid", "error", "exit_status",
                                        "blocks", "warnings", "problems", "repairs" };
    json_object *o, *b;

    mrt_patch_u8(path, MRT_BLOCK(&l, 1)->bitmap_offset + 1, 0xfe);
    r = run(path, TRUE, MR_BITMAP_LE);
    o = mr_report_json(r, 1, TRUE);
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        MRT_CHECK(json_object_object_get_ex(o, keys[i], NULL), "key %s", keys[i]);
    MRT_CHECK_U64(json_object_object_length(o), G_N_ELEMENTS(keys));
    MRT_CHECK_U64(json_object_get_int(json_object_object_get(o, "exit_status")), 1);
    b = json_object_array_get_idx(json_object_object_get(o, "blocks"), 0);
    MRT_CHECK(json_object_object_get_ex(b, "stale_ranges", NULL), "verbose ranges");
    MRT_CHECK_U64(json_object_get_uint64(json_object_object_get(b, "stale_slots")), 2);
    b = json_object_array_get_idx(json_object_object_get(o, "repairs"), 0);
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(b, "old")), "fe");
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(b, "new")), "02");
    json_object_put(o);
    mr_writer_layout_clear(&l);
}

static const MrtTest report_tests[] = {
    MRT_TEST(test_a_clean_file_has_no_problem_and_counts_its_pages),
    MRT_TEST(test_stale_slots_and_present_pages_in_holes_are_counted_not_problems),
    MRT_TEST(test_an_invalid_file_is_one_problem_with_its_message),
    MRT_TEST(test_a_truncated_file_is_invalid),
    MRT_TEST(test_a_file_that_cannot_be_read_is_an_operational_error),
    MRT_TEST(test_multifd_flush_records_are_a_problem_no_repair_fixes),
    MRT_TEST(test_stray_bits_are_a_problem_the_repair_clears),
    MRT_TEST(test_a_repair_with_nothing_to_repair_writes_nothing),
    MRT_TEST(test_a_locked_snapshot_warns_and_is_not_repaired),
    MRT_TEST(test_a_file_changed_before_the_repair_is_not_repaired),
    MRT_TEST(test_a_file_renamed_over_the_checked_one_is_not_repaired),
    MRT_TEST(test_the_json_report_has_the_shape_mramfs_check_prints),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "mramfs-check's report", report_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
