/* mr_file_open on writer-made files, one test per stream option QEMU can
 * produce (docs/FORMAT.md §3-§8, §15): footers, vmdesc, configuration, commands,
 * PART sections, stream offset, early-setup sections.  The model must equal
 * the writer's layout, and the warnings must be those the option calls for
 * and no others. */
#include <string.h>

#include "test-helpers.h"

static void
test_default_file_model_matches_the_writer_layout(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("pc.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_STR(f->machine, "pc-i440fx-10.0");
    MRT_CHECK_U64(f->capabilities->len, 1);
    CU_ASSERT_TRUE(f->cap_mapped_ram);
    CU_ASSERT_FALSE(f->cap_ignore_shared);
    CU_ASSERT_FALSE(f->has_uuid);
    CU_ASSERT_FALSE(f->has_target_page_bits);
    MRT_CHECK_U64(f->stream_offset, 0);
    CU_ASSERT_FALSE(f->stream_offset_detected);
    MRT_CHECK_U64(f->ram_section_id, 2);
    MRT_CHECK_U64(f->ram_offset, l.ram_offset);
    MRT_CHECK_U64(f->ram_total, 0x800000 + 0x20000 + 0x40000 + 0x20000);
    MRT_CHECK_U64(f->page_size, 4096);
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(f->parts, 0);
    MRT_CHECK_U64(f->multifd_flushes, 0);
    MRT_CHECK_U64(f->commands->len, 1);
    if (f->commands->len == 1) {
        const MrCommand *c = &g_array_index(f->commands, MrCommand, 0);
        MRT_CHECK_U64(c->cmd, 11); /* SWITCHOVER_START, docs/FORMAT.md §7 */
        MRT_CHECK_U64(c->len, 0);
        MRT_CHECK_U64(c->offset, l.command_offset);
    }
    CU_ASSERT_TRUE(f->devices_bounded);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
    MRT_CHECK_U64(f->eof_offset, l.eof_offset);
    CU_ASSERT_TRUE(f->has_vmdesc);
    MRT_CHECK_U64(f->vmdesc_offset, l.vmdesc_offset);
    MRT_CHECK_U64(f->vmdesc_json_offset, l.vmdesc_json_offset);
    MRT_CHECK_U64(f->vmdesc_size, l.file_size - l.vmdesc_json_offset);
    MRT_CHECK_U64(f->file_size, l.file_size);
    MRT_CHECK(f->warnings->len == 0, "no warnings (first: %s)",
              f->warnings->len ? (char *)g_ptr_array_index(f->warnings, 0) : "");
    CU_ASSERT_PTR_NULL(mr_file_find_block(f, "pc.ram2"));
    mr_writer_layout_clear(&l);
}

static void
test_file_without_section_footers_opens_with_the_same_model(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("nofooter.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_footers(w, FALSE);
    mr_writer_set_parts(w, 2);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_check_pc_blocks(f, &l);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, FALSE);
    MRT_CHECK_U64(f->parts, 2);
    MRT_CHECK_U64(f->eof_offset, l.eof_offset);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

/* §8.2: without a vmdesc the RAM is fully decodable, the device sections
 * are bounded by their footers but not decodable, and the user is told
 * so. */
static void
test_file_without_vmdesc_bounds_devices_by_their_footers(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("novmdesc.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_check_pc_blocks(f, &l);
    CU_ASSERT_FALSE(f->has_vmdesc);
    CU_ASSERT_PTR_NULL(f->vmdesc);
    CU_ASSERT_TRUE(f->devices_bounded);
    MRT_CHECK_U64(f->devices->len, l.devices->len);
    for (guint i = 0; i < f->devices->len && i < l.devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        MRT_CHECK_U64(s->offset, MRT_DEVICE(&l, i)->offset);
        MRT_CHECK_U64(s->body_offset, MRT_DEVICE(&l, i)->body_offset);
        MRT_CHECK_U64(s->end_offset, MRT_DEVICE(&l, i)->end_offset);
        CU_ASSERT_PTR_NULL(s->desc);
    }
    MRT_CHECK_U64(f->devices_offset, MRT_DEVICE(&l, 0)->offset);
    MRT_CHECK_U64(f->eof_offset, l.file_size - 1);
    MRT_CHECK_U64(f->warnings->len, 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "found by their footers"), 1);
    mr_writer_layout_clear(&l);
}

static void
test_file_without_vmdesc_or_devices_opens_without_warning(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("bare.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mrt_add_pc_blocks(w, 4096);
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_check_pc_blocks(f, &l);
    CU_ASSERT_TRUE(f->devices_bounded);
    MRT_CHECK_U64(f->eof_offset, l.eof_offset);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

static void
test_uuid_and_target_page_bits_are_read_from_the_configuration(void)
{
    static const guint8 uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56,
                                     0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34,
                                     0x56, 0x78 };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("uuid.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_uuid(w, uuid);
    mr_writer_set_target_page_bits(w, 12);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->has_uuid);
    CU_ASSERT_EQUAL(memcmp(f->uuid, uuid, 16), 0);
    CU_ASSERT_TRUE(f->has_target_page_bits);
    MRT_CHECK_U64(f->target_page_bits, 12);
    CU_ASSERT_TRUE(f->cap_mapped_ram);
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

static void
test_file_without_switchover_command_has_no_commands(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("noswitch.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_switchover(w, FALSE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->commands->len, 0);
    mrt_check_pc_blocks(f, &l);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
    mr_writer_layout_clear(&l);
}

static void
test_several_part_sections_are_counted(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("parts.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_parts(w, 3); /* zero-page-detection=none, §15 #7 */
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->parts, 3);
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

/* §3: file:PATH,offset=0x3000 -- the magic at 0x3000 and absolute offsets. */
static char *
write_offset_file(MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    char *path = mrt_path("offset.mig");

    mr_writer_set_stream_offset(w, 0x3000);
    mrt_write(w, path, l);
    return path;
}

static void
test_stream_offset_given_as_an_option(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_offset_file(&l);
    MrOpenOptions opts = { .has_stream_offset = TRUE, .stream_offset = 0x3000 };
    g_autoptr(MrFile) f = MRT_OPEN(path, &opts);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->stream_offset, 0x3000);
    CU_ASSERT_FALSE(f->stream_offset_detected);
    MRT_CHECK_U64(f->ram_offset, l.ram_offset);
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(MRT_BLOCK(&l, 0)->pages_offset, 0x100000);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

static void
test_stream_offset_found_by_searching_warns(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_offset_file(&l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->stream_offset, 0x3000);
    CU_ASSERT_TRUE(f->stream_offset_detected);
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(f->warnings->len, 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "stream starts at 0x3000"), 1);
    mr_writer_layout_clear(&l);
}

/* §4: early_setup devices (virtio-mem) are FULL sections before ram. */
static void
test_early_setup_device_before_the_ram_section(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("early.mig");
    g_autoptr(MrFile) f = NULL;
    MrtDeviceSpec order[3] = { mrt_pc_devices[2], mrt_pc_devices[0],
                               mrt_pc_devices[1] };
    MrWriterLayout l;

    mrt_add_pc_blocks(w, 4096);
    mrt_add_device(w, &mrt_pc_devices[0], FALSE);
    mrt_add_device(w, &mrt_pc_devices[1], FALSE);
    mrt_add_device(w, &mrt_pc_devices[2], TRUE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_check_devices(f, &l, order, 3, TRUE);
    if (f->devices->len == 3) {
        const MrSection *s0 = g_ptr_array_index(f->devices, 0);
        const MrSection *s1 = g_ptr_array_index(f->devices, 1);
        CU_ASSERT_TRUE(s0->before_ram);
        CU_ASSERT_TRUE(s0->end_offset == f->ram_offset);
        CU_ASSERT_FALSE(s1->before_ram);
    }
    mrt_check_pc_blocks(f, &l);
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

/* §9.1/§11 step 5: readable, but QEMU would refuse it, so it is flagged. */
static void
test_multifd_flush_words_are_accepted_with_a_warning(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("flush.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;
    g_autofree char *at = NULL;

    mr_writer_set_parts(w, 1);
    mr_writer_set_multifd_flushes(w, 2);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->multifd_flushes, 2);
    MRT_CHECK_U64(f->parts, 1);
    MRT_CHECK_U64(f->warnings->len, 2);
    MRT_CHECK_U64(mrt_count_warnings(f, "MULTIFD_FLUSH"), 2);
    /* The first word follows the PART header: footer(5) + type + id. */
    at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER "x:",
                         l.ram_footer_offset + 5 + 5);
    MRT_CHECK_U64(mrt_count_warnings(f, at), 1);
    mrt_check_pc_blocks(f, &l);
    mr_writer_layout_clear(&l);
}

/* §9.2, §15 #5: `-M none` has MEM_SIZE 0 and no block. */
static void
test_machine_none_file_has_no_ram_blocks(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("none");
    g_autofree char *path = mrt_path("none.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mrt_add_device(w, &mrt_pc_devices[0], FALSE);
    mrt_add_device(w, &mrt_pc_devices[2], FALSE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_STR(f->machine, "none");
    MRT_CHECK_U64(f->ram_total, 0);
    MRT_CHECK_U64(f->blocks->len, 0);
    MRT_CHECK_U64(f->page_size, 4096); /* from the vmdesc */
    MRT_CHECK_U64(l.ram_eos_offset, l.mem_size_offset + 8);
    MRT_CHECK_U64(f->devices->len, 2);
    MRT_CHECK_U64(f->warnings->len, 0);
    g_clear_pointer(&f, mr_file_close);
    mr_writer_layout_clear(&l);
    /* Without a vmdesc nothing tells the page size. */
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->page_size, 0);
    MRT_CHECK_U64(f->blocks->len, 0);
    MRT_CHECK_U64(f->devices->len, 2);
    mr_writer_layout_clear(&l);
}

static void
test_unknown_capability_is_a_warning(void)
{
    static const char *const caps[] = { "mapped-ram", "x-future-cap", NULL };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("cap.mig");
    g_autoptr(MrFile) f = NULL;
    MrWriterLayout l;

    mr_writer_set_capabilities(w, caps);
    mrt_write(w, path, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->capabilities->len, 2);
    MRT_CHECK_U64(f->warnings->len, 1);
    MRT_CHECK_U64(mrt_count_warnings(f, "x-future-cap"), 1);
    mrt_check_pc_blocks(f, &l);
    mr_writer_layout_clear(&l);
}

static void
test_writable_open_records_the_mode(void)
{
    g_autofree char *path = mrt_write_pc("rw.mig", NULL);
    MrOpenOptions opts = { .writable = TRUE };
    g_autoptr(MrFile) f = MRT_OPEN(path, &opts);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->writable);
}

/* A device whose vmdesc entry has a padding key, so that the JSON has the
 * wanted length.  Returns the file's path. */
static char *
write_vmdesc_of_length(guint64 want, MrWriterLayout *l)
{
    char *path = mrt_path("vmdesclen.mig");
    gsize pad = 16;

    for (int attempt = 0; attempt < 2; attempt++) {
        g_autoptr(MrWriter) w = mr_writer_new("pc");
        g_autofree char *fill = g_strnfill(pad, 'p');
        g_autofree char *desc = g_strdup_printf(
            "{\"vmsd_name\":\"pad\",\"version\":1,\"pad\":\"%s\",\"fields\":["
            "{\"name\":\"x\",\"type\":\"uint8\",\"size\":1}]}", fill);
        guint8 body = 0x42;
        guint64 got;

        mr_writer_add_block(w, "pc.ram", 0x10000);
        mr_writer_add_device(w, "pad", 0, 1, desc, &body, 1, FALSE, NULL);
        if (attempt == 1)
            mr_writer_layout_clear(l);
        mrt_write(w, path, l);
        got = l->file_size - l->vmdesc_json_offset;
        if (got == want)
            break;
        pad += want - got;
    }
    MRT_CHECK_U64(l->file_size - l->vmdesc_json_offset, want);
    return path;
}

/* The magic search reads 1 MiB chunks and the stream cursor 64 KiB
 * windows: a stream whose magic or first records straddle either boundary
 * is found and read the same. */
static void
test_stream_offsets_straddling_read_windows_are_found(void)
{
    static const guint64 offsets[] = { 0xfffe, 0x10000 - 3, 0x100000 - 2,
                                       0x100000 - 1 };

    for (gsize i = 0; i < G_N_ELEMENTS(offsets); i++) {
        g_autoptr(MrWriter) w = mrt_writer_pc();
        g_autofree char *path = mrt_path("window.mig");
        g_autoptr(MrFile) f = NULL;
        MrWriterLayout l;

        mr_writer_set_stream_offset(w, offsets[i]);
        mrt_write(w, path, &l);
        f = MRT_OPEN(path, NULL);
        MRT_CHECK(f && f->stream_offset == offsets[i] &&
                  f->stream_offset_detected, "stream at 0x%"
                  G_GINT64_MODIFIER "x found", offsets[i]);
        if (f) {
            mrt_check_pc_blocks(f, &l);
            mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
        }
        mr_writer_layout_clear(&l);
    }
}

/* §8.1: the length field itself may hold 0x00 and '{' bytes. */
static void
test_vmdesc_whose_length_holds_00_and_7b_bytes_is_found(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_vmdesc_of_length(0x7b00, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->has_vmdesc);
    MRT_CHECK_U64(f->vmdesc_offset, l.vmdesc_offset);
    MRT_CHECK_U64(f->vmdesc_size, 0x7b00);
    MRT_CHECK_U64(f->devices->len, 1);
    g_clear_pointer(&f, mr_file_close);
    mr_writer_layout_clear(&l);
    g_free(path);
    path = write_vmdesc_of_length(0x7b7b, &l);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->vmdesc_size, 0x7b7b);
    mr_writer_layout_clear(&l);
}

/* The search reads the tail in 1 MiB chunks from the end; a vmdesc header
 * just before, at and just after a chunk boundary must all be found. */
static void
test_vmdesc_around_the_search_chunk_boundary_is_found(void)
{
    for (guint64 len = 1024 * 1024 - 7; len <= 1024 * 1024 - 3; len++) {
        MrWriterLayout l;
        g_autofree char *path = write_vmdesc_of_length(len, &l);
        g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

        MRT_CHECK(f != NULL && f->has_vmdesc && f->vmdesc_size == len &&
                  f->devices->len == 1, "vmdesc of %" G_GUINT64_FORMAT
                  " bytes found", len);
        mr_writer_layout_clear(&l);
    }
}

static const MrtTest tests[] = {
    MRT_TEST(test_default_file_model_matches_the_writer_layout),
    MRT_TEST(test_file_without_section_footers_opens_with_the_same_model),
    MRT_TEST(test_file_without_vmdesc_bounds_devices_by_their_footers),
    MRT_TEST(test_file_without_vmdesc_or_devices_opens_without_warning),
    MRT_TEST(test_uuid_and_target_page_bits_are_read_from_the_configuration),
    MRT_TEST(test_file_without_switchover_command_has_no_commands),
    MRT_TEST(test_several_part_sections_are_counted),
    MRT_TEST(test_stream_offset_given_as_an_option),
    MRT_TEST(test_stream_offset_found_by_searching_warns),
    MRT_TEST(test_early_setup_device_before_the_ram_section),
    MRT_TEST(test_multifd_flush_words_are_accepted_with_a_warning),
    MRT_TEST(test_machine_none_file_has_no_ram_blocks),
    MRT_TEST(test_unknown_capability_is_a_warning),
    MRT_TEST(test_writable_open_records_the_mode),
    MRT_TEST(test_stream_offsets_straddling_read_windows_are_found),
    MRT_TEST(test_vmdesc_whose_length_holds_00_and_7b_bytes_is_found),
    MRT_TEST(test_vmdesc_around_the_search_chunk_boundary_is_found),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "parse: stream options", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
