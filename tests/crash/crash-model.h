/* What the crash checker knows about one recorded workload: the daemon's
 * calls on the snapshot (from crash-shim's trace), the persistence points
 * among them, and what the workload wrote through the mount and was told
 * was durable (its acknowledgement log).
 *
 * Persistence.  A completed fsync/fdatasync/syncfs S of the snapshot makes
 * durable every call that was over before S began (op.t_end < S.t_start).
 * The syncs, in the order they completed, cut time into epochs: epoch k
 * runs from the end of sync k to the end of sync k + 1 (epoch -1 from the
 * start; the last one has no end).  A power loss in epoch k leaves the
 * ops made durable by syncs 0..k (the epoch's base) and any subset of the
 * other ops that had begun before the epoch ends (its candidates), each
 * possibly torn at 512-byte sectors: nothing orders writes between two
 * flushes.
 *
 * Promises.  A write through the mount is promised durable at the end of
 * the first of: a later fsync of the same file that began after the write
 * returned; its own return under -o sync, or the close() that applied a
 * document; the unmount.  A loss in epoch k may come just before sync
 * k + 1 completes, after every promise made before then: those bind.
 *
 * Acknowledgement log: one JSON object a line, times CLOCK_MONOTONIC ns.
 *   {"op":"write","file":BLOCK,"off":N,"data":BASE64,"t0":T,"t1":T
 *    [,"durable":true]}       a write (or punch: zeros) of a block file
 *   {"op":"raw","at":FILEOFF,"data":BASE64,"t0":T,"t1":T,"durable":true}
 *                             bytes a document write put in a device section
 *   {"op":"fsync","file":BLOCK,"t0":T,"t1":T}
 *   {"op":"unmount","t0":T,"t1":T}
 */
#ifndef CRASH_MODEL_H
#define CRASH_MODEL_H

#include <glib.h>

#include "crash-trace.h"
#include "mr-file.h"

#define CRASH_SECTOR 512u
#define CRASH_NEVER G_MAXUINT64

/* A call that changes the file. */
typedef struct {
    guint16 type;         /* CRASH_OP_WRITE, _FALLOCATE, _FTRUNCATE */
    int mode;
    guint64 offset;
    guint64 length;       /* write: bytes written; ftruncate: new size */
    guint64 t_start, t_end;
    guint8 *data;         /* write only */
    gint durable_at;      /* first sync that covers it; G_MAXINT: none */
    gboolean raw_bad;     /* writes bytes outside page areas and bitmaps
                           * that nothing the workload wrote explains */
} CrashOp;

typedef struct {
    guint64 t_start, t_end;
} CrashSync;

/* A write the workload saw acknowledged. */
typedef struct {
    gint block;           /* index into base->blocks, -1: raw file bytes */
    guint64 offset;       /* in the block, or in the file when raw */
    guint64 len;
    guint8 *data;
    guint64 t_start, t_end;
    guint64 promised;     /* when it was promised durable; CRASH_NEVER */
} CrashWrite;

typedef struct {
    GArray *base_new;     /* guint: ops that sync k made durable */
    GArray *candidates;   /* guint: ops, in start order */
    guint64 binding_until; /* promises made before this time bind */
} CrashEpoch;

typedef struct {
    MrFile *base;
    int base_fd;
    GArray *ops;          /* CrashOp, by t_start */
    GArray *syncs;        /* CrashSync, by t_end */
    GArray *writes;       /* CrashWrite, in log order */
    GArray *epochs;       /* CrashEpoch; epochs[0] is epoch -1 */
    /* (block << 40 | page) -> GArray of guint write indices, and the same
     * for raw writes keyed by file offset / page size with block 0xffff. */
    GHashTable *page_writes;
    guint records;        /* trace records read, all kinds */
    guint failed_calls;   /* calls that returned an error (not applied) */
    guint sync_file_ranges;
} CrashModel;

/* Reads the base snapshot's layout, the trace and the acknowledgement
 * log, and cuts the epochs.  Refuses a trace that is cut short. */
CrashModel *crash_model_load(const char *base_path, const char *trace_path,
                             const char *acks_path, GError **err);
void crash_model_free(CrashModel *m);

guint64 crash_page_key(gint block, guint64 page);
/* Write indices touching page (NULL if none). */
GArray *crash_model_page_writes(const CrashModel *m, gint block, guint64 page);

/* The block whose page area holds file offset at, and the page; FALSE if
 * none does. */
gboolean crash_model_page_at(const CrashModel *m, guint64 at, gint *block,
                             guint64 *page);
/* Calls fn for every (block, page) whose slot or bitmap bit lies in the
 * file range [at, at + len). */
typedef void (*CrashPageFn)(gint block, guint64 page, gpointer data);
void crash_model_pages_in(const CrashModel *m, guint64 at, guint64 len,
                          CrashPageFn fn, gpointer data);
/* Does [at, at + len) lie wholly inside page areas and bitmaps? */
gboolean crash_model_in_pages_or_bitmaps(const CrashModel *m, guint64 at,
                                         guint64 len);

#endif
