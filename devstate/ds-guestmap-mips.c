/* The guest-physical map of the Fuloong 2E (MIPS), as a QEMU 10.0 restored
 * from the snapshot lays it out.
 *
 * hw/mips/fuloong2e.c mips_fuloong2e_init: the 256 MiB "fuloong2e.ram" at
 * 0 and the 512 KiB "fuloong2e.bios" ROM at 0x1fc00000.  The Bonito north
 * bridge (hw/pci-host/bonito.c bonito_host_realize, bonito_pci_realize)
 * shows its PCI memory space (0x60000000 bytes) at 0x20000000, and its
 * first 192 MiB again at 0x10000000 in three fixed 64 MiB windows (QEMU
 * ignores the PCIMAP register for them). */
#include "ds-gm.h"

#define MiB (1024ull * 1024)

gboolean gm_machine_fuloong2e(GmCtx *c, GError **err);

gboolean
gm_machine_fuloong2e(GmCtx *c, GError **err)
{
    GmSpace *sys = gm_space_new("system", G_MAXUINT64);
    GmSpace *pci = gm_space_new("pci.mem", 0x60000000);
    GmPciBus bus = { .bus = "pci", .space = pci };
    gboolean ok;

    json_object_object_add(c->m->machine, "family",
                           json_object_new_string("fuloong2e"));
    /* The RAM comes first (machine init), then the bridge's windows. */
    gm_board_block(c, sys, "fuloong2e.ram", 0, 256 * MiB, FALSE,
                   "hw/mips/fuloong2e.c mips_fuloong2e_init");
    gm_board_block(c, sys, "fuloong2e.bios", 0x1fc00000, 512 * 1024, TRUE,
                   "hw/mips/fuloong2e.c mips_fuloong2e_init");
    for (guint i = 0; i < 3; i++) {
        json_object *why = gm_rule("pci.lomem", "hw/pci-host/bonito.c "
                                "bonito_host_realize");
        json_object_object_add(why, "window", json_object_new_int(i));
        gm_add_alias(sys, 0x10000000 + i * 64 * MiB, 64 * MiB, 0, pci,
                     i * 64 * MiB, why);
    }
    gm_add_alias(sys, 0x20000000, 0x60000000, 0, pci, 0,
                 gm_rule("pci.mem.alias", "hw/pci-host/bonito.c bonito_pci_realize"));
    ok = gm_pci_place(c, &bus, 1, err);
    if (ok)
        gm_render(sys, c->m);
    gm_space_free(sys);
    gm_space_free(pci);
    return ok;
}
