/* mr_file_open on writer-made files with the RAM block layouts QEMU (or a
 * host QEMU runs on) can produce (docs/FORMAT.md §9, §15): page sizes,
 * x-ignore-shared, the bitmap of big-endian and 32-bit hosts, 0-page blocks,
 * block names, page areas aligned to a page only.  The model must equal the
 * writer's layout. */
#include <string.h>

#include "mr-read.h"
#include "test-helpers.h"

/* Variable-page targets (docs/FORMAT.md §5, §15): 1 KiB and 64 KiB pages. */
static void
check_page_size(guint64 ps, guint32 bits)
{
    static const guint64 pages[] = { 0, 3, 15 };
    g_autoptr(MrWriter) w = mr_writer_new("virt");
    g_autofree char *path = mrt_path("pagesize.mig");
    g_autofree guint8 *page = g_malloc(ps), *got = g_malloc(ps);
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GError) err = NULL;
    MrWriterLayout l;

    mr_writer_set_page_size(w, ps);
    mr_writer_set_target_page_bits(w, bits);
    mr_writer_add_block(w, "mach-virt.ram", 16 * ps);
    mr_writer_add_block(w, "virt.flash0", 2 * ps);
    for (gsize i = 0; i < G_N_ELEMENTS(pages); i++) {
        mrt_fill_page(0, pages[i], page, ps);
        mr_writer_set_page(w, 0, pages[i], page);
    }
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->page_size, ps);
    MRT_CHECK_U64(f->target_page_bits, bits);
    mrt_check_block(f, 0, MRT_BLOCK(&l, 0), "mach-virt.ram", 16 * ps, ps, pages,
                G_N_ELEMENTS(pages));
    mrt_check_block(f, 1, MRT_BLOCK(&l, 1), "virt.flash0", 2 * ps, ps, NULL, 0);
    CU_ASSERT_TRUE(mr_block_read(f, g_ptr_array_index(f->blocks, 0), got,
                                 15 * ps, ps, &err));
    mrt_fill_page(0, 15, page, ps);
    CU_ASSERT_EQUAL(memcmp(got, page, ps), 0);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

static void
test_1k_and_64k_pages_with_target_page_bits(void)
{
    check_page_size(1024, 10);
    check_page_size(65536, 16);
}

/* §9.7: mr_addr per block, and QEMU 11's skipped blocks with offsets (0,0)
 * after which the stream goes on right after the header. */
static void
test_x_ignore_shared_blocks_carry_mr_addr_and_skipped_blocks_have_no_data(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    static const guint64 pages[] = { 1 };
    g_autoptr(MrWriter) w = mr_writer_new("pc-i440fx-11.0");
    g_autofree char *path = mrt_path("shared.mig");
    g_autoptr(MrFile) f = NULL;
    guint8 page[4096], got[4096], zero[4096] = { 0 };
    g_autoptr(GError) err = NULL;
    MrWriterLayout l;
    const MrRamBlock *ram, *bios, *rom;

    mr_writer_set_capabilities(w, caps);
    mr_writer_add_block(w, "pc.ram", 0x100000);
    mr_writer_block_set_skipped(w, 0);
    mr_writer_add_block(w, "pc.bios", 0x40000);
    mr_writer_block_set_mr_addr(w, 1, 0xfffc0000);
    mrt_fill_page(1, 1, page, sizeof(page));
    mr_writer_set_page(w, 1, 1, page);
    mr_writer_add_block(w, "pc.rom", 0x20000);
    mr_writer_block_set_mr_addr(w, 2, 0xc0000);
    mr_writer_block_set_skipped(w, 2);
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->cap_ignore_shared);
    MRT_CHECK_U64(f->capabilities->len, 2);
    MRT_CHECK_U64(f->blocks->len, 3);
    ram = mr_file_find_block(f, "pc.ram");
    bios = mr_file_find_block(f, "pc.bios");
    rom = mr_file_find_block(f, "pc.rom");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ram);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bios);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rom);
    CU_ASSERT_FALSE(ram->stored);
    CU_ASSERT_PTR_NULL(ram->bitmap);
    MRT_CHECK_U64(ram->bitmap_offset, 0);
    MRT_CHECK_U64(ram->pages_offset, 0);
    MRT_CHECK_U64(ram->header_offset, MRT_BLOCK(&l, 0)->header_offset);
    MRT_CHECK_U64(ram->num_pages, 256);
    MRT_CHECK_U64(MRT_PRESENT(ram), 0);
    CU_ASSERT_TRUE(ram->has_mr_addr);
    MRT_CHECK_U64(ram->mr_addr, 0);
    mrt_check_block(f, 1, MRT_BLOCK(&l, 1), "pc.bios", 0x40000, 4096, pages, 1);
    CU_ASSERT_TRUE(bios->has_mr_addr);
    MRT_CHECK_U64(bios->mr_addr, 0xfffc0000);
    /* The next block starts right after the skipped header. */
    MRT_CHECK_U64(bios->desc_offset, ram->header_offset + 28);
    CU_ASSERT_FALSE(rom->stored);
    MRT_CHECK_U64(rom->mr_addr, 0xc0000);
    CU_ASSERT_TRUE(mr_block_read(f, ram, got, 0x1000, 4096, &err));
    CU_ASSERT_EQUAL(memcmp(got, zero, 4096), 0);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

/* §9.4: nothing in the file says which host wrote it; the order option
 * decides, and the wrong order gives other pages. */
static void
check_host_order(MrBitmapOrder order, unsigned long_bits)
{
    g_autoptr(MrWriter) w = mr_writer_new("s390-ccw-virtio-10.0");
    g_autofree char *path = mrt_path("host.mig");
    g_autoptr(MrFile) f = NULL;
    MrOpenOptions opts = { .bitmap_order = order };
    MrWriterLayout l;

    mr_writer_set_bitmap_layout(w, order, long_bits);
    mrt_add_pc_blocks(w, 4096);
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->bitmap_order, order);
    mrt_check_pc_blocks_of(f, &l, order == MR_BITMAP_LE && long_bits == 32);
    MRT_CHECK_U64(f->warnings->len, 0);
    g_clear_pointer(&f, mr_file_close);
    if (order != MR_BITMAP_LE) {
        /* Read as little-endian, page 0 shows up as another page. */
        const MrRamBlock *b;
        f = MRT_OPEN(path, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        b = g_ptr_array_index(f->blocks, 0);
        CU_ASSERT_FALSE(mr_bitmap_test(b->bitmap, 1));
        CU_ASSERT_TRUE(mr_bitmap_test(b->bitmap, order == MR_BITMAP_BE64 ? 57 : 25));
    }
    mr_writer_layout_clear(&l);
}

static void
test_be64_host_bitmaps_read_with_the_be64_order(void)
{
    check_host_order(MR_BITMAP_BE64, 64);
}

static void
test_be32_host_bitmaps_read_with_the_be32_order(void)
{
    check_host_order(MR_BITMAP_BE32, 32);
}

static void
test_32bit_le_host_bitmaps_read_with_the_default_order(void)
{
    check_host_order(MR_BITMAP_LE, 32);
}

/* R8 accepts ceil(n/32)*4 bitmap bytes: a 32-bit host's bitmap followed
 * directly by the page area, with no room for 64-bit longs. */
static void
test_32bit_host_bitmap_with_no_room_for_64bit_longs_is_accepted(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("room32.mig");
    g_autoptr(MrFile) f = NULL;
    guint8 page[4096], bits[12];
    MrWriterLayout l;
    const MrWrittenBlock *wb;
    const MrRamBlock *b;

    mr_writer_set_bitmap_layout(w, MR_BITMAP_LE, 32);
    mr_writer_add_block(w, "pc.ram", 65 * 4096);
    mrt_fill_page(0, 64, page, sizeof(page));
    mr_writer_set_page(w, 0, 64, page);
    mrt_write(w, path, &l);
    wb = MRT_BLOCK(&l, 0);
    MRT_CHECK_U64(wb->bitmap_size, 12);
    /* Move the 12-byte bitmap to the end of the room before the pages. */
    mrt_read(path, wb->bitmap_offset, bits, sizeof(bits));
    mrt_patch(path, wb->pages_offset - 12, bits, sizeof(bits));
    mrt_patch_be64(path, wb->header_offset + MRT_HDR_BITMAP_OFFSET,
                   wb->pages_offset - 12);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    MRT_CHECK_U64(b->bitmap_size, 12);
    MRT_CHECK_U64(b->bitmap_offset, wb->pages_offset - 12);
    CU_ASSERT_TRUE(mr_bitmap_test(b->bitmap, 64));
    MRT_CHECK_U64(MRT_PRESENT(b), 1);
    /* The only warning: QEMU puts the bitmap right after the header. */
    MRT_CHECK_U64(f->warnings->len, 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "right after the header"), 1);
    mr_writer_layout_clear(&l);
}

static void
test_zero_page_block_between_blocks_has_no_pages(void)
{
    static const guint64 pages[] = { 7 };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("empty.mig");
    g_autoptr(MrFile) f = NULL;
    guint8 page[4096];
    MrWriterLayout l;
    const MrRamBlock *e;

    mr_writer_add_block(w, "empty", 0);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_fill_page(1, 7, page, sizeof(page));
    mr_writer_set_page(w, 1, 7, page);
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->blocks->len, 2);
    mrt_check_block(f, 0, MRT_BLOCK(&l, 0), "empty", 0, 4096, NULL, 0);
    mrt_check_block(f, 1, MRT_BLOCK(&l, 1), "pc.ram", 0x10000, 4096, pages, 1);
    e = mr_file_find_block(f, "empty");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    MRT_CHECK_U64(e->num_pages, 0);
    MRT_CHECK_U64(e->bitmap_size, 0);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

/* §9.2: names contain '/', ':', '@', '.', and may be 255 bytes long. */
static void
test_block_names_with_slashes_colons_and_255_bytes(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("names.mig");
    g_autofree char *longname = g_strnfill(255, 'n');
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    longname[0] = '/';
    mr_writer_add_block(w, "/rom@etc/acpi/tables", 0x20000);
    mr_writer_add_block(w, "0000:00:02.0/vga.vram", 0x10000);
    mr_writer_add_block(w, longname, 0x1000);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_check_block(f, 0, MRT_BLOCK(&l, 0), "/rom@etc/acpi/tables", 0x20000, 4096,
                NULL, 0);
    mrt_check_block(f, 1, MRT_BLOCK(&l, 1), "0000:00:02.0/vga.vram", 0x10000, 4096,
                NULL, 0);
    mrt_check_block(f, 2, MRT_BLOCK(&l, 2), longname, 0x1000, 4096, NULL, 0);
    mr_writer_layout_clear(&l);
}

/* R9: only page alignment is required; QEMU's 1 MiB alignment is a warning.
 * The last block's page area is moved one page down and the stream after it
 * with it (its bytes carry no absolute offsets). */
static void
test_page_area_not_1mib_aligned_is_a_warning(void)
{
    static const guint64 pages[] = { 0, 2 };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("align.mig");
    g_autoptr(MrFile) f = NULL;
    guint8 page[4096], got[4096];
    g_autoptr(GError) err = NULL;
    MrWriterLayout l;
    const MrWrittenBlock *wb;
    const MrRamBlock *b;

    mr_writer_add_block(w, "pc.ram", 4 * 4096);
    for (gsize i = 0; i < G_N_ELEMENTS(pages); i++) {
        mrt_fill_page(0, pages[i], page, sizeof(page));
        mr_writer_set_page(w, 0, pages[i], page);
    }
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    wb = MRT_BLOCK(&l, 0);
    mrt_remove_range(path, wb->pages_offset - 4096, 4096);
    mrt_patch_be64(path, wb->header_offset + MRT_HDR_PAGES_OFFSET,
                   wb->pages_offset - 4096);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    MRT_CHECK_U64(b->pages_offset, wb->pages_offset - 4096);
    MRT_CHECK_U64(f->warnings->len, 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "not 1 MiB aligned"), 1);
    MRT_CHECK_U64(f->devices->len, mrt_pc_ndevices);
    CU_ASSERT_TRUE(mr_block_read(f, b, got, 2 * 4096, 4096, &err));
    mrt_fill_page(0, 2, page, sizeof(page));
    CU_ASSERT_EQUAL(memcmp(got, page, sizeof(page)), 0);
    mr_writer_layout_clear(&l);
}

static const MrtTest tests[] = {
    MRT_TEST(test_1k_and_64k_pages_with_target_page_bits),
    MRT_TEST(test_x_ignore_shared_blocks_carry_mr_addr_and_skipped_blocks_have_no_data),
    MRT_TEST(test_be64_host_bitmaps_read_with_the_be64_order),
    MRT_TEST(test_be32_host_bitmaps_read_with_the_be32_order),
    MRT_TEST(test_32bit_le_host_bitmaps_read_with_the_default_order),
    MRT_TEST(test_32bit_host_bitmap_with_no_room_for_64bit_longs_is_accepted),
    MRT_TEST(test_zero_page_block_between_blocks_has_no_pages),
    MRT_TEST(test_block_names_with_slashes_colons_and_255_bytes),
    MRT_TEST(test_page_area_not_1mib_aligned_is_a_warning),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "parse: ram block layouts", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
