/* The PC87312 view (ds-superio.h, docs/FORMAT.md §14.1): FER/FAR/PTR decoded to
 * functions against the whole reset table of §14.1.5 (typed in from the
 * spec, not computed), the PTR and COM3/COM4 rules of §14.1.3, the section
 * read from a snapshot, and ds_pc87312_parse: a written document back to
 * registers, or a refusal that names the key. */
#include <string.h>

#include "ds-decode.h"
#include "ds-superio.h"
#include "dst-helpers.h"

/* ---- decoding ------------------------------------------------------ */

typedef struct {
    guint16 base; /* 0: disabled ("-" in the table) */
    gint irq;
} Fn;

#define OFF { 0, -1 }
/* ROW(FER, FAR, PTR, parallel, uart1, uart2, fdc, ide) */
#define ROW(fer, far, ptr, ...) { fer, far, ptr, { __VA_ARGS__ } }

typedef struct {
    guint8 fer, far, ptr;
    Fn fn[DS_PC_N]; /* parallel, uart1, uart2, fdc, ide */
} Row;

/* docs/FORMAT.md §14.1.5, one row per strap value `config & 0x1f`. */
static const Row reset_table[32] = {
    [0] = ROW(0x4f, 0x10, 0x00, { 0x378, 5 }, { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [1] = ROW(0x4f, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [2] = ROW(0x4f, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [3] = ROW(0x4f, 0x39, 0x00, { 0x3bc, 7 }, { 0x3e8, 4 }, { 0x2e8, 3 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [4] = ROW(0x4f, 0x24, 0x00, { 0x378, 5 }, { 0x2f8, 3 }, { 0x3e8, 4 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [5] = ROW(0x4f, 0x38, 0x00, { 0x378, 5 }, { 0x3e8, 4 }, { 0x2e8, 3 }, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [6] = ROW(0x4b, 0x00, 0x00, { 0x378, 5 }, { 0x3f8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [7] = ROW(0x4b, 0x01, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [8] = ROW(0x4b, 0x01, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [9] = ROW(0x4b, 0x09, 0x00, { 0x3bc, 7 }, { 0x3e8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [10] = ROW(0x4b, 0x08, 0x00, { 0x378, 5 }, { 0x3e8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [11] = ROW(0x4b, 0x08, 0x00, { 0x378, 5 }, { 0x3e8, 4 }, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [12] = ROW(0x0f, 0x10, 0x00, { 0x378, 5 }, { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3f0, 6 }, OFF),
    [13] = ROW(0x0f, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3f0, 6 }, OFF),
    [14] = ROW(0x0f, 0x39, 0x00, { 0x3bc, 7 }, { 0x3e8, 4 }, { 0x2e8, 3 }, { 0x3f0, 6 }, OFF),
    [15] = ROW(0x0f, 0x24, 0x00, { 0x378, 5 }, { 0x2f8, 3 }, { 0x3e8, 4 }, { 0x3f0, 6 }, OFF),
    [16] = ROW(0x49, 0x00, 0x00, { 0x378, 5 }, OFF, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [17] = ROW(0x49, 0x01, 0x00, { 0x3bc, 7 }, OFF, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [18] = ROW(0x49, 0x01, 0x00, { 0x3bc, 7 }, OFF, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [19] = ROW(0x49, 0x00, 0x00, { 0x378, 5 }, OFF, OFF, { 0x3f0, 6 }, { 0x1f0, 14 }),
    [20] = ROW(0x07, 0x10, 0x00, { 0x378, 5 }, { 0x3f8, 4 }, { 0x2f8, 3 }, OFF, OFF),
    [21] = ROW(0x07, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, OFF, OFF),
    [22] = ROW(0x07, 0x39, 0x00, { 0x3bc, 7 }, { 0x3e8, 4 }, { 0x2e8, 3 }, OFF, OFF),
    [23] = ROW(0x07, 0x24, 0x00, { 0x378, 5 }, { 0x2f8, 3 }, { 0x3e8, 4 }, OFF, OFF),
    [24] = ROW(0x47, 0x10, 0x00, { 0x378, 5 }, { 0x3f8, 4 }, { 0x2f8, 3 }, OFF, { 0x1f0, 14 }),
    [25] = ROW(0x47, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, OFF, { 0x1f0, 14 }),
    [26] = ROW(0x47, 0x11, 0x00, { 0x3bc, 7 }, { 0x3f8, 4 }, { 0x2f8, 3 }, OFF, { 0x1f0, 14 }),
    [27] = ROW(0x47, 0x39, 0x00, { 0x3bc, 7 }, { 0x3e8, 4 }, { 0x2e8, 3 }, OFF, { 0x1f0, 14 }),
    [28] = ROW(0x47, 0x24, 0x00, { 0x378, 5 }, { 0x2f8, 3 }, { 0x3e8, 4 }, OFF, { 0x1f0, 14 }),
    [29] = ROW(0x47, 0x38, 0x00, { 0x378, 5 }, { 0x3e8, 4 }, { 0x2e8, 3 }, OFF, { 0x1f0, 14 }),
    [30] = ROW(0x08, 0x10, 0x00, OFF, OFF, OFF, { 0x3f0, 6 }, OFF),
    [31] = ROW(0x00, 0x10, 0x02, OFF, OFF, OFF, OFF, OFF),
};

/* COM3 / COM4 by address set s = FAR[7:6] (§14.1.3). */
static const guint16 com3[4] = { 0x3e8, 0x338, 0x2e8, 0x220 };
static const guint16 com4[4] = { 0x2e8, 0x238, 0x2e0, 0x228 };

static void
decode(guint8 fer, guint8 far, guint8 ptr, DsFunction out[DS_PC_N])
{
    DsPc87312Regs r = { .fer = fer, .far = far, .ptr = ptr };

    ds_pc87312_decode(&r, out);
}

static void
check_fn_at(const DsFunction *got, gboolean enabled, guint16 base, gint irq,
            gint dma, const char *what, const char *file, int line)
{
    mrt_check_at(got->enabled == enabled && got->iobase == base &&
                 got->irq == irq && got->dma == dma, file, line,
                 "%s: %s 0x%x irq %d dma %d (got %s 0x%x irq %d dma %d)", what,
                 enabled ? "enabled" : "disabled", base, irq, dma,
                 got->enabled ? "enabled" : "disabled", got->iobase, got->irq,
                 got->dma);
}
#define CHECK_FN(got, en, base, irq, dma, what)                               \
    check_fn_at((got), (en), (base), (irq), (dma), (what), __FILE__, __LINE__)

static void
test_every_strap_of_the_reset_table_decodes_as_the_spec_says(void)
{
    for (guint cfg = 0; cfg < 32; cfg++) {
        const Row *row = &reset_table[cfg];
        DsFunction fn[DS_PC_N];

        decode(row->fer, row->far, row->ptr, fn);
        for (guint i = 0; i < DS_PC_N; i++) {
            g_autofree char *what = g_strdup_printf("strap %u (%02x %02x %02x) %s",
                                                    cfg, row->fer, row->far,
                                                    row->ptr,
                                                    ds_pc87312_function_names[i]);
            const Fn *want = &row->fn[i];
            if (want->base == 0) {
                MRT_CHECK(!fn[i].enabled, "%s: disabled", what);
                continue;
            }
            /* Only the FDC has a DMA channel (§14.1.3). */
            CHECK_FN(&fn[i], TRUE, want->base, want->irq, i == DS_PC_FDC ? 2 : -1,
                     what);
        }
    }
}

static void
test_function_names_are_the_node_keys(void)
{
    static const char *const want[DS_PC_N] = { "parallel", "uart1", "uart2",
                                               "fdc", "ide" };

    for (guint i = 0; i < DS_PC_N; i++)
        MRT_CHECK_STR(ds_pc87312_function_names[i], want[i]);
}

/* Parallel select p = FAR[1:0]; PTR bit 3 picks IRQ 7 over 5 only for
 * p = 0; the other PTR bits never matter (§14.1.2, §14.1.3). */
static void
test_ptr_bit_3_selects_the_parallel_irq_only_at_0x378(void)
{
    static const struct { guint8 far, ptr; guint16 base; gint irq; } cases[] = {
        { 0x00, 0x00, 0x378, 5 }, { 0x00, 0x08, 0x378, 7 },
        { 0x00, 0xf7, 0x378, 5 }, { 0x00, 0xff, 0x378, 7 },
        { 0x01, 0x00, 0x3bc, 7 }, { 0x01, 0x08, 0x3bc, 7 },
        { 0x02, 0x00, 0x278, 5 }, { 0x02, 0x08, 0x278, 5 },
        /* reserved: QEMU would map it at 0 */
        { 0x03, 0x00, 0x000, 0 }, { 0x03, 0x08, 0x000, 0 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        DsFunction fn[DS_PC_N];
        g_autofree char *what = g_strdup_printf("FAR %02x PTR %02x parallel",
                                                cases[i].far, cases[i].ptr);
        decode(0x01, cases[i].far, cases[i].ptr, fn);
        CHECK_FN(&fn[DS_PC_PARALLEL], TRUE, cases[i].base, cases[i].irq, -1, what);
    }
}

/* UART select u: COM1 0x3f8/4, COM2 0x2f8/3, COM3/COM4 from the address
 * set s (FAR[7:6]) on IRQ 4/3; s does not move COM1 and COM2. */
static void
test_every_com3_com4_address_set(void)
{
    for (guint s = 0; s < 4; s++) {
        DsFunction fn[DS_PC_N];
        g_autofree char *w1 = g_strdup_printf("set %u: uart1 on COM3", s);
        g_autofree char *w2 = g_strdup_printf("set %u: uart2 on COM4", s);
        g_autofree char *w3 = g_strdup_printf("set %u: uart1 on COM4", s);
        g_autofree char *w4 = g_strdup_printf("set %u: uart2 on COM3", s);
        g_autofree char *w5 = g_strdup_printf("set %u: uart1 on COM1", s);
        g_autofree char *w6 = g_strdup_printf("set %u: uart2 on COM2", s);

        decode(0x06, (guint8)(s << 6 | 3 << 4 | 2 << 2), 0, fn);
        CHECK_FN(&fn[DS_PC_UART1], TRUE, com3[s], 4, -1, w1);
        CHECK_FN(&fn[DS_PC_UART2], TRUE, com4[s], 3, -1, w2);
        decode(0x06, (guint8)(s << 6 | 2 << 4 | 3 << 2), 0, fn);
        CHECK_FN(&fn[DS_PC_UART1], TRUE, com4[s], 3, -1, w3);
        CHECK_FN(&fn[DS_PC_UART2], TRUE, com3[s], 4, -1, w4);
        decode(0x06, (guint8)(s << 6 | 1 << 4 | 0 << 2), 0, fn);
        CHECK_FN(&fn[DS_PC_UART1], TRUE, 0x3f8, 4, -1, w5);
        CHECK_FN(&fn[DS_PC_UART2], TRUE, 0x2f8, 3, -1, w6);
    }
}

/* FER bits 5 and 7 move the FDC and IDE; bit 4 (4-drive) is stored only;
 * a disabled function still has the base its bits say. */
static void
test_fdc_and_ide_alternate_addresses(void)
{
    DsFunction fn[DS_PC_N];

    decode(0x08, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_FDC], TRUE, 0x3f0, 6, 2, "FER 08 fdc");
    decode(0x28, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_FDC], TRUE, 0x370, 6, 2, "FER 28 fdc");
    decode(0x18, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_FDC], TRUE, 0x3f0, 6, 2, "FER 18 fdc (4-drive)");
    decode(0x20, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_FDC], FALSE, 0x370, 6, 2, "FER 20 fdc");
    decode(0x40, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_IDE], TRUE, 0x1f0, 14, -1, "FER 40 ide");
    decode(0xc0, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_IDE], TRUE, 0x170, 14, -1, "FER c0 ide");
    decode(0x80, 0, 0, fn);
    CHECK_FN(&fn[DS_PC_IDE], FALSE, 0x170, 14, -1, "FER 80 ide");
}

/* ---- the section in a snapshot -------------------------------------- */

/* The pc87312 VMSD as QEMU 10 describes it (40p.mig, §14.1.1). */
static const char pc87312_desc[] =
    "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
    "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"regs\",\"array_len\":3,\"type\":\"uint8\",\"size\":1}]}";
static const guint8 pc87312_body[5] = { 0x02, 0x01, 0x4f, 0x39, 0x08 };

static const char serial_desc[] =
    "{\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"state\",\"type\":\"struct\",\"size\":3,\"struct\":{"
    "\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"divider\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"lcr\",\"type\":\"uint8\",\"size\":1}]}}]}";
static const guint8 serial_body[3] = { 0x00, 0x0c, 0x03 };

static void
test_load_reads_the_registers_and_their_offsets(void)
{
    const DstDevice devs[] = {
        { "serial", 0, 3, serial_desc, serial_body, sizeof(serial_body) },
        { "pc87312", 0, 1, pc87312_desc, pc87312_body, sizeof(pc87312_body) },
    };
    MrWriterLayout l;
    g_autofree char *path = dst_write("load.mig", "40p", devs, 2, TRUE, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    const MrWrittenSection *ws = MRT_DEVICE(&l, 1);
    json_object *o;
    DsPc87312 p;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK(ds_pc87312_section(f) == g_ptr_array_index(f->devices, 1),
              "the pc87312 section is found");
    MRT_CHECK(ds_pc87312_load(f, ds_pc87312_section(f), &p, &err), "load: %s",
              err ? err->message : "");
    MRT_CHECK(p.section == g_ptr_array_index(f->devices, 1), "the pc87312 section");
    MRT_CHECK_U64(p.regs.fer, 0x4f);
    MRT_CHECK_U64(p.regs.far, 0x39);
    MRT_CHECK_U64(p.regs.ptr, 0x08);
    MRT_CHECK_U64(p.regs.selected_index, 1);
    MRT_CHECK_U64(p.regs.read_id_step, 2);
    MRT_CHECK_U64(p.step_offset, ws->body_offset);
    MRT_CHECK_U64(p.selected_offset, ws->body_offset + 1);
    MRT_CHECK_U64(p.regs_offset, ws->body_offset + 2);

    o = ds_pc87312_json(&p);
    DST_STR(o, "device", "pc87312");
    DST_STR(o, "section/name", "pc87312");
    DST_U64(o, "section/instance_id", 0);
    DST_U64(o, "section/version_id", 1);
    DST_U64(o, "section/section_id", ws->section_id);
    DST_U64(o, "section/offset", ws->offset);
    DST_U64(o, "section/registers_offset", ws->body_offset + 2);
    DST_STR(o, "registers/fer", "0x4f");
    DST_STR(o, "registers/far", "0x39");
    DST_STR(o, "registers/ptr", "0x08");
    DST_INT(o, "registers/selected_index", 1);
    DST_INT(o, "registers/read_id_step", 2);
    /* FAR 39: parallel p=1, UART1 COM3 and UART2 COM4 of set 0. */
    DST_BOOL(o, "functions/parallel/enabled", TRUE);
    DST_STR(o, "functions/parallel/iobase", "0x3bc");
    DST_INT(o, "functions/parallel/irq", 7);
    DST_ABSENT(o, "functions/parallel/dma");
    DST_STR(o, "functions/uart1/iobase", "0x3e8");
    DST_INT(o, "functions/uart1/irq", 4);
    DST_STR(o, "functions/uart2/iobase", "0x2e8");
    DST_INT(o, "functions/uart2/irq", 3);
    DST_BOOL(o, "functions/fdc/enabled", TRUE);
    DST_STR(o, "functions/fdc/iobase", "0x3f0");
    DST_INT(o, "functions/fdc/irq", 6);
    DST_INT(o, "functions/fdc/dma", 2);
    DST_BOOL(o, "functions/ide/enabled", TRUE);
    DST_STR(o, "functions/ide/iobase", "0x1f0");
    DST_INT(o, "functions/ide/irq", 14);
    MRT_CHECK(dst_get(o, "note") &&
              strstr(json_object_get_string(dst_get(o, "note")),
                     "unsupported device reconfiguration"),
              "the note says QEMU does not move the devices");
    DST_TEXT_ROUND_TRIP(o, "pc87312 node");
    json_object_put(o);
    mr_writer_layout_clear(&l);
}

/* 40p.mig: strap 12, the node of docs/FORMAT.md §14.1.6. */
static void
test_40p_registers_give_the_suggested_node(void)
{
    MrSection s = { .idstr = (char *)"pc87312", .section_id = 29,
                    .version_id = 1, .offset = 0x5712014 };
    DsPc87312 p = { .section = &s, .regs = { 0x0f, 0x10, 0x00, 0, 0 },
                    .regs_offset = 0x571202b };
    json_object *o = ds_pc87312_json(&p);

    DST_STR(o, "registers/fer", "0x0f");
    DST_STR(o, "registers/far", "0x10");
    DST_STR(o, "registers/ptr", "0x00");
    DST_U64(o, "section/offset", 0x5712014);
    DST_U64(o, "section/registers_offset", 0x571202b);
    DST_BOOL(o, "functions/parallel/enabled", TRUE);
    DST_STR(o, "functions/parallel/iobase", "0x378");
    DST_INT(o, "functions/parallel/irq", 5);
    DST_STR(o, "functions/uart1/iobase", "0x3f8");
    DST_INT(o, "functions/uart1/irq", 4);
    DST_STR(o, "functions/uart2/iobase", "0x2f8");
    DST_INT(o, "functions/uart2/irq", 3);
    DST_STR(o, "functions/fdc/iobase", "0x3f0");
    DST_BOOL(o, "functions/ide/enabled", FALSE);
    DST_STR(o, "functions/ide/iobase", "0x1f0");
    DST_INT(o, "functions/ide/irq", 14);
    json_object_put(o);
}

static void
test_load_without_a_pc87312_or_a_vmdesc_finds_none(void)
{
    const DstDevice devs[] = {
        { "serial", 0, 3, serial_desc, serial_body, sizeof(serial_body) },
        { "pc87312", 0, 1, pc87312_desc, pc87312_body, sizeof(pc87312_body) },
    };
    g_autofree char *p1 = dst_write("none.mig", "40p", devs, 1, TRUE, NULL);
    g_autofree char *p2 = dst_write("novmdesc.mig", "40p", devs, 2, FALSE, NULL);
    g_autoptr(MrFile) f1 = MRT_OPEN(p1, NULL);
    g_autoptr(MrFile) f2 = MRT_OPEN(p2, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f2);
    MRT_CHECK(ds_pc87312_section(f1) == NULL, "no pc87312 section: none found");
    MRT_CHECK(ds_pc87312_section(f2) == NULL,
              "no vmdesc: nothing to decode it with, none found");
}

/* A vmdesc whose pc87312 is not QEMU's (regs no array of three uint8) is
 * refused with a message, whatever shape it has. */
static void
test_load_refuses_a_pc87312_of_another_shape(void)
{
    static const struct { const char *what, *desc; gsize len; } cases[] = {
        { "regs[2]",
          "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
          "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"regs\",\"array_len\":2,\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"pad\",\"type\":\"uint8\",\"size\":1}]}", 5 },
        { "regs a plain uint8",
          "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
          "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"regs\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"pad\",\"type\":\"uint16\",\"size\":2}]}", 5 },
        { "regs a struct",
          "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
          "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"regs\",\"type\":\"struct\",\"size\":3,\"struct\":{"
          "\"vmsd_name\":\"r\",\"version\":1,\"fields\":["
          "{\"name\":\"fer\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"far\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"ptr\",\"type\":\"uint8\",\"size\":1}]}}]}", 5 },
        { "regs a buffer",
          "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
          "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
          "{\"name\":\"regs\",\"type\":\"buffer\",\"size\":1,\"array_len\":3}]}", 5 },
        { "no selected_index",
          "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
          "{\"name\":\"read_id_step\",\"type\":\"uint16\",\"size\":2},"
          "{\"name\":\"regs\",\"array_len\":3,\"type\":\"uint8\",\"size\":1}]}", 5 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const DstDevice dev = { "pc87312", 0, 1, cases[i].desc, pc87312_body,
                                cases[i].len };
        g_autofree char *name = g_strdup_printf("shape-%zu.mig", i);
        g_autofree char *path = dst_write(name, "40p", &dev, 1, TRUE, NULL);
        g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
        g_autoptr(GError) err = NULL;
        g_autofree char *at = NULL;
        DsPc87312 p;

        if (f == NULL)
            continue;
        at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER "x: ", ((MrSection *)
                             g_ptr_array_index(f->devices, 0))->offset);
        MRT_CHECK(ds_pc87312_section(f) != NULL, "%s: found", cases[i].what);
        MRT_CHECK(!ds_pc87312_load(f, ds_pc87312_section(f), &p, &err) &&
                  err != NULL &&
                  g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED) &&
                  strstr(err->message, path) && strstr(err->message, at) &&
                  strstr(err->message, "pc87312"),
                  "%s: refused naming the file, the offset and the section: %s",
                  cases[i].what, err ? err->message : "(no error)");
    }
}

/* ---- parsing a written document ------------------------------------ */

static MrSection fake_section = { .idstr = (char *)"pc87312", .version_id = 1 };

static DsPc87312
chip(guint8 fer, guint8 far, guint8 ptr, guint8 sel, guint8 step)
{
    DsPc87312 p = { .section = &fake_section,
                    .regs = { fer, far, ptr, sel, step } };

    return p;
}

/* Recursively merges `edit` into `doc`: objects key by key, anything else
 * replaced. */
static void
merge(json_object *doc, json_object *edit)
{
    json_object_object_foreach(edit, k, v) {
        json_object *old;
        if (json_object_is_type(v, json_type_object) &&
            json_object_object_get_ex(doc, k, &old) &&
            json_object_is_type(old, json_type_object))
            merge(old, v);
        else
            json_object_object_add(doc, k, json_object_get(v));
    }
}

/* The document the mount shows for cur, edited: what a user writes back
 * after changing a few values in an editor. */
static char *
edited(const DsPc87312 *cur, const char *edit_json)
{
    json_object *doc = ds_pc87312_json(cur);
    json_object *edit = json_tokener_parse(edit_json);
    char *text;

    g_assert(edit != NULL);
    merge(doc, edit);
    text = g_strconcat(json_object_to_json_string_ext(
                           doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED),
                       "\n", NULL);
    json_object_put(edit);
    json_object_put(doc);
    return text;
}

static void
expect_regs_at(const DsPc87312 *cur, const char *text, gsize len, guint8 fer,
               guint8 far, guint8 ptr, guint8 sel, guint8 step,
               const char *file, int line)
{
    g_autoptr(GError) err = NULL;
    DsPc87312Regs out = { 0xee, 0xee, 0xee, 0xee, 0xee };
    gboolean ok = ds_pc87312_parse(cur, text, len, &out, &err);

    mrt_check_at(ok, file, line, "accepted: %s\n%s", err ? err->message : "",
                 text);
    if (!ok)
        return;
    mrt_check_at(out.fer == fer && out.far == far && out.ptr == ptr &&
                 out.selected_index == sel && out.read_id_step == step,
                 file, line, "FER FAR PTR %02x %02x %02x sel %u step %u (got "
                 "%02x %02x %02x sel %u step %u) from\n%s", fer, far, ptr, sel,
                 step, out.fer, out.far, out.ptr, out.selected_index,
                 out.read_id_step, text);
}
#define EXPECT_REGS(cur, text, fer, far, ptr, sel, step)                      \
    expect_regs_at((cur), (text), strlen(text), (fer), (far), (ptr), (sel),    \
                   (step), __FILE__, __LINE__)
#define EXPECT_EDIT(cur, edit, fer, far, ptr, sel, step)                      \
    do {                                                                      \
        g_autofree char *t_ = edited((cur), (edit));                          \
        EXPECT_REGS((cur), t_, (fer), (far), (ptr), (sel), (step));           \
    } while (0)

/* Refused with MR_ERROR_REFUSED and a message holding every needle
 * (the key at fault). */
static void
expect_refused_at(const DsPc87312 *cur, const char *text, gsize len,
                  const char *file, int line, ...)
{
    g_autoptr(GError) err = NULL;
    DsPc87312Regs out;
    const char *needle;
    va_list ap;

    mrt_check_at(!ds_pc87312_parse(cur, text, len, &out, &err), file, line,
                 "refused:\n%.*s", (int)len, text);
    if (err == NULL)
        return;
    mrt_check_at(g_error_matches(err, MR_ERROR, MR_ERROR_REFUSED),
                 file, line, "MR_ERROR_REFUSED: %s", err->message);
    va_start(ap, line);
    while ((needle = va_arg(ap, const char *)) != NULL)
        mrt_check_at(strstr(err->message, needle) != NULL, file, line,
                     "message names \"%s\": %s", needle, err->message);
    va_end(ap);
}
#define EXPECT_REFUSED(cur, text, ...)                                        \
    expect_refused_at((cur), (text), strlen(text), __FILE__, __LINE__,        \
                      __VA_ARGS__, NULL)
#define EXPECT_EDIT_REFUSED(cur, edit, ...)                                   \
    do {                                                                      \
        g_autofree char *t_ = edited((cur), (edit));                          \
        EXPECT_REFUSED((cur), t_, __VA_ARGS__);                               \
    } while (0)

/* decode -> JSON -> parse gives the same registers, for every strap and
 * for registers no strap gives. */
static void
test_unchanged_document_round_trips_every_strap(void)
{
    for (guint cfg = 0; cfg < 32; cfg++) {
        const Row *r = &reset_table[cfg];
        DsPc87312 c = chip(r->fer, r->far, r->ptr, (guint8)(cfg % 3),
                           (guint8)(cfg % 3));
        EXPECT_EDIT(&c, "{}", r->fer, r->far, r->ptr, cfg % 3, cfg % 3);
    }
    for (guint v = 0; v < 256; v += 17) {
        DsPc87312 c = chip((guint8)v, (guint8)(255 - v), (guint8)(v ^ 0x5a),
                           (guint8)v, 2);
        EXPECT_EDIT(&c, "{}", v, 255 - v, v ^ 0x5a, v, 2);
    }
}

/* From 40p's strap 12 (0f 10 00), one function changed in the whole
 * document; expected registers from §14.1.2/§14.1.3. */
static void
test_each_function_changed_alone(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

#define F(fn, body) "{\"functions\":{\"" fn "\":" body "}}"
    EXPECT_EDIT(&c, F("parallel", "{\"iobase\":\"0x3bc\",\"irq\":7}"), 0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("parallel", "{\"irq\":7}"), 0x0f, 0x10, 0x08, 0, 0);
    EXPECT_EDIT(&c, F("parallel", "{\"iobase\":\"0x278\",\"irq\":5}"), 0x0f, 0x12, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("parallel", "{\"enabled\":false}"), 0x0e, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart1", "{\"iobase\":\"0x3e8\",\"irq\":4}"), 0x0f, 0x18, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart1", "{\"iobase\":\"0x338\",\"irq\":4}"), 0x0f, 0x58, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart1", "{\"iobase\":\"0x2f8\",\"irq\":3}"), 0x0f, 0x14, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart1", "{\"enabled\":false}"), 0x0d, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x3e8\",\"irq\":4}"), 0x0f, 0x20, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x3f8\",\"irq\":4}"), 0x0f, 0x00, 0x00, 0, 0);
    /* 0x2e8 is COM3 of set 2 on IRQ 4 and COM4 of set 0 on IRQ 3. */
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x2e8\",\"irq\":4}"), 0x0f, 0xa0, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x2e8\",\"irq\":3}"), 0x0f, 0x30, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x2e0\",\"irq\":3}"), 0x0f, 0xb0, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x228\",\"irq\":3}"), 0x0f, 0xf0, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x220\",\"irq\":4}"), 0x0f, 0xe0, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"iobase\":\"0x238\",\"irq\":3}"), 0x0f, 0x70, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("uart2", "{\"enabled\":false}"), 0x0b, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("fdc", "{\"iobase\":\"0x370\"}"), 0x2f, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("fdc", "{\"enabled\":false}"), 0x07, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("ide", "{\"enabled\":true}"), 0x4f, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("ide", "{\"enabled\":true,\"iobase\":\"0x170\"}"), 0xcf, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, F("ide", "{\"iobase\":\"0x170\"}"), 0x8f, 0x10, 0x00, 0, 0);
#undef F
    /* The change the QEMU round trip makes (test_devstate_qemu.py). */
    EXPECT_EDIT(&c, "{\"functions\":{\"uart2\":{\"iobase\":\"0x3e8\",\"irq\":4},"
                "\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7},"
                "\"ide\":{\"enabled\":true}}}", 0x4f, 0x21, 0x00, 0, 0);
}

/* Bits no function decides stay: FDC 4-drive, PTR power/lock bits, the
 * COM3/COM4 set when the UARTs need none, the index latch. */
static void
test_bits_the_functions_do_not_decide_are_kept(void)
{
    DsPc87312 c = chip(0x1f, 0xd0, 0x47, 5, 2);

    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7}}}",
                0x1f, 0xd1, 0x47, 5, 2);
    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"irq\":7}}}",
                0x1f, 0xd0, 0x4f, 5, 2);
    EXPECT_EDIT(&c, "{\"functions\":{\"ide\":{\"enabled\":true}}}",
                0x5f, 0xd0, 0x47, 5, 2);
    /* COM3 of the current set 3 keeps the set. */
    EXPECT_EDIT(&c, "{\"functions\":{\"uart2\":{\"iobase\":\"0x220\",\"irq\":4}}}",
                0x1f, 0xe0, 0x47, 5, 2);
}

/* FAR[1:0] = 3 is reserved (parallel "at 0, IRQ 0"): a guest can write it.
 * Changing another function must keep it, not refuse the document. */
static void
test_reserved_parallel_select_is_kept_when_another_function_changes(void)
{
    DsPc87312 c = chip(0x0f, 0x13, 0x00, 0, 0);

    EXPECT_EDIT(&c, "{}", 0x0f, 0x13, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"functions\":{\"uart2\":{\"iobase\":\"0x3e8\",\"irq\":4}}}",
                0x0f, 0x23, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"functions\":{\"fdc\":{\"enabled\":false}}}",
                0x07, 0x13, 0x00, 0, 0);
    /* and it can be left for a real setting */
    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7}}}",
                0x0f, 0x11, 0x00, 0, 0);
}

static void
test_integers_are_accepted_for_numbers(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"iobase\":956,\"irq\":7}}}",
                0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"functions\":{\"uart2\":{\"iobase\":1000,\"irq\":4}}}",
                0x0f, 0x20, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"functions\":{\"fdc\":{\"iobase\":880}}}",
                0x2f, 0x10, 0x00, 0, 0);
    /* decimal and upper-case hex strings too */
    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"iobase\":\"956\",\"irq\":\"7\"}}}",
                0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"functions\":{\"parallel\":{\"iobase\":\"0x3BC\",\"irq\":7}}}",
                0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"fer\":79,\"far\":17,\"ptr\":8}}",
                0x4f, 0x11, 0x08, 0, 0);
}

/* Keys left out keep their value. */
static void
test_partial_documents(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 3, 2);

    EXPECT_REGS(&c, "{}", 0x0f, 0x10, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"functions\":{}}", 0x0f, 0x10, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"registers\":{}}", 0x0f, 0x10, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"device\":\"pc87312\"}", 0x0f, 0x10, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"functions\":{\"uart2\":{\"iobase\":\"0x3e8\",\"irq\":4}}}",
                0x0f, 0x20, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"functions\":{\"ide\":{\"enabled\":true}}}",
                0x4f, 0x10, 0x00, 3, 2);
    EXPECT_REGS(&c, "{\"registers\":{\"ptr\":\"0x08\"}}", 0x0f, 0x10, 0x08, 3, 2);
    EXPECT_REGS(&c, "{\"registers\":{\"selected_index\":1}}", 0x0f, 0x10, 0x00, 1, 2);
    EXPECT_REGS(&c, "  {\"registers\":{\"read_id_step\":0}}", 0x0f, 0x10, 0x00, 3, 0);
}

/* Registers edited in the whole document, its functions left as shown:
 * the registers rule. */
static void
test_registers_edited_alone(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_EDIT(&c, "{\"registers\":{\"far\":\"0x11\"}}", 0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"fer\":\"0x4f\"}}", 0x4f, 0x10, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"ptr\":\"0xff\"}}", 0x0f, 0x10, 0xff, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"fer\":\"0xff\",\"far\":\"0xff\",\"ptr\":\"0xff\"}}",
                0xff, 0xff, 0xff, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"selected_index\":2,\"read_id_step\":1}}",
                0x0f, 0x10, 0x00, 2, 1);
}

static void
test_registers_and_functions_edited_consistently(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_EDIT(&c, "{\"registers\":{\"far\":\"0x11\"},"
                "\"functions\":{\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7}}}",
                0x0f, 0x11, 0x00, 0, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"fer\":\"0x4f\"},"
                "\"functions\":{\"ide\":{\"enabled\":true}}}",
                0x4f, 0x10, 0x00, 0, 0);
}

/* The index latch says nothing about the functions: changing it with a
 * function is no disagreement. */
static void
test_index_latch_edited_with_a_function(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_EDIT(&c, "{\"registers\":{\"selected_index\":1},"
                "\"functions\":{\"uart2\":{\"iobase\":\"0x3e8\",\"irq\":4}}}",
                0x0f, 0x20, 0x00, 1, 0);
    EXPECT_EDIT(&c, "{\"registers\":{\"read_id_step\":2},"
                "\"functions\":{\"ide\":{\"enabled\":true}}}",
                0x4f, 0x10, 0x00, 0, 2);
}

static void
test_trailing_white_space_is_fine(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);
    g_autofree char *doc = edited(&c, "{\"functions\":{\"ide\":{\"enabled\":true}}}");
    g_autofree char *spaced = g_strconcat(doc, "\n\n \t\r\n", NULL);

    EXPECT_REGS(&c, "{}\n", 0x0f, 0x10, 0x00, 0, 0);
    EXPECT_REGS(&c, "{} \t\r\n  ", 0x0f, 0x10, 0x00, 0, 0);
    EXPECT_REGS(&c, spaced, 0x4f, 0x10, 0x00, 0, 0);
    /* only len bytes count */
    expect_regs_at(&c, "{}garbage", 2, 0x0f, 0x10, 0x00, 0, 0, __FILE__, __LINE__);
}

static void
test_unknown_keys_are_refused_at_every_level(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_REFUSED(&c, "{\"bogus\":1}", "bogus");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fcr\":1}}", "registers", "fcr");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart3\":{}}}", "functions", "uart3");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"base\":\"0x3f8\"}}}",
                   "functions.uart1", "base");
    EXPECT_REFUSED(&c, "{\"section\":{\"bogus\":1}}", "section", "bogus");
    /* the same in the whole document */
    EXPECT_EDIT_REFUSED(&c, "{\"extra\":1}", "extra");
    EXPECT_EDIT_REFUSED(&c, "{\"registers\":{\"extra\":1}}", "registers", "extra");
    EXPECT_EDIT_REFUSED(&c, "{\"functions\":{\"extra\":{}}}", "functions", "extra");
    EXPECT_EDIT_REFUSED(&c, "{\"functions\":{\"fdc\":{\"extra\":1}}}",
                        "functions.fdc", "extra");
    EXPECT_EDIT_REFUSED(&c, "{\"section\":{\"extra\":1}}", "section", "extra");
}

static void
test_malformed_json_is_refused(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);
    g_autofree char *doc = edited(&c, "{}");
    g_autofree char *cut = g_strndup(doc, strlen(doc) - 3); /* "}\n" gone */

    EXPECT_REFUSED(&c, "", "JSON");
    EXPECT_REFUSED(&c, "\n", "JSON");
    EXPECT_REFUSED(&c, "{", "JSON");
    EXPECT_REFUSED(&c, "{\"functions\": }", "JSON");
    EXPECT_REFUSED(&c, "not json", "JSON");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":0x4f}}", "JSON");
    /* what lenient parsers accept and JSON does not */
    EXPECT_REFUSED(&c, "{\"registers\":{},}", "JSON");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":15,}}", "JSON");
    EXPECT_REFUSED(&c, "{/* comment */}", "JSON");
    EXPECT_REFUSED(&c, "{} // comment", "JSON");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":015}}", "JSON");
    EXPECT_REFUSED(&c, "{\"functions\":{\"ide\":{\"enabled\":tRue}}}", "JSON");
    EXPECT_REFUSED(&c, cut, "JSON");
}

static void
test_trailing_garbage_is_refused(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);
    g_autofree char *doc = edited(&c, "{}");
    g_autofree char *twice = g_strconcat(doc, doc, NULL);
    g_autofree char *junk = g_strconcat(doc, "x", NULL);

    EXPECT_REFUSED(&c, "{} x", "JSON");
    EXPECT_REFUSED(&c, "{}{}", "JSON");
    EXPECT_REFUSED(&c, "{},", "JSON");
    EXPECT_REFUSED(&c, twice, "JSON");
    EXPECT_REFUSED(&c, junk, "JSON");
    /* a NUL is not white space */
    expect_refused_at(&c, "{}\n\0", 4, __FILE__, __LINE__, "JSON", NULL);
}

static void
test_bad_types_are_refused_naming_the_key(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_REFUSED(&c, "[]", "document");
    EXPECT_REFUSED(&c, "\"pc87312\"", "document");
    EXPECT_REFUSED(&c, "{\"device\":\"vt8231\"}", "device");
    EXPECT_REFUSED(&c, "{\"device\":1}", "device");
    EXPECT_REFUSED(&c, "{\"section\":\"pc87312\"}", "section");
    EXPECT_REFUSED(&c, "{\"registers\":[]}", "registers");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":true}}", "registers.fer");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":1.5}}", "registers.fer");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":null}}", "registers.fer");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":256}}", "registers.fer");
    EXPECT_REFUSED(&c, "{\"registers\":{\"fer\":-1}}", "registers.fer");
    EXPECT_REFUSED(&c, "{\"registers\":{\"far\":\"0x100\"}}", "registers.far");
    EXPECT_REFUSED(&c, "{\"registers\":{\"far\":\"zz\"}}", "registers.far");
    EXPECT_REFUSED(&c, "{\"registers\":{\"far\":\"\"}}", "registers.far");
    EXPECT_REFUSED(&c, "{\"registers\":{\"ptr\":\"-1\"}}", "registers.ptr");
    EXPECT_REFUSED(&c, "{\"registers\":{\"ptr\":\"0x08 \"}}", "registers.ptr");
    EXPECT_REFUSED(&c, "{\"registers\":{\"selected_index\":[1]}}",
                   "registers.selected_index");
    EXPECT_REFUSED(&c, "{\"functions\":\"x\"}", "functions");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":[]}}", "functions.uart1");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"enabled\":\"yes\"}}}",
                   "functions.uart1.enabled");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"enabled\":1}}}",
                   "functions.uart1.enabled");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"iobase\":true}}}",
                   "functions.uart1.iobase");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"iobase\":null}}}",
                   "functions.uart1.iobase");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"iobase\":\"0x10000\"}}}",
                   "functions.uart1.iobase");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"irq\":\"four\"}}}",
                   "functions.uart1.irq");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"irq\":16}}}",
                   "functions.uart1.irq");
    EXPECT_REFUSED(&c, "{\"functions\":{\"fdc\":{\"dma\":8}}}",
                   "functions.fdc.dma");
}

/* Settings no register value gives (§14.1.3). */
static void
test_values_the_chip_cannot_express_are_refused(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

#define F(fn, body) "{\"functions\":{\"" fn "\":" body "}}"
    EXPECT_REFUSED(&c, F("parallel", "{\"iobase\":\"0x3bc\",\"irq\":5}"), "functions.parallel");
    EXPECT_REFUSED(&c, F("parallel", "{\"iobase\":\"0x278\",\"irq\":7}"), "functions.parallel");
    EXPECT_REFUSED(&c, F("parallel", "{\"iobase\":\"0x3f8\"}"), "functions.parallel");
    EXPECT_REFUSED(&c, F("parallel", "{\"iobase\":0}"), "functions.parallel");
    EXPECT_REFUSED(&c, F("uart1", "{\"iobase\":\"0x3f8\",\"irq\":3}"), "uart1");
    EXPECT_REFUSED(&c, F("uart1", "{\"iobase\":\"0x3e0\",\"irq\":4}"), "uart1");
    EXPECT_REFUSED(&c, F("uart2", "{\"iobase\":\"0x2f8\",\"irq\":4}"), "uart2");
    /* only the base given: COM3 is on IRQ 4, UART2 was on 3 */
    EXPECT_REFUSED(&c, F("uart2", "{\"iobase\":\"0x3e8\"}"), "uart2");
    EXPECT_REFUSED(&c, F("fdc", "{\"iobase\":\"0x3f8\"}"), "functions.fdc.iobase");
    EXPECT_REFUSED(&c, F("fdc", "{\"irq\":5}"), "functions.fdc");
    EXPECT_REFUSED(&c, F("fdc", "{\"dma\":3}"), "functions.fdc");
    EXPECT_REFUSED(&c, F("ide", "{\"iobase\":\"0x1e8\"}"), "functions.ide.iobase");
    EXPECT_REFUSED(&c, F("ide", "{\"irq\":15}"), "functions.ide.irq");
    /* DMA channels where the chip has none */
    EXPECT_REFUSED(&c, F("uart1", "{\"dma\":1}"), "functions.uart1");
    EXPECT_REFUSED(&c, F("parallel", "{\"dma\":3}"), "functions.parallel");
    EXPECT_REFUSED(&c, F("ide", "{\"dma\":0}"), "functions.ide");
#undef F
}

/* COM3/COM4 of the two UARTs come from one address set. */
static void
test_uarts_needing_two_address_sets_are_refused(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"iobase\":\"0x3e8\",\"irq\":4},"
                   "\"uart2\":{\"iobase\":\"0x238\",\"irq\":3}}}", "uart1", "uart2");
    EXPECT_REFUSED(&c, "{\"functions\":{\"uart1\":{\"iobase\":\"0x338\",\"irq\":4},"
                   "\"uart2\":{\"iobase\":\"0x2e0\",\"irq\":3}}}", "uart1", "uart2");
    /* the same set for both is fine */
    EXPECT_REGS(&c, "{\"functions\":{\"uart1\":{\"iobase\":\"0x338\",\"irq\":4},"
                "\"uart2\":{\"iobase\":\"0x238\",\"irq\":3}}}", 0x0f, 0x78, 0x00, 0, 0);
}

static void
test_registers_and_functions_that_disagree_are_refused(void)
{
    DsPc87312 c = chip(0x0f, 0x10, 0x00, 0, 0);

    EXPECT_EDIT_REFUSED(&c, "{\"registers\":{\"fer\":\"0x0e\"},"
                        "\"functions\":{\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7}}}",
                        "registers", "functions");
    EXPECT_EDIT_REFUSED(&c, "{\"registers\":{\"far\":\"0x12\"},"
                        "\"functions\":{\"parallel\":{\"iobase\":\"0x3bc\",\"irq\":7}}}",
                        "registers", "functions");
    EXPECT_EDIT_REFUSED(&c, "{\"registers\":{\"fer\":\"0x4f\"},"
                        "\"functions\":{\"fdc\":{\"enabled\":false}}}",
                        "registers", "functions");
}

int
main(int argc, char **argv)
{
    static const MrtTest decode_tests[] = {
        MRT_TEST(test_every_strap_of_the_reset_table_decodes_as_the_spec_says),
        MRT_TEST(test_function_names_are_the_node_keys),
        MRT_TEST(test_ptr_bit_3_selects_the_parallel_irq_only_at_0x378),
        MRT_TEST(test_every_com3_com4_address_set),
        MRT_TEST(test_fdc_and_ide_alternate_addresses),
        MRT_END,
    };
    static const MrtTest load_tests[] = {
        MRT_TEST(test_load_reads_the_registers_and_their_offsets),
        MRT_TEST(test_40p_registers_give_the_suggested_node),
        MRT_TEST(test_load_without_a_pc87312_or_a_vmdesc_finds_none),
        MRT_TEST(test_load_refuses_a_pc87312_of_another_shape),
        MRT_END,
    };
    static const MrtTest parse_tests[] = {
        MRT_TEST(test_unchanged_document_round_trips_every_strap),
        MRT_TEST(test_each_function_changed_alone),
        MRT_TEST(test_bits_the_functions_do_not_decide_are_kept),
        MRT_TEST(test_reserved_parallel_select_is_kept_when_another_function_changes),
        MRT_TEST(test_integers_are_accepted_for_numbers),
        MRT_TEST(test_partial_documents),
        MRT_TEST(test_registers_edited_alone),
        MRT_TEST(test_registers_and_functions_edited_consistently),
        MRT_TEST(test_index_latch_edited_with_a_function),
        MRT_TEST(test_trailing_white_space_is_fine),
        MRT_TEST(test_unknown_keys_are_refused_at_every_level),
        MRT_TEST(test_malformed_json_is_refused),
        MRT_TEST(test_trailing_garbage_is_refused),
        MRT_TEST(test_bad_types_are_refused_naming_the_key),
        MRT_TEST(test_values_the_chip_cannot_express_are_refused),
        MRT_TEST(test_uarts_needing_two_address_sets_are_refused),
        MRT_TEST(test_registers_and_functions_that_disagree_are_refused),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "pc87312 registers to functions", decode_tests },
        { "pc87312 section", load_tests },
        { "pc87312 documents to registers", parse_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
