/* The record loop of docs/FORMAT.md §4 and §11 steps 3-7 on damaged files:
 * unknown record types, commands, a misplaced configuration, sections that
 * cannot be in a mapped-ram stream, a missing ram section or END.
 *
 * Each test starts from a valid writer-made file, damages one field at the
 * offset the writer's layout gives, and checks that mr_file_open refuses it
 * with the right error code and a message naming the file, the offset and
 * the object (block or section).
 */
#include <string.h>

#include "test-helpers.h"

/* ---- other records ---------------------------------------------------- */

static void
test_unknown_record_type_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("rec-type.mig", &l);

    mrt_patch_u8(path, l.command_offset, 0x09);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.command_offset,
                   "unexpected byte 0x09", NULL);
    mrt_patch_u8(path, l.command_offset, 0x7e);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.command_offset,
                   "unexpected byte 0x7e", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_command_longer_than_the_stream_is_truncated(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("rec-cmd.mig", &l);

    mrt_patch_be16(path, l.command_offset + 3, 0xffff);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.command_offset + 5,
                   "end of command data", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_second_configuration_record_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("rec-config.mig", &l);

    /* A COMMAND turned into a CONFIGURATION record. */
    mrt_patch_u8(path, l.command_offset, 0x07);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.command_offset,
                   "not the first record", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_iterable_section_other_than_ram_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("rec-iter.mig", &l);

    mrt_patch_u8(path, MRT_DEVICE(&l, 0)->offset, 0x01);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, MRT_DEVICE(&l, 0)->offset,
                   "iterable section \"timer\"", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_ram_as_a_full_section_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("rec-ramfull.mig");
    MrtDeviceSpec ram = mrt_pc_devices[0];
    MrWriterLayout l;

    ram.idstr = "ram";
    mrt_add_device(w, &ram, FALSE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_DEVICE(&l, 3)->offset,
                   "FULL record for the ram section", NULL);
    mr_writer_layout_clear(&l);
}

/* A device section named "ram" turned into a START record: the ram
 * section cannot start twice. */
static void
test_second_ram_start_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("rec-ramstart.mig");
    MrtDeviceSpec ram = mrt_pc_devices[0];
    MrWriterLayout l;

    ram.idstr = "ram";
    ram.version_id = 4;
    mrt_add_device(w, &ram, FALSE);
    mrt_write(w, path, &l);
    mrt_patch_u8(path, MRT_DEVICE(&l, 3)->offset, 0x01);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_DEVICE(&l, 3)->offset,
                   "second START record for the ram section", NULL);
    mr_writer_layout_clear(&l);
}

/* The stream ends where the vmdesc starts: a footer cut two bytes short,
 * whose id would run into the vmdesc, is truncated there. */
static void
test_record_running_into_the_vmdesc_is_truncated(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("rec-intovmdesc.mig", &l);
    const MrWrittenSection *last = MRT_DEVICE(&l, l.devices->len - 1);
    g_autofree char *end = g_strdup_printf("stream ends at 0x%"
                                           G_GINT64_MODIFIER "x",
                                           l.vmdesc_offset - 2);

    mrt_remove_range(path, last->footer_offset + 3, 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, last->footer_offset + 1,
                   end, "section \"globalstate\"", NULL);
    mr_writer_layout_clear(&l);
}

/* The whole ram section of a `-M none` file removed. */
static void
check_without_ram_section(gboolean vmdesc)
{
    g_autoptr(MrWriter) w = mr_writer_new("none");
    g_autofree char *path = mrt_path("rec-noram.mig");
    MrWriterLayout l;
    guint64 ram_end, removed;

    mrt_add_pc_devices(w);
    mr_writer_set_vmdesc(w, vmdesc);
    mrt_write(w, path, &l);
    ram_end = l.end_section_offset + MRT_SECTION_EOS_FOOTER + 5;
    MRT_CHECK_U64(ram_end, MRT_DEVICE(&l, 0)->offset);
    removed = ram_end - l.ram_offset;
    mrt_remove_range(path, l.ram_offset, removed);
    if (vmdesc)
        /* Noticed once the EOF record has been read. */
        MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.eof_offset - removed + 1,
                       "no ram section", NULL);
    else
        /* Devices that cannot be bounded and no ram section before them. */
        MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, l.ram_offset,
                       "section \"timer\"", "before the ram section", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_stream_without_ram_section_is_invalid(void)
{
    check_without_ram_section(TRUE);
}

static void
test_devices_before_any_ram_section_without_vmdesc_are_unsupported(void)
{
    check_without_ram_section(FALSE);
}

/* The END of ram removed: the first record after the START section is where
 * it was expected. */
static void
test_ram_section_without_end_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("rec-noend.mig");
    MrWriterLayout l;

    mr_writer_set_switchover(w, FALSE);
    mrt_write(w, path, &l);
    mrt_remove_range(path, l.end_section_offset, MRT_SECTION_EOS_FOOTER + 5);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.eof_offset - 18,
                   "no END record", NULL);
    mr_writer_layout_clear(&l);
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    mrt_remove_range(path, l.end_section_offset, MRT_SECTION_EOS_FOOTER + 5);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.end_section_offset,
                   "no END record", NULL);
    mr_writer_layout_clear(&l);
}

static const MrtTest tests[] = {
    MRT_TEST(test_unknown_record_type_is_invalid),
    MRT_TEST(test_command_longer_than_the_stream_is_truncated),
    MRT_TEST(test_second_configuration_record_is_invalid),
    MRT_TEST(test_iterable_section_other_than_ram_is_unsupported),
    MRT_TEST(test_ram_as_a_full_section_is_invalid),
    MRT_TEST(test_second_ram_start_is_invalid),
    MRT_TEST(test_record_running_into_the_vmdesc_is_truncated),
    MRT_TEST(test_stream_without_ram_section_is_invalid),
    MRT_TEST(test_devices_before_any_ram_section_without_vmdesc_are_unsupported),
    MRT_TEST(test_ram_section_without_end_is_invalid),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "records", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
