/* Checks of a validated file against what QEMU itself writes, beyond the
 * invariants mr_file_open() enforces (for mramfs-check(8)).
 *
 * The bitmap against the file's allocation.  A present page whose slot is
 * entirely a hole holds zeros: mramfs writes a present page made wholly
 * zero that way (mr-update.h), a sparse copy of a file saved with
 * zero-page-detection=none has them, and QEMU restores zeros from them.
 * Counted, not a problem (docs/CRASH-CONSISTENCY.md, "Zero pages").  An
 * absent page whose slot holds non-zero bytes is a stale slot, which QEMU
 * leaves behind after a live save (docs/FORMAT.md §9.9): informational, never
 * read.
 *
 * The bits of a bitmap past its block's last page (R12): zero in QEMU
 * files; the model ignores them (mr-bitmap.h), mr-repair.c clears them
 * (mramfs-check --repair, through mr-report.h).
 */
#ifndef MR_CHECK_H
#define MR_CHECK_H

#include "mr-file.h"

typedef struct {
    guint64 first; /* page index */
    guint64 count;
} MrPageRange;

typedef struct {
    guint64 present_pages;
    guint64 allocated_bytes; /* of the page area, from the extent walk */
    guint64 stale_slots;     /* absent pages whose slot holds non-zero bytes */
    guint64 present_in_hole; /* present pages whose slot is all hole */
    GArray *stale;           /* MrPageRange, ascending, merged */
    GArray *in_hole;         /* MrPageRange, ascending, merged */
} MrBlockCheck;

/* Called as the walk advances: bytes of the block's page area done. */
typedef void (*MrCheckProgress)(guint64 done, gpointer data);

/* Walks the page area of b with SEEK_DATA/SEEK_HOLE, one pair of calls per
 * extent, and reads only the slots of absent pages that lie in data
 * extents, a run at a time (to tell stale bytes from allocated zeros).
 * out is filled (and must be cleared with mr_block_check_clear) also when
 * it fails; failures are MR_ERROR_IO or, if the file shrank meanwhile,
 * MR_ERROR_TRUNCATED. */
gboolean mr_block_check(const MrFile *f, const MrRamBlock *b, MrBlockCheck *out,
                        MrCheckProgress progress, gpointer data, GError **err);
void mr_block_check_clear(MrBlockCheck *c);

/* The bytes of b's bitmap in the file that hold bits at indexes >=
 * num_pages (R12).  They can only be in the last long the saving host
 * reserved: every earlier long is all page bits. */
typedef struct {
    guint64 count;       /* stray bits set */
    guint64 offset;      /* file offset of old_bytes[0] */
    guint len;           /* first to last byte with a stray bit; 0: none */
    guint8 old_bytes[8]; /* as read from the file */
    guint8 new_bytes[8]; /* the same with the stray bits clear */
} MrStrayBits;

/* Reads the bitmap's last long from the file (not the model, which has
 * already dropped the stray bits). */
gboolean mr_block_stray_bits(const MrFile *f, const MrRamBlock *b,
                             MrStrayBits *out, GError **err);

/* mr-repair.c: the one repair mramfs-check(8) makes: clears the bits of
 * b's bitmap past its last page (docs/FORMAT.md §11 R12, found with
 * mr_block_stray_bits()).  §12 keeps page writes away from those bits (a
 * commit writes the last word back with them as the file had them,
 * mr_bitmap_file_word()); clearing them here is still safe because QEMU
 * writes them as zero and ignores them on load (§9.4), so the file only
 * becomes what QEMU would have written.  Writes only the bitmap bytes that
 * hold such bits, each with its page bits as read, then fdatasync: no page
 * changes presence, nothing else of the file changes.  f must be opened
 * writable (MR_ERROR_READONLY) and held exclusively by the caller (no
 * mount, no QEMU, no MrUpdater).  *done tells what was written
 * (done->len == 0: there was nothing to clear). */
gboolean mr_block_clear_stray_bits(MrFile *f, MrRamBlock *b, MrStrayBits *done,
                                   GError **err);

#endif
