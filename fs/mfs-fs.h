/* The mounted file system: the tree, the options it was mounted with, and
 * the FUSE low-level operations over them. */
#ifndef MFS_FS_H
#define MFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <limits.h>
#include <sys/stat.h>

#include "mfs-tree.h"
#include "mfs-watch.h"
#include "mr-update.h"

typedef struct {
    gboolean read_only;
    gboolean sync;      /* every write durable before it returns */
    gboolean has_uid, has_gid, has_umask;
    uid_t uid;
    gid_t gid;
    mode_t umask;       /* with has_umask: the modes are fixed, minus this */
    gboolean direct_io;
    gboolean splice;    /* splice replies from the snapshot (off: copy) */
    unsigned max_read;  /* bytes per read request, also max_write */
    gboolean no_watch;  /* other programs' changes go unnoticed (mfs-change.c) */
} MfsOptions;

struct MfsFs {
    MfsTree *tree;
    MfsOptions opts;
    /* Where it is mounted, absolute ("" if unknown): for files that name
     * other files of the mount (restore/qemu-args).  Held here, not on
     * the heap: the parent of the daemon ends in fuse_daemonize() without
     * freeing what it holds. */
    char mountpoint[PATH_MAX];
    struct stat file_st; /* the snapshot's stat at mount: times, owner, modes */
    guint8 *zeros;       /* max_read bytes of zeros for absent pages */
    MrUpdater *updater;  /* NULL on a read-only mount */
    GMutex doc_lock;     /* one document applied at a time */

    /* The snapshot changed by another program (mfs-change.c).  Every
     * operation on a file of the snapshot holds model_lock as a reader;
     * taking the model after a change holds it as the writer. */
    GRWLock model_lock;
    gint state;          /* MfsSnapshotState */
    struct fuse_session *se; /* for cache invalidations; NULL in tests */
    MfsWatch *watch;
    gint64 mounted_at;   /* g_get_monotonic_time() at mount */
};

typedef enum {
    MFS_SNAPSHOT_VALID,    /* the model describes the file */
    MFS_SNAPSHOT_CHANGING, /* another program is writing it */
    MFS_SNAPSHOT_FAILED,   /* it no longer has the model's layout */
} MfsSnapshotState;

extern const struct fuse_lowlevel_ops mfs_ops;

/* mfs-ops.c */
void mfs_fill_stat(MfsFs *fs, const MfsNode *n, struct stat *st);
/* n's size, with the model held: outside an operation that holds it (a
 * refresh may replace what a file is made of). */
guint64 mfs_file_size(MfsFs *fs, const MfsNode *n);
double mfs_attr_timeout(const MfsFs *fs, const MfsNode *n);
/* The node a request names: 0, or -ENOENT, or -EISDIR when want_file and
 * it is a directory. */
int mfs_node_of(MfsFs *fs, fuse_ino_t ino, gboolean want_file, MfsNode **out);
/* Whether the file may be opened for writing on this mount: 0, -EROFS or
 * -EACCES. */
int mfs_may_write(const MfsFs *fs, const MfsNode *n);
/* mfs-view-ram.c: the block n serves as its file under ram/, or NULL for
 * any other file (whatever its data).  Each block has one such file. */
const MrRamBlock *mfs_ram_block_of(const MfsNode *n);
/* A write that reached block b's pages through another file
 * (guest/physmem) drops the kernel's cached pages of b's file in
 * [off, off + len), as a write to that file would have changed them. */
void mfs_ram_invalidate(MfsFs *fs, const MrRamBlock *b, guint64 off,
                        guint64 len);
/* mfs-write.c: the handlers that change the snapshot. */
void mfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
               off_t off, struct fuse_file_info *fi);
void mfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                 int to_set, struct fuse_file_info *fi);
void mfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
                   off_t length, struct fuse_file_info *fi);
void mfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
               struct fuse_file_info *fi);
void mfs_destroy(void *userdata);
void mfs_refuse_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                       mode_t mode, struct fuse_file_info *fi);
void mfs_refuse_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, dev_t rdev);
void mfs_refuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode);
void mfs_refuse_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void mfs_refuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                        const char *name);
void mfs_refuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                       fuse_ino_t newparent, const char *newname,
                       unsigned int flags);
void mfs_refuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                     const char *newname);
void mfs_refuse_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                         const char *value, size_t size, int flags);
void mfs_refuse_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* mfs-doc.c: documents (files whose ops have apply()) open for writing.
 * What is written is kept per open file and applied whole at close. */
int mfs_doc_open(MfsFs *fs, MfsNode *n, struct fuse_file_info *fi);
/* Whether fi is a document opened for writing. */
gboolean mfs_doc_is_open(const struct fuse_file_info *fi);
int mfs_doc_write(struct fuse_file_info *fi, const char *buf, size_t size,
                  off_t off);
int mfs_doc_truncate(struct fuse_file_info *fi, off_t size);
void mfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* After section s of the snapshot changed: every file's refresh(). */
void mfs_fs_section_changed(MfsFs *fs, const MrSection *s);

/* mfs-change.c: before an operation on file n: 0, with the model held, or
 * -EIO when the snapshot cannot be served now (.mramfs/log says why).
 * mfs_snapshot_leave() after it.  Files of MFS_FILE_DAEMON are always
 * served and hold nothing.  mfs_model_hold/release: the model held for
 * reading whatever the state (stat). */
int mfs_snapshot_enter(MfsFs *fs, const MfsNode *n);
void mfs_snapshot_leave(MfsFs *fs, const MfsNode *n);
void mfs_model_hold(MfsFs *fs, const MfsNode *n);
void mfs_model_release(MfsFs *fs, const MfsNode *n);
const char *mfs_snapshot_state_name(const MfsFs *fs);
/* Starts watching the snapshot (after the daemon detached: a thread), and
 * stops. */
void mfs_change_start(MfsFs *fs);
void mfs_change_stop(MfsFs *fs);

/* The one place where errors of the lower layers become errno: by the
 * code of their MR_ERROR (mr-error.h; any other error is EIO).  Returns
 * -errno and logs the message with the operation that failed (a message
 * repeated at once is logged once). */
int mfs_errno_from_error(const GError *err, const char *op);
/* Logging for the daemon: stderr in the foreground, syslog once detached;
 * each line escaped as messages are (mr_escape_text()). */
void mfs_log(int priority, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void mfs_log_to_syslog(void);

#endif
