/* ds_decode_section (ds-decode.h): a device section to JSON on sections
 * made with mr-writer.  Every leaf type of docs/FORMAT.md §13.5 with its value,
 * structs and subsections at every level (§13.3), compressed and
 * uncompressed arrays with the QEMU 10 quirks (§13.2), old-style sections
 * (§13.4), the exact file offset and size of every node, and a file
 * without vmdesc (§8.2).  Expected values are typed in from §13.5. */
#include <string.h>

#include "ds-decode.h"
#include "dst-helpers.h"

/* ---- every leaf type ------------------------------------------------- */

static const char leaves_desc[] =
    "{\"vmsd_name\":\"leaves\",\"version\":1,\"fields\":["
    "{\"name\":\"bool_t\",\"type\":\"bool\",\"size\":1},"
    "{\"name\":\"bool_f\",\"type\":\"bool\",\"size\":1},"
    "{\"name\":\"i8\",\"type\":\"int8\",\"size\":1},"
    "{\"name\":\"u8\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"i16\",\"type\":\"int16\",\"size\":2},"
    "{\"name\":\"u16\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"i32\",\"type\":\"int32\",\"size\":4},"
    "{\"name\":\"u32\",\"type\":\"uint32\",\"size\":4},"
    "{\"name\":\"i64\",\"type\":\"int64\",\"size\":8},"
    "{\"name\":\"u64\",\"type\":\"uint64\",\"size\":8},"
    "{\"name\":\"i64b\",\"type\":\"int64\",\"size\":8},"
    "{\"name\":\"i32eq\",\"type\":\"int32 equal\",\"size\":4},"
    "{\"name\":\"u32eq\",\"type\":\"uint32 equal\",\"size\":4},"
    "{\"name\":\"u8eq\",\"type\":\"uint8 equal\",\"size\":1},"
    "{\"name\":\"u16eq\",\"type\":\"uint16 equal\",\"size\":2},"
    "{\"name\":\"i64eq\",\"type\":\"int64 equal\",\"size\":8},"
    "{\"name\":\"le\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"timer_off\",\"type\":\"timer\",\"size\":8},"
    "{\"name\":\"timer_on\",\"type\":\"timer\",\"size\":8},"
    "{\"name\":\"f64\",\"type\":\"float64\",\"size\":8},"
    "{\"name\":\"f64n\",\"type\":\"float64\",\"size\":8},"
    "{\"name\":\"dbl\",\"type\":\"CPU_Double_U\",\"size\":8},"
    "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":5},"
    "{\"name\":\"unused\",\"type\":\"unused_buffer\",\"size\":3},"
    "{\"name\":\"bmp\",\"type\":\"bitmap\",\"size\":8},"
    "{\"name\":\"irqs\",\"type\":\"pci irq state\",\"size\":16},"
    "{\"name\":\"np\",\"type\":\"nullptr\",\"size\":1},"
    "{\"name\":\"fpr\",\"type\":\"fpr\",\"size\":4},"
    "{\"name\":\"cfg\",\"type\":\"pci config\",\"size\":4},"
    "{\"name\":\"odd\",\"type\":\"uint32\",\"size\":2},"
    "{\"name\":\"cap\",\"type\":\"capability\",\"size\":4},"
    "{\"name\":\"tmpf\",\"type\":\"tmp\",\"size\":3,\"vmsd_name\":\"tmp\","
    "\"version\":0,\"fields\":[{\"name\":\"a\",\"type\":\"uint8\",\"size\":3}]},"
    "{\"name\":\"q\",\"type\":\"qtailq\",\"size\":3},"
    "{\"name\":\"empty\",\"type\":\"buffer\",\"size\":0}]}";

static const guint8 leaves_body[] = {
    0x01,                                           /*   0 bool_t */
    0x00,                                           /*   1 bool_f */
    0xff,                                           /*   2 i8 */
    0xff,                                           /*   3 u8 */
    0x80, 0x00,                                     /*   4 i16 */
    0x12, 0x34,                                     /*   6 u16 */
    0xff, 0xff, 0xff, 0xfe,                         /*   8 i32 */
    0x80, 0x00, 0x00, 0x01,                         /*  12 u32 */
    0x80, 0, 0, 0, 0, 0, 0, 0,                      /*  16 i64 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /*  24 u64 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /*  32 i64b */
    0xff, 0xff, 0xff, 0xff,                         /*  40 i32eq */
    0xff, 0xff, 0xff, 0xff,                         /*  44 u32eq */
    0x02,                                           /*  48 u8eq */
    0xab, 0xcd,                                     /*  49 u16eq */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /*  51 i64eq */
    0x00, 0x00, 0x00, 0x02,                         /*  59 le */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /*  63 timer_off */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /*  71 timer_on */
    0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /*  79 f64: 1.5 */
    0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, /*  87 f64n: -pi */
    0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, /*  95 dbl */
    0xde, 0xad, 0xbe, 0xef, 0x00,                   /* 103 buf */
    0x00, 0x00, 0x00,                               /* 108 unused */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* 111 bmp */
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 119 irqs */
    0x30,                                           /* 135 np */
    0x01, 0x02, 0x03, 0x04,                         /* 136 fpr */
    0x86, 0x80, 0x37, 0x12,                         /* 140 cfg */
    0x12, 0x34,                                     /* 144 odd */
    0x03, 'a', 'b', 'c',                            /* 146 cap */
    0x0a, 0x0b, 0x0c,                               /* 150 tmpf */
    0x01, 0xff, 0x00,                               /* 153 q */
};                                                  /* 156 empty */

/* ---- structs and subsections at every level -------------------------- */

static const char nested_desc[] =
    "{\"vmsd_name\":\"nested\",\"version\":2,\"fields\":["
    "{\"name\":\"hdr\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"state\",\"type\":\"struct\",\"size\":24,\"struct\":{"
    "\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"divider\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"lcr\",\"type\":\"uint8\",\"size\":1}],"
    "\"subsections\":[{\"vmsd_name\":\"serial/fifo\",\"version\":1,"
    "\"fields\":[{\"name\":\"depth\",\"type\":\"uint32\",\"size\":4}]}]}},"
    "{\"name\":\"tail\",\"type\":\"uint8\",\"size\":1}],"
    "\"subsections\":["
    "{\"vmsd_name\":\"nested/a\",\"version\":1,\"fields\":["
    "{\"name\":\"x\",\"type\":\"int16\",\"size\":2}],\"subsections\":["
    "{\"vmsd_name\":\"nested/a/b\",\"version\":5,\"fields\":["
    "{\"name\":\"y\",\"type\":\"uint8\",\"size\":1}]}]},"
    "{\"vmsd_name\":\"nested/c\",\"version\":1,\"fields\":["
    "{\"name\":\"z\",\"type\":\"bool\",\"size\":1}]}]}";

static const guint8 nested_body[] = {
    0x00, 0x07,                                     /*  0 hdr */
    0x00, 0x0c,                                     /*  2 state.divider */
    0x03,                                           /*  4 state.lcr */
    0x05, 11, 's', 'e', 'r', 'i', 'a', 'l', '/', 'f', 'i', 'f', 'o',
    0, 0, 0, 1,                                     /*  5 serial/fifo v1 */
    0x00, 0x00, 0x00, 0x10,                         /* 22 depth */
    0x7f,                                           /* 26 tail */
    0x05, 8, 'n', 'e', 's', 't', 'e', 'd', '/', 'a',
    0, 0, 0, 1,                                     /* 27 nested/a v1 */
    0xff, 0xfe,                                     /* 41 x */
    0x05, 10, 'n', 'e', 's', 't', 'e', 'd', '/', 'a', '/', 'b',
    0, 0, 0, 5,                                     /* 43 nested/a/b v5 */
    0x09,                                           /* 59 y */
    0x05, 8, 'n', 'e', 's', 't', 'e', 'd', '/', 'c',
    0, 0, 0, 1,                                     /* 60 nested/c v1 */
    0x01,                                           /* 74 z */
};                                                  /* 75 */

/* ---- arrays ---------------------------------------------------------- */

#define DRIVE_STRUCT                                                          \
    "\"struct\":{\"vmsd_name\":\"drive\",\"version\":1,\"fields\":["          \
    "{\"name\":\"sector\",\"type\":\"uint16\",\"size\":2}]}"
#define P_STRUCT                                                              \
    "\"struct\":{\"vmsd_name\":\"p\",\"version\":1,\"fields\":["              \
    "{\"name\":\"v\",\"type\":\"uint8\",\"size\":1}]}"

static const char arrays_desc[] =
    "{\"vmsd_name\":\"arrays\",\"version\":1,\"fields\":["
    /* compressed leaf arrays: one description, array_len elements */
    "{\"name\":\"regs\",\"type\":\"uint8\",\"size\":1,\"array_len\":3},"
    "{\"name\":\"words\",\"type\":\"uint16\",\"size\":2,\"array_len\":2},"
    /* a compressed struct array */
    "{\"name\":\"bus\",\"type\":\"struct\",\"size\":3,\"array_len\":2,"
    "\"struct\":{\"vmsd_name\":\"bus\",\"version\":1,\"fields\":["
    "{\"name\":\"cmd\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"unit\",\"type\":\"uint16\",\"size\":2}]}},"
    /* QEMU 10: the last element of an uncompressed array has no index */
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":2,\"index\":0," DRIVE_STRUCT "},"
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":2,\"index\":1," DRIVE_STRUCT "},"
    "{\"name\":\"drives\",\"type\":\"struct\",\"size\":2," DRIVE_STRUCT "},"
    /* QEMU 9: every element has its index */
    "{\"name\":\"timers\",\"type\":\"timer\",\"size\":8,\"index\":0},"
    "{\"name\":\"timers\",\"type\":\"timer\",\"size\":8,\"index\":1},"
    /* QEMU 10: an array of pointers as runs of structs and nullptrs */
    "{\"name\":\"ptrs\",\"type\":\"struct\",\"size\":1,\"array_len\":2," P_STRUCT "},"
    "{\"name\":\"ptrs\",\"type\":\"nullptr\",\"size\":1,\"array_len\":2},"
    "{\"name\":\"ptrs\",\"type\":\"struct\",\"size\":1," P_STRUCT "}]}";

static const guint8 arrays_body[] = {
    0x0f, 0x10, 0x00,                               /*  0 regs */
    0x12, 0x34, 0xff, 0xff,                         /*  3 words */
    0x01, 0x00, 0x02, 0x03, 0x00, 0x04,             /*  7 bus[2] */
    0x00, 0x0a, 0x00, 0x0b, 0x00, 0x0c,             /* 13 drives[3] */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 19 timers[0] */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* 27 timers[1] */
    0x07, 0x08, 0x30, 0x30, 0x09,                   /* 35 ptrs */
};                                                  /* 40 */

/* ---- old style ------------------------------------------------------- */

static const char slirp_desc[] =
    "{\"size\":12,\"fields\":[{\"name\":\"data\",\"type\":\"buffer\","
    "\"size\":12}]}";
static const guint8 slirp_body[12] = { 'o', 'l', 'd', '-', 's', 't', 'y',
                                       'l', 'e', '!', 0x01, 0x55 };

static const DstDevice devices[] = {
    { "pci.0:04.0/leaves", 0, 1, leaves_desc, leaves_body, sizeof(leaves_body) },
    { "nested", 3, 2, nested_desc, nested_body, sizeof(nested_body) },
    { "arrays", 0, 1, arrays_desc, arrays_body, sizeof(arrays_body) },
    { "slirp", 0, 4, slirp_desc, slirp_body, sizeof(slirp_body) },
};
enum { LEAVES, NESTED, ARRAYS, SLIRP, NDEV };

typedef struct {
    MrWriterLayout layout;
    char *path;
    MrFile *f;
    json_object *dev[NDEV];
} Fixture;

static gboolean
fixture_open(Fixture *fx, const char *name, gboolean vmdesc)
{
    memset(fx, 0, sizeof(*fx));
    fx->path = dst_write(name, "pc-i440fx-10.0", devices, NDEV, vmdesc,
                         &fx->layout);
    fx->f = MRT_OPEN(fx->path, NULL);
    if (fx->f == NULL)
        return FALSE;
    MRT_CHECK_U64(fx->f->devices->len, NDEV);
    if (fx->f->devices->len != NDEV)
        return FALSE;
    for (guint i = 0; i < NDEV; i++) {
        g_autoptr(GError) err = NULL;
        fx->dev[i] = ds_decode_section(fx->f, g_ptr_array_index(fx->f->devices, i),
                                       &err);
        MRT_CHECK(fx->dev[i] != NULL, "decode %s: %s", devices[i].idstr,
                  err ? err->message : "");
        if (fx->dev[i] == NULL)
            return FALSE;
    }
    return TRUE;
}

static void
fixture_close(Fixture *fx)
{
    for (guint i = 0; i < NDEV; i++)
        json_object_put(fx->dev[i]);
    if (fx->f)
        mr_file_close(fx->f);
    mr_writer_layout_clear(&fx->layout);
    g_free(fx->path);
}

static guint64
body(const Fixture *fx, guint i)
{
    return MRT_DEVICE(&fx->layout, i)->body_offset;
}

/* name, instance_id, version_id, section_id, offset, size, body_offset,
 * body_size of every section, from the writer's layout. */
static void
test_section_header_fields_match_the_layout(void)
{
    Fixture fx;

    if (!fixture_open(&fx, "header.mig", TRUE))
        goto out;
    for (guint i = 0; i < NDEV; i++) {
        const MrWrittenSection *ws = MRT_DEVICE(&fx.layout, i);
        json_object *d = fx.dev[i];
        DST_STR(d, "name", devices[i].idstr);
        DST_U64(d, "instance_id", devices[i].instance_id);
        DST_U64(d, "version_id", devices[i].version_id);
        DST_U64(d, "section_id", ws->section_id);
        DST_U64(d, "offset", ws->offset);
        /* The section record: header, body and the 5-byte footer. */
        DST_U64(d, "size", ws->end_offset - ws->offset);
        MRT_CHECK_U64(ws->end_offset, ws->footer_offset + 5);
        DST_U64(d, "body_offset", ws->body_offset);
        DST_U64(d, "body_size", devices[i].body_len);
        DST_BOOL(d, "decoded", TRUE);
        DST_TEXT_ROUND_TRIP(d, devices[i].idstr);
    }
    DST_STR(fx.dev[LEAVES], "vmsd_name", "leaves");
    DST_STR(fx.dev[NESTED], "vmsd_name", "nested");
    DST_STR(fx.dev[ARRAYS], "vmsd_name", "arrays");
    /* Old-style savers have no VMSD. */
    DST_ABSENT(fx.dev[SLIRP], "vmsd_name");
out:
    fixture_close(&fx);
}

static void
test_integer_leaves_are_big_endian_with_their_signedness(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "ints.mig", TRUE))
        goto out;
    d = fx.dev[LEAVES];
    b = body(&fx, LEAVES);
    DST_LEAF(d, "fields/i8", "int8", b + 2, 1);
    DST_INT(d, "fields/i8/value", -1);
    DST_LEAF(d, "fields/u8", "uint8", b + 3, 1);
    DST_INT(d, "fields/u8/value", 255);
    DST_LEAF(d, "fields/i16", "int16", b + 4, 2);
    DST_INT(d, "fields/i16/value", -32768);
    DST_LEAF(d, "fields/u16", "uint16", b + 6, 2);
    DST_INT(d, "fields/u16/value", 0x1234);
    DST_LEAF(d, "fields/i32", "int32", b + 8, 4);
    DST_INT(d, "fields/i32/value", -2);
    DST_LEAF(d, "fields/u32", "uint32", b + 12, 4);
    DST_INT(d, "fields/u32/value", G_GINT64_CONSTANT(0x80000001));
    DST_LEAF(d, "fields/i64", "int64", b + 16, 8);
    DST_INT(d, "fields/i64/value", G_MININT64);
    DST_LEAF(d, "fields/u64", "uint64", b + 24, 8);
    DST_U64(d, "fields/u64/value", G_MAXUINT64);
    DST_LEAF(d, "fields/i64b", "int64", b + 32, 8);
    DST_INT(d, "fields/i64b/value", G_GINT64_CONSTANT(0x0102030405060708));
out:
    fixture_close(&fx);
}

/* The "... equal" and "int32 le" checks of the loader do not change the
 * encoding: big-endian, "int64 equal" unsigned (§13.5). */
static void
test_equal_and_le_leaves_decode_as_their_integer(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "equal.mig", TRUE))
        goto out;
    d = fx.dev[LEAVES];
    b = body(&fx, LEAVES);
    DST_LEAF(d, "fields/i32eq", "int32 equal", b + 40, 4);
    DST_INT(d, "fields/i32eq/value", -1);
    DST_LEAF(d, "fields/u32eq", "uint32 equal", b + 44, 4);
    DST_INT(d, "fields/u32eq/value", G_GINT64_CONSTANT(0xffffffff));
    DST_LEAF(d, "fields/u8eq", "uint8 equal", b + 48, 1);
    DST_INT(d, "fields/u8eq/value", 2);
    DST_LEAF(d, "fields/u16eq", "uint16 equal", b + 49, 2);
    DST_INT(d, "fields/u16eq/value", 0xabcd);
    DST_LEAF(d, "fields/i64eq", "int64 equal", b + 51, 8);
    DST_U64(d, "fields/i64eq/value", G_GUINT64_CONSTANT(0xfffffffffffffffe));
    DST_LEAF(d, "fields/le", "int32 le", b + 59, 4);
    DST_INT(d, "fields/le/value", 2);
out:
    fixture_close(&fx);
}

static void
test_bool_timer_and_float_leaves(void)
{
    Fixture fx;
    json_object *d, *v;
    guint64 b;

    if (!fixture_open(&fx, "bool.mig", TRUE))
        goto out;
    d = fx.dev[LEAVES];
    b = body(&fx, LEAVES);
    DST_LEAF(d, "fields/bool_t", "bool", b + 0, 1);
    DST_BOOL(d, "fields/bool_t/value", TRUE);
    DST_LEAF(d, "fields/bool_f", "bool", b + 1, 1);
    DST_BOOL(d, "fields/bool_f/value", FALSE);
    /* A timer is a signed expiry time; -1 means not armed. */
    DST_LEAF(d, "fields/timer_off", "timer", b + 63, 8);
    DST_INT(d, "fields/timer_off/value", -1);
    DST_LEAF(d, "fields/timer_on", "timer", b + 71, 8);
    DST_INT(d, "fields/timer_on/value", G_GINT64_CONSTANT(0x100000000));
    DST_LEAF(d, "fields/f64", "float64", b + 79, 8);
    v = dst_get(d, "fields/f64/value");
    MRT_CHECK(v && json_object_is_type(v, json_type_double) &&
              json_object_get_double(v) == 1.5, "float64 3ff8... == 1.5");
    DST_LEAF(d, "fields/f64n", "float64", b + 87, 8);
    v = dst_get(d, "fields/f64n/value");
    MRT_CHECK(v && json_object_is_type(v, json_type_double) &&
              json_object_get_double(v) == -3.141592653589793,
              "float64 c00921fb54442d18 == -pi");
out:
    fixture_close(&fx);
}

static void
test_nullptr_is_null_and_irq_state_is_four_levels(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "null.mig", TRUE))
        goto out;
    d = fx.dev[LEAVES];
    b = body(&fx, LEAVES);
    DST_LEAF(d, "fields/np", "nullptr", b + 135, 1);
    DST_NULL(d, "fields/np/value");
    DST_LEAF(d, "fields/irqs", "pci irq state", b + 119, 16);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/irqs/value")), 4);
    DST_INT(d, "fields/irqs/value/0", 1);
    DST_INT(d, "fields/irqs/value/1", 0);
    DST_INT(d, "fields/irqs/value/2", 0);
    DST_INT(d, "fields/irqs/value/3", 1);
out:
    fixture_close(&fx);
}

/* Buffers, bitmaps, config space, CPU_Double_U and target-specific types
 * are their bytes in lower-case hex, in stream order. */
static void
test_opaque_leaves_are_hex_of_their_bytes(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "hex.mig", TRUE))
        goto out;
    d = fx.dev[LEAVES];
    b = body(&fx, LEAVES);
    DST_LEAF(d, "fields/dbl", "CPU_Double_U", b + 95, 8);
    DST_STR(d, "fields/dbl/value", "400921fb54442d18");
    DST_LEAF(d, "fields/buf", "buffer", b + 103, 5);
    DST_STR(d, "fields/buf/value", "deadbeef00");
    DST_LEAF(d, "fields/unused", "unused_buffer", b + 108, 3);
    DST_STR(d, "fields/unused/value", "000000");
    DST_LEAF(d, "fields/bmp", "bitmap", b + 111, 8);
    DST_STR(d, "fields/bmp/value", "0000000000000005");
    DST_LEAF(d, "fields/fpr", "fpr", b + 136, 4);
    DST_STR(d, "fields/fpr/value", "01020304");
    DST_LEAF(d, "fields/cfg", "pci config", b + 140, 4);
    DST_STR(d, "fields/cfg/value", "86803712");
    /* An integer type with a size its encoding does not have is not
     * guessed at. */
    DST_LEAF(d, "fields/odd", "uint32", b + 144, 2);
    DST_STR(d, "fields/odd/value", "1234");
    /* Variable-length and nested types are opaque blobs of their recorded
     * size (§13.5): a counted string, a tmp with its inline description,
     * a self-delimiting queue. */
    DST_LEAF(d, "fields/cap", "capability", b + 146, 4);
    DST_STR(d, "fields/cap/value", "03616263");
    DST_LEAF(d, "fields/tmpf", "tmp", b + 150, 3);
    DST_STR(d, "fields/tmpf/value", "0a0b0c");
    DST_LEAF(d, "fields/q", "qtailq", b + 153, 3);
    DST_STR(d, "fields/q/value", "01ff00");
    DST_LEAF(d, "fields/empty", "buffer", b + 156, 0);
    DST_STR(d, "fields/empty/value", "");
out:
    fixture_close(&fx);
}

/* ds_leaf_value straight from bytes: every type's size rule. */
static void
test_leaf_value_without_a_file(void)
{
    static const guint8 ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const guint8 one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    json_object *v;

    v = ds_leaf_value("int16", ff, 2);
    MRT_CHECK(json_object_get_int64(v) == -1, "int16 ffff == -1");
    json_object_put(v);
    v = ds_leaf_value("uint16", ff, 2);
    MRT_CHECK(json_object_get_int64(v) == 0xffff, "uint16 ffff == 65535");
    json_object_put(v);
    v = ds_leaf_value("int64", one, 8);
    MRT_CHECK(json_object_get_int64(v) == 1, "int64 ...01 == 1 (big-endian)");
    json_object_put(v);
    v = ds_leaf_value("bool", one + 7, 1);
    MRT_CHECK(json_object_is_type(v, json_type_boolean) &&
              json_object_get_boolean(v), "bool 01 == true");
    json_object_put(v);
    v = ds_leaf_value("nullptr", (const guint8 *)"0", 1);
    MRT_CHECK(v == NULL, "nullptr is JSON null");
    v = ds_leaf_value(NULL, one + 6, 2);
    MRT_CHECK(json_object_is_type(v, json_type_string) &&
              g_str_equal(json_object_get_string(v), "0001"),
              "no type (old style): hex");
    json_object_put(v);
}

/* JSON has no NaN or infinities: a float64 holding one must still give a
 * file every JSON parser reads, with its bits kept (hex, like every value
 * JSON cannot carry as a number). */
static void
test_non_finite_float64_stays_valid_json(void)
{
    static const struct { const guint8 bits[8]; const char *hex; } cases[] = {
        { { 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 }, "7ff8000000000000" },    /* NaN */
        { { 0x7f, 0xf0, 0, 0, 0, 0, 0, 0 }, "7ff0000000000000" },    /* +inf */
        { { 0xff, 0xf0, 0, 0, 0, 0, 0, 0 }, "fff0000000000000" },    /* -inf */
        { { 0x7f, 0xf0, 0, 0, 0, 0, 0, 1 }, "7ff0000000000001" },    /* sNaN */
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        json_object *v = ds_leaf_value("float64", cases[i].bits, 8);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "value", v);
        DST_TEXT_ROUND_TRIP(o, cases[i].hex);
        MRT_CHECK(json_object_is_type(v, json_type_string) &&
                  g_str_equal(json_object_get_string(v), cases[i].hex),
                  "float64 %s is the string \"%s\" (got %s)", cases[i].hex,
                  cases[i].hex, json_object_to_json_string(v));
        json_object_put(o);
    }
}

/* A struct's size includes its subsections (§13.3); a subsection node
 * starts at its 0x05 marker and covers its header; subsections nest. */
static void
test_structs_and_subsections_at_every_level(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "nested.mig", TRUE))
        goto out;
    d = fx.dev[NESTED];
    b = body(&fx, NESTED);
    DST_LEAF(d, "fields/hdr", "uint16", b, 2);
    DST_INT(d, "fields/hdr/value", 7);
    DST_LEAF(d, "fields/state", "struct", b + 2, 24);
    DST_STR(d, "fields/state/vmsd_name", "serial");
    DST_ABSENT(d, "fields/state/element");
    DST_LEAF(d, "fields/state/fields/divider", "uint16", b + 2, 2);
    DST_INT(d, "fields/state/fields/divider/value", 12);
    DST_LEAF(d, "fields/state/fields/lcr", "uint8", b + 4, 1);
    DST_INT(d, "fields/state/fields/lcr/value", 3);
    DST_U64(d, "fields/state/subsections/serial~1fifo/offset", b + 5);
    DST_U64(d, "fields/state/subsections/serial~1fifo/size", 21);
    DST_INT(d, "fields/state/subsections/serial~1fifo/version", 1);
    DST_LEAF(d, "fields/state/subsections/serial~1fifo/fields/depth",
             "uint32", b + 22, 4);
    DST_INT(d, "fields/state/subsections/serial~1fifo/fields/depth/value", 16);
    DST_LEAF(d, "fields/tail", "uint8", b + 26, 1);
    DST_INT(d, "fields/tail/value", 127);

    DST_U64(d, "subsections/nested~1a/offset", b + 27);
    DST_U64(d, "subsections/nested~1a/size", 33);
    DST_INT(d, "subsections/nested~1a/version", 1);
    DST_LEAF(d, "subsections/nested~1a/fields/x", "int16", b + 41, 2);
    DST_INT(d, "subsections/nested~1a/fields/x/value", -2);
    DST_U64(d, "subsections/nested~1a/subsections/nested~1a~1b/offset", b + 43);
    DST_U64(d, "subsections/nested~1a/subsections/nested~1a~1b/size", 17);
    DST_INT(d, "subsections/nested~1a/subsections/nested~1a~1b/version", 5);
    DST_LEAF(d, "subsections/nested~1a/subsections/nested~1a~1b/fields/y",
             "uint8", b + 59, 1);
    DST_INT(d, "subsections/nested~1a/subsections/nested~1a~1b/fields/y/value", 9);
    DST_U64(d, "subsections/nested~1c/offset", b + 60);
    DST_U64(d, "subsections/nested~1c/size", 15);
    DST_LEAF(d, "subsections/nested~1c/fields/z", "bool", b + 74, 1);
    DST_BOOL(d, "subsections/nested~1c/fields/z/value", TRUE);
    MRT_CHECK_U64(b + sizeof(nested_body), MRT_DEVICE(&fx.layout, NESTED)->footer_offset);
out:
    fixture_close(&fx);
}

/* A compressed array is one node: offset of element 0, the size of one
 * element (as in the vmdesc), array_len, and the values as a list. */
static void
test_compressed_leaf_arrays_are_value_lists(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "carray.mig", TRUE))
        goto out;
    d = fx.dev[ARRAYS];
    b = body(&fx, ARRAYS);
    DST_LEAF(d, "fields/regs", "uint8", b, 1);
    DST_INT(d, "fields/regs/array_len", 3);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/regs/value")), 3);
    DST_INT(d, "fields/regs/value/0", 0x0f);
    DST_INT(d, "fields/regs/value/1", 0x10);
    DST_INT(d, "fields/regs/value/2", 0x00);
    DST_LEAF(d, "fields/words", "uint16", b + 3, 2);
    DST_INT(d, "fields/words/array_len", 2);
    DST_INT(d, "fields/words/value/0", 0x1234);
    DST_INT(d, "fields/words/value/1", 0xffff);
    DST_ABSENT(d, "fields/words/value/2");
out:
    fixture_close(&fx);
}

static void
test_compressed_struct_array_is_a_list_of_structs(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "sarray.mig", TRUE))
        goto out;
    d = fx.dev[ARRAYS];
    b = body(&fx, ARRAYS);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/bus")), 2);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *p = g_strdup_printf("fields/bus/%u", i);
        g_autofree char *el = g_strconcat(p, "/element", NULL);
        g_autofree char *cmd = g_strconcat(p, "/fields/cmd", NULL);
        g_autofree char *cmdv = g_strconcat(cmd, "/value", NULL);
        g_autofree char *unit = g_strconcat(p, "/fields/unit", NULL);
        g_autofree char *unitv = g_strconcat(unit, "/value", NULL);
        DST_LEAF(d, p, "struct", b + 7 + 3 * i, 3);
        DST_INT(d, el, i);
        DST_LEAF(d, cmd, "uint8", b + 7 + 3 * i, 1);
        DST_INT(d, cmdv, 1 + 2 * i);
        DST_LEAF(d, unit, "uint16", b + 8 + 3 * i, 2);
        DST_INT(d, unitv, 2 + 2 * i);
    }
out:
    fixture_close(&fx);
}

/* Repeated names are one list, whether every element has "index" (QEMU
 * 9) or the last has none (QEMU 10, §13.2). */
static void
test_uncompressed_arrays_group_repeated_names(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "uarray.mig", TRUE))
        goto out;
    d = fx.dev[ARRAYS];
    b = body(&fx, ARRAYS);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/drives")), 3);
    for (guint i = 0; i < 3; i++) {
        g_autofree char *p = g_strdup_printf("fields/drives/%u", i);
        g_autofree char *el = g_strconcat(p, "/element", NULL);
        g_autofree char *sec = g_strconcat(p, "/fields/sector", NULL);
        g_autofree char *secv = g_strconcat(sec, "/value", NULL);
        g_autofree char *vmsd = g_strconcat(p, "/vmsd_name", NULL);
        DST_LEAF(d, p, "struct", b + 13 + 2 * i, 2);
        DST_STR(d, vmsd, "drive");
        DST_ABSENT(d, el);
        DST_LEAF(d, sec, "uint16", b + 13 + 2 * i, 2);
        DST_INT(d, secv, 10 + i);
    }
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/timers")), 2);
    DST_LEAF(d, "fields/timers/0", "timer", b + 19, 8);
    DST_INT(d, "fields/timers/0/value", -1);
    DST_LEAF(d, "fields/timers/1", "timer", b + 27, 8);
    DST_INT(d, "fields/timers/1/value", 5);
    /* ds_find_field takes the first element of a list. */
    MRT_CHECK(ds_find_field(d, "drives/sector") ==
              dst_get(d, "fields/drives/0/fields/sector"),
              "ds_find_field(drives/sector) is element 0's sector");
out:
    fixture_close(&fx);
}

/* QEMU 10 writes an array of pointers with NULLs as runs of one name:
 * 2 structs, a compressed run of 2 nullptr, 1 struct (§13.2). */
static void
test_nullptr_runs_stay_in_one_list_in_stream_order(void)
{
    Fixture fx;
    json_object *d;
    guint64 b;

    if (!fixture_open(&fx, "ptrs.mig", TRUE))
        goto out;
    d = fx.dev[ARRAYS];
    b = body(&fx, ARRAYS);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/ptrs")), 4);
    DST_LEAF(d, "fields/ptrs/0", "struct", b + 35, 1);
    DST_INT(d, "fields/ptrs/0/element", 0);
    DST_INT(d, "fields/ptrs/0/fields/v/value", 7);
    DST_LEAF(d, "fields/ptrs/1", "struct", b + 36, 1);
    DST_INT(d, "fields/ptrs/1/element", 1);
    DST_INT(d, "fields/ptrs/1/fields/v/value", 8);
    DST_LEAF(d, "fields/ptrs/2", "nullptr", b + 37, 1);
    DST_INT(d, "fields/ptrs/2/array_len", 2);
    MRT_CHECK_U64(json_object_array_length(dst_get(d, "fields/ptrs/2/value")), 2);
    DST_NULL(d, "fields/ptrs/2/value/0");
    DST_NULL(d, "fields/ptrs/2/value/1");
    DST_LEAF(d, "fields/ptrs/3", "struct", b + 39, 1);
    DST_ABSENT(d, "fields/ptrs/3/element");
    DST_INT(d, "fields/ptrs/3/fields/v/value", 9);
out:
    fixture_close(&fx);
}

static void
test_old_style_section_is_one_data_buffer(void)
{
    Fixture fx;
    g_autofree char *hex = dst_hex(slirp_body, sizeof(slirp_body));

    if (!fixture_open(&fx, "slirp.mig", TRUE))
        goto out;
    DST_LEAF(fx.dev[SLIRP], "fields/data", "buffer", body(&fx, SLIRP), 12);
    DST_STR(fx.dev[SLIRP], "fields/data/value", hex);
    MRT_CHECK_U64(json_object_object_length(dst_get(fx.dev[SLIRP], "fields")), 1);
out:
    fixture_close(&fx);
}

/* ds_find_section and ds_find_field, the lookups the Super I/O views use. */
static void
test_find_section_and_field(void)
{
    Fixture fx;

    if (!fixture_open(&fx, "find.mig", TRUE))
        goto out;
    MRT_CHECK(ds_find_section(fx.f, "nested", 3) ==
              g_ptr_array_index(fx.f->devices, NESTED), "nested instance 3");
    MRT_CHECK(ds_find_section(fx.f, "nested", -1) ==
              g_ptr_array_index(fx.f->devices, NESTED), "nested, any instance");
    MRT_CHECK(ds_find_section(fx.f, "nested", 0) == NULL, "no nested 0");
    MRT_CHECK(ds_find_section(fx.f, "leaves", -1) == NULL,
              "idstrs are matched whole");
    MRT_CHECK(ds_find_field(fx.dev[NESTED], "state/divider") ==
              dst_get(fx.dev[NESTED], "fields/state/fields/divider"),
              "state/divider");
    MRT_CHECK(ds_find_field(fx.dev[NESTED], "hdr") ==
              dst_get(fx.dev[NESTED], "fields/hdr"), "hdr");
    MRT_CHECK(ds_find_field(fx.dev[NESTED], "state/nope") == NULL, "state/nope");
    MRT_CHECK(ds_find_field(fx.dev[NESTED], "nope") == NULL, "nope");
    MRT_CHECK(ds_find_field(fx.dev[NESTED], "hdr/value") == NULL,
              "a leaf has no fields");
out:
    fixture_close(&fx);
}

/* Without a vmdesc the sections are still bounded by their footers, but
 * nothing says what their bytes mean (docs/FORMAT.md §8.2). */
static void
test_without_vmdesc_the_raw_bytes_and_a_reason(void)
{
    Fixture fx;

    if (!fixture_open(&fx, "novmdesc.mig", FALSE))
        goto out;
    MRT_CHECK(!fx.f->has_vmdesc, "the file has no vmdesc");
    for (guint i = 0; i < NDEV; i++) {
        const MrWrittenSection *ws = MRT_DEVICE(&fx.layout, i);
        g_autofree char *hex = dst_hex(devices[i].body, devices[i].body_len);
        json_object *d = fx.dev[i], *reason;
        DST_STR(d, "name", devices[i].idstr);
        DST_U64(d, "instance_id", devices[i].instance_id);
        DST_U64(d, "offset", ws->offset);
        DST_U64(d, "size", ws->end_offset - ws->offset);
        DST_U64(d, "body_offset", ws->body_offset);
        DST_U64(d, "body_size", devices[i].body_len);
        DST_BOOL(d, "decoded", FALSE);
        reason = dst_get(d, "reason");
        MRT_CHECK(reason && json_object_is_type(reason, json_type_string) &&
                  strstr(json_object_get_string(reason), "vmdesc"),
                  "%s: the reason names the missing vmdesc", devices[i].idstr);
        DST_STR(d, "raw", hex);
        DST_ABSENT(d, "fields");
        DST_ABSENT(d, "vmsd_name");
        DST_TEXT_ROUND_TRIP(d, devices[i].idstr);
    }
out:
    fixture_close(&fx);
}

/* A file cut after it was opened: the decoder reports the short read. */
static void
test_read_error_is_reported_not_decoded(void)
{
    Fixture fx;

    if (!fixture_open(&fx, "cut.mig", TRUE))
        goto out;
    mrt_truncate(fx.path, MRT_DEVICE(&fx.layout, NESTED)->body_offset + 10);
    for (guint i = NESTED; i < NDEV; i++) {
        g_autoptr(GError) err = NULL;
        json_object *d = ds_decode_section(fx.f, g_ptr_array_index(fx.f->devices, i),
                                           &err);
        MRT_CHECK(d == NULL && err != NULL && strstr(err->message, fx.path),
                  "decoding %s of a cut file fails naming it: %s",
                  devices[i].idstr, err ? err->message : "(no error)");
        json_object_put(d);
    }
out:
    fixture_close(&fx);
}

/* The walk reads the file again: a section changed under the model after
 * it was opened (a subsection marker gone) is an error naming the offset,
 * not a wrong decode. */
static void
test_section_changed_after_open_is_an_error(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    g_autofree char *at = NULL;
    json_object *d;

    if (!fixture_open(&fx, "changed.mig", TRUE))
        goto out;
    mrt_patch_u8(fx.path, body(&fx, NESTED) + 27, 0x06); /* nested/a marker */
    at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER "x", body(&fx, NESTED) + 27);
    d = ds_decode_section(fx.f, g_ptr_array_index(fx.f->devices, NESTED), &err);
    MRT_CHECK(d == NULL && err && strstr(err->message, fx.path) &&
              strstr(err->message, at) && strstr(err->message, "nested/a"),
              "refused naming the file, \"%s\" and the subsection: %s", at,
              err ? err->message : "(no error)");
    json_object_put(d);
out:
    fixture_close(&fx);
}

/* Without a vmdesc too, a short read is an error. */
static void
test_read_error_without_vmdesc(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    json_object *d;

    if (!fixture_open(&fx, "cutraw.mig", FALSE))
        goto out;
    mrt_truncate(fx.path, body(&fx, NESTED) + 10);
    d = ds_decode_section(fx.f, g_ptr_array_index(fx.f->devices, NESTED), &err);
    MRT_CHECK(d == NULL && err && strstr(err->message, fx.path),
              "a short read of the raw body fails naming the file: %s",
              err ? err->message : "(no error)");
    json_object_put(d);
out:
    fixture_close(&fx);
}

int
main(int argc, char **argv)
{
    static const MrtTest decode_tests[] = {
        MRT_TEST(test_section_header_fields_match_the_layout),
        MRT_TEST(test_integer_leaves_are_big_endian_with_their_signedness),
        MRT_TEST(test_equal_and_le_leaves_decode_as_their_integer),
        MRT_TEST(test_bool_timer_and_float_leaves),
        MRT_TEST(test_nullptr_is_null_and_irq_state_is_four_levels),
        MRT_TEST(test_opaque_leaves_are_hex_of_their_bytes),
        MRT_TEST(test_leaf_value_without_a_file),
        MRT_TEST(test_non_finite_float64_stays_valid_json),
        MRT_TEST(test_structs_and_subsections_at_every_level),
        MRT_TEST(test_compressed_leaf_arrays_are_value_lists),
        MRT_TEST(test_compressed_struct_array_is_a_list_of_structs),
        MRT_TEST(test_uncompressed_arrays_group_repeated_names),
        MRT_TEST(test_nullptr_runs_stay_in_one_list_in_stream_order),
        MRT_TEST(test_old_style_section_is_one_data_buffer),
        MRT_TEST(test_find_section_and_field),
        MRT_TEST(test_without_vmdesc_the_raw_bytes_and_a_reason),
        MRT_TEST(test_read_error_is_reported_not_decoded),
        MRT_TEST(test_section_changed_after_open_is_an_error),
        MRT_TEST(test_read_error_without_vmdesc),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "device sections as JSON", decode_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
