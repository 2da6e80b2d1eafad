/* What a RAM block holds, as QEMU would restore it: a present page from its
 * fixed offset, an absent page as zeros whatever its slot holds (docs/FORMAT.md
 * §9.9).
 *
 * The bitmap is read lazily (mr-bitmap.h), so every query here can find
 * that part of it is gone (the file was truncated under us): each returns
 * FALSE with the error then, and the compiler makes the caller look.  No
 * page run, count or seek is ever computed from a guess at missing bits.
 */
#ifndef MR_READ_H
#define MR_READ_H

#include "mr-file.h"

/* A run of pages [first, first + count) that are all present or all absent. */
typedef struct {
    guint64 first;
    guint64 count;
    gboolean present;
} MrPageRun;

/* The run that contains page `page`, cut at `limit` pages.  A block not
 * stored in the file (x-ignore-shared) is one absent run. */
gboolean mr_block_run_at(const MrRamBlock *b, guint64 page, guint64 limit,
                         MrPageRun *out, GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* Pages present in b (0 for a block not stored).  Reads the whole bitmap
 * the first time; FALSE when part of it cannot be read, *count then
 * counting the pages of the parts that could. */
gboolean mr_block_count_present(const MrRamBlock *b, guint64 *count,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* SEEK_DATA (data TRUE) or SEEK_HOLE from byte off < used_length: the first
 * offset >= off in a present (absent) page, off itself if its page is one,
 * the end of the block being a hole; MR_SEEK_NONE when no data follows. */
#define MR_SEEK_NONE G_MAXUINT64
gboolean mr_block_seek(const MrRamBlock *b, guint64 off, gboolean data,
                       guint64 *out, GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* Reads len bytes at offset of the block into buf.  The range must lie in
 * the block (MR_ERROR_RANGE otherwise).  One pread per run of present
 * pages. */
gboolean mr_block_read(const MrFile *f, const MrRamBlock *b, void *buf,
                       guint64 offset, gsize len, GError **err);

#endif
