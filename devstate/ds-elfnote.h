/* The PT_NOTE contents of QEMU's dump-guest-memory ELF core: the per-CPU
 * notes of target/i386/arch_dump.c and target/ppc/arch_dump.c, byte for
 * byte as QEMU 10.0 writes them (layouts in docs/VMCORE.md).
 */
#ifndef DS_ELFNOTE_H
#define DS_ELFNOTE_H

#include "ds-cpustate.h"

#define DS_EM_386 3
#define DS_EM_PPC 20
#define DS_EM_X86_64 62

/* What cpu_get_dump_info() decides for a dump. */
typedef struct {
    gboolean is64;        /* ELFCLASS64 */
    gboolean big_endian;  /* ELFDATA2MSB */
    guint16 machine;      /* e_machine */
} DsElfKind;

/* The class, byte order and machine QEMU picks for these CPUs, with
 * highest_end the end of the highest guest-physical range it dumps (x86
 * switches to ELF64 for memory above 4 GiB). */
DsElfKind ds_elf_kind(const DsCpu *cpus, guint n, guint64 highest_end);

/* Every note of every CPU, in QEMU's order: x86 writes all NT_PRSTATUS
 * notes, then all "QEMU" CPU-state notes; PowerPC writes its five "CORE"
 * notes CPU by CPU.  cpus must all be of one architecture. */
GByteArray *ds_elf_cpu_notes(const DsElfKind *k, const DsCpu *cpus, guint n);

/* One note: header, name (padded to 4) and desc (padded to 4). */
void ds_elf_note_append(GByteArray *out, const DsElfKind *k, const char *name,
                        guint32 type, const guint8 *desc, gsize descsz);

/* Stores v in k's byte order. */
void ds_elf_put16(const DsElfKind *k, guint8 *p, guint16 v);
void ds_elf_put32(const DsElfKind *k, guint8 *p, guint32 v);
void ds_elf_put64(const DsElfKind *k, guint8 *p, guint64 v);

#endif
