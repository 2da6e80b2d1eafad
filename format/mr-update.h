/* In-place updates of RAM blocks (docs/FORMAT.md §12): page data at its fixed
 * offset, then the block's bitmap bit, so that QEMU can still restore the
 * file.  Nothing else of the file is ever written.
 *
 * Ordering.  A page that was absent is written whole (zeros around the new
 * bytes: its slot may hold stale bytes that must not come back, §9.9), its
 * bit is set in memory so reads see it at once, and the write then waits
 * for a group commit: fdatasync of the data, then the bitmap words written,
 * each as it was before that fdatasync began (bits set meanwhile wait for
 * the next commit: their data may not be in this flush).
 * A crash at any point loses at most the newest writes and never makes a
 * page present whose data is not on disk.  Writes to present pages are one
 * pwrite and need no commit.  With `sync`, every write also ends with the
 * bitmap and data durable (fdatasync).
 *
 * Whole zero pages stay sparse: an absent page written with zeros stays
 * absent (it reads as zeros, and QEMU saves zero pages the same way), a
 * present one keeps its bit and gets its slot punched (reads back zeros,
 * and QEMU restores zeros from the hole).
 */
#ifndef MR_UPDATE_H
#define MR_UPDATE_H

#include "mr-check.h"
#include "mr-file.h"

typedef struct MrUpdater MrUpdater;

/* f must have been opened writable.  sync: durable before returning. */
MrUpdater *mr_updater_new(MrFile *f, gboolean sync);
void mr_updater_free(MrUpdater *u);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrUpdater, mr_updater_free)

/* Writes len bytes at offset of block b (buf NULL: zeros).  The range must
 * lie inside the block (MR_ERROR_RANGE) and the block must be stored in the
 * file (MR_ERROR_UNSUPPORTED).  On error nothing of the bitmap changed;
 * page data of absent pages may have been written to their slots, which
 * QEMU ignores while the bit is clear. */
gboolean mr_block_write(MrUpdater *u, MrRamBlock *b, const void *buf,
                        guint64 offset, gsize len, GError **err);

/* A disk writes a sector of this many bytes whole or not at all (the
 * model of docs/CRASH-CONSISTENCY.md §2). */
#define MR_SECTOR_SIZE 512u

/* Rewrites len bytes of a device section's body in place (docs/FORMAT.md §12
 * rule 3, §13.6): the range must lie inside the body (MR_ERROR_RANGE).
 * Choosing a fixed-size leaf whose new value QEMU accepts is the
 * caller's job.  All or nothing, also across a power loss: one pwrite,
 * inside one MR_SECTOR_SIZE sector of the file; a range that crosses a
 * sector boundary is refused (MR_ERROR_UNSUPPORTED) and nothing is
 * written.  Durable (fdatasync) before it returns. */
gboolean mr_section_write(MrUpdater *u, const MrSection *s, guint64 offset,
                          const void *data, gsize len, GError **err);

/* Commits pending bitmap words and makes data and bitmaps durable. */
gboolean mr_updater_sync(MrUpdater *u, GError **err);

/* Pages of block b that became present through this updater, and its
 * present pages written whole with zeros and punched (they keep their bit:
 * no page is ever made absent), for statistics (.mramfs/). */
void mr_updater_block_counts(const MrUpdater *u, const MrRamBlock *b,
                             guint64 *made_present, guint64 *punched);

#endif
