/* What other programs do to the snapshot while it is mounted.
 *
 * `virsh save` to a path that is mounted truncates and rewrites the same
 * inode, `virsh start` deletes a managedsave image: the mount must notice
 * instead of serving a mix of old and new bytes.  A thread watches the
 * snapshot's inode with fanotify, which tells who wrote (writes by this
 * daemon, through a read-write mount, are not changes), or with inotify
 * where fanotify cannot be had (then writes are taken for another
 * program's only on a read-only mount, and a read-write mount does not
 * watch them; mfs_watch_method() says so).
 */
#ifndef MFS_WATCH_H
#define MFS_WATCH_H

#include <glib.h>

typedef enum {
    MFS_WATCH_MODIFIED, /* another program wrote to it (pid: 0 if unknown) */
    MFS_WATCH_SETTLED,  /* and has not for MFS_WATCH_QUIET_MS since */
    MFS_WATCH_DELETED,  /* its last name was removed (pid 0) */
    MFS_WATCH_RENAMED,  /* it was renamed (pid 0) */
} MfsWatchEvent;

/* A writer such as QEMU pauses between its header and its pages: settled
 * means that long without a write. */
#define MFS_WATCH_QUIET_MS 300

/* Called on the watching thread, one event at a time. */
typedef void (*MfsWatchFn)(MfsWatchEvent ev, int pid, gpointer data);

typedef struct MfsWatch MfsWatch;

/* Watches the file open as fd, which the watch owns and closes
 * (mr_file_watch_descriptor()).  own_writes: this process writes to it (a
 * read-write mount).  Never fails: a file that cannot be watched at all
 * is still served, and mfs_watch_method() says why it is not watched. */
MfsWatch *mfs_watch_start(int fd, gboolean own_writes, MfsWatchFn fn,
                          gpointer data);
/* From inside fn, on the watching thread: reads the events queued since
 * (passing them to fn as usual) and says whether no other program wrote
 * since the last MFS_WATCH_SETTLED.  A caller that validated the file
 * after SETTLED asks this before it trusts what it read: a writer that
 * came back meanwhile gives MFS_WATCH_MODIFIED here, and SETTLED again
 * once it is quiet. */
gboolean mfs_watch_quiet(MfsWatch *w);
/* Stops the thread and frees w (NULL is fine). */
void mfs_watch_stop(MfsWatch *w);
/* "fanotify", "inotify", or why writes by other programs go unnoticed. */
const char *mfs_watch_method(const MfsWatch *w);

#endif
