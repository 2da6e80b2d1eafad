/* The checks of one crash state, built in the work file:
 *
 *   check    mramfs-check --json finds no problem and no warning the base
 *            snapshot did not already have; if it finds problems, they must
 *            be ones mramfs-check --repair fixes, and the checks below must
 *            still hold after the repair;
 *   lost     every byte of every write promised durable before the epoch
 *            ends holds what that write put there, or what a write that
 *            was not over before it began put there;
 *   garbage  a present page holds only zeros, bytes it had in the base if
 *            it was present there, and bytes the workload wrote into it;
 *   cleared  no page present in the base became absent;
 *   raw      no byte outside page areas and bitmaps changed, but for what
 *            the workload's document writes put there;
 *   torn     the bytes of a document write are the base's or those of one
 *            document write of the same range: a document changes its
 *            registers all together or not at all.
 *
 * Only the pages given are examined: the pages a state's ops touch, since
 * every other page is as in a state already checked (the epoch's base, or
 * the previous epoch's base, or the base snapshot); and the promises on
 * those pages, plus the promises that began to bind since the previous
 * epoch's base was checked.
 */
#ifndef CRASH_VERIFY_H
#define CRASH_VERIFY_H

#include "crash-model.h"

typedef struct CrashVerifier CrashVerifier;

/* work_fd/work_path: the file states are built in.  check_tool: the
 * mramfs-check binary; NULL skips that check. */
CrashVerifier *crash_verifier_new(const CrashModel *m, int work_fd,
                                  const char *work_path, const char *check_tool,
                                  GError **err);
void crash_verifier_free(CrashVerifier *v);

/* Adds to pages (a set of crash_page_key values) what [at, at + len)
 * touches: block pages through their slot or bit, raw bytes by page. */
void crash_pages_touched(const CrashModel *m, GHashTable *pages, guint64 at,
                         guint64 len);
GHashTable *crash_page_set_new(void);

/* Runs every check on the work file as it is; appends one line per
 * violation to violations.  Promises made at or after `since` are checked
 * whole, wherever they are (CRASH_NEVER: none).  FALSE only if the checks
 * could not run. */
gboolean crash_verify_state(CrashVerifier *v, guint epoch, GHashTable *pages,
                            guint64 since, const GArray *applied_ops,
                            GPtrArray *violations, GError **err);

/* Warnings mramfs-check has about the base snapshot itself. */
guint crash_verifier_base_warnings(const CrashVerifier *v);
/* mramfs-check runs so far, and how many needed --repair. */
guint crash_verifier_check_runs(const CrashVerifier *v);
guint crash_verifier_repairs(const CrashVerifier *v);

#endif
