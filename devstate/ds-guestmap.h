/* The guest-physical memory map of a snapshot: which guest address ranges
 * are backed by which RAM block bytes, decided from the machine type and
 * version, the RAM size and the device state the snapshot holds (PAM and
 * SMRAM registers, PCI BARs and command registers, firmware placement).
 *
 * Nothing is guessed: a machine, machine version or device whose mapping
 * rule is not known exactly leaves its ranges out, and `missing` says what
 * and why.  guest/memmap.json, guest/physmem, guest/vmcore and
 * mramfs-info's map are all built from this one structure.
 *
 * (Interface agreed between the guest-map and vmcore work of issue 14; the
 * implementation is ds-guestmap.c and its ds-gm-*.c helpers.  Since agreed:
 * `missing` entries may carry "dumped": false, memory QEMU's
 * dump-guest-memory leaves out as well, such as a pflash ROM device; and
 * adjacent ranges of one block are separate when their rule differs, so
 * a PT_LOAD is a run of ranges of one block with contiguous offsets.)
 */
#ifndef DS_GUESTMAP_H
#define DS_GUESTMAP_H

#include <json-c/json.h>

#include "mr-file.h"
#include "mr-vfile.h"

typedef enum {
    DS_RANGE_RAM,
    DS_RANGE_ROM,
} DsRangeKind;

typedef struct {
    guint64 gpa;          /* guest-physical address */
    guint64 length;
    DsRangeKind kind;
    MrRamBlock *block;    /* the RAM block behind it (borrowed) */
    guint64 block_offset; /* gpa's byte in the block */
    /* What decided it: {"rule": "...", ...parameters, and for registers
     * and BARs the device section, field and snapshot offset}. */
    json_object *why;
} DsGuestRange;

typedef struct {
    GArray *ranges;       /* DsGuestRange, sorted by gpa, not overlapping */
    /* [{"what": ..., "why": ...}]: ranges left out, and why; also "gpa"
     * and "length" for an address range, "block" for a RAM block, and
     * "dumped": false for memory QEMU's dump leaves out too (pflash). */
    json_object *missing;
    /* The machine facts the map came from, for memmap.json and vmcore:
     * {"machine": ..., "family": ..., "ram_blocks_total": ..., rule
     * parameters (pc: "ram_block", "machine_ram_size", "split"), "blocks":
     * {block: {"mapped", "note"}}}. */
    json_object *machine;
} DsGuestMap;

/* Never fails for a machine it does not know (the map is then empty and
 * `missing` says why); err is for I/O and for a snapshot whose device
 * state contradicts itself. */
DsGuestMap *ds_guest_map_new(MrFile *f, GError **err);
void ds_guest_map_free(DsGuestMap *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DsGuestMap, ds_guest_map_free)

/* guest/memmap.json: {"machine": {...}, "ranges": [...], "missing": [...]}. */
json_object *ds_guest_map_json(const DsGuestMap *m);

/* guest/physmem: offset = guest-physical address, one block piece per
 * range, holes elsewhere, as long as the end of the highest range. */
MrVfile *ds_guest_physmem(MrFile *f, const DsGuestMap *m, GError **err);

#endif
