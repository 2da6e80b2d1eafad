#include "mfs-session.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

G_DEFINE_QUARK(mramfs-session-error-quark, mfs_session_error)

/* fuse_opt splits on commas; a snapshot path may contain them. */
static char *
escape_opt(const char *s)
{
    GString *out = g_string_new(NULL);

    for (; *s; s++) {
        if (*s == ',' || *s == '\\')
            g_string_append_c(out, '\\');
        g_string_append_c(out, *s);
    }
    return g_string_free(out, FALSE);
}

/* The daemon of a mount that was just unmounted holds its lock until it has
 * finished exiting, a few milliseconds after umount returned: wait that
 * long before calling the snapshot busy. */
#define LOCK_WAIT_US (2 * G_USEC_PER_SEC)

/* With -o splice, libfuse answers a read of descriptor buffers
 * (mfs-view-ram.c) it cannot splice by copying into a page-aligned buffer it
 * allocates and frees for every reply.  With glibc's default thresholds a
 * 1 MiB buffer is mmapped and unmapped each time, and faulting its pages
 * in took half of the daemon's time on 1 MiB direct_io reads (bench/run,
 * row 2d).  Raised thresholds keep such a buffer in the thread's heap: a
 * few MiB more RSS after reads.  Copied replies have their own per-thread
 * buffer. */
static void
keep_reply_buffers(unsigned max_read)
{
    const guint64 cap = 32u << 20; /* glibc refuses a larger mmap threshold */

    mallopt(M_MMAP_THRESHOLD, (int)MIN(2 * (guint64)max_read, cap));
    mallopt(M_TRIM_THRESHOLD, (int)MIN(4 * (guint64)max_read, 2 * cap));
}

char *
mfs_mounted_device(const char *mnt)
{
    g_autofree char *info = NULL;
    g_auto(GStrv) lines = NULL;
    char *dev = NULL;

    if (!g_file_get_contents("/proc/self/mountinfo", &info, NULL, NULL))
        return NULL;
    /* "ID PARENT MAJ:MIN ROOT MOUNT-POINT ... - fuse.mramfs ...": the last
     * line for the mount point is the latest mount on it. */
    lines = g_strsplit(info, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", 6);
        g_autofree char *mp = NULL;

        if (g_strv_length(f) < 6 || strstr(f[5], " - fuse.mramfs ") == NULL)
            continue;
        mp = g_strcompress(f[4]); /* octal escapes: \040 for a space */
        if (g_str_equal(mp, mnt)) {
            g_free(dev);
            dev = g_strdup(f[2]);
        }
    }
    return dev;
}

/* The kernel reads ahead on a FUSE mount within its default 128 KiB window
 * (INIT's max_readahead can only narrow it), so sequential reads reach the
 * daemon as 128 KiB requests.  Root may widen this mount's window to
 * max_read: 1 MiB requests, ~1.4x the throughput of a first read
 * (bench/run, row 1).  Best effort: for other users the default stays,
 * said only under -d.  dev is the mount's device, as mountinfo says: a
 * lookup of the mount point now would wait for INIT, which nobody answers
 * yet. */
static void
widen_readahead(const char *dev, unsigned max_read, gboolean debug)
{
    g_autofree char *path = NULL, *kb = NULL;
    int fd;

    if (dev[0] == '\0')
        return;
    path = g_strdup_printf("/sys/class/bdi/%s/read_ahead_kb", dev);
    kb = g_strdup_printf("%u\n", max_read / 1024);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if ((fd < 0 || write(fd, kb, strlen(kb)) < 0) && debug)
        mfs_log(LOG_DEBUG, "%s: cannot widen readahead: %s", path, g_strerror(errno));
    if (fd >= 0)
        close(fd);
}

static struct fuse_args
build_args(MrFile *file, const MfsSessionOptions *o)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    g_autofree char *fsname = escape_opt(file->path);
    GString *opts = g_string_new(NULL);

    g_string_append_printf(opts, "fsname=%s,subtype=mramfs,default_permissions",
                           fsname);
    if (o->fs.read_only)
        g_string_append(opts, ",ro");
    if (o->allow_other)
        g_string_append(opts, ",allow_other");
    for (guint i = 0; o->mount_flags && i < o->mount_flags->len; i++)
        g_string_append_printf(opts, ",%s",
                               (char *)g_ptr_array_index(o->mount_flags, i));
    fuse_opt_add_arg(&args, "mramfs");
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, opts->str);
    if (o->debug)
        fuse_opt_add_arg(&args, "-d");
    g_string_free(opts, TRUE);
    return args;
}

/* A connection aborted through /sys/fs/fuse/connections/N/abort ends the
 * loop as an unmount does (ENODEV), but leaves the mount, dead: every
 * access fails with ENOTCONN, and fuse_session_unmount() will not touch
 * it (its descriptor reads as closed).  Told from an unmount by the mount
 * still being there, and dead (ENOTCONN): after an unmount the device
 * number can already be a new mount's on the same path (the kernel reuses
 * the lowest free one), which answers.  Then an error, and the dead mount
 * is taken away, which loses nothing. */
static gboolean
aborted_mount_removed(const char *mnt, const char *dev, GError **err)
{
    g_autofree char *now = dev[0] ? mfs_mounted_device(mnt) : NULL;
    struct statfs st;

    /* statfs, not stat: the kernel answers stat of the root from its cache
     * of attributes, but always asks the server for statfs. */
    if (now == NULL || !g_str_equal(now, dev) ||
        statfs(mnt, &st) == 0 || errno != ENOTCONN)
        return TRUE;
    if (umount2(mnt, MNT_DETACH) == 0)
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_SERVE,
                    "%s: the FUSE connection was aborted (through "
                    "/sys/fs/fuse/connections): the mount stopped serving "
                    "and was unmounted", mnt);
    else
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_SERVE,
                    "%s: the FUSE connection was aborted (through "
                    "/sys/fs/fuse/connections): the mount stopped serving "
                    "and is left dead (cannot unmount it: %s); unmount it "
                    "with fusermount3 -u -z", mnt, g_strerror(errno));
    return FALSE;
}

gboolean
mfs_session_run(MrFile *file, const MfsSessionOptions *o, GError **err)
{
    g_autoptr(MfsTree) tree = NULL;
    struct fuse_args args;
    struct fuse_session *se;
    MfsFs fs = { .opts = o->fs };
    g_autofree char *mnt_abs = realpath(o->mountpoint, NULL);
    char dev[32] = ""; /* MAJ:MIN of the mount, once made */
    g_autoptr(GError) aborted = NULL;
    gboolean ok = FALSE;
    int r;

    /* Readers share the snapshot; a writer holds it alone, so that no
     * other mount keeps a bitmap in memory that it changes. */
    if (!mr_file_lock(file, o->fs.read_only ? MR_LOCK_SHARED : MR_LOCK_EXCLUSIVE,
                      LOCK_WAIT_US, err) ||
        !mr_file_stat(file, &fs.file_st, err))
        return FALSE;
    tree = mfs_tree_new(file, err);
    if (tree == NULL)
        return FALSE;
    fs.tree = tree;
    if (mnt_abs)
        g_strlcpy(fs.mountpoint, mnt_abs, sizeof(fs.mountpoint));
    keep_reply_buffers(fs.opts.max_read);
    fs.zeros = g_malloc0(fs.opts.max_read);
    if (!o->fs.read_only)
        fs.updater = mr_updater_new(file, o->fs.sync);
    g_mutex_init(&fs.doc_lock);
    g_rw_lock_init(&fs.model_lock);
    fs.mounted_at = g_get_monotonic_time();
    args = build_args(file, o);
    se = fuse_session_new(&args, &mfs_ops, sizeof(mfs_ops), &fs);
    fuse_opt_free_args(&args);
    if (se == NULL) {
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_MOUNT,
                    "cannot create the FUSE session (see above)");
        goto out_zeros;
    }
    fs.se = se;
    if (fuse_set_signal_handlers(se) != 0) {
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_MOUNT,
                    "cannot install signal handlers");
        goto out_session;
    }
    /* fuse_daemonize() changes to "/" even in the foreground: libfuse
     * unmounts at the end by the path it mounted, so that must be
     * absolute. */
    if (fuse_session_mount(se, mnt_abs ? mnt_abs : o->mountpoint) != 0) {
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_MOUNT,
                    "%s: cannot mount (see above)", o->mountpoint);
        goto out_signals;
    }
    if (mnt_abs) {
        g_autofree char *d = mfs_mounted_device(mnt_abs);
        if (d)
            g_strlcpy(dev, d, sizeof(dev));
    }
    widen_readahead(dev, fs.opts.max_read, o->debug);
    /* Not needed again (libfuse keeps its own copy), and the parent ends
     * in fuse_daemonize() without reaching the cleanup. */
    g_clear_pointer(&mnt_abs, g_free);
    /* The kernel mount exists now; fuse_daemonize() lets the parent exit
     * only after the child has detached, so `mount.mramfs` returns with a
     * mount that answers. */
    if (fuse_daemonize(o->foreground) != 0) {
        g_set_error(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_MOUNT,
                    "cannot detach from the terminal");
        goto out_unmount;
    }
    if (!o->foreground)
        mfs_log_to_syslog();
    mfs_log(LOG_INFO, "%s mounted on %s (%s)", file->path, o->mountpoint,
            o->fs.read_only ? "read-only" : "read-write");
    /* A thread: only now, in the process that serves (after the fork). */
    mfs_change_start(&fs);
    /* 0 after an unmount, the signal's number after SIGTERM and the like,
     * -errno (or -1) when the loop itself failed: then the command fails
     * too. */
    r = mfs_serve_loop(se, o->single_thread);
    mfs_change_stop(&fs);
    ok = r >= 0;
    if (r == 0 && !aborted_mount_removed(fs.mountpoint, dev, &aborted)) {
        ok = FALSE;
        /* A detached daemon's caller is gone: only syslog hears it. */
        if (!o->foreground)
            mfs_log(LOG_ERR, "%s", aborted->message);
        g_propagate_error(err, g_steal_pointer(&aborted));
    } else if (!ok) {
        /* libfuse says -1 when it has logged why (a thread it could not
         * start), else -errno. */
        g_autofree char *msg = g_strdup_printf("%s: serving the mount failed: "
                                               "%s", o->mountpoint, r == -1
                                               ? "libfuse's session loop failed "
                                                 "(see above)" : g_strerror(-r));
        /* A detached daemon's caller is gone: only syslog hears it. */
        if (!o->foreground)
            mfs_log(LOG_ERR, "%s", msg);
        g_set_error_literal(err, MFS_SESSION_ERROR, MFS_SESSION_ERROR_SERVE, msg);
    }
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_zeros:
    g_rw_lock_clear(&fs.model_lock);
    g_mutex_clear(&fs.doc_lock);
    mr_updater_free(fs.updater);
    g_free(fs.zeros);
    return ok;
}
