/* Lazy restore (mr-lazy.h): which block a machine lets QEMU map, the
 * stream restore/lazy.mig is (the snapshot with that block's bitmap and
 * pages as holes, which the reader then opens with the block empty and
 * everything else as it was), and the arguments restore/qemu-args gives. */
#include <string.h>

#include "mr-lazy.h"
#include "mr-read.h"
#include "test-helpers.h"

#define PS 4096u

static guint8 *
read_all(const char *path, guint64 *size)
{
    *size = mrt_file_size(path);
    guint8 *buf = g_malloc(*size);
    mrt_read(path, 0, buf, *size);
    return buf;
}

static guint8 *
read_vfile(const MrVfile *v)
{
    g_autoptr(GError) err = NULL;
    guint64 size = mr_vfile_size(v);
    guint8 *buf = g_malloc(size);
    gsize got = 0;

    CU_ASSERT_FATAL(mr_vfile_read(v, buf, 0, size, &got, &err));
    CU_ASSERT_EQUAL_FATAL(got, size);
    return buf;
}

/* A pc file as QEMU writes it, with a stale slot in pc.bios (bytes in the
 * slot of an absent page, docs/FORMAT.md §9.9) that the lazy stream must keep
 * as they are. */
static char *
write_pc(const char *name, guint64 stream_offset, const char *const *caps,
         MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    guint8 stale[PS];
    char *path = mrt_path(name);

    memset(stale, 0xa5, sizeof(stale));
    mr_writer_set_stale(w, 2, 3, stale);
    mr_writer_set_stream_offset(w, stream_offset);
    if (caps)
        mr_writer_set_capabilities(w, caps);
    mrt_write(w, path, l);
    return path;
}

static MrFile *
open_machine(const char *machine, const char *block, guint64 size)
{
    g_autoptr(MrWriter) w = mr_writer_new(machine);
    g_autofree char *path = mrt_path("machine.mig");
    guint8 page[PS];
    guint id;

    memset(page, 0x5a, sizeof(page));
    id = mr_writer_add_block(w, block, size);
    mr_writer_set_page(w, id, 1, page);
    mr_writer_add_block(w, "other.rom", 0x10000);
    mrt_write(w, path, NULL);
    return MRT_OPEN(path, NULL);
}

static void
test_lazy_block_is_the_main_ram_of_machines_with_a_memory_backend(void)
{
    static const struct {
        const char *machine, *block;
        gboolean lazy;
    } cases[] = {
        { "pc-i440fx-10.0", "pc.ram", TRUE },
        { "pc-i440fx-2.8", "pc.ram", TRUE },
        { "pc-q35-9.2", "pc.ram", TRUE },
        { "pegasos2", "pegasos2.ram", TRUE },
        { "fuloong2e", "fuloong2e.ram", TRUE },
        /* The 40p's SIMMs are regions of the board, not a backend. */
        { "40p", "simm.0", FALSE },
        /* The stream names the machine type, never an alias. */
        { "pc", "pc.ram", FALSE },
        /* The right machine without its block, a block of another machine. */
        { "pc-q35-10.0", "ram", FALSE },
        { "pegasos2", "pc.ram", FALSE },
        { "microvm", "microvm.ram", FALSE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(MrFile) f = open_machine(cases[i].machine, cases[i].block,
                                           0x100000);
        MrRamBlock *b;

        CU_ASSERT_FATAL(f != NULL);
        b = mr_lazy_block(f);
        MRT_CHECK(cases[i].lazy ? b == mr_file_find_block(f, cases[i].block)
                                : b == NULL,
                  "machine %s, block %s: %s", cases[i].machine, cases[i].block,
                  cases[i].lazy ? "served lazily" : "not served lazily");
    }
}

static void
test_a_block_x_ignore_shared_left_out_is_not_lazy(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mr_writer_new("pc-i440fx-10.0");
    g_autofree char *path = mrt_path("skipped.mig");
    g_autoptr(MrFile) f = NULL;
    guint id;

    mr_writer_set_capabilities(w, caps);
    id = mr_writer_add_block(w, "pc.ram", 0x100000);
    mr_writer_block_set_mr_addr(w, id, 0);
    mr_writer_block_set_skipped(w, id);
    id = mr_writer_add_block(w, "pc.bios", 0x10000);
    mr_writer_block_set_mr_addr(w, id, 0xfff00000);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_PTR_NULL(mr_lazy_block(f));
}

/* The stream against the file with [bitmap, end of pages) of pc.ram
 * zeroed, byte for byte, with and without a stream offset. */
static void
check_stream_bytes(guint64 stream_offset)
{
    MrWriterLayout l = { 0 };
    g_autofree char *path = write_pc("lazy-bytes.mig", stream_offset, NULL, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;
    g_autofree guint8 *want = NULL, *got = NULL;
    const MrWrittenBlock *wb = MRT_BLOCK(&l, 0);
    MrRamBlock *ram;
    guint64 size;

    CU_ASSERT_FATAL(f != NULL);
    ram = mr_lazy_block(f);
    CU_ASSERT_FATAL(ram == mr_file_find_block(f, "pc.ram"));
    v = mr_lazy_stream_new(f, ram, &err);
    CU_ASSERT_FATAL(v != NULL);
    want = read_all(path, &size);
    MRT_CHECK_U64(mr_vfile_size(v), size);
    /* The writer says where the bitmap starts and the pages end. */
    memset(want + wb->bitmap_offset, 0, wb->end_offset - wb->bitmap_offset);
    got = read_vfile(v);
    for (guint64 i = 0; i < size; i++) {
        if (got[i] != want[i]) {
            MRT_CHECK(FALSE, "lazy.mig byte 0x%" G_GINT64_MODIFIER "x: got "
                      "0x%02x, want 0x%02x", i, got[i], want[i]);
            break;
        }
    }
    /* The bitmap and the pages are holes, the stream around them data. */
    guint64 out = 0;
    CU_ASSERT(mr_vfile_seek(v, 0, FALSE, &out, &err));
    MRT_CHECK_U64(out, wb->bitmap_offset);
    CU_ASSERT(mr_vfile_seek(v, wb->bitmap_offset, TRUE, &out, &err));
    MRT_CHECK_U64(out, wb->end_offset);
    MRT_CHECK_U64(mr_vfile_stored_bytes(v),
                  size - (wb->end_offset - wb->bitmap_offset));
    mr_writer_layout_clear(&l);
}

static void
test_stream_is_the_snapshot_but_the_lazy_bitmap_and_pages(void)
{
    check_stream_bytes(0);
}

static void
test_stream_keeps_the_bytes_before_an_offset_stream(void)
{
    check_stream_bytes(0x3000);
}

static void
test_stream_without_a_lazy_block_is_the_snapshot(void)
{
    g_autofree char *path = write_pc("lazy-none.mig", 0, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;
    g_autofree guint8 *want = NULL, *got = NULL;
    guint64 size;

    CU_ASSERT_FATAL(f != NULL);
    v = mr_lazy_stream_new(f, NULL, &err);
    CU_ASSERT_FATAL(v != NULL);
    want = read_all(path, &size);
    MRT_CHECK_U64(mr_vfile_size(v), size);
    got = read_vfile(v);
    CU_ASSERT_EQUAL(memcmp(got, want, size), 0);
}

/* The stream is itself a valid mapped-ram file in which the lazy block has
 * no page and every other block and device is as in the snapshot: what
 * QEMU's loader needs to skip the block and load the rest. */
static void
test_stream_opens_with_the_lazy_block_empty_and_the_rest_unchanged(void)
{
    g_autofree char *path = write_pc("lazy-src.mig", 0, NULL, NULL);
    g_autofree char *copy = mrt_path("lazy-copy.mig");
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MrFile) g = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;
    g_autofree guint8 *bytes = NULL;

    CU_ASSERT_FATAL(f != NULL);
    v = mr_lazy_stream_new(f, mr_lazy_block(f), &err);
    CU_ASSERT_FATAL(v != NULL);
    bytes = read_vfile(v);
    CU_ASSERT_FATAL(g_file_set_contents(copy, (const char *)bytes,
                                        (gssize)mr_vfile_size(v), NULL));
    g = MRT_OPEN(copy, NULL);
    CU_ASSERT_FATAL(g != NULL);
    CU_ASSERT_EQUAL_FATAL(g->blocks->len, f->blocks->len);
    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *a = g_ptr_array_index(f->blocks, i);
        const MrRamBlock *b = g_ptr_array_index(g->blocks, i);
        g_autofree guint8 *ba = g_malloc(a->used_length);
        g_autofree guint8 *bb = g_malloc(b->used_length);
        gboolean lazy = g_str_equal(a->idstr, "pc.ram");

        MRT_CHECK_STR(b->idstr, a->idstr);
        MRT_CHECK_U64(b->pages_offset, a->pages_offset);
        MRT_CHECK_U64(MRT_PRESENT(b),
                      lazy ? 0 : MRT_PRESENT(a));
        if (lazy)
            continue;
        CU_ASSERT(mr_block_read(f, a, ba, 0, a->used_length, &err));
        CU_ASSERT(mr_block_read(g, b, bb, 0, b->used_length, &err));
        MRT_CHECK(memcmp(ba, bb, a->used_length) == 0, "block %s reads the same",
                  a->idstr);
    }
    MRT_CHECK_U64(g->devices->len, f->devices->len);
    MRT_CHECK_U64(g->vmdesc_offset, f->vmdesc_offset);
}

static void
test_qemu_args_map_the_block_and_load_the_stream(void)
{
    g_autofree char *path = write_pc("args.mig", 0, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) args = NULL;
    g_autofree char *text = NULL, *joined = NULL;
    static const char *const want[] = {
        "-machine", "memory-backend=pc.ram",
        "-object", "memory-backend-file,id=pc.ram,size=8388608,"
        "mem-path=/run/m/ram/pc.ram,share=off,readonly=on,rom=off,"
        "x-use-canonical-path-for-ramblock-id=off",
        "-global", "migration.mapped-ram=on",
        "-incoming", "file:/run/m/restore/lazy.mig",
        NULL,
    };

    CU_ASSERT_FATAL(f != NULL);
    /* A trailing '/' names the same directory. */
    args = mr_lazy_qemu_args(f, mr_lazy_block(f), "/run/m/", &err);
    CU_ASSERT_FATAL(args != NULL);
    joined = g_strjoinv(" ", args);
    MRT_CHECK(g_strv_equal((const char *const *)args, want), "args: %s", joined);
    text = mr_lazy_qemu_args_text(f, mr_lazy_block(f), "/run/m", &err);
    CU_ASSERT_FATAL(text != NULL);
    g_free(joined);
    joined = g_strjoinv("\n", (char **)want);
    MRT_CHECK(g_str_has_prefix(text, joined) && g_str_equal(text + strlen(joined), "\n"),
              "text: one argument a line, ending in a newline: %s", text);
}

static void
test_qemu_args_carry_the_capabilities_and_the_stream_offset(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mr_writer_new("40p");
    g_autofree char *path = mrt_path("args-40p.mig");
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) args = NULL;
    g_autofree char *joined = NULL;
    guint id;
    static const char *const want[] = {
        "-global", "migration.x-ignore-shared=on",
        "-global", "migration.mapped-ram=on",
        "-incoming", "file:/m/restore/lazy.mig,offset=0x3000",
        NULL,
    };

    mr_writer_set_capabilities(w, caps);
    mr_writer_set_stream_offset(w, 0x3000);
    id = mr_writer_add_block(w, "simm.0", 0x100000);
    mr_writer_block_set_mr_addr(w, id, 0);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_PTR_NULL(mr_lazy_block(f));
    args = mr_lazy_qemu_args(f, NULL, "/m", &err);
    CU_ASSERT_FATAL(args != NULL);
    joined = g_strjoinv(" ", args);
    MRT_CHECK(g_strv_equal((const char *const *)args, want), "args: %s", joined);
}

static void
test_qemu_args_refuse_a_mount_point_qemu_cannot_parse(void)
{
    g_autofree char *path = write_pc("args-bad.mig", 0, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    static const char *const bad[] = { "relative/m", "/a,b", "/a\nb", "" };

    CU_ASSERT_FATAL(f != NULL);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_auto(GStrv) args = mr_lazy_qemu_args(f, mr_lazy_block(f), bad[i], &err);

        MRT_CHECK(args == NULL && err && err->code == MR_ERROR_UNSUPPORTED &&
                  g_str_has_prefix(err->message, path) &&
                  strstr(err->message, "absolute path") != NULL,
                  "mount point \"%s\" refused: %s", bad[i],
                  err ? err->message : "(accepted)");
    }
}

static const MrtTest lazy_tests[] = {
    MRT_TEST(test_lazy_block_is_the_main_ram_of_machines_with_a_memory_backend),
    MRT_TEST(test_a_block_x_ignore_shared_left_out_is_not_lazy),
    MRT_TEST(test_stream_is_the_snapshot_but_the_lazy_bitmap_and_pages),
    MRT_TEST(test_stream_keeps_the_bytes_before_an_offset_stream),
    MRT_TEST(test_stream_without_a_lazy_block_is_the_snapshot),
    MRT_TEST(test_stream_opens_with_the_lazy_block_empty_and_the_rest_unchanged),
    MRT_TEST(test_qemu_args_map_the_block_and_load_the_stream),
    MRT_TEST(test_qemu_args_carry_the_capabilities_and_the_stream_offset),
    MRT_TEST(test_qemu_args_refuse_a_mount_point_qemu_cannot_parse),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "lazy restore", lazy_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
