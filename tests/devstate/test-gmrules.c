/* Guest-map rules that need no snapshot (ds-gm-pc.h, ds-gm.h): the PC
 * split rules and their CMOS record, PAM decoding, the DSDT's 64-bit
 * windows, and the flattening of the region model, with cases QEMU cannot
 * make.  Expected values are typed in from QEMU 10.0's sources
 * (hw/i386/pc_piix.c, pc_q35.c, pc.c pc_cmos_init, hw/pci-host/pam.c,
 * system/memory.c), never computed with the code under test. */
#include <string.h>

#include "ds-gm-pc.h"
#include "gmt-helpers.h"

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

static void
test_split_from_cmos(void)
{
    guint8 cmos[128];
    GmPcSplit s;

    /* -M pc -m 4G: base 640 KiB, 1-65 MiB capped at 65535 KiB,
     * (3 GiB - 16 MiB) / 64 KiB = 0xbf00, 1 GiB / 64 KiB = 0x4000. */
    gmt_cmos_for(cmos, 640, 65535, 0xbf00, 0x4000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "the default split with its own CMOS");
    MRT_CHECK_U64(s.below, 3 * GiB);
    /* -M pc,max-ram-below-4g=2G -m 4G: 2 GiB + 2 GiB. */
    gmt_cmos_for(cmos, 640, 65535, 0x7f00, 0x8000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_CMOS,
              "another split, given exactly by the CMOS");
    MRT_CHECK_U64(s.below, 2 * GiB);
    MRT_CHECK_U64(s.above, 2 * GiB);
    /* A guest that rewrote 0x34: the values no longer add up. */
    gmt_cmos_for(cmos, 640, 65535, 0x7f00, 0x4000);
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "a CMOS that adds up to another RAM size decides nothing");
    /* 0x30-0x31 must repeat 0x17-0x18. */
    gmt_cmos_for(cmos, 640, 65535, 0xbf00, 0x4000);
    cmos[0x30] ^= 1;
    MRT_CHECK(gm_pc_split(FALSE, 4 * GiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "0x30-0x31 differing from 0x17-0x18 decides nothing");
    /* Small guests: 32 MiB = 640, 31744 KiB, (32-16) MiB / 64 KiB. */
    gmt_cmos_for(cmos, 640, 31744, 256, 0);
    MRT_CHECK(gm_pc_split(TRUE, 32 * MiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "32 MiB q35");
    /* At or below 16 MiB nothing records the split to 64 KiB: only the
     * rule, and only when the CMOS agrees. */
    gmt_cmos_for(cmos, 640, 15360, 0, 0);
    MRT_CHECK(gm_pc_split(FALSE, 16 * MiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "16 MiB");
    gmt_cmos_for(cmos, 640, 15000, 0, 0);
    MRT_CHECK(gm_pc_split(FALSE, 16 * MiB, cmos, &s) == GM_SPLIT_UNKNOWN,
              "16 MiB with a rewritten 0x17");
    /* 1000 GiB q35: above = 998 GiB = 0xf98000 units of 64 KiB, three
     * bytes; 2 TiB would wrap them and still match the rule. */
    gmt_cmos_for(cmos, 640, 65535, 0x7f00, 0xf98000);
    MRT_CHECK(gm_pc_split(TRUE, 1000 * GiB, cmos, &s) == GM_SPLIT_DEFAULT,
              "1000 GiB q35");
    gmt_cmos_for(cmos, 640, 65535, 0x7f00, (guint32)((2046 * GiB / (64 * 1024)) & 0xffffff));
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

static const MrtTest tests[] = {
    MRT_TEST(test_split_rules_pin_both_sides),
    MRT_TEST(test_split_from_cmos),
    MRT_TEST(test_pam_registers),
    MRT_TEST(test_acpi_dsdt_qword_windows),
    MRT_TEST(test_render_priorities_aliases_and_unknowns),
    MRT_END
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = { { "guest map rules", tests }, { NULL, NULL } };

    return mrt_main(argc, argv, suites);
}
