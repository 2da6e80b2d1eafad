/* The CPU state that QEMU's dump-guest-memory puts in an ELF core's notes,
 * read from the "cpu" device sections of a snapshot.
 *
 * Each reader gives the registers as the VM restored from the snapshot
 * holds them: the values of the vmstate fields after QEMU's post_load has
 * run on them (target/i386/machine.c, target/ppc/machine.c), which is what
 * the arch_dump.c files of target/i386 and target/ppc read.  Registers are found by field name through
 * the vmdesc, never at fixed offsets; a field that is missing or has an
 * unexpected size is an MR_ERROR_UNSUPPORTED error naming it.
 */
#ifndef DS_CPUSTATE_H
#define DS_CPUSTATE_H

#include "mr-file.h"

typedef enum {
    DS_CPU_X86,   /* qemu-system-x86_64 (16 GPRs) or -i386 (8) */
    DS_CPU_PPC32, /* qemu-system-ppc */
} DsCpuArch;

typedef struct {
    guint32 selector;
    guint32 limit;
    guint32 flags;
    guint64 base;
} DsX86Segment;

enum { DS_X86_ES, DS_X86_CS, DS_X86_SS, DS_X86_DS, DS_X86_FS, DS_X86_GS };

typedef struct {
    gboolean x86_64;     /* the target has 16 GPRs and long mode */
    guint64 regs[16];    /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
    guint64 eip;
    guint64 eflags;
    guint32 hflags;
    DsX86Segment segs[6], ldt, tr, gdt, idt;
    guint64 cr[5];       /* cr[1] is not migrated: 0, as QEMU has it */
    guint64 kernelgsbase;
} DsCpuX86;

/* HF_LMA_MASK of target/i386/cpu.h: long mode active. */
#define DS_X86_HF_LMA (1u << 14)

typedef struct {
    guint32 gpr[32];
    guint32 nip, msr, ctr, lr;
    guint32 xer;         /* as cpu_read_xer() gives it after the load */
    guint32 cr;          /* the eight 4-bit fields, CR0 highest */
    guint64 fpr[32];
    guint32 fpscr;       /* as ppc_store_fpscr() leaves it */
    guint8 avr[32][16];  /* most significant byte first */
    guint32 vscr;
    guint64 vsrl[32];    /* low doublewords of VSR0-31 */
    guint64 spe_acc;
    guint32 spe_fscr;
} DsCpuPpc32;

/* MSR_ILE: interrupts (and so QEMU's dump) are little-endian. */
#define DS_PPC_MSR_ILE (1u << 16)

typedef struct {
    DsCpuArch arch;
    guint32 index;       /* cpu_index: the section's instance id */
    union {
        DsCpuX86 x86;
        DsCpuPpc32 ppc;
    };
} DsCpu;

/* Every "cpu" section in cpu_index order, read into plain structs.  The
 * architecture is recognised from the fields the vmdesc names; one QEMU
 * cannot dump (MIPS, say) or that this code does not know is
 * MR_ERROR_UNSUPPORTED with the reason. */
GArray *ds_cpus_read(MrFile *f, GError **err); /* DsCpu */

/* One section of a known architecture (used by ds_cpus_read). */
gboolean ds_cpu_x86_read(MrFile *f, MrSection *s, DsCpuX86 *out, GError **err);
gboolean ds_cpu_ppc32_read(MrFile *f, MrSection *s, DsCpuPpc32 *out,
                           GError **err);

#endif
