/* fuzz-seeds OUTDIR: writes the writer-made seeds of corpus/open, the
 * layouts QEMU 10 cannot produce or that need options (docs/FORMAT.md §15,
 * "synthetic vectors"): no vmdesc, no footers, a stream offset,
 * x-ignore-shared with a skipped block, big-endian and 32-bit-host
 * bitmaps, other page sizes, early-setup sections, MULTIFD_FLUSH words,
 * and stale slots.  The writer aligns page areas to 1 MiB as QEMU does;
 * make-corpus.py shrinks them with shrink.py before they go into the
 * corpus (and damages copies for the files the reader must refuse).
 */
#include <stdio.h>
#include <string.h>

#include "mr-writer.h"

typedef struct {
    const char *name;
    void (*setup)(MrWriter *w);
} Variant;

static guint64 page_size;

static void
page(MrWriter *w, guint block, guint64 i, gboolean present)
{
    g_autofree guint8 *data = g_malloc(page_size);

    for (guint64 k = 0; k < page_size; k++)
        data[k] = present ? (guint8)("mramfs-page:"[k % 12] + i)
                          : (guint8)"STALE!"[k % 6];
    if (present)
        mr_writer_set_page(w, block, i, data);
    else
        mr_writer_set_stale(w, block, i, data);
}

/* A device of each shape the walk knows (docs/FORMAT.md §13): leaves, a
 * subsection, a compressed array, a struct array (the last element without
 * index, §13.2), and an old-style buffer. */
static void
devices(MrWriter *w, gboolean early)
{
    static const guint8 timer[] = {
        0, 0, 0, 0, 0, 0, 0x10, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0, 0, 0, 0, 0, 0, 0, 1,
        0x05, 11, 't', 'i', 'm', 'e', 'r', '/', 'd', 'r', 'i', 'f', 't',
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42,
    };
    static const guint8 pc87312[] = { 0, 0, 0x0f, 0x10, 0x00 };
    static const guint8 serial[] = { 0, 12, 0, 0, 1, 3, 0, 0x60, 0xb0, 0, 0 };
    static const guint8 drives[] = { 1, 2, 0, 3, 0, 4, 0x30, 0x30, 1 };
    guint8 slirp[40];

    memset(slirp, 0xa5, sizeof(slirp));
    mr_writer_add_device(w, "timer", 0, 2,
        "{\"vmsd_name\":\"timer\",\"version\":2,\"fields\":["
        "{\"name\":\"cpu_ticks_offset\",\"type\":\"int64\",\"size\":8},"
        "{\"name\":\"unused\",\"type\":\"timer\",\"size\":8},"
        "{\"name\":\"cpu_clock_offset\",\"type\":\"int64\",\"size\":8}],"
        "\"subsections\":[{\"vmsd_name\":\"timer/drift\",\"version\":1,"
        "\"fields\":[{\"name\":\"drift\",\"type\":\"uint64\",\"size\":8}]}]}",
        timer, sizeof(timer), early, NULL);
    mr_writer_add_device(w, "slirp", 0, 4,
        "{\"size\":40,\"fields\":[{\"name\":\"data\",\"type\":\"buffer\","
        "\"size\":40}]}", slirp, sizeof(slirp), FALSE, NULL);
    mr_writer_add_device(w, "pc87312", 0, 1,
        "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
        "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
        "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
        "{\"name\":\"regs\",\"array_len\":3,\"type\":\"uint8\",\"size\":1}]}",
        pc87312, sizeof(pc87312), FALSE, NULL);
    mr_writer_add_device(w, "serial", 0, 3,
        "{\"vmsd_name\":\"serial\",\"version\":3,\"fields\":[{\"name\":"
        "\"state\",\"type\":\"struct\",\"struct\":{\"vmsd_name\":\"serial\","
        "\"version\":3,\"fields\":[{\"name\":\"divider\",\"type\":\"uint16\","
        "\"size\":2},{\"name\":\"rbr\",\"type\":\"uint8\",\"size\":1},"
        "{\"name\":\"ier\",\"type\":\"uint8\",\"size\":1},{\"name\":\"iir\","
        "\"type\":\"uint8\",\"size\":1},{\"name\":\"lcr\",\"type\":\"uint8\","
        "\"size\":1},{\"name\":\"mcr\",\"type\":\"uint8\",\"size\":1},"
        "{\"name\":\"lsr\",\"type\":\"uint8\",\"size\":1},{\"name\":\"msr\","
        "\"type\":\"uint8\",\"size\":1},{\"name\":\"scr\",\"type\":\"uint8\","
        "\"size\":1},{\"name\":\"fcr_vmstate\",\"type\":\"uint8\",\"size\":1}]},"
        "\"size\":11}]}", serial, sizeof(serial), FALSE, NULL);
    mr_writer_add_device(w, "fdc", 0, 2,
        "{\"vmsd_name\":\"fdc\",\"version\":2,\"fields\":["
        "{\"name\":\"drives\",\"index\":0,\"type\":\"struct\",\"struct\":"
        "{\"vmsd_name\":\"fdrive\",\"version\":1,\"fields\":[{\"name\":\"head\","
        "\"type\":\"uint8\",\"size\":1},{\"name\":\"track\",\"type\":\"uint8\","
        "\"size\":1}]},\"size\":2},"
        "{\"name\":\"drives\",\"type\":\"struct\",\"struct\":{\"vmsd_name\":"
        "\"fdrive\",\"version\":1,\"fields\":[{\"name\":\"head\",\"type\":"
        "\"uint8\",\"size\":1},{\"name\":\"track\",\"type\":\"uint8\","
        "\"size\":1}]},\"size\":2},"
        "{\"name\":\"ptrs\",\"array_len\":1,\"type\":\"uint16\",\"size\":2},"
        "{\"name\":\"ptrs\",\"array_len\":2,\"type\":\"nullptr\",\"size\":1},"
        "{\"name\":\"last\",\"type\":\"bool\",\"size\":1}]}",
        drives, sizeof(drives), FALSE, NULL);
}

static guint
block(MrWriter *w, const char *name, guint64 pages, const guint64 *present,
      gsize npresent)
{
    guint b = mr_writer_add_block(w, name, pages * page_size);

    for (gsize i = 0; i < npresent; i++)
        page(w, b, present[i], TRUE);
    return b;
}

static void
basic(MrWriter *w)
{
    static const guint64 ram[] = { 0, 2, 3 }, rom[] = { 0 };

    block(w, "pc.ram", 6, ram, G_N_ELEMENTS(ram));
    block(w, "/rom@etc/acpi/tables", 2, rom, 1);
    devices(w, FALSE);
}

static void
no_vmdesc(MrWriter *w)
{
    basic(w);
    mr_writer_set_vmdesc(w, FALSE);
}

static void
no_vmdesc_no_footers(MrWriter *w)
{
    no_vmdesc(w);
    mr_writer_set_footers(w, FALSE);
}

static void
no_footers(MrWriter *w)
{
    basic(w);
    mr_writer_set_footers(w, FALSE);
}

static void
offset(MrWriter *w)
{
    basic(w);
    mr_writer_set_stream_offset(w, 0x1000);
}

static void
ignore_shared(MrWriter *w)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    static const guint64 some[] = { 1 };
    guint b;

    mr_writer_set_capabilities(w, caps);
    b = block(w, "pc.ram", 4, some, 1);
    mr_writer_block_set_mr_addr(w, b, 0);
    b = block(w, "shared.ram", 16, NULL, 0);
    mr_writer_block_set_skipped(w, b);
    b = block(w, "pc.bios", 2, some, 1);
    mr_writer_block_set_mr_addr(w, b, 0xfffc0000u);
    devices(w, FALSE);
}

/* 70 pages: a bitmap of two longs, so that the word order matters. */
static void
layout(MrWriter *w, MrBitmapOrder order, unsigned long_bits)
{
    static const guint64 scattered[] = { 0, 7, 8, 31, 32, 33, 63, 64, 69 };

    mr_writer_set_bitmap_layout(w, order, long_bits);
    block(w, "ram", 70, scattered, G_N_ELEMENTS(scattered));
    devices(w, FALSE);
}

static void be64(MrWriter *w) { layout(w, MR_BITMAP_BE64, 64); }
static void be32(MrWriter *w) { layout(w, MR_BITMAP_BE32, 32); }
static void le32(MrWriter *w) { layout(w, MR_BITMAP_LE, 32); }

static void
target_page_bits(MrWriter *w)
{
    mr_writer_set_target_page_bits(w, 10);
    basic(w);
}

static void
uuid(MrWriter *w)
{
    static const guint8 u[16] = { 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56,
                                  0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34,
                                  0x56, 0x78 };
    static const char *const caps[] = { "validate-uuid", "mapped-ram", NULL };

    mr_writer_set_uuid(w, u);
    mr_writer_set_capabilities(w, caps);
    basic(w);
}

static void
early(MrWriter *w)
{
    static const guint64 one[] = { 0 };

    block(w, "pc.ram", 1, one, 1);
    devices(w, TRUE);
}

static void
parts_flushes(MrWriter *w)
{
    basic(w);
    mr_writer_set_parts(w, 3);
    mr_writer_set_multifd_flushes(w, 2);
}

static void
no_switchover(MrWriter *w)
{
    basic(w);
    mr_writer_set_switchover(w, FALSE);
}

static void
stale(MrWriter *w)
{
    static const guint64 some[] = { 1 };
    guint b = block(w, "pc.ram", 4, some, 1);

    page(w, b, 2, FALSE);
    page(w, b, 1, TRUE);
    devices(w, FALSE);
}

/* One page of 64 KiB is enough: the corpus must stay small. */
static void
one_page(MrWriter *w)
{
    static const guint64 one[] = { 0 };

    block(w, "pc.ram", 1, one, 1);
    devices(w, FALSE);
}

static void
no_blocks(MrWriter *w)
{
    devices(w, FALSE);
}

static void
empty_block(MrWriter *w)
{
    static const guint64 one[] = { 0 };

    block(w, "empty", 0, NULL, 0);
    block(w, "pc.ram", 1, one, 1);
    devices(w, FALSE);
}

static void
many_blocks(MrWriter *w)
{
    static const guint64 one[] = { 0 };

    for (int i = 0; i < 8; i++) {
        g_autofree char *name = g_strdup_printf("pci.0:0%d.0/dev.rom", i);
        block(w, name, 1, i % 2 ? one : NULL, i % 2);
    }
    devices(w, FALSE);
}

static const struct {
    Variant v;
    guint64 page_size;
} variants[] = {
    { { "basic", basic }, 4096 },
    { { "basic-1k", basic }, 1024 }, /* the base of the damaged seeds */
    { { "no-vmdesc", no_vmdesc }, 4096 },
    { { "no-vmdesc-no-footers", no_vmdesc_no_footers }, 4096 },
    { { "no-footers", no_footers }, 4096 },
    { { "offset", offset }, 4096 },
    { { "ignore-shared", ignore_shared }, 4096 },
    { { "bitmap-be64", be64 }, 1024 },
    { { "bitmap-be32", be32 }, 1024 },
    { { "bitmap-le32", le32 }, 1024 },
    { { "page-1k-target-page-bits", target_page_bits }, 1024 },
    { { "page-64k", one_page }, 65536 },
    { { "uuid", uuid }, 4096 },
    { { "early-setup", early }, 4096 },
    { { "parts-multifd-flush", parts_flushes }, 4096 },
    { { "no-switchover", no_switchover }, 4096 },
    { { "stale-slot", stale }, 4096 },
    { { "no-blocks", no_blocks }, 4096 },
    { { "empty-block", empty_block }, 4096 },
    { { "many-blocks", many_blocks }, 1024 },
};

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(variants); i++) {
        g_autoptr(MrWriter) w = mr_writer_new("pc-i440fx-10.0");
        g_autofree char *path = g_strdup_printf("%s/%s.bin", argv[1],
                                                variants[i].v.name);
        g_autoptr(GError) err = NULL;

        page_size = variants[i].page_size;
        mr_writer_set_page_size(w, page_size);
        variants[i].v.setup(w);
        if (!mr_writer_write(w, path, NULL, &err)) {
            fprintf(stderr, "%s\n", err->message);
            return 1;
        }
        printf("%s\n", path);
    }
    return 0;
}
