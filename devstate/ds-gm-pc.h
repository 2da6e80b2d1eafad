/* The PC rules that need nothing but numbers (ds-gm-pcrules.c): the RAM
 * split below/above 4 GiB, what the CMOS records of it, and the PAM
 * registers.  Separate from the machine file so the unit tests can pin
 * them with cases QEMU cannot make. */
#ifndef DS_GM_PC_H
#define DS_GM_PC_H

#include <glib.h>

typedef struct {
    guint64 below; /* below_4g_mem_size */
    guint64 above; /* above_4g_mem_size */
} GmPcSplit;

/* QEMU 10.0's split without max-ram-below-4g: hw/i386/pc_piix.c pc_init1
 * (3.5 GiB rule, split at 3 GiB) and hw/i386/pc_q35.c pc_q35_init (2.75
 * GiB rule, split at 2 GiB). */
GmPcSplit gm_pc_default_split(gboolean q35, guint64 ram_size);

/* The CMOS bytes hw/i386/pc.c pc_cmos_init writes for a split. */
#define GM_CMOS_BASE_LO 0x15   /* base memory in KiB, 0x15-0x16 */
#define GM_CMOS_EXT_LO 0x17    /* 1-65 MiB in KiB, 0x17-0x18, again 0x30-0x31 */
#define GM_CMOS_EXT2_LO 0x30
#define GM_CMOS_HIGH_LO 0x34   /* 16 MiB-4 GiB in 64 KiB, 0x34-0x35 */
#define GM_CMOS_ABOVE_LO 0x5b  /* above 4 GiB in 64 KiB, 0x5b-0x5d */
typedef struct {
    guint16 base_kib, ext_kib, ext2_kib, high_64k;
    guint32 above_64k; /* 24 bits */
} GmPcCmos;

GmPcCmos gm_pc_cmos_expect(const GmPcSplit *s);
GmPcCmos gm_pc_cmos_read(const guint8 cmos[128]);
gboolean gm_pc_cmos_equal(const GmPcCmos *a, const GmPcCmos *b);

typedef enum {
    GM_SPLIT_DEFAULT,  /* the default rule, and the CMOS agrees */
    GM_SPLIT_CMOS,     /* not the default rule: the CMOS gives it exactly */
    GM_SPLIT_UNKNOWN,  /* the CMOS neither agrees nor gives it exactly */
} GmSplitSource;

/* The split a machine of ram_size was started with, from the default rule
 * checked against the CMOS.  With max-ram-below-4g (not in the stream) the
 * rule is wrong, but the CMOS, written at machine creation from the real
 * split, still holds it to 64 KiB; it gives the split exactly when its
 * two values add up to ram_size. */
GmSplitSource gm_pc_split(gboolean q35, guint64 ram_size,
                          const guint8 cmos[128], GmPcSplit *out);

/* The DSDT in QEMU's ACPI tables blob (the fw_cfg file etc/acpi/tables):
 * where it starts (the first "DSDT" header whose length fits; its
 * checksum is left for the firmware's table loader to fill) and the
 * minimum address of every QWord memory range descriptor in it (ACPI 6.4,
 * section 6.4.3.5.1: tag 0x8a, length 0x2b, resource type 0).
 * hw/i386/acpi-build.c build_dsdt puts the PCI host bridge's 64-bit
 * window there, which starts where the RAM above 4 GiB ends (hw/i386/pc.c
 * pc_pci_hole64_start) unless a 64-bit BAR sits lower.  FALSE when there
 * is no such DSDT. */
gboolean gm_acpi_dsdt_qword_mins(const guint8 *blob, gsize len, gsize *at,
                                 GArray *mins);

/* PAM (hw/pci-host/pam.c): 13 regions, 0 = 0xf0000 (64 KiB), 1-12 =
 * 0xc0000 + 16 KiB steps; the register byte and nibble of each. */
#define GM_PAM_REGIONS 13
void gm_pam_region(guint idx, guint32 *start, guint32 *size, guint *reg,
                   gboolean *high_nibble);
/* 0: PCI (the bus's memory shows), 1: RAM read-only, 2: RAM (writes only,
 * but QEMU maps RAM for reads too), 3: RAM. */
guint gm_pam_mode(const guint8 pam_regs[7], guint idx);

#endif
