/* The guest-physical maps of the PowerPC machines: the IBM 40p (PReP) and
 * the Pegasos II, as a QEMU 10.0 restored from the snapshot lays them out.
 *
 * 40p (hw/ppc/prep.c ibm_40p_init): the RAM is up to six SIMMs of the
 * rs6000-mc memory controller (hw/ppc/rs6000_mc.c), each its own block
 * "simm.N"; with auto-configure (the default) realize places them one
 * after the other in socket order.  The firmware writes SIMM end
 * addresses through port 0x820, but the device migrates only
 * port0820_index: a restored QEMU keeps the auto-configured layout.  The
 * Raven host bridge (hw/pci-host/raven.c) puts its 1 MiB firmware ROM
 * "bios" at 0xfff00000 and its PCI memory space (0x3f000000 bytes) at
 * 0xc0000000.
 *
 * Pegasos II (hw/ppc/pegasos2.c): "pegasos2.ram" at 0 and the 512 KiB
 * "pegasos2.rom" at 0xfff00000.  The PCI buses are reached through the
 * MV64361's CPU windows (hw/pci-host/mv64361.c), whose registers have no
 * vmstate: RAM behind a BAR there is reported missing. */
#include "ds-gm.h"

#include <string.h>

#define MiB (1024ull * 1024)

gboolean gm_machine_40p(GmCtx *c, GError **err);
gboolean gm_machine_pegasos2(GmCtx *c, GError **err);

static void
simms(GmCtx *c, GmSpace *sys)
{
    guint64 start = 0;

    for (guint socket = 0; socket < 6; socket++) {
        char name[] = "simm.?";
        MrRamBlock *b;
        json_object *why;

        name[5] = (char)('0' + socket);
        b = mr_file_find_block(c->f, name);
        if (b == NULL || !gm_block_usable(c, b, name))
            continue;
        why = gm_rule("rs6000-mc auto-configure", "hw/ppc/rs6000_mc.c "
                   "rs6000mc_realize");
        json_object_object_add(why, "socket", json_object_new_int(socket));
        json_object_object_add(why, "note", json_object_new_string(
            "SIMMs follow each other in socket order; end addresses the "
            "firmware wrote through port 0x820 are not migrated"));
        gm_add_ram(sys, start, b->used_length, (gint)socket, b, 0, FALSE, why);
        gm_note_block(c, b, TRUE, "SIMM socket %u at 0x%" G_GINT64_MODIFIER
                      "x", socket, start);
        start += b->used_length;
    }
    if (start == 0)
        gm_missing(c, NULL, "the RAM", "the snapshot has no simm.N block");
}

gboolean
gm_machine_40p(GmCtx *c, GError **err)
{
    GmSpace *sys = gm_space_new("system", G_MAXUINT64);
    GmSpace *pci = gm_space_new("pci-memory", 0x3f000000);
    GmPciBus bus = { .bus = "pci.0", .space = pci };
    gboolean ok;

    json_object_object_add(c->m->machine, "family", json_object_new_string("40p"));
    /* raven_pcihost_realizefn adds the PCI windows before rs6000-mc's
     * SIMMs exist; none of them overlap. */
    gm_add_alias(sys, 0xc0000000, 0x3f000000, 0, pci, 0,
                 gm_rule("pci-memory", "hw/pci-host/raven.c raven_pcihost_initfn"));
    gm_board_block(c, sys, "bios", 0xfff00000, 1 * MiB, TRUE,
          "hw/pci-host/raven.c raven_realize");
    simms(c, sys);
    ok = gm_pci_place(c, &bus, 1, err);
    if (ok)
        gm_render(sys, c->m);
    gm_space_free(sys);
    gm_space_free(pci);
    return ok;
}

gboolean
gm_machine_pegasos2(GmCtx *c, GError **err)
{
    GmSpace *sys = gm_space_new("system", G_MAXUINT64);
    GmSpace *pci0 = gm_space_new("pci0-mem", 1ull << 32);
    GmSpace *pci1 = gm_space_new("pci1-mem", 1ull << 32);
    static const char windows[] = "the MV64361 CPU windows that reach the "
        "PCI buses are not migrated (hw/pci-host/mv64361.c has no vmstate): "
        "where a restored QEMU maps them depends on the firmware or board "
        "reset, not on the snapshot";
    GmPciBus buses[2] = {
        { .bus = "pci.0", .space = pci0, .windows_unknown = windows },
        { .bus = "pci.1", .space = pci1, .windows_unknown = windows },
    };
    MrRamBlock *ram = mr_file_find_block(c->f, "pegasos2.ram");
    gboolean ok;

    json_object_object_add(c->m->machine, "family",
                           json_object_new_string("pegasos2"));
    if (ram)
        gm_board_block(c, sys, "pegasos2.ram", 0, 0, FALSE,
              "hw/ppc/pegasos2.c pegasos2_init");
    else
        gm_missing(c, NULL, "the RAM", "no block \"pegasos2.ram\" (a memory "
                   "backend in its place is not recognised)");
    gm_board_block(c, sys, "pegasos2.rom", 0xfff00000, 0x80000, TRUE,
          "hw/ppc/pegasos2.c pegasos2_init");
    ok = gm_pci_place(c, buses, 2, err);
    if (ok)
        gm_render(sys, c->m);
    gm_space_free(sys);
    gm_space_free(pci0);
    gm_space_free(pci1);
    return ok;
}
