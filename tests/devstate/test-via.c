/* The VIA south bridge view (ds_via_json, docs/FORMAT.md §14.2) on synthetic
 * via-isa sections shaped like QEMU 10's: the chip from the device id in
 * config bytes 2-3, the configuration port gate (0x85 bit 1 on the
 * VT82C686B, 0x50 bit 2 on the VT8231), the PCI interrupt routing from
 * 0x55-0x57, the child devices' registers, the "assumed" block by machine,
 * and a "*superio*" section with a 256-byte register file decoded per
 * §14.2.3 / §14.2.4 (QEMU 10 has none; a later QEMU might). */
#include <string.h>

#include "ds-superio.h"
#include "dst-helpers.h"
#include "synth-devices.h"

/* via-isa as QEMU 10 describes it (fuloong.mig, pegasos2.mig, §14.2.5):
 * tests/support/synth-devices.h. */
#define via_desc ts_via_isa_desc
#define VIA_BODY TS_VIA_ISA_BODY
#define CONFIG_AT TS_VIA_CONFIG_AT /* config[0] in the body */

static const char parallel_desc[] =
    "{\"vmsd_name\":\"parallel_isa\",\"version\":1,\"fields\":["
    "{\"name\":\"state.dataw\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"state.datar\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"state.status\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"state.control\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"state.irq_pending\",\"type\":\"int32\",\"size\":4},"
    "{\"name\":\"state.epp_timeout\",\"type\":\"int32\",\"size\":4}]}";
static const guint8 parallel_body[12] = { 0xaa, 0x55, 0xd9, 0xcc, 0, 0, 0, 1,
                                          0, 0, 0, 0 };

static const char serial_desc[] =
    "{\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"state\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"divider\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"rbr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"ier\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"iir\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"lcr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"mcr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"lsr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"msr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"scr\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"fcr_vmstate\",\"type\":\"uint8\",\"size\":1}]},"
    "\"size\":11}]}";
static const guint8 serial0_body[11] = { 0x00, 0x0c, 0, 0, 1, 0x03, 8, 0x60,
                                         0xb0, 0x00, 0 };
static const guint8 serial1_body[11] = { 0x00, 0x01, 0, 0, 1, 0x03, 8, 0x60,
                                         0xb0, 0x5a, 0 };
static const guint8 serial_nodiv_body[11] = { 0 };

static const char fdc_desc[] =
    "{\"vmsd_name\":\"fdc\",\"version\":2,\"fields\":["
    "{\"name\":\"state\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"fdc\",\"version\":2,\"fields\":["
    "{\"name\":\"sra\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"srb\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"fifo\",\"array_len\":4,\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"num_floppies\",\"type\":\"uint8 equal\",\"size\":1}]},"
    "\"size\":7}]}";
static const guint8 fdc_body[7] = { 0x40, 0xc0, 1, 2, 3, 4, 2 };

static const char superio_desc[] =
    "{\"vmsd_name\":\"via-superio\",\"version\":1,\"fields\":["
    "{\"name\":\"regs\",\"type\":\"buffer\",\"size\":256}]}";
static const char short_superio_desc[] =
    "{\"vmsd_name\":\"via-superio\",\"version\":1,\"fields\":["
    "{\"name\":\"regs\",\"type\":\"buffer\",\"size\":16}]}";

typedef struct {
    guint8 body[VIA_BODY];
    guint8 superio[256];
    DstDevice devs[8];
    guint n;
} Machine;

/* A via-isa function 0 with the PCI identity of chip (0x0686 or 0x8231,
 * §14.2.1) and its children: parallel, serial 0 (and 1), fdc. */
static void
machine_init(Machine *m, guint16 device_id, gboolean two_serials)
{
    guint8 *cfg = m->body + CONFIG_AT;

    memset(m, 0, sizeof(*m));
    m->body[3] = 2; /* version_id */
    cfg[0] = 0x06, cfg[1] = 0x11;
    cfg[2] = (guint8)device_id, cfg[3] = (guint8)(device_id >> 8);
    cfg[8] = device_id == 0x8231 ? 0x10 : 0x40;
    m->devs[m->n++] = (DstDevice){ "parallel_isa", 0, 1, parallel_desc,
                                   parallel_body, sizeof(parallel_body) };
    m->devs[m->n++] = (DstDevice){ "serial", 0, 3, serial_desc, serial0_body,
                                   sizeof(serial0_body) };
    if (two_serials)
        m->devs[m->n++] = (DstDevice){ "serial", 1, 3, serial_desc,
                                       serial1_body, sizeof(serial1_body) };
    m->devs[m->n++] = (DstDevice){ "fdc", 0, 2, fdc_desc, fdc_body,
                                   sizeof(fdc_body) };
    m->devs[m->n++] = (DstDevice){ "pci:05.0/via-isa", 0, 1, via_desc, m->body,
                                   sizeof(m->body) };
}

static void
add_superio(Machine *m, const char *idstr, const char *desc, gsize len)
{
    m->devs[m->n++] = (DstDevice){ idstr, 0, 1, desc, m->superio, len };
}

/* Writes the machine, opens it and builds the node; *layout may be NULL. */
static json_object *
via_node(Machine *m, const char *name, const char *machine,
         const char **node_name, MrFile **out, MrWriterLayout *layout)
{
    g_autofree char *path = dst_write(name, machine, m->devs, m->n, TRUE, layout);
    g_autoptr(GError) err = NULL;
    MrFile *f = MRT_OPEN(path, NULL);
    json_object *o;

    *node_name = NULL;
    if (f == NULL)
        return NULL;
    MRT_CHECK(ds_via_section(f) != NULL, "%s: the via-isa section is found", name);
    o = ds_via_section(f) ? ds_via_json(f, ds_via_section(f), node_name, &err) : NULL;
    MRT_CHECK(o != NULL, "%s: ds_via_json: %s", name,
              err ? err->message : "(no node, no error)");
    if (o)
        DST_TEXT_ROUND_TRIP(o, name);
    if (out)
        *out = f;
    else
        mr_file_close(f);
    return o;
}

static guint
index_of(const Machine *m, const char *idstr, guint32 instance)
{
    for (guint i = 0; i < m->n; i++)
        if (g_str_equal(m->devs[i].idstr, idstr) && m->devs[i].instance_id == instance)
            return i;
    g_assert_not_reached();
}

static void
check_function_at(json_object *o, const char *path, gboolean enabled,
                  const char *base, gint irq, gint dma, const char *file,
                  int line)
{
    g_autofree char *en = g_strconcat(path, "/enabled", NULL);
    g_autofree char *b = g_strconcat(path, "/iobase", NULL);
    g_autofree char *i = g_strconcat(path, "/irq", NULL);
    g_autofree char *d = g_strconcat(path, "/dma", NULL);

    dst_check_bool_at(o, en, enabled, file, line);
    dst_check_str_at(o, b, base, file, line);
    dst_check_int_at(o, i, irq, file, line);
    if (dma >= 0)
        dst_check_int_at(o, d, dma, file, line);
    else
        dst_check_absent_at(o, d, file, line);
}
#define CHECK_FUNCTION(o, path, en, base, irq, dma)                           \
    check_function_at((o), (path), (en), (base), (irq), (dma), __FILE__, __LINE__)

static void
test_vt82c686b_identity_gate_and_routing(void)
{
    Machine m;
    MrWriterLayout l;
    const char *node = NULL;
    json_object *o;
    guint via;

    machine_init(&m, 0x0686, TRUE);
    m.body[CONFIG_AT + 0x85] = 0x02;
    /* INTA = 0x55 >> 4, INTB = 0x56 & 0xf, INTC = 0x56 >> 4,
     * INTD = 0x57 >> 4 (§14.2.5); the low nibbles of 0x55/0x57 are not
     * routing. */
    m.body[CONFIG_AT + 0x55] = 0xa5;
    m.body[CONFIG_AT + 0x56] = 0xb3;
    m.body[CONFIG_AT + 0x57] = 0xc7;
    o = via_node(&m, "686b.mig", "fuloong2e", &node, NULL, &l);
    if (o == NULL)
        goto out;
    via = index_of(&m, "pci:05.0/via-isa", 0);
    MRT_CHECK_STR(node, "vt82c686b.json");
    DST_STR(o, "device", "via-isa");
    DST_STR(o, "chip", "VT82C686B");
    DST_STR(o, "section/name", "pci:05.0/via-isa");
    DST_U64(o, "section/instance_id", 0);
    DST_U64(o, "section/section_id", MRT_DEVICE(&l, via)->section_id);
    DST_U64(o, "section/offset", MRT_DEVICE(&l, via)->offset);
    DST_U64(o, "pci_config/offset", MRT_DEVICE(&l, via)->body_offset + CONFIG_AT);
    DST_STR(o, "pci_config/vendor_id", "0x1106");
    DST_STR(o, "pci_config/device_id", "0x0686");
    DST_STR(o, "pci_config/revision", "0x40");
    DST_STR(o, "config_ports_gate/register", "0x85");
    DST_INT(o, "config_ports_gate/bit", 1);
    DST_BOOL(o, "config_ports_enabled", TRUE);
    DST_INT(o, "pci_interrupt_routing/INTA", 10);
    DST_INT(o, "pci_interrupt_routing/INTB", 3);
    DST_INT(o, "pci_interrupt_routing/INTC", 11);
    DST_INT(o, "pci_interrupt_routing/INTD", 12);
    json_object_put(o);
out:
    mr_writer_layout_clear(&l);
}

static void
test_vt8231_identity_from_device_id(void)
{
    Machine m;
    const char *node = NULL;
    json_object *o;

    /* A second serial section does not make a VT8231 have two UARTs. */
    machine_init(&m, 0x8231, TRUE);
    m.body[CONFIG_AT + 0x50] = 0x02;
    m.body[CONFIG_AT + 0x55] = 0x90;
    m.body[CONFIG_AT + 0x56] = 0x99;
    m.body[CONFIG_AT + 0x57] = 0x90;
    o = via_node(&m, "8231.mig", "pegasos2", &node, NULL, NULL);
    if (o == NULL)
        return;
    MRT_CHECK_STR(node, "vt8231.json");
    DST_STR(o, "chip", "VT8231");
    DST_STR(o, "pci_config/device_id", "0x8231");
    DST_STR(o, "pci_config/revision", "0x10");
    DST_STR(o, "config_ports_gate/register", "0x50");
    DST_INT(o, "config_ports_gate/bit", 2);
    /* pegasos2.mig: 0x50 = 0x02, all four INTx on IRQ 9 (§14.2.5) */
    DST_BOOL(o, "config_ports_enabled", FALSE);
    DST_INT(o, "pci_interrupt_routing/INTA", 9);
    DST_INT(o, "pci_interrupt_routing/INTB", 9);
    DST_INT(o, "pci_interrupt_routing/INTC", 9);
    DST_INT(o, "pci_interrupt_routing/INTD", 9);
    DST_ABSENT(o, "functions_in_stream/serial1");
    DST_ABSENT(o, "assumed/functions/serial1");
    json_object_put(o);
}

/* Only the chip's own gate bit counts (§14.2.2). */
static void
test_gate_bit_of_each_chip(void)
{
    static const struct {
        guint16 dev;
        guint8 c85, c50;
        gboolean enabled;
    } cases[] = {
        { 0x0686, 0x02, 0x00, TRUE },  { 0x0686, 0xfd, 0xff, FALSE },
        { 0x0686, 0x00, 0x04, FALSE }, { 0x0686, 0x00, 0x00, FALSE },
        { 0x8231, 0x00, 0x04, TRUE },  { 0x8231, 0x00, 0x06, TRUE },
        { 0x8231, 0x00, 0x02, FALSE }, { 0x8231, 0xff, 0xfb, FALSE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Machine m;
        const char *node;
        g_autofree char *name = g_strdup_printf("gate-%zu.mig", i);
        json_object *o;

        machine_init(&m, cases[i].dev, cases[i].dev == 0x0686);
        m.body[CONFIG_AT + 0x85] = cases[i].c85;
        m.body[CONFIG_AT + 0x50] = cases[i].c50;
        o = via_node(&m, name, "fuloong2e", &node, NULL, NULL);
        if (o == NULL)
            continue;
        MRT_CHECK(json_object_get_boolean(dst_get(o, "config_ports_enabled")) ==
                  cases[i].enabled, "device %04x, 0x85=%02x 0x50=%02x: ports %s",
                  cases[i].dev, cases[i].c85, cases[i].c50,
                  cases[i].enabled ? "enabled" : "disabled");
        json_object_put(o);
    }
}

/* fuloong.mig: nothing routed, so every INTx is null. */
static void
test_unrouted_interrupts_are_null(void)
{
    Machine m;
    const char *node;
    json_object *o;

    machine_init(&m, 0x0686, TRUE);
    m.body[CONFIG_AT + 0x55] = 0x0f; /* low nibble only: not INTA */
    m.body[CONFIG_AT + 0x57] = 0x0f;
    o = via_node(&m, "unrouted.mig", "fuloong2e", &node, NULL, NULL);
    if (o == NULL)
        return;
    DST_NULL(o, "pci_interrupt_routing/INTA");
    DST_NULL(o, "pci_interrupt_routing/INTB");
    DST_NULL(o, "pci_interrupt_routing/INTC");
    DST_NULL(o, "pci_interrupt_routing/INTD");
    json_object_put(o);
}

/* The children's own registers, as the stream carries them. */
static void
test_children_in_the_stream(void)
{
    Machine m;
    MrWriterLayout l;
    const char *node;
    json_object *o;
    guint par, s0, s1, fdc;

    machine_init(&m, 0x0686, TRUE);
    o = via_node(&m, "children.mig", "fuloong2e", &node, NULL, &l);
    if (o == NULL)
        goto out;
    par = index_of(&m, "parallel_isa", 0);
    s0 = index_of(&m, "serial", 0);
    s1 = index_of(&m, "serial", 1);
    fdc = index_of(&m, "fdc", 0);
    DST_STR(o, "functions_in_stream/parallel/section/name", "parallel_isa");
    DST_U64(o, "functions_in_stream/parallel/section/offset", MRT_DEVICE(&l, par)->offset);
    DST_U64(o, "functions_in_stream/parallel/section/section_id",
            MRT_DEVICE(&l, par)->section_id);
    DST_INT(o, "functions_in_stream/parallel/registers/dataw", 0xaa);
    DST_INT(o, "functions_in_stream/parallel/registers/datar", 0x55);
    DST_INT(o, "functions_in_stream/parallel/registers/status", 0xd9);
    DST_INT(o, "functions_in_stream/parallel/registers/control", 0xcc);
    DST_INT(o, "functions_in_stream/parallel/registers/irq_pending", 1);
    DST_INT(o, "functions_in_stream/parallel/registers/epp_timeout", 0);
    DST_U64(o, "functions_in_stream/serial0/section/offset", MRT_DEVICE(&l, s0)->offset);
    DST_U64(o, "functions_in_stream/serial0/section/instance_id", 0);
    DST_INT(o, "functions_in_stream/serial0/registers/divider", 12);
    DST_INT(o, "functions_in_stream/serial0/registers/lcr", 3);
    DST_INT(o, "functions_in_stream/serial0/baud", 9600);
    DST_U64(o, "functions_in_stream/serial1/section/offset", MRT_DEVICE(&l, s1)->offset);
    DST_U64(o, "functions_in_stream/serial1/section/instance_id", 1);
    DST_INT(o, "functions_in_stream/serial1/registers/scr", 0x5a);
    DST_INT(o, "functions_in_stream/serial1/baud", 115200);
    DST_U64(o, "functions_in_stream/fdc/section/offset", MRT_DEVICE(&l, fdc)->offset);
    DST_INT(o, "functions_in_stream/fdc/registers/sra", 0x40);
    DST_INT(o, "functions_in_stream/fdc/registers/srb", 0xc0);
    DST_INT(o, "functions_in_stream/fdc/registers/num_floppies", 2);
    /* only integer registers: the FIFO is not one */
    DST_ABSENT(o, "functions_in_stream/fdc/registers/fifo");
    json_object_put(o);
out:
    mr_writer_layout_clear(&l);
}

/* A child without a section is null; a divider of 0 has no baud rate. */
static void
test_missing_child_is_null(void)
{
    Machine m;
    const char *node;
    json_object *o;

    machine_init(&m, 0x0686, FALSE);
    m.devs[1].body = serial_nodiv_body;
    o = via_node(&m, "missing.mig", "fuloong2e", &node, NULL, NULL);
    if (o == NULL)
        return;
    DST_NULL(o, "functions_in_stream/serial1");
    DST_INT(o, "functions_in_stream/serial0/registers/divider", 0);
    DST_ABSENT(o, "functions_in_stream/serial0/baud");
    json_object_put(o);
}

/* QEMU 10 stores no Super I/O registers (§14.2.5): the node says so, and
 * adds the reset (or board) values only under "assumed" (§14.2.8). */
static void
test_without_superio_registers_only_assumed_values(void)
{
    static const struct {
        guint16 dev;
        const char *machine, *source_word;
        struct { gboolean en; const char *base; } par, s0, s1, fdc;
    } cases[] = {
        /* §14.2.6: serial A/B on, parallel and FDC off */
        { 0x0686, "fuloong2e", "reset",
          { FALSE, "0x378" }, { TRUE, "0x3f8" }, { TRUE, "0x2f8" }, { FALSE, "0x3f0" } },
        /* §14.2.7: what pegasos2's board code programs (VOF) */
        { 0x8231, "pegasos2", "pegasos2",
          { TRUE, "0x3bc" }, { TRUE, "0x2f8" }, { FALSE, NULL }, { TRUE, "0x3f0" } },
        /* §14.2.4: VT8231 reset, all disabled */
        { 0x8231, "other-board", "reset",
          { FALSE, "0x378" }, { FALSE, "0x3f8" }, { FALSE, NULL }, { FALSE, "0x3f0" } },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Machine m;
        const char *node;
        g_autofree char *name = g_strdup_printf("assumed-%zu.mig", i);
        json_object *o, *src;

        machine_init(&m, cases[i].dev, cases[i].dev == 0x0686);
        o = via_node(&m, name, cases[i].machine, &node, NULL, NULL);
        if (o == NULL)
            continue;
        DST_NULL(o, "superio_registers");
        MRT_CHECK(dst_get(o, "superio_registers_note") != NULL,
                  "%s: a note says the registers are not stored", name);
        DST_BOOL(o, "assumed/migrated", FALSE);
        src = dst_get(o, "assumed/source");
        MRT_CHECK(src && strstr(json_object_get_string(src), cases[i].source_word),
                  "%s: assumed/source mentions \"%s\" (%s)", name,
                  cases[i].source_word, src ? json_object_get_string(src) : "-");
        CHECK_FUNCTION(o, "assumed/functions/parallel", cases[i].par.en,
                       cases[i].par.base, 7, -1);
        CHECK_FUNCTION(o, "assumed/functions/serial0", cases[i].s0.en,
                       cases[i].s0.base, 4, -1);
        if (cases[i].s1.base)
            CHECK_FUNCTION(o, "assumed/functions/serial1", cases[i].s1.en,
                           cases[i].s1.base, 3, -1);
        else
            DST_ABSENT(o, "assumed/functions/serial1");
        CHECK_FUNCTION(o, "assumed/functions/fdc", cases[i].fdc.en,
                       cases[i].fdc.base, 6, 2);
        json_object_put(o);
    }
}

/* §14.2.3: E2 function select (& 0x1f), E3 FDC (& 0xfc), E6 parallel,
 * E7/E8 serial A/B (& 0xfe), base = value << 2; the VT8231's F-registers
 * mean nothing here. */
static void
test_stored_vt82c686b_register_file(void)
{
    Machine m;
    MrWriterLayout l;
    const char *node;
    json_object *o;
    guint sio;

    machine_init(&m, 0x0686, TRUE);
    m.superio[0xe2] = 0xfd; /* & 0x1f = 0x1d: 01 parallel on, A, B, FDC */
    m.superio[0xe3] = 0xdd; /* & 0xfc = 0xdc -> 0x370 */
    m.superio[0xe6] = 0xef; /* -> 0x3bc */
    m.superio[0xe7] = 0xfb; /* & 0xfe = 0xfa -> 0x3e8 */
    m.superio[0xe8] = 0xbb; /* & 0xfe = 0xba -> 0x2e8 */
    m.superio[0xf2] = 0x03, m.superio[0xf4] = 0x11, m.superio[0xf7] = 0x22;
    add_superio(&m, "vt82c686b-superio", superio_desc, 256);
    o = via_node(&m, "sio686.mig", "fuloong2e", &node, NULL, &l);
    if (o == NULL)
        goto out;
    sio = index_of(&m, "vt82c686b-superio", 0);
    DST_STR(o, "superio_registers/section/name", "vt82c686b-superio");
    DST_U64(o, "superio_registers/section/offset", MRT_DEVICE(&l, sio)->offset);
    DST_ABSENT(o, "superio_registers_note");
    CHECK_FUNCTION(o, "superio_registers/functions/parallel", TRUE, "0x3bc", 7, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial0", TRUE, "0x3e8", 4, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial1", TRUE, "0x2e8", 3, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/fdc", TRUE, "0x370", 6, 2);
    /* "assumed" stays what it is */
    DST_BOOL(o, "assumed/migrated", FALSE);
    json_object_put(o);

    /* E2 = 0x13: bits 1:0 = 11 parallel off, A and B off, FDC on; the
     * reset bases. */
    machine_init(&m, 0x0686, TRUE);
    m.superio[0xe2] = 0x13, m.superio[0xe3] = 0xfc, m.superio[0xe6] = 0xde;
    m.superio[0xe7] = 0xfe, m.superio[0xe8] = 0xbe;
    add_superio(&m, "pci:05.0/superio", superio_desc, 256);
    o = via_node(&m, "sio686b.mig", "fuloong2e", &node, NULL, NULL);
    if (o == NULL)
        goto out;
    CHECK_FUNCTION(o, "superio_registers/functions/parallel", FALSE, "0x378", 7, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial0", FALSE, "0x3f8", 4, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial1", FALSE, "0x2f8", 3, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/fdc", TRUE, "0x3f0", 6, 2);
    json_object_put(o);
out:
    mr_writer_layout_clear(&l);
}

/* §14.2.4: F2 function select (& 0x17), F4 serial (& 0xfe), F6 parallel,
 * F7 FDC (& 0xfc); one UART; the VT82C686B's E-registers mean nothing. */
static void
test_stored_vt8231_register_file(void)
{
    Machine m;
    const char *node;
    json_object *o;

    machine_init(&m, 0x8231, FALSE);
    m.superio[0xf2] = 0xfe; /* & 0x17 = 0x16: parallel (10), serial, FDC */
    m.superio[0xf4] = 0xbf; /* & 0xfe = 0xbe -> 0x2f8 */
    m.superio[0xf6] = 0xef; /* -> 0x3bc */
    m.superio[0xf7] = 0xdf; /* & 0xfc = 0xdc -> 0x370 */
    m.superio[0xe2] = 0x03, m.superio[0xe7] = 0x11, m.superio[0xe8] = 0x22;
    add_superio(&m, "vt8231-superio", superio_desc, 256);
    o = via_node(&m, "sio8231.mig", "pegasos2", &node, NULL, NULL);
    if (o == NULL)
        return;
    CHECK_FUNCTION(o, "superio_registers/functions/parallel", TRUE, "0x3bc", 7, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial0", TRUE, "0x2f8", 4, -1);
    DST_ABSENT(o, "superio_registers/functions/serial1");
    CHECK_FUNCTION(o, "superio_registers/functions/fdc", TRUE, "0x370", 6, 2);
    json_object_put(o);

    /* F2 = 0x0b: & 0x17 = 0x03, everything off (bit 3 is no UART here). */
    machine_init(&m, 0x8231, FALSE);
    m.superio[0xf2] = 0x0b, m.superio[0xf4] = 0xfe, m.superio[0xf6] = 0xde;
    m.superio[0xf7] = 0xfc;
    add_superio(&m, "vt8231-superio", superio_desc, 256);
    o = via_node(&m, "sio8231b.mig", "pegasos2", &node, NULL, NULL);
    if (o == NULL)
        return;
    CHECK_FUNCTION(o, "superio_registers/functions/parallel", FALSE, "0x378", 7, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/serial0", FALSE, "0x3f8", 4, -1);
    CHECK_FUNCTION(o, "superio_registers/functions/fdc", FALSE, "0x3f0", 6, 2);
    json_object_put(o);
}

/* A "superio" section whose regs is not the 256-byte file is not taken
 * for one. */
static void
test_superio_section_of_another_shape_is_ignored(void)
{
    Machine m;
    const char *node;
    json_object *o;

    machine_init(&m, 0x0686, TRUE);
    add_superio(&m, "vt82c686b-superio", short_superio_desc, 16);
    o = via_node(&m, "shortsio.mig", "fuloong2e", &node, NULL, NULL);
    if (o == NULL)
        return;
    DST_NULL(o, "superio_registers");
    MRT_CHECK(dst_get(o, "superio_registers_note") != NULL, "the note is there");
    json_object_put(o);
}

static void
test_no_via_isa_no_node(void)
{
    Machine m;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GError) err = NULL;
    const char *node = "untouched";

    machine_init(&m, 0x0686, TRUE);
    path = dst_write("novia.mig", "fuloong2e", m.devs, m.n - 1, TRUE, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK(ds_via_section(f) == NULL, "no via-isa section: none found");
    MRT_CHECK_STR(node, "untouched");
}

/* Without a vmdesc nothing locates the config space: no node. */
static void
test_via_isa_without_vmdesc_no_node(void)
{
    Machine m;
    g_autofree char *path = NULL;
    g_autoptr(MrFile) f = NULL;

    machine_init(&m, 0x0686, TRUE);
    path = dst_write("noviadesc.mig", "fuloong2e", m.devs, m.n, FALSE, NULL);
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK(ds_via_section(f) == NULL,
              "no vmdesc: nothing to decode it with, none found");
}

/* A via-isa whose description has no 256-byte dev.config[0] is an error
 * naming the file, the offset and what was expected. */
static void
test_via_isa_without_config_space_is_an_error(void)
{
    static const char desc[] =
        "{\"vmsd_name\":\"via-isa\",\"version\":1,\"fields\":["
        "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
        "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
        "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
        "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":64}]},"
        "\"size\":68}]}";
    static guint8 body[68];
    const DstDevice dev = { "pci:05.0/via-isa", 0, 1, desc, body, sizeof(body) };
    MrWriterLayout l;
    g_autofree char *path = dst_write("badvia.mig", "fuloong2e", &dev, 1, TRUE, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *at = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER "x",
                                          MRT_DEVICE(&l, 0)->offset);
    const char *node = NULL;
    json_object *o;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    o = ds_via_json(f, ds_via_section(f), &node, &err);
    MRT_CHECK(o == NULL && err && strstr(err->message, path) &&
              strstr(err->message, at) && strstr(err->message, "config[0]"),
              "refused naming the file, \"%s\" and config[0]: %s", at,
              err ? err->message : "(no error)");
    json_object_put(o);
    mr_writer_layout_clear(&l);
}

/* The node reads the children and the register file after the model was
 * built: a file cut under it gives an error, not a partial node. */
static void
test_read_errors_of_children_and_registers_are_reported(void)
{
    static const char *const cut_in[] = { "parallel_isa", "vt82c686b-superio" };

    for (gsize k = 0; k < G_N_ELEMENTS(cut_in); k++) {
        Machine m;
        DstDevice order[8];
        guint n = 0, at = 0;
        MrWriterLayout l;
        g_autofree char *name = g_strdup_printf("cut-%zu.mig", k);
        g_autofree char *path = NULL;
        g_autoptr(MrFile) f = NULL;
        g_autoptr(GError) err = NULL;
        const char *node = NULL;
        json_object *o;

        machine_init(&m, 0x0686, TRUE);
        add_superio(&m, "vt82c686b-superio", superio_desc, 256);
        /* via-isa first, so that only what comes after it is cut */
        order[n++] = m.devs[index_of(&m, "pci:05.0/via-isa", 0)];
        for (guint i = 0; i < m.n; i++)
            if (!g_str_equal(m.devs[i].idstr, "pci:05.0/via-isa"))
                order[n++] = m.devs[i];
        for (guint i = 0; i < n; i++)
            if (g_str_equal(order[i].idstr, cut_in[k]))
                at = i;
        path = dst_write(name, "fuloong2e", order, n, TRUE, &l);
        f = MRT_OPEN(path, NULL);
        if (f == NULL) {
            mr_writer_layout_clear(&l);
            continue;
        }
        mrt_truncate(path, MRT_DEVICE(&l, at)->body_offset + 1);
        o = ds_via_json(f, ds_via_section(f), &node, &err);
        MRT_CHECK(o == NULL && err && strstr(err->message, path),
                  "file cut in %s: an error naming the file: %s", cut_in[k],
                  err ? err->message : "(no error)");
        json_object_put(o);
        mr_writer_layout_clear(&l);
    }
}

int
main(int argc, char **argv)
{
    static const MrtTest via_tests[] = {
        MRT_TEST(test_vt82c686b_identity_gate_and_routing),
        MRT_TEST(test_vt8231_identity_from_device_id),
        MRT_TEST(test_gate_bit_of_each_chip),
        MRT_TEST(test_unrouted_interrupts_are_null),
        MRT_TEST(test_children_in_the_stream),
        MRT_TEST(test_missing_child_is_null),
        MRT_TEST(test_without_superio_registers_only_assumed_values),
        MRT_TEST(test_stored_vt82c686b_register_file),
        MRT_TEST(test_stored_vt8231_register_file),
        MRT_TEST(test_superio_section_of_another_shape_is_ignored),
        MRT_TEST(test_no_via_isa_no_node),
        MRT_TEST(test_via_isa_without_vmdesc_no_node),
        MRT_TEST(test_via_isa_without_config_space_is_an_error),
        MRT_TEST(test_read_errors_of_children_and_registers_are_reported),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "via-isa node", via_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
