/* The model as JSON (mr-summary.h): keys, values and JSON types of what
 * `mramfs-info --json` prints, checked after a round trip through text so
 * that offsets really are JSON integers. */
#include <json-c/json.h>
#include <string.h>

#include "mr-summary.h"
#include "test-helpers.h"

/* The summary printed and parsed back. */
static json_object *
summary_text_round_trip(const MrFile *f)
{
    json_object *o = mr_summary_json(f);
    json_object *back = json_tokener_parse(json_object_to_json_string(o));

    json_object_put(o);
    return back;
}

static json_object *
key(json_object *o, const char *k)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

#define CHECK_INT(o, k, want)                                                 \
    do {                                                                      \
        json_object *v_ = key((o), (k));                                      \
        MRT_CHECK(v_ && json_object_is_type(v_, json_type_int) &&             \
                  (guint64)json_object_get_uint64(v_) == (guint64)(want),     \
                  "\"%s\" is the integer 0x%" G_GINT64_MODIFIER "x (got %s)", \
                  (k), (guint64)(want),                                       \
                  v_ ? json_object_to_json_string(v_) : "nothing");          \
    } while (0)

#define CHECK_STRING(o, k, want)                                              \
    do {                                                                      \
        json_object *v_ = key((o), (k));                                      \
        MRT_CHECK(v_ && json_object_is_type(v_, json_type_string) &&          \
                  g_str_equal(json_object_get_string(v_), (want)),            \
                  "\"%s\" is \"%s\" (got %s)", (k), (want),                   \
                  v_ ? json_object_to_json_string(v_) : "nothing");          \
    } while (0)

#define CHECK_BOOL(o, k, want)                                                \
    do {                                                                      \
        json_object *v_ = key((o), (k));                                      \
        MRT_CHECK(v_ && json_object_is_type(v_, json_type_boolean) &&         \
                  json_object_get_boolean(v_) == (want),                      \
                  "\"%s\" is %s", (k), (want) ? "true" : "false");            \
    } while (0)

static void
test_summary_lists_ram_blocks_with_integer_offsets(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("sum.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    json_object *s, *blocks;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = summary_text_round_trip(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CHECK_STRING(s, "file", path);
    CHECK_INT(s, "file_size", l.file_size);
    CHECK_INT(s, "stream_offset", 0);
    CHECK_STRING(s, "machine", "pc-i440fx-10.0");
    CHECK_INT(s, "page_size", 4096);
    CHECK_STRING(s, "bitmap_order", "le");
    CHECK_INT(s, "ram_total", 0x880000);
    CHECK_INT(s, "ram_section_offset", l.ram_offset);
    CHECK_INT(s, "eof_offset", l.eof_offset);
    MRT_CHECK(json_object_array_length(key(s, "capabilities")) == 1 &&
              g_str_equal(json_object_get_string(json_object_array_get_idx(
                  key(s, "capabilities"), 0)), "mapped-ram"),
              "capabilities: [\"mapped-ram\"]");
    CU_ASSERT_PTR_NULL(key(s, "uuid"));
    blocks = key(s, "ram_blocks");
    CU_ASSERT_FATAL(blocks && json_object_is_type(blocks, json_type_array));
    MRT_CHECK_U64(json_object_array_length(blocks), mrt_pc_nblocks);
    for (guint i = 0; i < mrt_pc_nblocks && i < json_object_array_length(blocks);
         i++) {
        json_object *b = json_object_array_get_idx(blocks, i);
        const MrtBlockSpec *spec = &mrt_pc_blocks[i];
        const MrWrittenBlock *wb = MRT_BLOCK(&l, i);
        CHECK_STRING(b, "name", spec->idstr);
        CHECK_INT(b, "used_length", spec->used_length);
        CHECK_INT(b, "page_size", 4096);
        CHECK_INT(b, "num_pages", spec->used_length / 4096);
        CHECK_INT(b, "present_pages", spec->npages);
        CHECK_INT(b, "stored_bytes", spec->npages * 4096);
        CHECK_BOOL(b, "stored", TRUE);
        CHECK_INT(b, "desc_offset", wb->desc_offset);
        CHECK_INT(b, "header_offset", wb->header_offset);
        CHECK_INT(b, "bitmap_offset", wb->bitmap_offset);
        CHECK_INT(b, "bitmap_size", wb->bitmap_size);
        CHECK_INT(b, "pages_offset", wb->pages_offset);
        CU_ASSERT_PTR_NULL(key(b, "mr_addr"));
    }
    json_object_put(s);
    mr_writer_layout_clear(&l);
}

static void
test_summary_lists_devices_commands_and_the_vmdesc(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("sumdev.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    json_object *s, *devs, *cmds, *v;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = summary_text_round_trip(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    devs = key(s, "devices");
    CU_ASSERT_FATAL(devs && json_object_is_type(devs, json_type_array));
    MRT_CHECK_U64(json_object_array_length(devs), mrt_pc_ndevices);
    for (guint i = 0; i < mrt_pc_ndevices && i < json_object_array_length(devs);
         i++) {
        json_object *d = json_object_array_get_idx(devs, i);
        const MrtDeviceSpec *spec = &mrt_pc_devices[i];
        const MrWrittenSection *ws = MRT_DEVICE(&l, i);
        CHECK_STRING(d, "name", spec->idstr);
        CHECK_INT(d, "instance_id", spec->instance_id);
        CHECK_INT(d, "version_id", spec->version_id);
        CHECK_INT(d, "section_id", ws->section_id);
        CHECK_INT(d, "offset", ws->offset);
        CHECK_INT(d, "size", ws->end_offset - ws->offset);
        CHECK_INT(d, "body_offset", ws->body_offset);
        CHECK_INT(d, "body_size", spec->body_len);
        CHECK_BOOL(d, "before_ram", FALSE);
    }
    CHECK_BOOL(s, "devices_decodable", TRUE);
    cmds = key(s, "commands");
    CU_ASSERT_FATAL(cmds && json_object_array_length(cmds) == 1);
    CHECK_INT(json_object_array_get_idx(cmds, 0), "command", 11);
    CHECK_INT(json_object_array_get_idx(cmds, 0), "length", 0);
    CHECK_INT(json_object_array_get_idx(cmds, 0), "offset", l.command_offset);
    v = key(s, "vmdesc");
    CU_ASSERT_FATAL(v && json_object_is_type(v, json_type_object));
    CHECK_INT(v, "offset", l.vmdesc_json_offset);
    CHECK_INT(v, "size", l.file_size - l.vmdesc_json_offset);
    MRT_CHECK_U64(json_object_array_length(key(s, "warnings")), 0);
    json_object_put(s);
    mr_writer_layout_clear(&l);
}

static void
test_summary_without_vmdesc_has_null_vmdesc_and_the_warning(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("sumnov.mig");
    g_autoptr(MrFile) f = NULL;
    json_object *s, *warnings, *v = (json_object *)1;

    mr_writer_set_vmdesc(w, FALSE);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = summary_text_round_trip(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(json_object_object_get_ex(s, "vmdesc", &v));
    CU_ASSERT_PTR_NULL(v);
    CHECK_BOOL(s, "devices_decodable", FALSE);
    MRT_CHECK_U64(json_object_array_length(key(s, "devices")), 3);
    warnings = key(s, "warnings");
    MRT_CHECK(warnings && json_object_array_length(warnings) == 1 &&
              strstr(json_object_get_string(json_object_array_get_idx(warnings, 0)),
                     "no vmdesc"), "the no-vmdesc warning is listed");
    json_object_put(s);
}

static void
test_summary_of_x_ignore_shared_file_has_mr_addr_and_unstored_blocks(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    static const guint8 uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56,
                                     0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34,
                                     0x56, 0x78 };
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autofree char *path = mrt_path("sumshared.mig");
    g_autoptr(MrFile) f = NULL;
    json_object *s, *b0, *b1;

    mr_writer_set_capabilities(w, caps);
    mr_writer_set_uuid(w, uuid);
    mr_writer_add_block(w, "pc.ram", 0x10000);
    mr_writer_block_set_skipped(w, 0);
    mr_writer_add_block(w, "pc.bios", 0x40000);
    mr_writer_block_set_mr_addr(w, 1, 0xfffc0000);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = summary_text_round_trip(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CHECK_STRING(s, "uuid", "12345678-1234-5678-9abc-def012345678");
    b0 = json_object_array_get_idx(key(s, "ram_blocks"), 0);
    b1 = json_object_array_get_idx(key(s, "ram_blocks"), 1);
    CHECK_BOOL(b0, "stored", FALSE);
    CHECK_INT(b0, "present_pages", 0);
    CHECK_INT(b0, "bitmap_offset", 0);
    CHECK_INT(b0, "pages_offset", 0);
    CHECK_INT(b0, "mr_addr", 0);
    CHECK_BOOL(b1, "stored", TRUE);
    CHECK_INT(b1, "mr_addr", 0xfffc0000);
    json_object_put(s);
}

static void
test_summary_reports_the_stream_offset_and_bitmap_order(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("sumoff.mig");
    g_autoptr(MrFile) f = NULL;
    MrOpenOptions opts = { .has_stream_offset = TRUE, .stream_offset = 0x3000,
                           .bitmap_order = MR_BITMAP_BE64 };
    json_object *s;

    mr_writer_set_stream_offset(w, 0x3000);
    mr_writer_set_bitmap_layout(w, MR_BITMAP_BE64, 64);
    mrt_write(w, path, NULL);
    f = MRT_OPEN(path, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = summary_text_round_trip(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CHECK_INT(s, "stream_offset", 0x3000);
    CHECK_STRING(s, "bitmap_order", "be64");
    CHECK_INT(json_object_array_get_idx(key(s, "ram_blocks"), 0),
              "present_pages", mrt_pc_blocks[0].npages);
    json_object_put(s);
}

/* SEEK_DATA over a page area: only present pages were written (§9.5). */
static void
test_allocated_bytes_count_only_written_pages(void)
{
    MrWriterLayout l;
    g_autofree char *path = mrt_write_pc("alloc.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (guint i = 0; i < mrt_pc_nblocks; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        gint64 n = mr_block_allocated_bytes(f, b);
        /* -1: the file system cannot tell. */
        MRT_CHECK(n == -1 || (guint64)n == mrt_pc_blocks[i].npages * 4096,
                  "block %s: %" G_GINT64_FORMAT " bytes allocated, %zu pages "
                  "written", b->idstr, n, mrt_pc_blocks[i].npages);
    }
    mr_writer_layout_clear(&l);
}

static const MrtTest summary_tests[] = {
    MRT_TEST(test_summary_lists_ram_blocks_with_integer_offsets),
    MRT_TEST(test_summary_lists_devices_commands_and_the_vmdesc),
    MRT_TEST(test_summary_without_vmdesc_has_null_vmdesc_and_the_warning),
    MRT_TEST(test_summary_of_x_ignore_shared_file_has_mr_addr_and_unstored_blocks),
    MRT_TEST(test_summary_reports_the_stream_offset_and_bitmap_order),
    MRT_TEST(test_allocated_bytes_count_only_written_pages),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "summary JSON", summary_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
