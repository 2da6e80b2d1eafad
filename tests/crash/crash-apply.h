/* Building crash states in one work file: ops are applied in place and
 * undone afterwards, so that a state costs the bytes it changes, not a
 * copy of the snapshot.  Undo restores bytes and allocation alike (holes
 * are punched back), because mramfs-check reads the allocation. */
#ifndef CRASH_APPLY_H
#define CRASH_APPLY_H

#include "crash-model.h"

typedef struct CrashUndo CrashUndo;

CrashUndo *crash_undo_new(int fd);
void crash_undo_free(CrashUndo *u);

/* Saves [at, at + len) (widened to file-system blocks) for undo. */
gboolean crash_undo_save(CrashUndo *u, guint64 at, guint64 len, GError **err);
/* Restores everything saved, newest first, and forgets it. */
gboolean crash_undo_run(CrashUndo *u, GError **err);

/* Applies op to fd; sectors (NULL: all) says which 512-byte sectors of a
 * write land.  With u, what it changes is saved first. */
gboolean crash_apply_op(int fd, const CrashOp *op, const guint8 *sectors,
                        CrashUndo *u, GError **err);

/* Copies src to dst keeping its holes. */
gboolean crash_copy_sparse(const char *src, const char *dst, GError **err);

#endif
