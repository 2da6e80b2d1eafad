/* The mounted file system: the tree, the options it was mounted with, and
 * the FUSE low-level operations over them. */
#ifndef MFS_FS_H
#define MFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "mfs-tree.h"

typedef struct {
    gboolean read_only;
    gboolean has_uid, has_gid;
    uid_t uid;
    gid_t gid;
    mode_t umask;
    gboolean direct_io;
    gboolean splice;    /* splice replies from the snapshot (off: copy) */
    unsigned max_read;  /* bytes per read request, also max_write */
} MfsOptions;

typedef struct {
    MfsTree *tree;
    MfsOptions opts;
    struct stat file_st; /* the snapshot's stat at mount: times, owner */
    guint8 *zeros;       /* max_read bytes of zeros for absent pages */
} MfsFs;

extern const struct fuse_lowlevel_ops mfs_ops;

/* The one place where errors of the lower layers become errno; it logs the
 * message with the operation that failed. */
int mfs_errno_from_error(const GError *err, const char *op);
/* Logging for the daemon: stderr in the foreground, syslog once detached. */
void mfs_log(int priority, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void mfs_log_to_syslog(void);

#endif
