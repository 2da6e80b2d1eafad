/* The device walk (mr-devwalk.h, docs/FORMAT.md §13.4): device sections bounded
 * with their vmdesc description -- structs, compressed arrays, the 10.0
 * array quirks, nullptr runs, subsections at every level, old-style
 * buffers -- the byte range of every field as a visitor sees it, and the
 * ways an untrusted description is refused. */
#include <json-c/json.h>
#include <string.h>

#include "mr-devwalk.h"
#include "test-helpers.h"

/* An IDE-like device: a struct with a subsection inside it (a struct's size
 * includes its nested subsections, §13.3), a compressed leaf array, a
 * compressed struct array (only the first element's size recorded), an
 * uncompressed array whose last element has no "index" (10.0 quirk), a
 * tmp leaf, a 0-byte leaf, an empty array, and nested device subsections.
 * 94 bytes of body. */
static const char ide_desc[] =
    "{\"vmsd_name\":\"ide\",\"version\":3,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"size\":28,\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config\",\"type\":\"buffer\",\"size\":4}],"
    "\"subsections\":[{\"vmsd_name\":\"PCIDevice/irq\",\"version\":1,"
    "\"fields\":[{\"name\":\"irq\",\"type\":\"uint8\",\"size\":1}]}]}},"
    "{\"name\":\"regs\",\"type\":\"uint16\",\"size\":2,\"array_len\":4},"
    "{\"name\":\"bus\",\"type\":\"struct\",\"size\":3,\"array_len\":2,"
    "\"struct\":{\"vmsd_name\":\"ide_bus\",\"version\":1,\"fields\":["
    "{\"name\":\"cmd\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"unit\",\"type\":\"uint16\",\"size\":2}]}},"
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":2,\"index\":0,"
    "\"struct\":{\"vmsd_name\":\"ide_drive\",\"version\":1,\"fields\":["
    "{\"name\":\"sector\",\"type\":\"uint16\",\"size\":2}]}},"
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":2,"
    "\"struct\":{\"vmsd_name\":\"ide_drive\",\"version\":1,\"fields\":["
    "{\"name\":\"sector\",\"type\":\"uint16\",\"size\":2}]}},"
    "{\"name\":\"tmp\",\"type\":\"tmp\",\"size\":6,\"vmsd_name\":\"tmp\","
    "\"version\":0,\"fields\":[{\"name\":\"a\",\"type\":\"uint16\",\"size\":6}]},"
    "{\"name\":\"unused\",\"type\":\"unused_buffer\",\"size\":0},"
    "{\"name\":\"empty\",\"type\":\"uint8\",\"size\":1,\"array_len\":0}],"
    "\"subsections\":[{\"vmsd_name\":\"ide/bmdma\",\"version\":2,\"fields\":["
    "{\"name\":\"status\",\"type\":\"uint8\",\"size\":1}],\"subsections\":["
    "{\"vmsd_name\":\"ide/bmdma/nested\",\"version\":1,\"fields\":["
    "{\"name\":\"x\",\"type\":\"uint32\",\"size\":4}]}]}]}";

static const char ide_log[] =
    "E dev e-1 s0 @0 d0\n"
    "L version_id e-1 @0+4 d1\n"
    "L config e-1 @4+4 d1\n"
    "E PCIDevice/irq e-1 s1 @8 d1\n"
    "L irq e-1 @27+1 d2\n"
    "X @28 d1\n"
    "X @28 d0\n"
    "L regs e0 @28+2 d0\n"
    "L regs e1 @30+2 d0\n"
    "L regs e2 @32+2 d0\n"
    "L regs e3 @34+2 d0\n"
    "E bus e0 s0 @36 d0\n"
    "L cmd e-1 @36+1 d1\n"
    "L unit e-1 @37+2 d1\n"
    "X @39 d0\n"
    "E bus e1 s0 @39 d0\n"
    "L cmd e-1 @39+1 d1\n"
    "L unit e-1 @40+2 d1\n"
    "X @42 d0\n"
    "E drives e-1 s0 @42 d0\n"
    "L sector e-1 @42+2 d1\n"
    "X @44 d0\n"
    "E drives e-1 s0 @44 d0\n"
    "L sector e-1 @44+2 d1\n"
    "X @46 d0\n"
    "L tmp e-1 @46+6 d0\n"
    "L unused e-1 @52+0 d0\n"
    "L empty e-1 @52+0 d0\n"
    "E ide/bmdma e-1 s1 @52 d0\n"
    "L status e-1 @67+1 d1\n"
    "E ide/bmdma/nested e-1 s1 @68 d1\n"
    "L x e-1 @90+4 d2\n"
    "X @94 d1\n"
    "X @94 d0\n";

/* QEMU 10.0 splits an array of pointers with NULLs into runs of the same
 * name (§13.2): 2 structs, 2 nullptr (0x30 each), 1 struct. */
static const char fdc_desc[] =
    "{\"vmsd_name\":\"fdc\",\"version\":2,\"fields\":["
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":3,\"array_len\":2,"
    "\"struct\":{\"vmsd_name\":\"fdrive\",\"version\":1,\"fields\":["
    "{\"name\":\"media\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"track\",\"type\":\"uint16\",\"size\":2}]}},"
    "{\"name\":\"drives\",\"type\":\"nullptr\",\"size\":1,\"array_len\":2},"
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":3,"
    "\"struct\":{\"vmsd_name\":\"fdrive\",\"version\":1,\"fields\":["
    "{\"name\":\"media\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"track\",\"type\":\"uint16\",\"size\":2}]}}]}";

static const char fdc_log[] =
    "E drives e0 s0 @0 d0\n"
    "L media e-1 @0+1 d1\n"
    "L track e-1 @1+2 d1\n"
    "X @3 d0\n"
    "E drives e1 s0 @3 d0\n"
    "L media e-1 @3+1 d1\n"
    "L track e-1 @4+2 d1\n"
    "X @6 d0\n"
    "L drives e0 @6+1 d0\n"
    "L drives e1 @7+1 d0\n"
    "E drives e-1 s0 @8 d0\n"
    "L media e-1 @8+1 d1\n"
    "L track e-1 @9+2 d1\n"
    "X @11 d0\n";

static void
put_subsection(GByteArray *b, const char *name, guint32 version)
{
    guint8 hdr[2] = { 0x05, (guint8)strlen(name) };
    guint32 v = GUINT32_TO_BE(version);

    g_byte_array_append(b, hdr, 2);
    g_byte_array_append(b, (const guint8 *)name, (guint)strlen(name));
    g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void
put_bytes(GByteArray *b, guint n, guint8 first)
{
    for (guint i = 0; i < n; i++) {
        guint8 v = (guint8)(first + i);
        g_byte_array_append(b, &v, 1);
    }
}

static GByteArray *
ide_body(void)
{
    GByteArray *b = g_byte_array_new();

    put_bytes(b, 8, 0x10);                  /* version_id, config */
    put_subsection(b, "PCIDevice/irq", 1);
    put_bytes(b, 1, 0x0e);                  /* irq */
    put_bytes(b, 8 + 6 + 4 + 6, 0x20);      /* regs, bus, drives, tmp */
    put_subsection(b, "ide/bmdma", 2);
    put_bytes(b, 1, 0x44);                  /* status */
    put_subsection(b, "ide/bmdma/nested", 1);
    put_bytes(b, 4, 0x50);                  /* x */
    g_assert(b->len == 94);
    return b;
}

static const guint8 fdc_body[11] = { 1, 0, 2, 3, 0, 4, 0x30, 0x30, 5, 0, 6 };

/* A file with ide, fdc, slirp and globalstate after the RAM; the ide body
 * may be replaced (to break it) and the vmdesc edited by the caller. */
static char *
write_devices(const char *name, MrWriterLayout *l)
{
    g_autoptr(MrWriter) w = mr_writer_new("pc");
    g_autoptr(GByteArray) ide = ide_body();
    char *path = mrt_path(name);
    g_autoptr(GError) err = NULL;

    mr_writer_add_block(w, "pc.ram", 0x10000);
    MRT_CHECK(mr_writer_add_device(w, "0000:00:01.1/ide", 0, 3, ide_desc,
                                   ide->data, ide->len, FALSE, &err),
              "ide description is JSON");
    MRT_CHECK(mr_writer_add_device(w, "fdc", 0, 2, fdc_desc, fdc_body,
                                   sizeof(fdc_body), FALSE, &err),
              "fdc description is JSON");
    mrt_add_device(w, &mrt_pc_devices[1], FALSE); /* slirp */
    mrt_add_device(w, &mrt_pc_devices[2], FALSE); /* globalstate */
    mrt_write(w, path, l);
    return path;
}

static void
test_device_sections_are_bounded_by_their_vmdesc(void)
{
    static const guint64 sizes[] = { 94, 11, 12, 36 };
    MrWriterLayout l;
    g_autofree char *path = write_devices("dev.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_U64(f->devices->len, 4);
    for (guint i = 0; i < f->devices->len && i < 4; i++) {
        const MrSection *s = g_ptr_array_index(f->devices, i);
        const MrWrittenSection *ws = MRT_DEVICE(&l, i);
        MRT_CHECK_U64(s->offset, ws->offset);
        MRT_CHECK_U64(s->body_offset, ws->body_offset);
        MRT_CHECK_U64(s->body_size, sizes[i]);
        MRT_CHECK_U64(s->end_offset, ws->end_offset);
        CU_ASSERT_TRUE(s->has_footer);
        CU_ASSERT_FALSE(s->before_ram);
    }
    MRT_CHECK_U64(f->warnings->len, 0);
    mr_writer_layout_clear(&l);
}

typedef struct {
    GString *log;
    guint64 base;
    const char *fail_at; /* leaf name whose visit fails */
} Log;

static const char *
field_name(json_object *o)
{
    json_object *v;

    if (json_object_object_get_ex(o, "name", &v) ||
        json_object_object_get_ex(o, "vmsd_name", &v))
        return json_object_get_string(v);
    return "?";
}

static gboolean
log_leaf(void *ud, json_object *field, gint64 element, guint64 offset,
         guint64 size, guint depth, GError **err)
{
    Log *lg = ud;

    g_string_append_printf(lg->log, "L %s e%" G_GINT64_FORMAT " @%"
                           G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT " d%u\n",
                           field_name(field), element, offset - lg->base, size,
                           depth);
    if (lg->fail_at && g_str_equal(field_name(field), lg->fail_at)) {
        g_set_error(err, MR_ERROR, MR_ERROR_RANGE, "visitor stops at %s",
                    lg->fail_at);
        return FALSE;
    }
    return TRUE;
}

static gboolean
log_enter(void *ud, json_object *field, gint64 element, gboolean subsection,
          guint64 offset, guint depth, GError **err)
{
    Log *lg = ud;

    g_string_append_printf(lg->log, "E %s e%" G_GINT64_FORMAT " s%d @%"
                           G_GUINT64_FORMAT " d%u\n", field_name(field),
                           element, subsection, offset - lg->base, depth);
    return TRUE;
}

static gboolean
log_leave(void *ud, guint64 end_offset, guint depth, GError **err)
{
    Log *lg = ud;

    g_string_append_printf(lg->log, "X @%" G_GUINT64_FORMAT " d%u\n",
                           end_offset - lg->base, depth);
    return TRUE;
}

static const MrDevVisitor logger = { log_leaf, log_enter, log_leave };

/* Walks device i of an opened file with the logging visitor; returns the
 * walk's result and leaves the log in *out. */
static gboolean
walk_logged(MrFile *f, guint i, const char *fail_at, char **out,
            guint64 *end, GError **err)
{
    MrSection *s = g_ptr_array_index(f->devices, i);
    Log lg = { g_string_new(NULL), s->body_offset, fail_at };
    MrCursor c;
    gboolean ok;

    mr_file_cursor(f, s->body_offset, f->vmdesc_offset, &c);
    ok = mr_devwalk_section(f, &c, s, &logger, &lg, err);
    *end = c.pos;
    mr_cursor_clear(&c);
    *out = g_string_free(lg.log, FALSE);
    return ok;
}

static void
check_walk_log(guint i, const char *want)
{
    MrWriterLayout l;
    g_autofree char *path = write_devices("walk.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *log = NULL;
    guint64 end = 0;
    const MrSection *s;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = g_ptr_array_index(f->devices, i);
    MRT_CHECK(walk_logged(f, i, NULL, &log, &end, &err), "walk of %s: %s",
              s->idstr, err ? err->message : "");
    MRT_CHECK(g_str_equal(log, want), "walk of %s visits\n%s\ngot\n%s",
              s->idstr, want, log);
    MRT_CHECK_U64(end, s->body_offset + s->body_size);
    mr_writer_layout_clear(&l);
}

static void
test_walk_visits_structs_arrays_and_subsections_in_stream_order(void)
{
    check_walk_log(0, ide_log);
}

static void
test_walk_splits_nullptr_runs_of_one_array(void)
{
    check_walk_log(1, fdc_log);
}

static void
test_old_style_section_is_one_opaque_leaf(void)
{
    check_walk_log(2, "L slirp e-1 @0+12 d0\n");
}

static void
test_visitor_error_stops_the_walk(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_devices("visit.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *log = NULL;
    guint64 end;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FALSE(walk_logged(f, 0, "unit", &log, &end, &err));
    MRT_CHECK(err && err->code == MR_ERROR_RANGE &&
              strstr(err->message, "visitor stops at unit"),
              "the visitor's error comes back: %s", err ? err->message : "");
    MRT_CHECK(g_str_has_suffix(log, "L unit e-1 @37+2 d1\n"),
              "nothing visited after the failing leaf:\n%s", log);
    mr_writer_layout_clear(&l);
}

static void
test_next_is_record_accepts_only_record_types(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_devices("next.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    MrCursor c;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mr_file_cursor(f, 0, f->vmdesc_offset, &c);
    c.pos = l.eof_offset;                       /* 0x00 EOF */
    CU_ASSERT_TRUE(mr_devwalk_next_is_record(&c));
    c.pos = MRT_DEVICE(&l, 1)->offset;          /* 0x04 FULL */
    CU_ASSERT_TRUE(mr_devwalk_next_is_record(&c));
    c.pos = l.command_offset;                   /* 0x08 COMMAND */
    CU_ASSERT_TRUE(mr_devwalk_next_is_record(&c));
    c.pos = MRT_DEVICE(&l, 1)->footer_offset;   /* 0x7e footer */
    CU_ASSERT_FALSE(mr_devwalk_next_is_record(&c));
    c.pos = MRT_DEVICE(&l, 1)->body_offset + 6; /* 0x30 nullptr */
    CU_ASSERT_FALSE(mr_devwalk_next_is_record(&c));
    c.pos = f->vmdesc_offset;                   /* at the limit */
    CU_ASSERT_FALSE(mr_devwalk_next_is_record(&c));
    mr_cursor_clear(&c);
    mr_writer_layout_clear(&l);
}

/* ---- untrusted descriptions ------------------------------------------ */

/* The ide entry of the vmdesc (devices[0]) edited by `edit`, then opened:
 * the open fails naming the ide section at `at` bytes into its body, or at
 * its record (AT_SECTION). */
#define AT_SECTION G_MAXUINT64
static void
check_broken_ide(const char *what, void (*edit)(json_object *ide),
                 guint64 at, const char *needle)
{
    MrWriterLayout l;
    /* The case's name in the path names it in every failure message. */
    g_autofree char *name = g_strdup_printf("broken-%s.mig", what);
    g_autofree char *path = write_devices(name, &l);
    json_object *v = mrt_load_vmdesc(path, &l);
    json_object *ide = json_object_array_get_idx(json_object_object_get(v,
                                                 "devices"), 0);

    edit(ide);
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID,
                   at == AT_SECTION ? MRT_DEVICE(&l, 0)->offset
                                    : MRT_DEVICE(&l, 0)->body_offset + at,
                   "section \"0000:00:01.1/ide\"", needle, NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

static json_object *
ide_field(json_object *ide, int i)
{
    return json_object_array_get_idx(json_object_object_get(ide, "fields"), i);
}

static void
rename_subsection(json_object *ide)
{
    json_object *s = json_object_array_get_idx(
        json_object_object_get(ide, "subsections"), 0);
    json_object_object_add(s, "vmsd_name", json_object_new_string("ide/bmdmb"));
}

static void
add_missing_subsection(json_object *ide)
{
    json_object_array_add(json_object_object_get(ide, "subsections"),
                          json_tokener_parse("{\"vmsd_name\":\"ide/extra\","
                                             "\"version\":1,\"fields\":[]}"));
}

static void
shrink_struct(json_object *ide)
{
    json_object_object_add(ide_field(ide, 0), "size", json_object_new_int(27));
}

static void
drop_size(json_object *ide)
{
    json_object_object_del(ide_field(ide, 1), "size");
}

static void
negative_size(json_object *ide)
{
    json_object_object_add(ide_field(ide, 1), "size", json_object_new_int(-2));
}

static void
string_size(json_object *ide)
{
    json_object_object_add(ide_field(ide, 1), "size", json_object_new_string("2"));
}

static void
overflowing_array(json_object *ide)
{
    json_object_object_add(ide_field(ide, 1), "size", json_object_new_int(16));
    json_object_object_add(ide_field(ide, 1), "array_len",
                           json_object_new_int64(G_GINT64_CONSTANT(1) << 62));
}

static void
huge_leaf(json_object *ide)
{
    json_object_object_add(ide_field(ide, 1), "size",
                           json_object_new_int64(G_GINT64_CONSTANT(1) << 40));
}

static void
struct_without_struct(json_object *ide)
{
    json_object_object_del(ide_field(ide, 0), "struct");
}

static void
fields_not_an_array(json_object *ide)
{
    json_object_object_add(ide, "fields", json_object_new_object());
}

static void
subsections_not_an_array(json_object *ide)
{
    json_object_object_add(ide, "subsections", json_object_new_int(1));
}

static void
old_style_without_size(json_object *ide)
{
    json_object_object_del(ide, "vmsd_name");
}

/* 40 structs nested in the first field, none with bytes. */
static void
nest_too_deep(json_object *ide)
{
    json_object *inner = json_tokener_parse("{\"vmsd_name\":\"n\",\"version\":1}");
    json_object *field = NULL;

    for (int i = 0; i < 40; i++) {
        json_object *fields;
        field = json_object_new_object();
        json_object_object_add(field, "name", json_object_new_string("n"));
        json_object_object_add(field, "type", json_object_new_string("struct"));
        json_object_object_add(field, "size", json_object_new_int(0));
        json_object_object_add(field, "struct", inner);
        if (i == 39)
            break;
        inner = json_object_new_object();
        fields = json_object_new_array();
        json_object_array_add(fields, field);
        json_object_object_add(inner, "vmsd_name", json_object_new_string("n"));
        json_object_object_add(inner, "version", json_object_new_int(1));
        json_object_object_add(inner, "fields", fields);
    }
    json_object_array_put_idx(json_object_object_get(ide, "fields"), 0, field);
}

/* 5 million empty structs: cheap bytes, no QEMU description. */
static void
many_empty_structs(json_object *ide)
{
    json_object_array_put_idx(json_object_object_get(ide, "fields"), 0,
        json_tokener_parse("{\"name\":\"many\",\"type\":\"struct\",\"size\":0,"
                           "\"array_len\":5000000,\"struct\":{\"vmsd_name\":"
                           "\"e\",\"version\":1,\"fields\":[]}}"));
}

/* 1000 empty structs of 4096 empty structs each: every array is short,
 * the walk is 4 million steps. */
static void
too_many_steps(json_object *ide)
{
    json_object_array_put_idx(json_object_object_get(ide, "fields"), 0,
        json_tokener_parse("{\"name\":\"outer\",\"type\":\"struct\",\"size\":0,"
                           "\"array_len\":1000,\"struct\":{\"vmsd_name\":\"o\","
                           "\"version\":1,\"fields\":[{\"name\":\"inner\","
                           "\"type\":\"struct\",\"size\":0,\"array_len\":4096,"
                           "\"struct\":{\"vmsd_name\":\"e\",\"version\":1,"
                           "\"fields\":[]}}]}}"));
}

static void
test_subsection_named_differently_in_the_stream_is_invalid(void)
{
    check_broken_ide("renamed", rename_subsection, 52,
                     "expected subsection \"ide/bmdmb\" version 2, found "
                     "\"ide/bmdma\" version 2");
}

static void
test_subsection_missing_from_the_stream_is_invalid(void)
{
    check_broken_ide("missing", add_missing_subsection, 94,
                     "expected subsection \"ide/extra\" (byte 0x05), found 0x7e");
}

static void
test_struct_whose_bytes_differ_from_its_size_is_invalid(void)
{
    check_broken_ide("struct-size", shrink_struct, 0,
                     "struct field \"dev\" took 28 bytes, the vmdesc says 27");
}

static void
test_field_without_a_valid_size_is_invalid(void)
{
    check_broken_ide("no-size", drop_size, 28, "lacks a name, type, size");
    check_broken_ide("negative-size", negative_size, 28, "regs");
    check_broken_ide("string-size", string_size, 28, "regs");
}

static void
test_array_len_times_size_overflow_is_invalid(void)
{
    check_broken_ide("overflow", overflowing_array, 28, "overflows");
}

static void
test_leaf_running_past_the_stream_is_invalid(void)
{
    check_broken_ide("huge", huge_leaf, 28, "runs past the end of the stream");
}

static void
test_malformed_description_objects_are_invalid(void)
{
    check_broken_ide("no-struct", struct_without_struct, 0,
                     "has no \"struct\" object");
    check_broken_ide("fields", fields_not_an_array, 0,
                     "\"fields\" is not an array");
    check_broken_ide("subsections", subsections_not_an_array, 52,
                     "\"subsections\" is not an array");
    check_broken_ide("old-style", old_style_without_size, AT_SECTION,
                     "neither vmsd_name nor size");
}

static void
test_step_cap_refuses_millions_of_empty_structs(void)
{
    check_broken_ide("steps", too_many_steps, 0, "steps to walk");
    check_broken_ide("empties", many_empty_structs, 0, "elements of 0 bytes");
}

/* The JSON parser's own depth cap (64) stops deep descriptions before the
 * walk: a struct level costs three JSON levels. */
static void
test_vmdesc_nested_deeper_than_the_json_cap_is_invalid(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_devices("deep.mig", &l);
    json_object *v = mrt_load_vmdesc(path, &l);

    nest_too_deep(json_object_array_get_idx(json_object_object_get(v, "devices"),
                                            0));
    mrt_replace_vmdesc(path, &l, json_object_to_json_string(v));
    MRT_OPEN_FAILS(path, NULL, MR_ERROR_INVALID, MRT_ANY_OFFSET, "vmdesc JSON",
                   "nesting too deep", NULL);
    json_object_put(v);
    mr_writer_layout_clear(&l);
}

/* A description built in memory is not bounded by the parser: the walk
 * has its own nesting cap. */
static void
test_walk_refuses_structs_nested_deeper_than_its_cap(void)
{
    MrWriterLayout l;
    g_autofree char *path = write_devices("deepwalk.mig", &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    json_object *desc = NULL, *saved;
    MrSection *s;
    MrCursor c;
    gboolean ok;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    s = g_ptr_array_index(f->devices, 0);
    CU_ASSERT_EQUAL_FATAL(json_object_deep_copy(s->desc, &desc, NULL), 0);
    nest_too_deep(desc);
    saved = s->desc;
    s->desc = desc;
    mr_file_cursor(f, s->body_offset, f->vmdesc_offset, &c);
    ok = mr_devwalk_section(f, &c, s, NULL, NULL, &err);
    mr_cursor_clear(&c);
    s->desc = saved;
    json_object_put(desc);
    CU_ASSERT_FALSE(ok);
    MRT_CHECK(err && err->code == MR_ERROR_INVALID &&
              strstr(err->message, "nests structs deeper than 32"),
              "walk refuses 40 levels: %s", err ? err->message : "(none)");
    mr_writer_layout_clear(&l);
}

static const MrtTest walk_tests[] = {
    MRT_TEST(test_device_sections_are_bounded_by_their_vmdesc),
    MRT_TEST(test_walk_visits_structs_arrays_and_subsections_in_stream_order),
    MRT_TEST(test_walk_splits_nullptr_runs_of_one_array),
    MRT_TEST(test_old_style_section_is_one_opaque_leaf),
    MRT_TEST(test_visitor_error_stops_the_walk),
    MRT_TEST(test_next_is_record_accepts_only_record_types),
    MRT_END,
};

static const MrtTest untrusted_tests[] = {
    MRT_TEST(test_subsection_named_differently_in_the_stream_is_invalid),
    MRT_TEST(test_subsection_missing_from_the_stream_is_invalid),
    MRT_TEST(test_struct_whose_bytes_differ_from_its_size_is_invalid),
    MRT_TEST(test_field_without_a_valid_size_is_invalid),
    MRT_TEST(test_array_len_times_size_overflow_is_invalid),
    MRT_TEST(test_leaf_running_past_the_stream_is_invalid),
    MRT_TEST(test_malformed_description_objects_are_invalid),
    MRT_TEST(test_step_cap_refuses_millions_of_empty_structs),
    MRT_TEST(test_vmdesc_nested_deeper_than_the_json_cap_is_invalid),
    MRT_TEST(test_walk_refuses_structs_nested_deeper_than_its_cap),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "device walk", walk_tests },
        { "untrusted vmdesc descriptions", untrusted_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
