/* Invariants R1 and R2 of docs/FORMAT.md §11: the file header, the configuration
 * record and the mapped-ram capability.
 *
 * Each test starts from a valid writer-made file, damages one field at the
 * offset the writer's layout gives, and checks that mr_file_open refuses it
 * with the right error code and a message naming the file, the offset and
 * the object (block or section).
 */
#include <string.h>

#include "test-helpers.h"

/* ---- R1: header and configuration ------------------------------------ */

static void
test_r1_bad_magic_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-magic.mig", &l);

    mrt_patch(path, 0, "QEVX", 4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, 0, "QEVM", "not a QEMU "
                   "migration stream", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_version_2_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-v2.mig", &l);

    mrt_patch_be32(path, 4, 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 4, "version 2",
                   "obsolete", NULL);
    mrt_patch_be32(path, 4, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 4, "version 0", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_truncated_header_is_truncated(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-short.mig", &l);

    mrt_truncate(path, 6);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, 0, "8 bytes expected",
                   NULL);
    mrt_truncate(path, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, 0, "8 bytes expected",
                   NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_wrong_stream_offset_option_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-offset.mig", &l);
    MrOpenOptions opts = { .has_stream_offset = TRUE, .stream_offset = 0x1000 };

    MRT_OPEN_FAILS(path, &opts, MR_ERROR_INVALID, 0x1000, "QEVM", NULL);
    opts.stream_offset = l.file_size + 100;
    MRT_OPEN_FAILS(path, &opts, MR_ERROR_TRUNCATED, l.file_size + 100,
                   "too short", NULL);
    mr_writer_layout_clear(&l);
}

/* The subsections of the configuration have no length (§13.3): an unknown
 * one cannot be skipped. */
static void
test_r1_unknown_configuration_subsection_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-subsection.mig", &l);
    guint64 sub = l.config_offset + 1 + 4 + strlen("pc-i440fx-10.0");

    /* "configuration/capabilities" -> "configuration/capabilitiez" */
    mrt_patch_u8(path, sub + 2 + 25, 'z');
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, sub,
                   "unknown configuration subsection",
                   "configuration/capabilitiez", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_configuration_subsection_outside_configuration_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-prefix.mig", &l);
    guint64 sub = l.config_offset + 1 + 4 + strlen("pc-i440fx-10.0");

    mrt_patch(path, sub + 2, "konfig", 6);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, sub, "configuration/", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_configuration_subsection_version_2_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-subver.mig", &l);
    guint64 sub = l.config_offset + 1 + 4 + strlen("pc-i440fx-10.0");

    mrt_patch_be32(path, sub + 2 + 26, 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, sub,
                   "configuration/capabilities", "version 2", NULL);
    mr_writer_layout_clear(&l);
}

/* The target-page-bits subsection (40 bytes) overwritten with a copy of
 * the uuid subsection (also 40 bytes): uuid, capabilities, uuid. */
static void
test_r1_configuration_subsection_appearing_twice_is_invalid(void)
{
    static const guint8 uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                     13, 14, 15, 16 };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r1-twice.mig");
    MrWriterLayout l;
    guint64 tpb, second;
    guint8 copy[40];

    mr_writer_set_target_page_bits(w, 12);
    mr_writer_set_uuid(w, uuid);
    mrt_write(w, path, &l);
    tpb = l.config_offset + 1 + 4 + strlen("pc-i440fx-10.0");
    second = tpb + 40 + (1 + 1 + 26 + 4 + 4 + 1 + 10);
    mrt_read(path, second, copy, sizeof(copy));
    CU_ASSERT_EQUAL_FATAL(memcmp(copy + 2, "configuration/uuid", 18), 0);
    mrt_patch(path, tpb, copy, sizeof(copy));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, second,
                   "\"configuration/uuid\" appears twice", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_bad_machine_name_length_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r1-machine.mig", &l);

    mrt_patch_be32(path, l.config_offset + 1, 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.config_offset + 1,
                   "machine name length 0", NULL);
    mrt_patch_be32(path, l.config_offset + 1, 0x10000);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.config_offset + 1,
                   "machine name length 65536", NULL);
    mrt_patch_be32(path, l.config_offset + 1, 14);
    mrt_patch_u8(path, l.config_offset + 5, 0x01);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.config_offset + 5,
                   "not printable", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r1_capability_listed_twice_is_invalid(void)
{
    static const char *const caps[] = { "mapped-ram", "mapped-ram", NULL };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r1-caps.mig");
    guint64 second = 8 + 1 + 4 + 14 + 1 + 1 + 26 + 4 + 4 + 11;

    mr_writer_set_capabilities(w, caps);
    mrt_write(w, path, NULL);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, second,
                   "\"mapped-ram\" listed twice", NULL);
}

static void
test_r1_path_that_is_not_a_regular_file_is_refused(void)
{
    g_autofree char *dir = mrt_path("");
    g_autofree char *missing = mrt_path("does-not-exist.mig");

    MRT_OPEN_FAILS(dir, NULL, MR_ERROR_INVALID, MR_NO_OFFSET,
                   "not a regular file", NULL);
    MRT_OPEN_FAILS(missing, NULL, MR_ERROR_IO, MR_NO_OFFSET, "cannot open",
                   NULL);
}

/* ---- R2: mapped-ram capability --------------------------------------- */

static void
test_r2_ram_section_without_configuration_is_not_mapped_ram(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r2-noconfig.mig");
    MrWriterLayout l;

    mr_writer_set_configuration(w, FALSE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.ram_offset, "mapped-ram",
                   "ram section", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r2_capabilities_without_mapped_ram_are_not_mapped_ram(void)
{
    static const char *const caps[] = { "x-ignore-shared", NULL };
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r2-nocap.mig");
    MrWriterLayout l;

    mr_writer_set_capabilities(w, caps);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.ram_offset, "mapped-ram",
                   NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r2_ram_section_version_3_is_unsupported(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r2-ramver.mig", &l);

    /* type, id, "\x03ram", instance, then the version id. */
    mrt_patch_be32(path, l.ram_offset + 1 + 4 + 4 + 4, 3);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, l.ram_offset,
                   "ram section version 3", NULL);
    mr_writer_layout_clear(&l);
}

static const MrtTest tests[] = {
    MRT_TEST(test_r1_bad_magic_is_invalid),
    MRT_TEST(test_r1_version_2_is_unsupported),
    MRT_TEST(test_r1_truncated_header_is_truncated),
    MRT_TEST(test_r1_wrong_stream_offset_option_is_invalid),
    MRT_TEST(test_r1_unknown_configuration_subsection_is_unsupported),
    MRT_TEST(test_r1_configuration_subsection_outside_configuration_is_invalid),
    MRT_TEST(test_r1_configuration_subsection_version_2_is_unsupported),
    MRT_TEST(test_r1_configuration_subsection_appearing_twice_is_invalid),
    MRT_TEST(test_r1_bad_machine_name_length_is_invalid),
    MRT_TEST(test_r1_capability_listed_twice_is_invalid),
    MRT_TEST(test_r1_path_that_is_not_a_regular_file_is_refused),
    MRT_TEST(test_r2_ram_section_without_configuration_is_not_mapped_ram),
    MRT_TEST(test_r2_capabilities_without_mapped_ram_are_not_mapped_ram),
    MRT_TEST(test_r2_ram_section_version_3_is_unsupported),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "invariants R1-R2: header and configuration", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
