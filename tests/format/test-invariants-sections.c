/* Invariants R13-R15 of docs/FORMAT.md §11: section ids and footers, EOF, the
 * vmdesc's devices against the device sections (the walk must end on the
 * footer, §13.4), and nothing after the vmdesc.
 *
 * Each test starts from a valid writer-made file, damages one field at the
 * offset the writer's layout gives, and checks that mr_file_open refuses it
 * with the right error code and a message naming the file, the offset and
 * the object (block or section).
 */
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "test-helpers.h"

/* ---- R13: footers and section ids ------------------------------------- */

static void
test_r13_wrong_footer_ids_are_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r13-footer.mig");
    MrWriterLayout l;
    struct {
        guint64 at;
        const char *what;
    } cases[4];

    mr_writer_set_parts(w, 1);
    mrt_write(w, path, &l);
    cases[0].at = l.ram_footer_offset + 1;
    cases[0].what = "ram section START";
    cases[1].at = MRT_PART_OFFSET(&l) + MRT_SECTION_EOS_FOOTER + 1;
    cases[1].what = "ram section PART";
    cases[2].at = l.end_section_offset + MRT_SECTION_EOS_FOOTER + 1;
    cases[2].what = "ram section END";
    cases[3].at = MRT_DEVICE(&l, 1)->footer_offset + 1;
    cases[3].what = "section \"slirp\"";
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint32 id;
        mrt_read(path, cases[i].at, &id, 4);
        mrt_patch_be32(path, cases[i].at, 0x77);
        MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, cases[i].at,
                       cases[i].what, "footer names section id 119", NULL);
        mrt_patch(path, cases[i].at, &id, 4);
    }
    mr_writer_layout_clear(&l);
}

static void
test_r13_part_and_end_for_an_unknown_section_are_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r13-part.mig");
    MrWriterLayout l;

    mr_writer_set_parts(w, 1);
    mrt_write(w, path, &l);
    mrt_patch_be32(path, MRT_PART_OFFSET(&l) + 1, 7);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_PART_OFFSET(&l),
                   "PART record for section id 7", NULL);
    mrt_patch_be32(path, MRT_PART_OFFSET(&l) + 1, 2);
    mrt_patch_be32(path, l.end_section_offset + 1, 9);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.end_section_offset,
                   "END record for section id 9", NULL);
    mr_writer_layout_clear(&l);
}

/* A second END (the PART turned into an END) has no open START. */
static void
test_r13_part_after_the_end_is_invalid(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r13-twice.mig");
    MrWriterLayout l;

    mr_writer_set_parts(w, 1);
    mrt_write(w, path, &l);
    mrt_patch_u8(path, MRT_PART_OFFSET(&l), 0x03);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.end_section_offset,
                   "END record for section id 2", "open: none", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R14: EOF and the vmdesc's devices --------------------------------- */

static void
test_r14_stream_without_eof_is_truncated(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r14-noeof.mig");
    MrWriterLayout l;

    mrt_add_pc_blocks(w, 4096);
    mr_writer_set_eof(w, FALSE);
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size,
                   "without an EOF record", NULL);
    mr_writer_layout_clear(&l);
}

/* A save cut short leaves no EOF and no vmdesc (§5: send-configuration=off
 * stops QEMU 10.0.2 even before the devices); with every device section
 * there but no EOF the file is still truncated, and a vmdesc without the
 * EOF byte before it is not a vmdesc (§8.1). */
static void
test_r14_devices_without_eof_are_truncated(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r14-dev.mig");
    MrWriterLayout l;

    mr_writer_set_eof(w, FALSE);
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size - 1,
                   "neither the EOF record", NULL);
    mr_writer_layout_clear(&l);
    mr_writer_set_vmdesc(w, TRUE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size - 1,
                   "neither the EOF record", NULL);
    mr_writer_layout_clear(&l);
}

/* Without a vmdesc, a cut inside a device section that happens to end on a
 * 0x00 byte looks like "... 00" (the EOF record); the footer chain does not
 * reach it, so the file is refused as truncated. */
static void
test_r14_no_vmdesc_cut_on_a_zero_byte_is_truncated(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("r14-cut0.mig");
    MrWriterLayout l;
    const MrWrittenSection *last;
    guint64 cut = 0;
    g_autofree guint8 *body = NULL;
    gsize n;

    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    last = MRT_DEVICE(&l, l.devices->len - 1);
    n = (gsize)(last->footer_offset - last->body_offset);
    body = g_malloc(n);
    {
        FILE *fp = fopen(path, "rb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
        CU_ASSERT_FATAL(fseeko(fp, (off_t)last->body_offset, SEEK_SET) == 0);
        CU_ASSERT_FATAL(fread(body, 1, n, fp) == n);
        fclose(fp);
    }
    for (gsize i = 0; i < n; i++)
        if (body[i] == 0)
            cut = last->body_offset + i + 1;
    MRT_CHECK(cut != 0, "the last device body has a zero byte to cut after");
    CU_ASSERT_FATAL(truncate(path, (off_t)cut) == 0);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, last->offset,
                   "has no footer before the end of the file", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r14_vmdesc_listing_more_devices_than_the_stream_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r14-more.mig", &l);
    json_object *v = mrt_load_vmdesc(path, &l);
    json_object *devs = json_object_object_get(v, "devices");

    json_object_array_add(devs, json_tokener_parse(
        "{\"name\":\"extra\",\"instance_id\":0,\"vmsd_name\":\"extra\","
        "\"version\":1,\"fields\":[]}"));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.vmdesc_json_offset,
                   "lists 4 devices but the stream has 3", NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

static void
test_r14_vmdesc_listing_fewer_devices_than_the_stream_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r14-fewer.mig", &l);
    json_object *v = mrt_load_vmdesc(path, &l);

    json_object_array_del_idx(json_object_object_get(v, "devices"), 2, 1);
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_DEVICE(&l, 2)->offset,
                   "section \"globalstate\"", "lists only 2 devices", NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

/* Edits one key of devices[i] in the vmdesc and expects the open to fail
 * at that device's section, naming it. */
static void
check_vmdesc_entry_edit(guint i, const char *key, json_object *value,
                        const char *needle)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r14-entry.mig", &l);
    json_object *v = mrt_load_vmdesc(path, &l);
    json_object *d = json_object_array_get_idx(json_object_object_get(v, "devices"),
                                               i);
    g_autofree char *section = g_strdup_printf("section \"%s\"",
                                               mrt_pc_devices[i].idstr);

    json_object_object_add(d, key, value);
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_DEVICE(&l, i)->offset,
                   section, needle, NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

static void
test_r14_vmdesc_device_name_instance_or_version_mismatch_is_invalid(void)
{
    check_vmdesc_entry_edit(0, "name", json_object_new_string("timer2"),
                            "out of step");
    check_vmdesc_entry_edit(2, "instance_id", json_object_new_int(1),
                            "out of step");
    check_vmdesc_entry_edit(0, "version", json_object_new_int(3),
                            "vmdesc version 3, section header version 2");
}

/* The vmdesc size of one field of "timer" (its last, 8 bytes) changed to
 * `size`: the walk ends elsewhere than on the footer. */
static char *
timer_with_field_size(const char *name, gint size, gboolean footers,
                      const guint8 *last_body_byte, MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    char *path = mrt_path(name);
    MrtDeviceSpec timer = mrt_pc_devices[0];
    guint8 body[24];
    json_object *v, *d, *fields;

    memcpy(body, timer.body, sizeof(body));
    if (last_body_byte)
        body[23] = *last_body_byte;
    timer.body = body;
    mrt_add_pc_blocks(w, 4096);
    mrt_add_device(w, &timer, FALSE);
    mrt_add_device(w, &mrt_pc_devices[1], FALSE);
    mr_writer_set_footers(w, footers);
    mrt_write(w, path, l);
    v = mrt_load_vmdesc(path, l);
    d = json_object_array_get_idx(json_object_object_get(v, "devices"), 0);
    fields = json_object_object_get(d, "fields");
    json_object_object_add(json_object_array_get_idx(fields, 2), "size",
                           json_object_new_int(size));
    mrt_replace_vmdesc(path, l, json_object_to_json_string(v));
    json_object_put(v);
    return path;
}

static void
test_r14_vmdesc_size_ending_inside_the_body_is_invalid(void)
{
    const guint8 last = 0x55;
    MrWriterLayout l;
    g_autofree char *path = timer_with_field_size("r14-short.mig", 7, TRUE,
                                                  &last, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   MRT_DEVICE(&l, 0)->footer_offset - 1, "section \"timer\"",
                   "vmdesc sizes do not match", NULL);
    mr_writer_layout_clear(&l);
}

/* The walk ends one byte early on a body byte 0x00, which looks like the
 * EOF record; the file has footers, so a section without one is wrong. */
static void
test_r14_vmdesc_size_ending_on_a_zero_body_byte_is_invalid(void)
{
    const guint8 last = 0x00;
    MrWriterLayout l;
    g_autofree char *path = timer_with_field_size("r14-zero.mig", 7, TRUE,
                                                  &last, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   MRT_DEVICE(&l, 0)->footer_offset - 1, "section \"timer\"",
                   NULL);
    mr_writer_layout_clear(&l);
}

/* One byte too many: the walk eats the footer's 0x7e and stops on the
 * 0x00 of the footer's id. */
static void
test_r14_vmdesc_size_ending_inside_the_footer_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = timer_with_field_size("r14-long.mig", 9, TRUE,
                                                  NULL, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   MRT_DEVICE(&l, 0)->footer_offset + 1, "section \"timer\"",
                   NULL);
    mr_writer_layout_clear(&l);
}

/* Five bytes too many swallow the whole footer and end exactly on the next
 * section's FULL byte: the walk "ends on a record", but the footer that
 * every other section has is missing. */
static void
test_r14_vmdesc_size_swallowing_the_footer_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = timer_with_field_size("r14-swallow.mig", 13, TRUE,
                                                  NULL, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_DEVICE(&l, 1)->offset,
                   "section \"timer\"", NULL);
    mr_writer_layout_clear(&l);
}

/* An early-setup section whose vmdesc size swallows its footer ends right on
 * the ram START byte; the footer mode is known only once that START has
 * been read, and the early section is checked then. */
static void
test_r14_early_device_vmdesc_size_swallowing_its_footer_is_invalid(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r14-early-swallow.mig");
    MrWriterLayout l;
    json_object *v, *d;

    mrt_add_pc_blocks(w, 4096);
    mrt_add_device(w, &mrt_pc_devices[1], TRUE); /* slirp: 12-byte buffer */
    mrt_write(w, path, &l);
    v = mrt_load_vmdesc(path, &l);
    d = json_object_array_get_idx(json_object_object_get(v, "devices"), 0);
    json_object_object_add(d, "size", json_object_new_int(12 + 5));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.ram_offset,
                   "section \"slirp\"", "no section footer", NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

/* Without footers the only check is that a record follows (§13.4 step 3). */
static void
test_r14_vmdesc_size_lying_without_footers_is_invalid(void)
{
    const guint8 last = 0x55;
    MrWriterLayout l;
    g_autofree char *path = timer_with_field_size("r14-nofoot.mig", 7, FALSE,
                                                  &last, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   MRT_DEVICE(&l, 0)->end_offset - 1, "section \"timer\"",
                   "neither a section footer nor a record", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_r14_vmdesc_that_is_not_valid_json_or_has_no_devices_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r14-json.mig", &l);

    mrt_replace_vmdesc(path, &l, "{\"page_size\":4096,\"devices\":[}");
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_ANY_OFFSET,
                   "vmdesc JSON", NULL);
    mrt_replace_vmdesc(path, &l, "{\"page_size\":4096}");
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.vmdesc_json_offset,
                   "\"devices\" array", NULL);
    mrt_replace_vmdesc(path, &l, "{\"devices\":[1,2,3]}");
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.vmdesc_json_offset,
                   "devices[0] is not an object", NULL);
    mr_writer_layout_clear(&l);
}

/* §8.2: without a vmdesc an early-setup section cannot be skipped. */
static void
test_r14_early_device_without_vmdesc_is_unsupported(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r14-early.mig");
    MrWriterLayout l;

    mrt_add_pc_blocks(w, 4096);
    mrt_add_device(w, &mrt_pc_devices[0], TRUE);
    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, &l);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, MRT_DEVICE(&l, 0)->offset,
                   "section \"timer\"", "before the ram section", NULL);
    mr_writer_layout_clear(&l);
}

/* Bytes between EOF and the vmdesc (0x00 kept before the 0x06 so that the
 * vmdesc is still found). */
static void
test_r14_bytes_between_eof_and_the_vmdesc_are_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r14-gap.mig", &l);
    gsize n = (gsize)(l.file_size - l.vmdesc_offset);
    g_autofree guint8 *vmdesc = g_malloc(n);

    mrt_read(path, l.vmdesc_offset, vmdesc, n);
    mrt_patch(path, l.vmdesc_offset + 3, vmdesc, n);
    mrt_patch(path, l.vmdesc_offset, "\x00\x00\x00", 3);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.eof_offset + 1,
                   "3 bytes between the EOF record and the vmdesc", NULL);
    mr_writer_layout_clear(&l);
}

/* ---- R15: nothing after the vmdesc ------------------------------------ */

/* The vmdesc must end at end of file to be found at all (§8.1): with bytes
 * after it, the file reads as one whose stream does not end with EOF. */
static void
test_r15_bytes_after_the_vmdesc_fail_the_open(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("r15.mig", &l);

    mrt_append(path, "junk", 4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size + 3,
                   "neither the EOF record", NULL);
    mrt_truncate(path, l.file_size);
    mrt_append(path, "{}", 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size + 1,
                   "neither the EOF record", NULL);
    mr_writer_layout_clear(&l);
}

/* Without device sections the stream's end is known exactly. */
static void
test_r15_bytes_after_eof_without_devices_are_invalid(void)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("r15-bare.mig");
    MrWriterLayout l;

    mrt_add_pc_blocks(w, 4096);
    mrt_write(w, path, &l);
    mrt_append(path, "\0\0", 2);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, l.eof_offset + 1,
                   "unexpected bytes after the EOF record", NULL);
    mr_writer_layout_clear(&l);
}

static const MrtTest tests[] = {
    MRT_TEST(test_r13_wrong_footer_ids_are_invalid),
    MRT_TEST(test_r13_part_and_end_for_an_unknown_section_are_invalid),
    MRT_TEST(test_r13_part_after_the_end_is_invalid),
    MRT_TEST(test_r14_stream_without_eof_is_truncated),
    MRT_TEST(test_r14_devices_without_eof_are_truncated),
    MRT_TEST(test_r14_no_vmdesc_cut_on_a_zero_byte_is_truncated),
    MRT_TEST(test_r14_vmdesc_listing_more_devices_than_the_stream_is_invalid),
    MRT_TEST(test_r14_vmdesc_listing_fewer_devices_than_the_stream_is_invalid),
    MRT_TEST(test_r14_vmdesc_device_name_instance_or_version_mismatch_is_invalid),
    MRT_TEST(test_r14_vmdesc_size_ending_inside_the_body_is_invalid),
    MRT_TEST(test_r14_vmdesc_size_ending_on_a_zero_body_byte_is_invalid),
    MRT_TEST(test_r14_vmdesc_size_ending_inside_the_footer_is_invalid),
    MRT_TEST(test_r14_vmdesc_size_swallowing_the_footer_is_invalid),
    MRT_TEST(test_r14_early_device_vmdesc_size_swallowing_its_footer_is_invalid),
    MRT_TEST(test_r14_vmdesc_size_lying_without_footers_is_invalid),
    MRT_TEST(test_r14_vmdesc_that_is_not_valid_json_or_has_no_devices_is_invalid),
    MRT_TEST(test_r14_early_device_without_vmdesc_is_unsupported),
    MRT_TEST(test_r14_bytes_between_eof_and_the_vmdesc_are_invalid),
    MRT_TEST(test_r15_bytes_after_the_vmdesc_fail_the_open),
    MRT_TEST(test_r15_bytes_after_eof_without_devices_are_invalid),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "invariants R13-R15: sections, EOF, vmdesc", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
