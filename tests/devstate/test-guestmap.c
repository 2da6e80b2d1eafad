/* The guest-physical map (ds-guestmap.h) where QEMU is not needed or cannot
 * make the case: the PC split rules and their CMOS record, PAM decoding,
 * the flattening of the region model, and whole maps of synthetic
 * snapshots whose device state a running QEMU would not write (a CMOS a
 * guest overwrote, an unknown PCI device, a machine version or type with no
 * known rules, a missing vmdesc, a 1000 GiB guest).
 *
 * Expected values are typed in from QEMU 10.0's sources (hw/i386/pc_piix.c,
 * pc_q35.c, pc.c pc_cmos_init, hw/pci-host/pam.c), never computed with
 * the code under test. */
#include <string.h>

#include "ds-gm.h"
#include "ds-gm-pc.h"
#include "dst-helpers.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

/* ---- split rules ---- */

static void
check_split(gboolean q35, guint64 ram, guint64 below, guint64 above)
{
    GmPcSplit s = gm_pc_default_split(q35, ram);

    MRT_CHECK(s.below == below && s.above == above, "%s -m 0x%"
              G_GINT64_MODIFIER "x: got 0x%" G_GINT64_MODIFIER "x + 0x%"
              G_GINT64_MODIFIER "x, want 0x%" G_GINT64_MODIFIER "x + 0x%"
              G_GINT64_MODIFIER "x", q35 ? "q35" : "pc", ram, s.below, s.above,
              below, above);
}

static void
test_split_rules_pin_both_sides(void)
{
    /* pc_piix.c: "qemu -M pc -m 4G (new default) -> 3072M low, 1024M
     * high"; below 3.5 GiB nothing moves. */
    check_split(FALSE, 128 * MiB, 128 * MiB, 0);
    check_split(FALSE, 3583 * MiB, 3583 * MiB, 0);
    check_split(FALSE, 3584 * MiB, 3072 * MiB, 512 * MiB);
    check_split(FALSE, 4 * GiB, 3072 * MiB, 1024 * MiB);
    /* pc_q35.c: at 0xb0000000 and above, 2 GiB low. */
    check_split(TRUE, 0xb0000000ull - 4096, 0xb0000000ull - 4096, 0);
    check_split(TRUE, 0xb0000000ull, 2 * GiB, 0x30000000ull);
    check_split(TRUE, 5 * GiB, 2 * GiB, 3 * GiB);
}

/* The CMOS bytes pc_cmos_init writes for (below, above). */
static void
cmos_for(guint8 cmos[128], guint16 base, guint16 ext, guint16 high,
         guint32 above)
{
    memset(cmos, 0, 128);
    cmos[0x15] = base & 0xff, cmos[0x16] = base >> 8;
    cmos[0x17] = cmos[0x30] = ext & 0xff;
    cmos[0x18] = cmos[0x31] = ext >> 8;
    cmos[0x34] = high & 0xff, cmos[0x35] = high >> 8;
    cmos[0x5b] = above & 0xff, cmos[0x5c] = (above >> 8) & 0xff;
    cmos[0x5d] = (above >> 16) & 0xff;
}

static void
test_split_from_cmos(void)
{
    guint8 cmos[128];
    GmPcSplit s;

    /* -M pc -m 4G: base 640 KiB, 1-65 MiB capped at 65535 KiB,
     * (3 GiB - 16 MiB) / 64 KiB = 0xbf00, 1 GiB / 64 KiB = 0x4000. */
    cmos_for(cmos, 640, 65535, 0xbf00, 0x4000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "the default split with its own CMOS");
    MRT_CHECK_U64(s.below, 3 * GiB);
    /* -M pc,max-ram-below-4g=2G -m 4G: 2 GiB + 2 GiB. */
    cmos_for(cmos, 640, 65535, 0x7f00, 0x8000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_CMOS,
              "another split, given exactly by the CMOS");
    MRT_CHECK_U64(s.below, 2 * GiB);
    MRT_CHECK_U64(s.above, 2 * GiB);
    /* A guest that rewrote 0x34: the values no longer add up. */
    cmos_for(cmos, 640, 65535, 0x7f00, 0x4000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "a CMOS that adds up to another RAM size decides nothing");
    /* 0x30-0x31 must repeat 0x17-0x18. */
    cmos_for(cmos, 640, 65535, 0xbf00, 0x4000);
    cmos[0x30] ^= 1;
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "0x30-0x31 differing from 0x17-0x18 decides nothing");
    /* Small guests: 32 MiB = 640, 31744 KiB, (32-16) MiB / 64 KiB. */
    cmos_for(cmos, 640, 31744, 256, 0);
    MRT_CHECK(gm_pc_split(TRUE, 32 * MiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "32 MiB q35");
    /* At or below 16 MiB nothing records the split to 64 KiB: only the
     * rule, and only when the CMOS agrees. */
    cmos_for(cmos, 640, 15360, 0, 0);
    MRT_CHECK(gm_pc_split(FALSE, 16 * MiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "16 MiB");
    cmos_for(cmos, 640, 15000, 0, 0);
    MRT_CHECK(gm_pc_split(FALSE, 16 * MiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "16 MiB with a rewritten 0x17");
    /* 1000 GiB q35: above = 998 GiB = 0xf98000 units of 64 KiB, three
     * bytes; 2 TiB would wrap them and still match the rule. */
    cmos_for(cmos, 640, 65535, 0x7f00, 0xf98000);
    MRT_CHECK(gm_pc_split(TRUE, 1000 * GiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "1000 GiB q35");
    cmos_for(cmos, 640, 65535, 0x7f00, (guint32)((2046 * GiB / (64 * 1024)) & 0xffffff));
    MRT_CHECK(gm_pc_split(TRUE, 2048 * GiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "2 TiB q35: the above-4 GiB count keeps its low 24 bits");
}

static void
test_pam_registers(void)
{
    /* i440fx_update_memory_mappings: region i uses PAM0 + DIV_ROUND_UP(i,
     * 2); pam_update: an even i the high nibble. */
    static const struct { guint idx; guint32 start, size; guint reg; gboolean high; } t[] = {
        { 0, 0xf0000, 0x10000, 0, TRUE },
        { 1, 0xc0000, 0x4000, 1, FALSE },
        { 2, 0xc4000, 0x4000, 1, TRUE },
        { 3, 0xc8000, 0x4000, 2, FALSE },
        { 11, 0xe8000, 0x4000, 6, FALSE },
        { 12, 0xec000, 0x4000, 6, TRUE },
    };
    guint8 regs[7] = { 0x30, 0x21, 0, 0, 0, 0, 0x13 };

    for (guint i = 0; i < G_N_ELEMENTS(t); i++) {
        guint32 start, size;
        guint reg;
        gboolean high;
        gm_pam_region(t[i].idx, &start, &size, &reg, &high);
        MRT_CHECK(start == t[i].start && size == t[i].size &&
                  reg == t[i].reg && high == t[i].high, "PAM region %u",
                  t[i].idx);
    }
    MRT_CHECK_U64(gm_pam_mode(regs, 0), 3);
    MRT_CHECK_U64(gm_pam_mode(regs, 1), 1);
    MRT_CHECK_U64(gm_pam_mode(regs, 2), 2);
    MRT_CHECK_U64(gm_pam_mode(regs, 11), 3);
    MRT_CHECK_U64(gm_pam_mode(regs, 12), 1);
    MRT_CHECK_U64(gm_pam_mode(regs, 3), 0);
}

static void
put_le(guint8 *p, guint64 v, guint n)
{
    for (guint i = 0; i < n; i++)
        p[i] = (guint8)(v >> (8 * i));
}

/* A QWord memory descriptor (ACPI 6.4 6.4.3.5.1) with _MIN min. */
static void
qword(guint8 *p, guint8 type, guint64 min)
{
    p[0] = 0x8a, p[1] = 0x2b, p[2] = 0, p[3] = type;
    put_le(p + 14, min, 8);
}

static void
test_acpi_dsdt_qword_windows(void)
{
    guint8 blob[512] = { 0 };
    g_autoptr(GArray) mins = g_array_new(FALSE, FALSE, sizeof(guint64));
    gsize at = 0;

    /* A FACS-like table first, then "DSDT" with two memory QWords and an
     * I/O one; a QWord past the DSDT's length does not count. */
    memcpy(blob, "FACS", 4);
    memcpy(blob + 64, "DSDT", 4);
    put_le(blob + 68, 200, 4);
    qword(blob + 100, 0, 0x1c0000000ull);
    qword(blob + 150, 1, 0x5000);
    qword(blob + 164, 0, 0x10000000000ull); /* ends inside the DSDT */
    qword(blob + 300, 0, 0x777);
    MRT_CHECK(gm_acpi_dsdt_qword_mins(blob, sizeof(blob), &at, mins), "a DSDT");
    MRT_CHECK_U64(at, 64);
    MRT_CHECK_U64(mins->len, 2);
    if (mins->len == 2) {
        MRT_CHECK_U64(g_array_index(mins, guint64, 0), 0x1c0000000ull);
        MRT_CHECK_U64(g_array_index(mins, guint64, 1), 0x10000000000ull);
    }
    /* A length past the blob is no DSDT. */
    put_le(blob + 68, 1000, 4);
    g_array_set_size(mins, 0);
    MRT_CHECK(!gm_acpi_dsdt_qword_mins(blob, sizeof(blob), &at, mins),
              "a DSDT longer than the blob is refused");
}

/* ---- the region model ---- */

static DsGuestMap *
empty_map(void)
{
    DsGuestMap *m = g_new0(DsGuestMap, 1);

    m->ranges = g_array_new(FALSE, TRUE, sizeof(DsGuestRange));
    m->missing = json_object_new_array();
    m->machine = json_object_new_object();
    return m;
}

static void
free_map(DsGuestMap *m)
{
    for (guint i = 0; i < m->ranges->len; i++)
        json_object_put(g_array_index(m->ranges, DsGuestRange, i).why);
    g_array_unref(m->ranges);
    json_object_put(m->missing);
    json_object_put(m->machine);
    g_free(m);
}

static json_object *
named(const char *rule)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "rule", json_object_new_string(rule));
    return o;
}

#define RANGE(m, i) (&g_array_index((m)->ranges, DsGuestRange, (i)))

static void
check_range(DsGuestMap *m, guint i, guint64 gpa, guint64 len,
            const MrRamBlock *b, guint64 off, DsRangeKind kind)
{
    const DsGuestRange *r;

    if (i >= m->ranges->len) {
        MRT_CHECK(FALSE, "range %u exists (there are %u)", i, m->ranges->len);
        return;
    }
    r = RANGE(m, i);
    MRT_CHECK(r->gpa == gpa && r->length == len && r->block == b &&
              r->block_offset == off && r->kind == kind,
              "range %u: got 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
              "x %s+0x%" G_GINT64_MODIFIER "x, want 0x%" G_GINT64_MODIFIER
              "x+0x%" G_GINT64_MODIFIER "x %s+0x%" G_GINT64_MODIFIER "x", i,
              r->gpa, r->length, r->block->idstr, r->block_offset, gpa, len,
              b->idstr, off);
}

static void
test_render_priorities_aliases_and_unknowns(void)
{
    MrRamBlock ram = { .idstr = (char *)"ram" }, rom = { .idstr = (char *)"rom" };
    MrRamBlock bar = { .idstr = (char *)"bar" };
    GmSpace *sys = gm_space_new("system", G_MAXUINT64);
    GmSpace *pci = gm_space_new("pci", 0x100000);
    DsGuestMap *m = empty_map();

    /* RAM 0-0x80000; a window at 0x40000 onto the bus (transparent where
     * the bus is empty); on the bus a ROM at 0x48000 and, added later
     * with the same priority, a BAR over its second half: the later one
     * wins.  A register window hides RAM at 0x10000, an unknown region at
     * 0x70000 hides RAM and goes to missing, a lower-priority RAM under
     * the first RAM shows nowhere, and the bus is clipped at its size. */
    gm_add_ram(sys, 0, 0x80000, 0, &ram, 0, FALSE, named("ram"));
    gm_add_ram(sys, 0, 0x90000, -1, &rom, 0x100, TRUE, named("under"));
    gm_add_alias(sys, 0x40000, 0x10000, 1, pci, 0x40000, named("window"));
    gm_add_ram(pci, 0x48000, 0x4000, 1, &rom, 0, TRUE, named("rom"));
    gm_add_ram(pci, 0x4a000, 0x2000, 1, &bar, 0, FALSE, named("bar"));
    gm_add_ram(pci, 0xff000, 0x2000, 1, &bar, 0, FALSE, named("clipped"));
    gm_add_alias(sys, 0xa0000, 0x100000, 1, pci, 0xf0000, named("high window"));
    gm_add_io(sys, 0x10000, 0x1000, 1, "registers");
    gm_add_unknown(sys, 0x70000, 0x1000, 2, "mystery", "no rule");
    gm_render(sys, m);

    check_range(m, 0, 0, 0x10000, &ram, 0, DS_RANGE_RAM);
    /* Where the window's bus is empty the RAM below shows: one range. */
    check_range(m, 1, 0x11000, 0x37000, &ram, 0x11000, DS_RANGE_RAM);
    check_range(m, 2, 0x48000, 0x2000, &rom, 0, DS_RANGE_ROM);
    check_range(m, 3, 0x4a000, 0x2000, &bar, 0, DS_RANGE_RAM);
    check_range(m, 4, 0x4c000, 0x24000, &ram, 0x4c000, DS_RANGE_RAM);
    check_range(m, 5, 0x71000, 0xf000, &ram, 0x71000, DS_RANGE_RAM);
    /* Only the rom block's low-priority copy past the first RAM shows. */
    check_range(m, 6, 0x80000, 0x10000, &rom, 0x80100, DS_RANGE_ROM);
    /* 0xff000 of the bus through the high window (at 0xa0000 - 0xf0000),
     * clipped to the bus's 1 MiB. */
    check_range(m, 7, 0xaf000, 0x1000, &bar, 0, DS_RANGE_RAM);
    MRT_CHECK_U64(m->ranges->len, 8);
    MRT_CHECK_U64(json_object_array_length(m->missing), 1);
    DST_U64(json_object_array_get_idx(m->missing, 0), "gpa", 0x70000);
    DST_STR(json_object_array_get_idx(m->missing, 0), "what", "mystery");
    /* A range seen through a window says so. */
    DST_STR(RANGE(m, 2)->why, "through/0/rule", "window");
    free_map(m);
    gm_space_free(sys);
    gm_space_free(pci);
}

/* ---- whole maps of synthetic snapshots ---- */

static const char i440fx_desc[] =
    "{\"vmsd_name\":\"I440FX\",\"version\":3,\"fields\":["
    "{\"name\":\"parent_obj\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":256},"
    "{\"name\":\"irq_state\",\"type\":\"pci irq state\",\"size\":16}]},"
    "\"size\":276},{\"name\":\"unused\",\"type\":\"unused_buffer\",\"size\":1}]}";
static const char rtc_desc[] =
    "{\"vmsd_name\":\"mc146818rtc\",\"version\":3,\"fields\":["
    "{\"name\":\"cmos_data\",\"type\":\"buffer\",\"size\":128}]}";
static const char dev_desc[] =
    "{\"vmsd_name\":\"foo\",\"version\":1,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":256},"
    "{\"name\":\"irq_state\",\"type\":\"pci irq state\",\"size\":16}]},"
    "\"size\":276}]}";

typedef struct {
    const char *machine;
    guint64 ram;
    gboolean vmdesc;
    gboolean rewritten_cmos;
    const char *extra_block;   /* with a "foo" PCI device section */
    gboolean ram_not_stored;
} Synth;

static char *
write_pc(const char *name, const Synth *s)
{
    g_autoptr(MrWriter) w = mr_writer_new(s->machine);
    g_autoptr(GError) err = NULL;
    guint8 body[277] = { 0 }, cmos[128];
    guint8 page[4096];
    char *path = mrt_path(name);
    guint b = mr_writer_add_block(w, "pc.ram", s->ram);
    GmPcSplit sp = gm_pc_default_split(FALSE, s->ram);

    memset(page, 0x5a, sizeof(page));
    if (s->ram_not_stored) {
        static const char *const caps[] = { "mapped-ram", "x-ignore-shared", NULL };
        mr_writer_set_capabilities(w, caps);
        mr_writer_block_set_skipped(w, b);
    }
    else
        mr_writer_set_page(w, b, 0, page);
    mr_writer_add_block(w, "pc.bios", 256 * 1024);
    mr_writer_add_block(w, "pc.rom", 128 * 1024);
    if (s->extra_block)
        mr_writer_add_block(w, s->extra_block, 64 * 1024);
    mr_writer_set_vmdesc(w, s->vmdesc);
    /* The I440FX at reset: PAM all PCI, SMRAM 0x02 (closed). */
    body[4 + 0x72] = 0x02;
    MRT_CHECK(mr_writer_add_device(w, "0000:00:00.0/I440FX", 0, 3, i440fx_desc,
                                   body, 277, FALSE, &err), "I440FX");
    cmos_for(cmos, 640, (guint16)MIN((sp.below - MiB) / 1024, 65535),
             (guint16)(sp.below > 16 * MiB ? (sp.below - 16 * MiB) / 65536 : 0),
             (guint32)(sp.above / 65536));
    if (s->rewritten_cmos)
        cmos[0x34] ^= 0x40;
    MRT_CHECK(mr_writer_add_device(w, "mc146818rtc", 0, 3, rtc_desc, cmos,
                                   128, FALSE, &err), "rtc");
    if (s->extra_block) {
        g_autofree char *dev = g_strndup(s->extra_block,
                                         strrchr(s->extra_block, '/') - s->extra_block);
        g_autofree char *idstr = g_strconcat(dev, "/foo", NULL);
        memset(body, 0, sizeof(body));
        body[4 + 4] = 0x02; /* memory decoding on */
        body[4 + 0x10] = 0x00, body[4 + 0x13] = 0xe0; /* BAR 0 0xe0000000 */
        body[4 + 0x30] = 0x01, body[4 + 0x33] = 0xe1; /* ROM 0xe1000000, on */
        MRT_CHECK(mr_writer_add_device(w, idstr, 0, 1, dev_desc, body, 276,
                                       FALSE, &err), "foo");
    }
    mrt_write(w, path, NULL);
    return path;
}

static DsGuestMap *
map_of(const char *path, MrFile **fp)
{
    g_autoptr(GError) err = NULL;
    MrFile *f = MRT_OPEN(path, NULL);
    DsGuestMap *m = f ? ds_guest_map_new(f, &err) : NULL;

    MRT_CHECK(m != NULL, "ds_guest_map_new: %s", err ? err->message : "");
    *fp = f;
    return m;
}

/* Some missing entry's "what" contains needle. */
static gboolean
missing_has(const DsGuestMap *m, const char *needle)
{
    for (size_t i = 0; i < json_object_array_length(m->missing); i++) {
        json_object *w = dst_get(json_object_array_get_idx(m->missing, i), "what");
        if (w && strstr(json_object_get_string(w), needle))
            return TRUE;
    }
    return FALSE;
}

static void
test_synthetic_pc_maps_as_qemu(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE };
    g_autofree char *path = write_pc("pc.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    MrRamBlock *ram, *bios, *rom;

    if (m == NULL)
        goto out;
    ram = mr_file_find_block(f, "pc.ram");
    bios = mr_file_find_block(f, "pc.bios");
    rom = mr_file_find_block(f, "pc.rom");
    /* No VGA, SMRAM closed: pc.ram shows through 0xa0000-0xbffff. */
    check_range(m, 0, 0, 0xc0000, ram, 0, DS_RANGE_RAM);
    check_range(m, 1, 0xc0000, 0x4000, rom, 0, DS_RANGE_ROM);
    check_range(m, 9, 0xe0000, 0x4000, bios, 0x20000, DS_RANGE_ROM);
    check_range(m, 13, 0xf0000, 0x10000, bios, 0x30000, DS_RANGE_ROM);
    check_range(m, 14, 0x100000, 31 * MiB, ram, 0x100000, DS_RANGE_RAM);
    check_range(m, 15, 4 * GiB - 256 * 1024, 256 * 1024, bios, 0, DS_RANGE_ROM);
    MRT_CHECK_U64(m->ranges->len, 16);
    MRT_CHECK_U64(json_object_array_length(m->missing), 0);
    DST_STR(m->machine, "split/source", "default");
    DST_STR(RANGE(m, 1)->why, "through/0/pam_register/field",
            "parent_obj/config[0][0x5a]");
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_rewritten_cmos_leaves_the_split_out(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE, .rewritten_cmos = TRUE };
    g_autofree char *path = write_pc("cmos.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m == NULL)
        goto out;
    DST_STR(m->machine, "split/source", "unknown");
    MRT_CHECK(missing_has(m, "RAM from 1 MiB up"), "RAM above 1 MiB missing");
    MRT_CHECK(missing_has(m, "RAM above 4 GiB"), "RAM above 4 GiB missing");
    for (guint i = 0; i < m->ranges->len; i++)
        MRT_CHECK(RANGE(m, i)->gpa + RANGE(m, i)->length <= MiB ||
                  RANGE(m, i)->gpa >= 4 * GiB - 256 * 1024,
                  "no range between 1 MiB and the BIOS (range %u at 0x%"
                  G_GINT64_MODIFIER "x)", i, RANGE(m, i)->gpa);
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_unknown_machines_and_versions_map_nothing(void)
{
    static const char *const names[] = { "pc-i440fx-8.2", "pc-q35-4.0.1",
                                         "virt-9.2", "pc-i440fx-11.0" };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        Synth s = { .machine = names[i], .ram = 32 * MiB, .vmdesc = TRUE };
        g_autofree char *path = write_pc(names[i], &s);
        MrFile *f;
        DsGuestMap *m = map_of(path, &f);
        if (m) {
            MRT_CHECK(m->ranges->len == 0, "%s: no ranges", names[i]);
            MRT_CHECK(missing_has(m, "the whole guest-physical map"),
                      "%s: the whole map is missing", names[i]);
            ds_guest_map_free(m);
        }
        mr_file_close(f);
    }
}

static void
test_no_vmdesc_maps_nothing(void)
{
    Synth s = { .machine = "pc-i440fx-9.0", .ram = 32 * MiB };
    g_autofree char *path = write_pc("novmdesc.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m) {
        MRT_CHECK_U64(m->ranges->len, 0);
        MRT_CHECK(missing_has(m, "the whole guest-physical map"), "missing");
        ds_guest_map_free(m);
    }
    mr_file_close(f);
}

static void
test_unknown_pci_blocks_go_to_missing(void)
{
    static const char *const blocks[] = {
        "0000:00:05.0/foo.vram",      /* a BAR rule not known */
        "0000:00:1c.0:00.0/foo.rom",  /* behind a bridge */
    };
    static const char *const reasons[] = { "which BAR", "bridge" };

    for (guint i = 0; i < G_N_ELEMENTS(blocks); i++) {
        Synth s = { .machine = "pc-i440fx-9.2", .ram = 64 * MiB,
                    .vmdesc = TRUE, .extra_block = blocks[i] };
        g_autofree char *path = write_pc(i ? "bridge.mig" : "foo.mig", &s);
        MrFile *f;
        DsGuestMap *m = map_of(path, &f);
        if (m) {
            MRT_CHECK(missing_has(m, blocks[i]), "%s is missing", blocks[i]);
            MRT_CHECK(strstr(json_object_to_json_string(m->missing),
                             reasons[i]) != NULL, "%s: the reason names %s",
                      blocks[i], reasons[i]);
            MRT_CHECK(m->ranges->len > 0, "the rest is mapped");
            for (guint j = 0; j < m->ranges->len; j++)
                MRT_CHECK(!g_str_equal(RANGE(m, j)->block->idstr, blocks[i]),
                          "%s is in no range", blocks[i]);
            ds_guest_map_free(m);
        }
        mr_file_close(f);
    }
}

static void
test_unstored_ram_is_missing(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE, .ram_not_stored = TRUE };
    g_autofree char *path = write_pc("shared.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m) {
        MRT_CHECK(missing_has(m, "the machine's RAM"), "RAM missing");
        for (guint j = 0; j < m->ranges->len; j++)
            MRT_CHECK(!g_str_equal(RANGE(m, j)->block->idstr, "pc.ram"),
                      "pc.ram is in no range");
        ds_guest_map_free(m);
    }
    mr_file_close(f);
}

static void
test_physmem_holes_and_size(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE };
    g_autofree char *path = write_pc("physmem.mig", &s);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    guint8 buf[16];
    gsize got;
    guint64 at;

    if (m == NULL)
        goto out;
    v = ds_guest_physmem(f, m, &err);
    MRT_CHECK(v != NULL, "physmem: %s", err ? err->message : "");
    if (v == NULL)
        goto free;
    MRT_CHECK_U64(mr_vfile_size(v), 4 * GiB);
    /* pc.ram page 0 is the only present page: 0x5a at guest 0. */
    MRT_CHECK(mr_vfile_read(v, buf, 0, sizeof(buf), &got, &err) &&
              got == sizeof(buf) && buf[0] == 0x5a && buf[15] == 0x5a,
              "page 0 reads as written");
    MRT_CHECK(mr_vfile_seek(v, 0, FALSE, &at, &err), "seek hole");
    MRT_CHECK_U64(at, 4096);
    MRT_CHECK(mr_vfile_seek(v, 4096, TRUE, &at, &err), "seek data");
    MRT_CHECK_U64(at, MR_VFILE_NONE);
    MRT_CHECK_U64(mr_vfile_stored_bytes(v), 4096);
    /* Writes into a hole between ranges are refused. */
    MRT_CHECK(!mr_vfile_write(v, NULL, buf, 0x10000000, 1, &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_RANGE),
              "a write to an unmapped address fails with MR_ERROR_RANGE");
free:
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static const MrtTest tests[] = {
    MRT_TEST(test_split_rules_pin_both_sides),
    MRT_TEST(test_split_from_cmos),
    MRT_TEST(test_pam_registers),
    MRT_TEST(test_acpi_dsdt_qword_windows),
    MRT_TEST(test_render_priorities_aliases_and_unknowns),
    MRT_TEST(test_synthetic_pc_maps_as_qemu),
    MRT_TEST(test_rewritten_cmos_leaves_the_split_out),
    MRT_TEST(test_unknown_machines_and_versions_map_nothing),
    MRT_TEST(test_no_vmdesc_maps_nothing),
    MRT_TEST(test_unknown_pci_blocks_go_to_missing),
    MRT_TEST(test_unstored_ram_is_missing),
    MRT_TEST(test_physmem_holes_and_size),
    MRT_END
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = { { "guestmap", tests }, { NULL, NULL } };

    return mrt_main(argc, argv, suites);
}
