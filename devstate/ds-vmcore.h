/* guest/vmcore: the ELF core QEMU's dump-guest-memory (paging off, plain
 * ELF) writes for the VM restored from the snapshot, as a virtual file.
 *
 * Same class, byte order, e_machine and e_type, the same PT_LOADs in the
 * same order (the guest-physical map's ranges merged as QEMU merges its
 * guest_phys_blocks), the same bytes in each, the same PT_NOTE bytes (the
 * CPU notes of ds-elfnote.h and the guest's VMCOREINFO note).  The file
 * offsets of the segments are ours: each starts at an offset congruent to
 * its RAM block offset modulo 4 KiB, so an absent page is a hole of the
 * file.  Headers and notes are one piece in memory; each segment is one RAM
 * block piece.  Nothing is read from the RAM blocks to build it.
 *
 * Where QEMU's core cannot be reproduced exactly (a CPU whose state is not
 * known by name, an incomplete map, a VMCOREINFO note outside mapped RAM)
 * there is no core: NULL and MR_ERROR_UNSUPPORTED with the reason.
 */
#ifndef DS_VMCORE_H
#define DS_VMCORE_H

#include "ds-guestmap.h"
#include "mr-vfile.h"

#include "ds-elfnote.h"

MrVfile *ds_vmcore_new(MrFile *f, const DsGuestMap *m, GError **err);

/* ds_vmcore_new(), and *status for the "vmcore" member of memmap.json and
 * mramfs-info --map --json: {"offered": true}, or {"offered": false,
 * "why": the reason} with NULL returned. */
MrVfile *ds_vmcore_offer(MrFile *f, const DsGuestMap *m, json_object **status);

/* The note QEMU appends after the CPU notes when the machine has a
 * vmcoreinfo device that the guest filled in (dump_init): the guest's ELF
 * note, read from guest-physical memory through m.  *note is NULL when
 * QEMU would add none (no device, nothing written, a size or format QEMU
 * refuses). */
gboolean ds_vmcore_guest_note(MrFile *f, const DsGuestMap *m,
                              const DsElfKind *k, GBytes **note, GError **err);

#endif
