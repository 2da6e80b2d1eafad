/* Inside the PC machine file (ds-guestmap-pc.c): its state, shared with
 * ds-gm-pcram.c, which places the machine's RAM. */
#ifndef DS_GM_PCMACH_H
#define DS_GM_PCMACH_H

#include "ds-gm.h"
#include "ds-gm-pc.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

typedef struct {
    GmCtx *c;
    gboolean q35;
    GmSpace *system, *pci;
    MrRamBlock *ram;
    guint64 ram_size;
    GmPcSplit split;
    gboolean split_known;
    GmPciDev *host;      /* 0000:00:00.0, the host bridge */
} Pc;

/* pc.ram, or the one memory backend standing in for it; NULL if unsure. */
MrRamBlock *gm_pc_machine_ram(Pc *pc);
/* The split (machine.split), from the default rule and the CMOS. */
gboolean gm_pc_read_split(Pc *pc, GError **err);
/* ram-below-4g and ram-above-4g (or what is missing of them). */
gboolean gm_pc_add_ram(Pc *pc, GError **err);

#endif
