/* libvirt save images (mr-libvirt.h, docs/LIBVIRT.md) and the other files
 * users take for a snapshot (mr-foreign.c): a writer-made stream behind a
 * libvirt header this test lays out itself, opened at 92 + data_len exactly
 * and without a warning; headers that lie, unfinished saves and the
 * formats mramfs cannot read are refused with the offset and what was
 * expected; compressed files, qcow2 images and memory dumps are named. */
#include <json-c/json.h>
#include <string.h>

#include "mr-summary.h"
#include "test-helpers.h"

#define XML "<domain type='kvm'>\n  <name>guest-1</name>\n  <uuid>" \
            "0b7f7c0e-8a4a-4d55-9d37-7d1a5f0e2b11</uuid>\n</domain>\n"
#define COOKIE "<cookie>\n  <cpu mode='custom'/>\n</cookie>\n"

typedef struct {
    guint32 magic_partial;
    guint32 version;
    guint32 data_len;   /* 0: XML + NUL + cookie + NUL + 64 KiB, as libvirt */
    guint32 was_running;
    guint32 format;
    gboolean cookie;
    gboolean big_endian;
    const char *xml;    /* NULL: XML */
} Image;

static void
put32(guint8 *p, guint32 v, gboolean big_endian)
{
    v = big_endian ? GUINT32_TO_BE(v) : GUINT32_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

static guint32
natural_data_len(const Image *im)
{
    const char *xml = im->xml ? im->xml : XML;

    return (guint32)(strlen(xml) + 1 + (im->cookie ? strlen(COOKIE) + 1 : 0) +
                     64 * 1024);
}

/* Lays out libvirt's header (as libvirt writes it) before a writer-made
 * stream at 92 + data_len; stream_at moves the stream elsewhere. */
static char *
write_image_at(const char *name, const Image *im, guint64 stream_at,
               MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    char *path = mrt_path(name);
    const char *xml = im->xml ? im->xml : XML;
    gsize xml_len = strlen(xml) + 1;
    guint32 data_len = im->data_len ? im->data_len : natural_data_len(im);
    guint8 hdr[92] = { 0 };

    mr_writer_set_stream_offset(w, stream_at);
    mrt_write(w, path, l);
    memcpy(hdr, im->magic_partial ? "LibvirtQemudPart" : "LibvirtQemudSave", 16);
    put32(hdr + 16, im->version ? im->version : 2, im->big_endian);
    put32(hdr + 20, data_len, im->big_endian);
    put32(hdr + 24, im->was_running, im->big_endian);
    put32(hdr + 28, im->format, im->big_endian);
    put32(hdr + 32, im->cookie ? (guint32)xml_len : 0, im->big_endian);
    mrt_patch(path, 0, hdr, sizeof(hdr));
    /* The writer filled the gap with its own bytes: zeros, as libvirt. */
    {
        g_autofree guint8 *zeros = g_malloc0(stream_at - 92);
        mrt_patch(path, 92, zeros, stream_at - 92);
    }
    mrt_patch(path, 92, xml, MIN(xml_len, stream_at - 92));
    if (im->cookie)
        mrt_patch(path, 92 + xml_len, COOKIE, strlen(COOKIE) + 1);
    return path;
}

static char *
write_image(const char *name, const Image *im, MrWriterLayout *l)
{
    guint32 data_len = im->data_len ? im->data_len : natural_data_len(im);

    return write_image_at(name, im, 92 + (guint64)data_len, l);
}

static void
test_sparse_image_opens_at_92_plus_data_len_without_warning(void)
{
    Image im = { .format = 6, .cookie = TRUE, .was_running = 1 };
    MrWriterLayout l;
    g_autofree char *path = write_image("sparse.img", &im, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    guint64 want = 92 + natural_data_len(&im);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK(want % 8 != 0, "the stream is not aligned (0x%" G_GINT64_MODIFIER
              "x), as in libvirt's files", want);
    MRT_CHECK_U64(f->stream_offset, want);
    CU_ASSERT_FALSE(f->stream_offset_detected);
    MRT_CHECK(f->warnings->len == 0, "no warnings (first: %s)",
              f->warnings->len ? (char *)g_ptr_array_index(f->warnings, 0) : "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->libvirt);
    MRT_CHECK_U64(f->libvirt->version, 2);
    MRT_CHECK_U64(f->libvirt->data_len, natural_data_len(&im));
    MRT_CHECK_U64(f->libvirt->was_running, 1);
    MRT_CHECK_U64(f->libvirt->format, 6);
    MRT_CHECK_U64(f->libvirt->cookie_offset, strlen(XML) + 1);
    MRT_CHECK_U64(f->libvirt->stream_offset, want);
    CU_ASSERT_FALSE(f->libvirt->big_endian);
    MRT_CHECK_STR(f->libvirt->xml, XML);
    MRT_CHECK_U64(f->libvirt->xml_len, strlen(XML));
    MRT_CHECK_STR(f->libvirt->domain_name, "guest-1");
    mrt_check_pc_blocks(f, &l);
    mrt_check_devices(f, &l, mrt_pc_devices, mrt_pc_ndevices, TRUE);
    mr_writer_layout_clear(&l);
}

static void
test_image_without_cookie_or_padding_keeps_the_whole_xml(void)
{
    Image im = { .format = 6, .data_len = (guint32)strlen(XML) };
    MrWriterLayout l;
    g_autofree char *path = write_image("nopad.img", &im, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->stream_offset, 92 + strlen(XML));
    MRT_CHECK_STR(f->libvirt->xml, XML);
    MRT_CHECK_STR(f->libvirt->domain_name, "guest-1");
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

static void
test_header_from_a_big_endian_host_is_read(void)
{
    Image im = { .format = 6, .big_endian = TRUE };
    MrWriterLayout l;
    g_autofree char *path = write_image("be.img", &im, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->libvirt->big_endian);
    MRT_CHECK_U64(f->libvirt->data_len, natural_data_len(&im));
    MRT_CHECK_U64(f->stream_offset, 92 + natural_data_len(&im));
    mr_writer_layout_clear(&l);
}

static void
test_domain_name_is_unescaped_and_taken_from_domain_only(void)
{
    Image im = { .format = 6, .xml = "<?xml version='1.0'?>\n<!-- saved -->\n"
                 "<domain type='qemu'><name>a&amp;b &lt;1&gt;</name><devices>"
                 "<disk><name>not-this</name></disk></devices></domain>" };
    MrWriterLayout l;
    g_autofree char *path = write_image("esc.img", &im, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_STR(f->libvirt->domain_name, "a&b <1>");
    mr_writer_layout_clear(&l);
}

static void
test_xml_without_a_name_opens_with_a_warning(void)
{
    static const char *const bad[] = {
        "<domain type='qemu'><uuid>x</uuid></domain>",
        "<domain type='qemu'><name>unclosed</domain>",
        "<network><name>net</name></network>",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        Image im = { .format = 6, .xml = bad[i] };
        MrWriterLayout l;
        g_autofree char *path = write_image("noname.img", &im, &l);
        g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_PTR_NULL(f->libvirt->domain_name);
        MRT_CHECK_STR(f->libvirt->xml, bad[i]);
        MRT_CHECK(mrt_count_warnings(f, "offset 0x5c: libvirt header: no domain "
                                     "name") == 1, "warning for %s", bad[i]);
        mrt_check_pc_blocks(f, &l);
        mr_writer_layout_clear(&l);
    }
}

static void
test_offset_option_must_agree_with_the_header(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    g_autofree char *path = write_image("opt.img", &im, &l);
    guint64 at = 92 + natural_data_len(&im);
    MrOpenOptions same = { .has_stream_offset = TRUE, .stream_offset = at };
    MrOpenOptions other = { .has_stream_offset = TRUE, .stream_offset = at + 1 };
    g_autoptr(MrFile) f = MRT_OPEN(path, &same);
    g_autofree char *want = g_strdup_printf("not at the offset given (0x%"
                                            G_GINT64_MODIFIER "x)", at + 1);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(f->libvirt);
    MRT_OPEN_FAILS(path, &other, MR_ERROR_INVALID, 0x14, want, NULL);
    mr_writer_layout_clear(&l);
}

static void
test_every_other_format_is_refused_with_how_to_save_a_sparse_one(void)
{
    static const char *const names[] = { "raw", "gzip", "bzip2", "xz", "lzop",
                                         "zstd" };

    for (guint32 fmt = 0; fmt < G_N_ELEMENTS(names); fmt++) {
        Image im = { .format = fmt };
        MrWriterLayout l;
        g_autofree char *path = write_image("fmt.img", &im, &l);
        g_autofree char *named = g_strdup_printf("in the \"%s\" format",
                                                 names[fmt]);

        MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 0x1c, named,
                       "virsh save DOMAIN FILE --image-format sparse",
                       "save_image_format = \"sparse\" in qemu.conf",
                       fmt == 0 ? "record stream" : "compressed", NULL);
        mr_writer_layout_clear(&l);
    }
}

static void
test_unknown_format_is_refused_with_its_number(void)
{
    Image im = { .format = 7 };
    MrWriterLayout l;
    g_autofree char *path = write_image("fmt7.img", &im, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 0x1c, "save image format 7",
                   NULL);
    mr_writer_layout_clear(&l);
}

static void
test_unknown_version_is_refused(void)
{
    static const guint32 versions[] = { 1, 3, 0x02000000u + 1 };

    for (gsize i = 0; i < G_N_ELEMENTS(versions); i++) {
        Image im = { .format = 6, .version = versions[i] };
        MrWriterLayout l;
        g_autofree char *path = write_image("ver.img", &im, &l);
        g_autofree char *want = g_strdup_printf("header version %u", versions[i]);

        MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 0x10, want,
                       "expected 2", NULL);
        mr_writer_layout_clear(&l);
    }
}

static void
test_data_len_past_eof_is_refused(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    g_autofree char *path = write_image("past.img", &im, &l);
    guint32 lie = GUINT32_TO_LE((guint32)l.file_size);

    mrt_patch(path, 20, &lie, sizeof(lie));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, 0x14, "past the end of the file",
                   NULL);
    lie = GUINT32_TO_LE((guint32)l.file_size - 92 - 2);
    mrt_patch(path, 20, &lie, sizeof(lie));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, l.file_size - 2,
                   "the file ends at", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_data_len_zero_is_refused(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    g_autofree char *path = write_image("zero.img", &im, &l);
    guint32 zero = 0;

    mrt_patch(path, 20, &zero, sizeof(zero));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, 0x14, "data_len is 0", NULL);
    mr_writer_layout_clear(&l);
}

/* A stream at another offset than the header says, even one the magic
 * search would have found, is refused, not guessed. */
static void
test_stream_not_at_92_plus_data_len_is_refused(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    guint64 said = 92 + natural_data_len(&im);
    g_autofree char *path = write_image_at("moved.img", &im, said + 8, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, said, "92 + data_len",
                   "expected the magic \"QEVM\"", "found 00 00 00 00", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_compressed_stream_behind_a_sparse_header_is_named(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    g_autofree char *path = write_image("gzstream.img", &im, &l);
    guint64 at = 92 + natural_data_len(&im);

    mrt_patch(path, at, "\x1f\x8b\x08\x00", 4);
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, at, "found 1f 8b 08 00",
                   "gzip-compressed", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_cookie_offset_outside_data_is_refused(void)
{
    Image im = { .format = 6 };
    MrWriterLayout l;
    g_autofree char *path = write_image("cookie.img", &im, &l);
    guint32 lie = GUINT32_TO_LE(natural_data_len(&im));

    mrt_patch(path, 32, &lie, sizeof(lie));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, 0x20, "cookie_offset", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_unfinished_save_is_refused(void)
{
    Image im = { .format = 6, .magic_partial = TRUE };
    MrWriterLayout l;
    g_autofree char *path = write_image("part.img", &im, &l);

    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, 0, "unfinished libvirt save image",
                   "LibvirtQemudPart", NULL);
    mr_writer_layout_clear(&l);
}

static void
test_header_cut_short_is_refused(void)
{
    g_autofree char *path = mrt_path("short.img");

    CU_ASSERT_FATAL(g_file_set_contents(path, "LibvirtQemudSave\x02\0\0\0", 20,
                                        NULL));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_TRUNCATED, 0x10, "92 bytes expected",
                   NULL);
}

static void
test_summary_json_describes_the_header(void)
{
    Image im = { .format = 6, .cookie = TRUE };
    MrWriterLayout l;
    g_autofree char *path = write_image("json.img", &im, &l);
    g_autofree char *plain = mrt_write_pc("plain.mig", NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MrFile) p = MRT_OPEN(plain, NULL);
    json_object *s, *lv, *v;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    s = mr_summary_json(f);
    CU_ASSERT_FATAL(json_object_object_get_ex(s, "libvirt", &lv) && lv);
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(lv, "format")),
                  "sparse");
    MRT_CHECK_STR(json_object_get_string(json_object_object_get(lv, "domain")),
                  "guest-1");
    v = json_object_object_get(lv, "stream_offset");
    MRT_CHECK(json_object_is_type(v, json_type_int) &&
              json_object_get_uint64(v) == 92 + natural_data_len(&im),
              "stream_offset is the integer 92 + data_len");
    MRT_CHECK_U64(json_object_get_int64(json_object_object_get(lv, "xml_length")),
                  strlen(XML));
    MRT_CHECK_U64(json_object_get_int64(json_object_object_get(lv, "cookie_offset")),
                  strlen(XML) + 1);
    json_object_put(s);
    s = mr_summary_json(p);
    CU_ASSERT(json_object_object_get_ex(s, "libvirt", &lv) && lv == NULL);
    json_object_put(s);
    mr_writer_layout_clear(&l);
}

static void
test_files_taken_for_snapshots_are_named(void)
{
    static const struct {
        const char *bytes;
        gsize len;
        const char *needle;
    } files[] = {
        { "QFI\xfb\0\0\0\3", 8, "a qcow2 disk image" },
        { "\x1f\x8b\x08\0", 4, "gzip-compressed" },
        { "\xfd" "7zXZ\0\0", 7, "xz-compressed" },
        { "\x28\xb5\x2f\xfd\x04", 5, "zstd-compressed" },
        { "BZh91AY&SY", 10, "bzip2-compressed" },
        { "\x89LZO\0\r\n\x1a\n\x10", 10, "lzop-compressed" },
        { "KDUMP   \1\0\0\0", 12, "kdump-compressed memory dump" },
        { "\x7f" "ELF\2\1\1", 7, "an ELF file" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = mrt_path("foreign.bin");
        guint8 tail[4096] = { 0 };

        CU_ASSERT_FATAL(g_file_set_contents(path, files[i].bytes,
                                            (gssize)files[i].len, NULL));
        mrt_append(path, tail, sizeof(tail));
        MRT_OPEN_FAILS(path, NULL, MR_ERROR_UNSUPPORTED, 0, files[i].needle,
                       "not a migration stream", NULL);
    }
}

static const MrtTest tests[] = {
    MRT_TEST(test_sparse_image_opens_at_92_plus_data_len_without_warning),
    MRT_TEST(test_image_without_cookie_or_padding_keeps_the_whole_xml),
    MRT_TEST(test_header_from_a_big_endian_host_is_read),
    MRT_TEST(test_domain_name_is_unescaped_and_taken_from_domain_only),
    MRT_TEST(test_xml_without_a_name_opens_with_a_warning),
    MRT_TEST(test_offset_option_must_agree_with_the_header),
    MRT_TEST(test_every_other_format_is_refused_with_how_to_save_a_sparse_one),
    MRT_TEST(test_unknown_format_is_refused_with_its_number),
    MRT_TEST(test_unknown_version_is_refused),
    MRT_TEST(test_data_len_past_eof_is_refused),
    MRT_TEST(test_data_len_zero_is_refused),
    MRT_TEST(test_stream_not_at_92_plus_data_len_is_refused),
    MRT_TEST(test_compressed_stream_behind_a_sparse_header_is_named),
    MRT_TEST(test_cookie_offset_outside_data_is_refused),
    MRT_TEST(test_unfinished_save_is_refused),
    MRT_TEST(test_header_cut_short_is_refused),
    MRT_TEST(test_summary_json_describes_the_header),
    MRT_TEST(test_files_taken_for_snapshots_are_named),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "libvirt save images and foreign files", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
