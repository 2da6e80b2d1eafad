/* Invariants R3-R12 of docs/FORMAT.md §11: the RAM section -- MEM_SIZE, block
 * names, MappedRamHeader, bitmap and page area placement, stray bits (R12,
 * the only one that is a warning).
 *
 * Each test starts from a valid writer-made file, damages one field at the
 * offset the writer's layout gives, and checks that mr_file_open refuses it
 * with the right error code and a message naming the file, the offset and
 * the object (block or section).
 */
#include <json-c/json.h>
#include <string.h>

#include "test-helpers.h"

/* ---- R3: MEM_SIZE ----------------------------------------------------- */

static guint64
pc_total(void)
{
    guint64 t = 0;

    for (guint i = 0; i < mrt_pc_nblocks; i++)
        t += mrt_pc_blocks[i].used_length;
    return t;
}

static void
test_r3_first_ram_record_not_mem_size_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r3-first.mig", &l);

    mrt_patch_be64(path, l.mem_size_offset, pc_total() | 0x10);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.mem_size_offset,
                   "MEM_SIZE", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r3_block_larger_than_what_mem_size_leaves_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r3-over.mig", &l);

    /* The last block (pc.rom, 0x20000) finds only 0x10000 left. */
    mrt_patch_be64(path, l.mem_size_offset, (pc_total() - 0x10000) | 0x4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 3)->desc_offset,
                   "\"pc.rom\"", "exceeds", "MEM_SIZE", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r3_blocks_after_the_mem_size_total_is_reached_are_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r3-more.mig", &l);

    /* The total is reached after pc.bios: pc.rom's descriptor stands where
     * the EOS word is expected. */
    mrt_patch_be64(path, l.mem_size_offset, (pc_total() - 0x20000) | 0x4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 3)->desc_offset,
                   "ram section START", "EOS", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r3_mem_size_total_above_the_blocks_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r3-under.mig", &l);

    /* The EOS word is then read as a block descriptor (idstr length 0). */
    mrt_patch_be64(path, l.mem_size_offset, (pc_total() + 0x1000) | 0x4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.ram_eos_offset,
                   "ram block", NULL);
    mr_writer_layout_clear(&l);
}

/* QEMU's loader reads descriptors only until the sum reaches MEM_SIZE
 * (docs/FORMAT.md §9.2), so a 0-page block after that point cannot be told from
 * the EOS word's place; the writer can make one, the reader refuses it. */
static void
test_r3_zero_page_block_after_the_total_is_reached_is_invalid(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r3-trailing.mig");
    MrWriterLayout l;

    mr_writer_add_block(w, "pc.ram", 0x10000);
    mr_writer_add_block(w, "empty", 0);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 1)->desc_offset,
                   "ram section START", "EOS", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R4: block names -------------------------------------------------- */

static void
test_r4_empty_block_name_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r4-empty.mig", &l);

    mrt_patch_u8(path, MRT_BLOCK(&l, 1)->desc_offset, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 1)->desc_offset,
                   "ram block idstr", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r4_unprintable_block_name_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r4-ctrl.mig", &l);

    mrt_patch_u8(path, MRT_BLOCK(&l, 2)->desc_offset + 3, 0x01);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 2)->desc_offset,
                   "not printable", NULL);
    mrt_patch_u8(path, MRT_BLOCK(&l, 2)->desc_offset + 3, 0xc3);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 2)->desc_offset,
                   "not printable", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r4_duplicate_block_names_are_invalid(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r4-dup.mig");
    MrWriterLayout l;

    mr_writer_add_block(w, "pc.ram", 0x10000);
    mr_writer_add_block(w, "pc.bios", 0x10000);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 2)->desc_offset,
                   "\"pc.ram\" appears twice", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r4_empty_device_section_name_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r4-devname.mig", &l);
    guint64 idstr = MRT_DEVICE(&l, 0)->offset + 5;

    mrt_patch_u8(path, idstr, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, idstr, "idstr is empty",
                   NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R5: MappedRamHeader version and page size ------------------------- */

static void
test_r5_header_version_2_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r5-v2.mig", &l);
    guint64 hdr = MRT_BLOCK(&l, 1)->header_offset;

    mrt_patch_be32(path, hdr + MRT_HDR_VERSION, 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, hdr,
                   "\"/rom@etc/acpi/tables\"", "header version 2", NULL);
    mrt_patch_be32(path, hdr + MRT_HDR_VERSION, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, hdr,
                   "header version 0", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r5_page_size_not_a_power_of_two_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r5-ps.mig", &l);
    guint64 at = MRT_BLOCK(&l, 0)->header_offset + MRT_HDR_PAGE_SIZE;

    mrt_patch_be64(path, at, 3000);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "\"pc.ram\"",
                   "power of two", NULL);
    mrt_patch_be64(path, at, 512);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "page size 0x200", NULL);
    mrt_patch_be64(path, at, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "page size 0x0", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r5_page_sizes_differing_between_blocks_are_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r5-mixed.mig");
    MrWriterLayout l;
    guint64 at;

    mr_writer_set_vmdesc(w, FALSE); /* only the blocks disagree */
    mrt_write(w, path, &l);
    at = MRT_BLOCK(&l, 2)->header_offset + MRT_HDR_PAGE_SIZE;
    mrt_patch_be64(path, at, 8192);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "\"pc.bios\"",
                   "differs from 0x1000", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r5_vmdesc_page_size_differing_from_the_blocks_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r5-vmdesc.mig", &l);
    json_object *v = mrt_load_vmdesc(path, &l);
    guint64 at = MRT_BLOCK(&l, 0)->header_offset + MRT_HDR_PAGE_SIZE;

    json_object_object_add(v, "page_size", json_object_new_int(8192));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "\"pc.ram\"",
                   "differs from 0x2000", NULL);
    json_object_object_add(v, "page_size", json_object_new_int(4097));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.vmdesc_json_offset,
                   "vmdesc: page_size 4097", NULL);
    json_object_object_add(v, "page_size", json_object_new_int(131072));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.vmdesc_json_offset,
                   "vmdesc: page_size 131072", NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

static void
test_r5_page_size_differing_from_target_page_bits_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r5-bits.mig");
    MrWriterLayout l;

    mr_writer_set_target_page_bits(w, 13);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   MRT_BLOCK(&l, 0)->header_offset + MRT_HDR_PAGE_SIZE,
                   "\"pc.ram\"", "target page bits 13", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r5_target_page_bits_out_of_range_are_unsupported(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r5-bits9.mig");
    MrWriterLayout l;
    /* machine, then 0x05, name length, name, version: the value. */
    guint64 at;

    mr_writer_set_target_page_bits(w, 9);
    mrt_write(w, path, &l);
    at = l.config_offset + 1 + 4 + 14 + 1 + 1 +
         strlen("configuration/target-page-bits") + 4;
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, at, "target page bits 9",
                   NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R6: used_length --------------------------------------------------- */

static void
test_r6_used_length_not_a_page_multiple_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r6.mig", &l);

    mrt_patch_be64(path, MRT_BLOCK(&l, 0)->used_length_offset, 0x800800);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_BLOCK(&l, 0)->desc_offset,
                   "\"pc.ram\"", "used_length 0x800800", "multiple", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R7: offsets 0 ---------------------------------------------------- */

static void
test_r7_one_zero_offset_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r7.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 1);

    mrt_patch_be64(path, b->header_offset + MRT_HDR_BITMAP_OFFSET, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_BITMAP_OFFSET,
                   "\"/rom@etc/acpi/tables\"", "offset 0", NULL);
    mrt_patch_be64(path, b->header_offset + MRT_HDR_BITMAP_OFFSET,
                   b->bitmap_offset);
    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_BITMAP_OFFSET,
                   "\"/rom@etc/acpi/tables\"", "pages_offset 0x0", NULL);
    /* Both zero means "skipped" only with x-ignore-shared (§9.7). */
    mrt_patch_be64(path, b->header_offset + MRT_HDR_BITMAP_OFFSET, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_BITMAP_OFFSET, "x-ignore-shared",
                   NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r7_one_zero_offset_with_x_ignore_shared_is_invalid(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r7-shared.mig");
    MrWriterLayout l;
    guint64 hdr;

    mr_writer_set_capabilities(w, caps);
    mrt_write(w, path, &l);
    hdr = MRT_BLOCK(&l, 0)->header_offset;
    mrt_patch_be64(path, hdr + MRT_HDR_PAGES_OFFSET, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, hdr + MRT_HDR_BITMAP_OFFSET,
                   "\"pc.ram\"", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R8: bitmap placement --------------------------------------------- */

static void
test_r8_bitmap_offset_inside_the_header_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r8-hdr.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 0);

    mrt_patch_be64(path, b->header_offset + MRT_HDR_BITMAP_OFFSET,
                   b->header_offset + 4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_BITMAP_OFFSET, "\"pc.ram\"",
                   "before the end of its header", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r8_pages_offset_inside_the_bitmap_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r8-bitmap.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 0);

    /* pc.ram has 2048 pages: a 256-byte bitmap. */
    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET,
                   b->bitmap_offset + 0x80);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.ram\"",
                   "no room", "256-byte bitmap", NULL);
    mr_writer_layout_clear(&l);
}

/* The page area of block 1 put on block 0's: it would lie before block 1's
 * own header, overlapping an earlier block (R11 too). */
static void
test_r8_page_area_before_its_own_bitmap_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r8-before.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 1);

    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET,
                   MRT_BLOCK(&l, 0)->pages_offset);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET,
                   "\"/rom@etc/acpi/tables\"", NULL);
    mr_writer_layout_clear(&l);
}

/* A block of 0 pages has a 0-byte bitmap, which must still lie before its
 * page area (R8: bitmap_offset + size <= pages_offset). */
static void
test_r8_zero_page_block_with_bitmap_after_its_page_area_is_invalid(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r8-zero.mig");
    MrWriterLayout l;
    const MrWrittenBlock *z;

    mr_writer_add_block(w, "empty", 0);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_add_pc_devices(w);
    mrt_write(w, path, &l);
    z = MRT_BLOCK(&l, 0);
    mrt_patch_be64(path, z->header_offset + MRT_HDR_BITMAP_OFFSET,
                   z->pages_offset + 0x1000);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   z->header_offset + MRT_HDR_PAGES_OFFSET, "\"empty\"", NULL);
    mr_writer_layout_clear(&l);
}

/* The same hole, used to send the stream backwards: the 0-page block's
 * pages_offset points into the body of an early-setup device where a copy
 * of the next block's descriptor leads back to the real stream.  Before
 * R8 held for empty blocks this opened, with a block descriptor "inside" a
 * device section (R10/R11: the stream resumes *at* pages_offset +
 * used_length, and areas come in increasing file order). */
static void
test_r8_zero_page_block_cannot_send_the_stream_backwards(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r8-back.mig");
    g_autofree guint8 *pad = g_malloc0(16384);
    guint8 desc[64];
    gsize desc_len;
    MrWriterLayout l;
    const MrWrittenBlock *z, *a;
    const MrWrittenSection *early;
    guint64 x;
    guint8 page[4096];

    mr_writer_add_device(w, "pad", 0, 1,
                         "{\"size\":16384,\"fields\":[{\"name\":\"data\","
                         "\"type\":\"buffer\",\"size\":16384}]}",
                         pad, 16384, TRUE, NULL);
    mr_writer_add_block(w, "z", 0);
    mr_writer_add_block(w, "a", 0x1000);
    mrt_fill_page(1, 0, page, sizeof(page));
    mr_writer_set_page(w, 1, 0, page);
    mrt_write(w, path, &l);
    early = MRT_DEVICE(&l, 0);
    z = MRT_BLOCK(&l, 0);
    a = MRT_BLOCK(&l, 1);
    x = (early->body_offset + 64 + 0xfff) & ~(guint64)0xfff;
    CU_ASSERT_FATAL(x + 64 < early->body_offset + 16384);
    desc_len = (gsize)(a->bitmap_offset + a->bitmap_size - a->desc_offset);
    CU_ASSERT_FATAL(desc_len <= sizeof(desc));
    mrt_read(path, a->desc_offset, desc, desc_len);
    mrt_patch(path, x, desc, desc_len);
    mrt_patch_be64(path, x + (a->header_offset - a->desc_offset) +
                   MRT_HDR_BITMAP_OFFSET,
                   x + (a->bitmap_offset - a->desc_offset));
    mrt_patch_be64(path, z->header_offset + MRT_HDR_PAGES_OFFSET, x);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   z->header_offset + MRT_HDR_PAGES_OFFSET, "\"z\"", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R9: page alignment ---------------------------------------------- */

static void
test_r9_pages_offset_not_page_aligned_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r9.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 2);

    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET,
                   b->pages_offset + 0x800);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.bios\"",
                   "not page aligned", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R10: page area inside the file ---------------------------------- */

static void
test_r10_page_area_past_end_of_file_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r10-eof.mig");
    g_autofree char *size = NULL;
    MrWriterLayout l;
    const MrWrittenBlock *b;

    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    b = MRT_BLOCK(&l, 3);
    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET,
                   b->pages_offset + 0x1000000);
    size = g_strdup_printf("end of file (0x%" G_GINT64_MODIFIER "x)",
                           l.file_size);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.rom\"", size,
                   NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r10_pages_offset_near_2_64_does_not_overflow(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r10-wrap.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 0);

    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET,
                   G_GUINT64_CONSTANT(0xfffffffffffff000));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.ram\"",
                   "0xfffffffffffff000", NULL);
    mr_writer_layout_clear(&l);
}

/* A used_length near 2^64 (with a MEM_SIZE to match) must be refused before
 * anything is allocated for its bitmap. */
static void
test_r10_huge_used_length_is_refused_without_allocating(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r10-huge.mig");
    const guint64 huge = G_GUINT64_CONSTANT(0xfffffffffff00000);
    MrWriterLayout l;
    const MrWrittenBlock *b;

    mr_writer_add_block(w, "pc.ram", 0x10000);
    mrt_write(w, path, &l);
    b = MRT_BLOCK(&l, 0);
    mrt_patch_be64(path, l.mem_size_offset, huge | 0x4);
    mrt_patch_be64(path, b->used_length_offset, huge);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.ram\"", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R11: overlaps ----------------------------------------------------- */

/* The last block's page area moved so that it ends inside the vmdesc. */
static void
test_r11_page_area_overlapping_the_vmdesc_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r11-vmdesc.mig");
    g_autofree char *fill = g_strnfill(20000, 'v');
    g_autofree char *desc = g_strdup_printf(
        "{\"vmsd_name\":\"pad\",\"version\":1,\"pad\":\"%s\",\"fields\":[]}",
        fill);
    g_autofree char *where = NULL;
    MrWriterLayout l;
    const MrWrittenBlock *b;
    guint64 moved;

    mr_writer_add_device(w, "pad", 0, 1, desc, NULL, 0, FALSE, NULL);
    mrt_write(w, path, &l);
    b = MRT_BLOCK(&l, 3);
    moved = b->pages_offset + ((l.vmdesc_offset - b->end_offset) + 0x2000) /
                                  0x1000 * 0x1000;
    CU_ASSERT_FATAL(moved + 0x20000 > l.vmdesc_offset &&
                    moved + 0x20000 <= l.file_size);
    mrt_patch_be64(path, b->header_offset + MRT_HDR_PAGES_OFFSET, moved);
    where = g_strdup_printf("the start of the vmdesc (0x%" G_GINT64_MODIFIER
                            "x)", l.vmdesc_offset);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   b->header_offset + MRT_HDR_PAGES_OFFSET, "\"pc.rom\"", where,
                   NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R12: stray bits (a warning) -------------------------------------- */

static void
test_r12_stray_bits_are_a_warning_and_ignored(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r12.mig", &l);
    const MrWrittenBlock *b = MRT_BLOCK(&l, 1); /* 32 pages, 8 bytes */
    g_autoptr(MrFile) f = NULL;
    const MrRamBlock *rb;
    g_autofree char *at = NULL;

    mrt_patch(path, b->bitmap_offset + 4, "\xff\x01\x00\x80", 4);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    rb = mr_file_find_block(f, "/rom@etc/acpi/tables");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rb);
    MRT_CHECK_U64(MRT_PRESENT(rb), 3);
    MRT_CHECK_U64(f->warnings->len, 1);
    at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER "x:", b->bitmap_offset);
    MRT_CHECK_U64(mrt_count_warnings(f, at), 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "10 bits set beyond its 32 pages"), 1);
    mr_writer_layout_clear(&l);
}

static const MrtTest tests[] = {
    MRT_TEST(test_r3_first_ram_record_not_mem_size_is_invalid),
    MRT_TEST(test_r3_block_larger_than_what_mem_size_leaves_is_invalid),
    MRT_TEST(test_r3_blocks_after_the_mem_size_total_is_reached_are_invalid),
    MRT_TEST(test_r3_mem_size_total_above_the_blocks_is_invalid),
    MRT_TEST(test_r3_zero_page_block_after_the_total_is_reached_is_invalid),
    MRT_TEST(test_r4_empty_block_name_is_invalid),
    MRT_TEST(test_r4_unprintable_block_name_is_invalid),
    MRT_TEST(test_r4_duplicate_block_names_are_invalid),
    MRT_TEST(test_r4_empty_device_section_name_is_invalid),
    MRT_TEST(test_r5_header_version_2_is_unsupported),
    MRT_TEST(test_r5_page_size_not_a_power_of_two_is_invalid),
    MRT_TEST(test_r5_page_sizes_differing_between_blocks_are_invalid),
    MRT_TEST(test_r5_vmdesc_page_size_differing_from_the_blocks_is_invalid),
    MRT_TEST(test_r5_page_size_differing_from_target_page_bits_is_invalid),
    MRT_TEST(test_r5_target_page_bits_out_of_range_are_unsupported),
    MRT_TEST(test_r6_used_length_not_a_page_multiple_is_invalid),
    MRT_TEST(test_r7_one_zero_offset_is_invalid),
    MRT_TEST(test_r7_one_zero_offset_with_x_ignore_shared_is_invalid),
    MRT_TEST(test_r8_bitmap_offset_inside_the_header_is_invalid),
    MRT_TEST(test_r8_pages_offset_inside_the_bitmap_is_invalid),
    MRT_TEST(test_r8_page_area_before_its_own_bitmap_is_invalid),
    MRT_TEST(test_r8_zero_page_block_with_bitmap_after_its_page_area_is_invalid),
    MRT_TEST(test_r8_zero_page_block_cannot_send_the_stream_backwards),
    MRT_TEST(test_r9_pages_offset_not_page_aligned_is_invalid),
    MRT_TEST(test_r10_page_area_past_end_of_file_is_invalid),
    MRT_TEST(test_r10_pages_offset_near_2_64_does_not_overflow),
    MRT_TEST(test_r10_huge_used_length_is_refused_without_allocating),
    MRT_TEST(test_r11_page_area_overlapping_the_vmdesc_is_invalid),
    MRT_TEST(test_r12_stray_bits_are_a_warning_and_ignored),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "invariants R3-R12: ram section", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
