/* Reading a RAM block's bytes as QEMU would restore them: a present page from
 * its fixed offset, an absent page as zeros whatever its slot holds
 * (FORMAT.md §9.9). */
#ifndef MR_READ_H
#define MR_READ_H

#include "mr-file.h"

/* A run of pages [first, first + count) that are all present or all absent. */
typedef struct {
    guint64 first;
    guint64 count;
    gboolean present;
} MrPageRun;

/* The run that contains page i, cut at `limit` pages. */
MrPageRun mr_block_run_at(const MrRamBlock *b, guint64 page, guint64 limit);

/* Reads len bytes at offset of the block into buf.  The range must lie in
 * the block (MR_ERROR_RANGE otherwise).  One pread per run of present
 * pages. */
gboolean mr_block_read(const MrFile *f, const MrRamBlock *b, void *buf,
                       guint64 offset, gsize len, GError **err);

#endif
