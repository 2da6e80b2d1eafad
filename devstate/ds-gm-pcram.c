/* The PC machines' RAM (ds-gm-pcmach.h): which block, the split below and
 * above 4 GiB and where the part above 4 GiB starts (docs/GUESTMAP.md,
 * "PC").  Sources: hw/i386/pc_piix.c pc_init1, hw/i386/pc_q35.c
 * pc_q35_init, hw/i386/pc.c pc_memory_init, pc_cmos_init,
 * pc_pci_hole64_start, hw/i386/acpi-build.c build_dsdt. */
#include "ds-gm-pcmach.h"

#include <string.h>

#include "mr-error.h"
#include "mr-read.h"


/* The machine's RAM: "pc.ram", or the one memory backend that stands in
 * for it (-machine memory-backend=ID names the block ID). */
MrRamBlock *
gm_pc_machine_ram(Pc *pc)
{
    MrRamBlock *only = NULL;
    guint candidates = 0;

    only = mr_file_find_block(pc->c->f, "pc.ram");
    if (only)
        return only;
    for (guint i = 0; i < pc->c->f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(pc->c->f->blocks, i);
        if (strchr(b->idstr, '/') || g_str_has_prefix(b->idstr, "pc.") ||
            g_str_has_prefix(b->idstr, "system.flash") ||
            g_str_equal(b->idstr, "isa-bios"))
            continue;
        only = b;
        candidates++;
    }
    return candidates == 1 ? only : NULL;
}

gboolean
gm_pc_read_split(Pc *pc, GError **err)
{
    GmCtx *c = pc->c;
    const char *why = NULL;
    json_object *rtc, *o;
    guint8 cmos[128];
    guint64 off = 0;
    GmSplitSource src = GM_SPLIT_UNKNOWN;
    GmPcSplit rule_split = gm_pc_default_split(pc->q35, pc->ram_size);

    g_autoptr(GError) unreadable = NULL;

    if (!gm_section(c, "mc146818rtc", 0, &rtc, &why, err))
        return FALSE;
    /* A CMOS this rule cannot read leaves the split unknown, as no CMOS
     * does: the rest of the map stands.  Only an I/O error stops it. */
    if (rtc && !gm_field_bytes(c, rtc, "cmos_data", cmos, sizeof(cmos), &off,
                               &unreadable)) {
        if (!g_error_matches(unreadable, MR_ERROR, MR_ERROR_INVALID)) {
            g_propagate_error(err, g_steal_pointer(&unreadable));
            return FALSE;
        }
        rtc = NULL;
    }
    if (rtc)
        src = gm_pc_split(pc->q35, pc->ram_size, cmos, &pc->split);

    o = json_object_new_object();
    json_object_object_add(o, "rule", json_object_new_string(pc->q35
        ? "hw/i386/pc_q35.c pc_q35_init: below 2.75 GiB all low, else 2 GiB low"
        : "hw/i386/pc_piix.c pc_init1: below 3.5 GiB all low, else 3 GiB low"));
    json_object_object_add(o, "rule_below_4g", gm_hex(rule_split.below));
    json_object_object_add(o, "rule_above_4g", gm_hex(rule_split.above));
    if (unreadable)
        json_object_object_add(o, "cmos_unreadable",
                               json_object_new_string(unreadable->message));
    if (rtc) {
        g_autofree char *hex = g_strdup_printf(
            "%02x%02x %02x%02x %02x%02x %02x%02x %02x%02x%02x",
            cmos[0x15], cmos[0x16], cmos[0x17], cmos[0x18], cmos[0x30],
            cmos[0x31], cmos[0x34], cmos[0x35], cmos[0x5b], cmos[0x5c],
            cmos[0x5d]);
        json_object_object_add(o, "cmos", gm_ref("mc146818rtc", "cmos_data",
                                                 off, json_object_new_string(hex)));
        json_object_object_add(o, "cmos_bytes", json_object_new_string(
            "0x15-16 base KiB, 0x17-18 and 0x30-31 KiB above 1 MiB, 0x34-35 "
            "64 KiB above 16 MiB, 0x5b-5d 64 KiB above 4 GiB "
            "(hw/i386/pc.c pc_cmos_init)"));
    }
    switch (src) {
    case GM_SPLIT_DEFAULT:
        json_object_object_add(o, "decided_by", json_object_new_string(
            "the default rule; the CMOS records the same split"));
        break;
    case GM_SPLIT_CMOS:
        json_object_object_add(o, "decided_by", json_object_new_string(
            "the CMOS: the machine was started with another split than the "
            "default rule's (max-ram-below-4g); the CMOS values add up to "
            "the RAM size"));
        break;
    default:
        json_object_object_add(o, "decided_by", json_object_new_string(
            rtc ? "nothing: the CMOS neither matches the default rule nor "
                  "records another split exactly"
                : "nothing: no readable mc146818rtc section to check the "
                  "default rule against"));
        break;
    }
    json_object_object_add(o, "source", json_object_new_string(
        src == GM_SPLIT_DEFAULT ? "default" : src == GM_SPLIT_CMOS ? "cmos"
                                                                   : "unknown"));
    pc->split_known = src != GM_SPLIT_UNKNOWN;
    if (pc->split_known) {
        json_object_object_add(o, "below_4g_mem_size", gm_hex(pc->split.below));
        json_object_object_add(o, "above_4g_mem_size", gm_hex(pc->split.above));
    }
    json_object_object_add(c->m->machine, "split", o);
    return TRUE;
}

/* Where "ram-above-4g" starts: 4 GiB, unless an AMD CPU model and a highest
 * used address at or past 0xfd00000000 move it to 1 TiB (pc_memory_init).
 * Neither the CPU vendor nor pci-hole64-size is in the stream, but the DSDT
 * QEMU built is (acpi_tables): its PCI 64-bit window starts at the end of
 * that RAM rounded up to 1 GiB.  A window at that place for a start at 4
 * GiB or at 1 TiB decides; else, with the default hole (q35 32 GiB,
 * i440fx 2 GiB), the move needs about 980 GiB of RAM: below that 4 GiB is
 * taken, saying it rests on the default. */
typedef enum { START_4G_ACPI, START_1T_ACPI, START_4G_DEFAULT, START_UNKNOWN } Start;

static guint64
round_gib(guint64 v)
{
    return (v + GiB - 1) & ~(GiB - 1);
}

static Start
above_4g_start(Pc *pc, json_object **acpi, GError **err)
{
    MrRamBlock *b = mr_file_find_block(pc->c->f, "/rom@etc/acpi/tables");
    guint64 hole64 = pc->q35 ? 32 * GiB : 2 * GiB;
    g_autoptr(GArray) mins = g_array_new(FALSE, FALSE, sizeof(guint64));
    g_autofree guint8 *blob = NULL;
    gsize at = 0;

    *acpi = NULL;
    if (b && b->stored && b->used_length <= 16 * MiB) {
        blob = g_malloc(b->used_length);
        if (!mr_block_read(pc->c->f, b, blob, 0, b->used_length, err))
            return START_UNKNOWN;
        if (gm_acpi_dsdt_qword_mins(blob, b->used_length, &at, mins)) {
            for (guint i = 0; i < mins->len; i++) {
                guint64 min = g_array_index(mins, guint64, i);
                Start s = min == round_gib(4 * GiB + pc->split.above)
                              ? START_4G_ACPI
                          : min == round_gib((1ull << 40) + pc->split.above)
                              ? START_1T_ACPI : START_UNKNOWN;
                if (s == START_UNKNOWN)
                    continue;
                *acpi = json_object_new_object();
                json_object_object_add(*acpi, "block", json_object_new_string(b->idstr));
                json_object_object_add(*acpi, "dsdt_offset", json_object_new_uint64(at));
                json_object_object_add(*acpi, "pci_window_64_min", gm_hex(min));
                json_object_object_add(*acpi, "source", json_object_new_string(
                    "hw/i386/acpi-build.c build_dsdt: the PCI host's 64-bit "
                    "window starts at the end of the RAM above 4 GiB, "
                    "rounded up to 1 GiB (hw/i386/pc.c pc_pci_hole64_start)"));
                return s;
            }
        }
    }
    return round_gib(4 * GiB + pc->split.above) + hole64 - 1 < 0xfd00000000ull
           ? START_4G_DEFAULT : START_UNKNOWN;
}

gboolean
gm_pc_add_ram(Pc *pc, GError **err)
{
    json_object *why, *acpi;
    GError *e = NULL;
    Start start;
    guint64 at;

    if (!pc->split_known) {
        /* Only the first MiB is sure to be low RAM. */
        why = gm_rule("ram-below-4g", "hw/i386/pc.c pc_memory_init");
        json_object_object_add(why, "note", json_object_new_string(
            "the first MiB only: the split is not known (machine.split)"));
        gm_add_ram(pc->system, 0, MIN(MiB, pc->ram_size), 0, pc->ram, 0,
                   FALSE, why);
        if (pc->ram_size > MiB)
            gm_add_unknown(pc->system, MiB, MIN(pc->ram_size, 4 * GiB) - MiB,
                           0, "RAM from 1 MiB up", "the split of the RAM "
                           "below and above 4 GiB is not known (machine.split)");
        gm_add_unknown(pc->system, 4 * GiB, pc->ram_size, 0,
                       "RAM above 4 GiB", "the split of the RAM below and "
                       "above 4 GiB is not known (machine.split)");
        return TRUE;
    }
    why = gm_rule("ram-below-4g", "hw/i386/pc.c pc_memory_init");
    json_object_object_add(why, "below_4g_mem_size", gm_hex(pc->split.below));
    gm_add_ram(pc->system, 0, pc->split.below, 0, pc->ram, 0, FALSE, why);
    if (pc->split.above == 0)
        return TRUE;
    start = above_4g_start(pc, &acpi, &e);
    if (e) {
        g_propagate_error(err, e);
        return FALSE;
    }
    if (start == START_UNKNOWN) {
        gm_add_unknown(pc->system, 4 * GiB, pc->split.above, 0,
                       "RAM above 4 GiB", "with an AMD CPU model QEMU moves "
                       "it to 1 TiB when the highest used address reaches "
                       "0xfd00000000 (hw/i386/pc.c pc_memory_init); the CPU "
                       "vendor is not in the snapshot, and its ACPI tables "
                       "do not tell");
        gm_add_unknown(pc->system, 1ull << 40, pc->split.above, 0,
                       "RAM above 4 GiB (at 1 TiB?)", "see RAM above 4 GiB");
        return TRUE;
    }
    why = gm_rule("ram-above-4g", "hw/i386/pc.c pc_memory_init");
    json_object_object_add(why, "block_offset", gm_hex(pc->split.below));
    json_object_object_add(why, "above_4g_mem_size", gm_hex(pc->split.above));
    if (acpi)
        json_object_object_add(why, "acpi", acpi);
    else
        json_object_object_add(why, "assumes", json_object_new_string(
            "no AMD 1 TiB relocation: the default pci-hole64-size keeps the "
            "highest used address below 0xfd00000000 (the ACPI tables hold "
            "no 64-bit PCI window that tells)"));
    at = start == START_1T_ACPI ? 1ull << 40 : 4 * GiB;
    gm_add_ram(pc->system, at, pc->split.above, 0, pc->ram, pc->split.below,
               FALSE, why);
    return TRUE;
}

