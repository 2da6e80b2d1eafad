/* Mounting a validated snapshot and serving it until unmount. */
#ifndef MFS_SESSION_H
#define MFS_SESSION_H

#include "mfs-fs.h"
#include "mfs-loop.h"

typedef struct {
    MfsOptions fs;
    const char *mountpoint;
    gboolean foreground;
    gboolean debug;
    gboolean single_thread;
    gboolean allow_other;
    GPtrArray *mount_flags; /* char*: nosuid, noexec, ... passed to the kernel */
} MfsSessionOptions;

/* What the kernel or libfuse refused; errors about the snapshot (its lock
 * held: MR_ERROR_BUSY; a tree that cannot be built) are MR_ERRORs. */
typedef enum {
    MFS_SESSION_ERROR_MOUNT,   /* the kernel or libfuse refused */
    MFS_SESSION_ERROR_SERVE,   /* the mount ended with an error */
} MfsSessionError;

#define MFS_SESSION_ERROR (mfs_session_error_quark())
GQuark mfs_session_error_quark(void);

/* Locks the snapshot (shared for read-only, exclusive for read-write),
 * mounts it, detaches unless foreground (the caller's process exits only
 * once the kernel mount exists), and serves requests until unmount or
 * SIGTERM/SIGINT/SIGHUP.  Returns FALSE with err set if the mount failed
 * or ended with an error. */
gboolean mfs_session_run(MrFile *file, const MfsSessionOptions *opts,
                         GError **err);

/* The device ("MAJ:MIN") of the latest mramfs mount at mnt (absolute, as
 * /proc/self/mountinfo names it), or NULL when nothing of ours is mounted
 * there.  Free with g_free(). */
char *mfs_mounted_device(const char *mnt);

#endif
