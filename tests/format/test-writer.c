/* The test writer (mr-writer.h) against docs/FORMAT.md, without the reader: it is
 * the oracle of the other format tests, so its bytes are checked here
 * against the worked example of §10, the block tables of real QEMU files and
 * the formulas of §9.4-§9.7. */
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "mr-bitmap.h"
#include "test-helpers.h"

/* First 0x90 bytes of 40p.mig, docs/FORMAT.md §10. */
static const guint8 p40_head[0x90] = {
    0x51, 0x45, 0x56, 0x4d, 0x00, 0x00, 0x00, 0x03, 0x07, 0x00, 0x00, 0x00, 0x03, 0x34, 0x30, 0x70,
    0x05, 0x1a, 0x63, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f,
    0x63, 0x61, 0x70, 0x61, 0x62, 0x69, 0x6c, 0x69, 0x74, 0x69, 0x65, 0x73, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01, 0x0a, 0x6d, 0x61, 0x70, 0x70, 0x65, 0x64, 0x2d, 0x72, 0x61, 0x6d, 0x01,
    0x00, 0x00, 0x00, 0x02, 0x03, 0x72, 0x61, 0x6d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x04, 0x06, 0x73, 0x69, 0x6d, 0x6d, 0x2e, 0x30, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* End of the RAM section of 40p.mig, 0x5710000-0x5710035 (§10). */
static const guint8 p40_ram_tail[0x36] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x7e, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x7e, 0x00, 0x00, 0x00, 0x02, 0x08,
    0x00, 0x0b, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x10, 0x7e, 0x00, 0x00, 0x00, 0x02,
};

/* A row of the block tables of §10. */
typedef struct {
    const char *idstr;
    guint64 used_length, hdr, bitmap, bitmap_bytes, pages;
} RealBlock;

static const RealBlock p40_blocks[] = {
    { "simm.0", 0x2000000, 0x67, 0x83, 1024, 0x100000 },
    { "simm.1", 0x2000000, 0x210000f, 0x210002b, 1024, 0x2200000 },
    { "pci.0:02.0/vga.vram", 0x1000000, 0x420001c, 0x4200038, 512, 0x4300000 },
    { "bios", 0x100000, 0x530000d, 0x5300029, 32, 0x5400000 },
    { "pci.0:03.0/pcnet.rom", 0x40000, 0x550001d, 0x5500039, 8, 0x5600000 },
    { "pci.0:02.0/vga.rom", 0x10000, 0x564001b, 0x5640037, 8, 0x5700000 },
};

static const RealBlock x86_blocks[] = {
    { "pc.ram", 0x8000000, 0x72, 0x8e, 4096, 0x100000 },
    { "/rom@etc/acpi/tables", 0x20000, 0x810001d, 0x8100039, 8, 0x8200000 },
    { "pc.bios", 0x40000, 0x8220010, 0x822002c, 8, 0x8300000 },
    { "pc.rom", 0x20000, 0x834000f, 0x834002b, 8, 0x8400000 },
    { "/rom@etc/table-loader", 0x1000, 0x842001e, 0x842003a, 8, 0x8500000 },
    { "/rom@etc/acpi/rsdp", 0x1000, 0x850101b, 0x8501037, 8, 0x8600000 },
};

static void
check_real_layout(const MrWriterLayout *l, const RealBlock *rb, gsize n)
{
    MRT_CHECK_U64(l->blocks->len, n);
    for (gsize i = 0; i < n && i < l->blocks->len; i++) {
        const MrWrittenBlock *wb = MRT_BLOCK(l, i);
        MRT_CHECK(wb->header_offset == rb[i].hdr && wb->bitmap_offset ==
                  rb[i].bitmap && wb->bitmap_size == rb[i].bitmap_bytes &&
                  wb->pages_offset == rb[i].pages &&
                  wb->end_offset == rb[i].pages + rb[i].used_length,
                  "block %s: header 0x%" G_GINT64_MODIFIER "x bitmap 0x%"
                  G_GINT64_MODIFIER "x (%" G_GUINT64_FORMAT " B) pages 0x%"
                  G_GINT64_MODIFIER "x as in docs/FORMAT.md §10", rb[i].idstr,
                  wb->header_offset, wb->bitmap_offset, wb->bitmap_size,
                  wb->pages_offset);
    }
}

static void
test_writer_reproduces_the_40p_layout_of_format_md(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("40p");
    g_autofree char *path = mrt_path("40p.mig");
    MrWriterLayout l;
    guint8 page[4096], head[sizeof(p40_head)], tail[sizeof(p40_ram_tail)];

    for (gsize i = 0; i < G_N_ELEMENTS(p40_blocks); i++)
        mr_writer_add_block(w, p40_blocks[i].idstr, p40_blocks[i].used_length);
    memset(page, 0x5a, sizeof(page));
    for (guint64 p = 0; p < 3; p++)
        mr_writer_set_page(w, 0, p, page);
    mr_writer_set_parts(w, 1);
    mrt_write(w, path, &l);

    mrt_read(path, 0, head, sizeof(head));
    CU_ASSERT_EQUAL(memcmp(head, p40_head, sizeof(head)), 0);
    check_real_layout(&l, p40_blocks, G_N_ELEMENTS(p40_blocks));
    MRT_CHECK_U64(l.ram_offset, 0x3f);
    MRT_CHECK_U64(l.mem_size_offset, 0x50);
    MRT_CHECK_U64(l.ram_eos_offset, 0x5710000);
    MRT_CHECK_U64(l.ram_footer_offset, 0x5710008);
    MRT_CHECK_U64(l.command_offset, 0x571001f);
    MRT_CHECK_U64(l.end_section_offset, 0x5710024);
    MRT_CHECK_U64(l.eof_offset, 0x5710036);
    mrt_read(path, 0x5710000, tail, sizeof(tail));
    CU_ASSERT_EQUAL(memcmp(tail, p40_ram_tail, sizeof(tail)), 0);
    mr_writer_layout_clear(&l);
}

static void
test_writer_reproduces_the_x86_block_table(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc-i440fx-10.0");
    g_autofree char *path = mrt_path("x86.mig");
    MrWriterLayout l;

    for (gsize i = 0; i < G_N_ELEMENTS(x86_blocks); i++)
        mr_writer_add_block(w, x86_blocks[i].idstr, x86_blocks[i].used_length);
    mrt_write(w, path, &l);
    check_real_layout(&l, x86_blocks, G_N_ELEMENTS(x86_blocks));
    /* MEM_SIZE: total 0x8082000 with flag 0x4 (§10, "Totals"). */
    MRT_CHECK_U64(mrt_read_be64(path, l.mem_size_offset), 0x8082004);
    mr_writer_layout_clear(&l);
}

/* The stored bitmap bytes are those of §9.4 for the chosen host, and the
 * page data sits at pages_offset + i * page_size (§9.5). */
static void
check_bitmap_bytes(MrBitmapOrder order, unsigned long_bits)
{
    static const guint64 pages[] = { 0, 5, 31, 32, 33, 63, 64, 99 };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("order.mig");
    guint8 page[4096], got_page[4096];
    guint64 npages = 100;
    gsize reserved = (gsize)mr_bitmap_reserved_bytes(npages, long_bits);
    g_autofree guint8 *want = g_malloc0(reserved), *got = g_malloc0(reserved);
    MrWriterLayout l;
    const MrWrittenBlock *wb;

    mr_writer_set_bitmap_layout(w, order, long_bits);
    mr_writer_add_block(w, "ram", npages * 4096);
    for (gsize i = 0; i < G_N_ELEMENTS(pages); i++) {
        mrt_fill_page(0, pages[i], page, sizeof(page));
        mr_writer_set_page(w, 0, pages[i], page);
        want[mrt_spec_bitmap_byte(order, pages[i])] |= (guint8)(1u << (pages[i] % 8));
    }
    mrt_write(w, path, &l);
    wb = MRT_BLOCK(&l, 0);
    MRT_CHECK(wb->bitmap_size == reserved, "%s/%u: %" G_GUINT64_FORMAT
              " bitmap bytes reserved, want %zu", mr_bitmap_order_name(order),
              long_bits, wb->bitmap_size, reserved);
    mrt_read(path, wb->bitmap_offset, got, reserved);
    MRT_CHECK(memcmp(got, want, reserved) == 0, "%s/%u: bitmap bytes follow "
              "docs/FORMAT.md §9.4", mr_bitmap_order_name(order), long_bits);
    for (gsize i = 0; i < G_N_ELEMENTS(pages); i++) {
        mrt_fill_page(0, pages[i], page, sizeof(page));
        mrt_read(path, wb->pages_offset + pages[i] * 4096, got_page, 4096);
        MRT_CHECK(memcmp(page, got_page, 4096) == 0, "page %" G_GUINT64_FORMAT
                  " at pages_offset + i * 4096", pages[i]);
    }
    mr_writer_layout_clear(&l);
}

static void
test_writer_bitmap_bytes_follow_each_host_layout(void)
{
    check_bitmap_bytes(MR_BITMAP_LE, 64);
    check_bitmap_bytes(MR_BITMAP_LE, 32);
    check_bitmap_bytes(MR_BITMAP_BE64, 64);
    check_bitmap_bytes(MR_BITMAP_BE32, 32);
}

static void
test_writer_leaves_stale_bytes_with_a_clear_bit(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("stale.mig");
    guint8 page[4096], got[4096], bits[8];
    MrWriterLayout l;

    memset(page, 0xee, sizeof(page));
    mr_writer_add_block(w, "ram", 8 * 4096);
    mr_writer_set_page(w, 0, 3, page);
    mr_writer_set_stale(w, 0, 3, page); /* last write wins: now absent */
    mr_writer_set_stale(w, 0, 4, page);
    mrt_write(w, path, &l);
    mrt_read(path, MRT_BLOCK(&l, 0)->bitmap_offset, bits, 8);
    MRT_CHECK(bits[0] == 0, "no bit set (got 0x%02x)", bits[0]);
    mrt_read(path, MRT_BLOCK(&l, 0)->pages_offset + 4 * 4096, got, 4096);
    CU_ASSERT_EQUAL(memcmp(got, page, 4096), 0);
    mr_writer_layout_clear(&l);
}

/* §9.7: mr_addr sits between used_length and the header; a skipped block has
 * offsets (0,0) and the stream goes on right after its 28-byte header. */
static void
test_writer_puts_mr_addr_and_skipped_headers_where_qemu_does(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("shared.mig");
    MrWriterLayout l;
    const MrWrittenBlock *a, *b;

    mr_writer_set_capabilities(w, caps);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mr_writer_block_set_mr_addr(w, 0, 0);
    mr_writer_add_block(w, "pc.bios", 0x40000);
    mr_writer_block_set_mr_addr(w, 1, 0xfffc0000);
    mr_writer_block_set_skipped(w, 0);
    mrt_write(w, path, &l);
    a = MRT_BLOCK(&l, 0);
    b = MRT_BLOCK(&l, 1);
    MRT_CHECK_U64(a->header_offset, a->used_length_offset + 16);
    MRT_CHECK_U64(mrt_read_be64(path, a->header_offset + 12), 0);
    MRT_CHECK_U64(mrt_read_be64(path, a->header_offset + 20), 0);
    MRT_CHECK_U64(a->end_offset, a->header_offset + 28);
    MRT_CHECK_U64(b->desc_offset, a->end_offset);
    MRT_CHECK_U64(mrt_read_be64(path, b->used_length_offset + 8), 0xfffc0000);
    mr_writer_layout_clear(&l);
}

static void
test_writer_keeps_the_bytes_before_an_offset_stream(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("offset.mig");
    MrWriterLayout l;
    guint8 magic[8];

    mr_writer_set_stream_offset(w, 0x3000);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_write(w, path, &l);
    mrt_read(path, 0x3000, magic, 8);
    CU_ASSERT_EQUAL(memcmp(magic, "QEVM\0\0\0\3", 8), 0);
    MRT_CHECK_U64(l.config_offset, 0x3008);
    /* Offsets are absolute and the page area still 1 MiB aligned (§3). */
    MRT_CHECK_U64(MRT_BLOCK(&l, 0)->pages_offset, 0x100000);
    mr_writer_layout_clear(&l);
}

/* §8: EOF, 0x06, be32 length, JSON to the end of the file, with the device
 * entries in stream order (early-setup first). */
static void
test_writer_vmdesc_ends_the_file_and_lists_devices_in_stream_order(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("vmdesc.mig");
    MrWriterLayout l;
    guint8 b[6];
    json_object *top, *devs;

    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_add_device(w, &mrt_pc_devices[0], FALSE);
    mrt_add_device(w, &mrt_pc_devices[2], TRUE);
    mrt_write(w, path, &l);
    MRT_CHECK_U64(l.vmdesc_offset, l.eof_offset + 1);
    mrt_read(path, l.eof_offset, b, 6);
    CU_ASSERT_EQUAL(b[0], 0x00);
    CU_ASSERT_EQUAL(b[1], 0x06);
    MRT_CHECK_U64((guint64)b[2] << 24 | (guint64)b[3] << 16 |
                  (guint64)b[4] << 8 | b[5],
                  l.file_size - l.vmdesc_json_offset);
    MRT_CHECK_U64(l.file_size, mrt_file_size(path));
    top = mrt_load_vmdesc(path, &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(top);
    devs = json_object_object_get(top, "devices");
    CU_ASSERT_EQUAL(json_object_array_length(devs), 2);
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(
                      json_object_array_get_idx(devs, 0), "name")),
                  "globalstate");
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(
                      json_object_array_get_idx(devs, 1), "name")),
                  "timer");
    CU_ASSERT_EQUAL(json_object_get_int(json_object_object_get(top, "page_size")),
                    4096);
    /* The early section comes before the ram START. */
    CU_ASSERT_TRUE(MRT_DEVICE(&l, 0)->offset < l.ram_offset);
    CU_ASSERT_TRUE(MRT_DEVICE(&l, 1)->offset > l.end_section_offset);
    json_object_put(top);
    mr_writer_layout_clear(&l);
}

static void
test_writer_without_footers_writes_no_7e_records(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("nofooter.mig");
    MrWriterLayout l;
    guint8 after[1];

    mr_writer_set_footers(w, FALSE);
    mrt_write(w, path, &l);
    for (guint i = 0; i < l.devices->len; i++) {
        const MrWrittenSection *s = MRT_DEVICE(&l, i);
        MRT_CHECK_U64(s->footer_offset, G_MAXUINT64);
        MRT_CHECK_U64(s->end_offset - s->body_offset, mrt_pc_devices[i].body_len);
        mrt_read(path, s->end_offset, after, 1);
        MRT_CHECK(after[0] != 0x7e, "no footer after device %u", i);
    }
    /* START body EOS is followed directly by the END record (no PART, the
     * SWITCHOVER_START command first). */
    MRT_CHECK_U64(l.command_offset, l.ram_footer_offset);
    mr_writer_layout_clear(&l);
}

/* Page areas are holes except for present pages (§9.5). */
static void
test_writer_makes_sparse_files(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("sparse.mig");
    guint8 page[4096];
    struct stat st;

    memset(page, 1, sizeof(page));
    mr_writer_add_block(w, "pc.ram", G_GUINT64_CONSTANT(4) << 30);
    mr_writer_set_page(w, 0, 0, page);
    mrt_write(w, path, NULL);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    MRT_CHECK((guint64)st.st_size > (G_GUINT64_CONSTANT(4) << 30) &&
              (guint64)st.st_blocks * 512 < 4 * 1024 * 1024,
              "4 GiB block, %" G_GINT64_FORMAT " bytes allocated",
              (gint64)st.st_blocks * 512);
}

static const MrtTest writer_tests[] = {
    MRT_TEST(test_writer_reproduces_the_40p_layout_of_format_md),
    MRT_TEST(test_writer_reproduces_the_x86_block_table),
    MRT_TEST(test_writer_bitmap_bytes_follow_each_host_layout),
    MRT_TEST(test_writer_leaves_stale_bytes_with_a_clear_bit),
    MRT_TEST(test_writer_puts_mr_addr_and_skipped_headers_where_qemu_does),
    MRT_TEST(test_writer_keeps_the_bytes_before_an_offset_stream),
    MRT_TEST(test_writer_vmdesc_ends_the_file_and_lists_devices_in_stream_order),
    MRT_TEST(test_writer_without_footers_writes_no_7e_records),
    MRT_TEST(test_writer_makes_sparse_files),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "writer against docs/FORMAT.md", writer_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
