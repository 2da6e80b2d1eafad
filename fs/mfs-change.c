/* The snapshot changed by another program while mounted (mfs-watch.h).
 *
 * `virsh save` over a mounted image truncates and rewrites it: the kernel
 * still caches the old pages, the model still has the old bitmaps, and a
 * reader would get a mix of both.  So, at the first write of another
 * program: the snapshot's files fail with EIO (state CHANGING), the
 * operations in flight are waited for, and the kernel's cached pages and
 * attributes of every file are dropped.  Once the writer has been quiet
 * for a while, the file is validated again: with the model's layout the
 * model takes the new bitmaps (mr-reload.h), the documents are rebuilt
 * and the new bytes are served; with another layout the files keep
 * failing with EIO, the log saying why, until the file is rewritten with
 * the model's layout again or unmounted.  Deletion and renames are logged.
 *
 * A read that began before the writer's first write was noticed may still
 * return bytes it had read; its pages are dropped from the kernel's cache
 * with the others, so no later read sees them.
 */
#include <errno.h>
#include <syslog.h>
#include <unistd.h>

#include "mfs-fs.h"
#include "mr-reload.h"

const char *
mfs_snapshot_state_name(const MfsFs *fs)
{
    switch (g_atomic_int_get(&fs->state)) {
    case MFS_SNAPSHOT_CHANGING:
        return "changing";
    case MFS_SNAPSHOT_FAILED:
        return "failed";
    default:
        return "valid";
    }
}

static gboolean
of_daemon(const MfsNode *n)
{
    return n->ops && (n->ops->flags & MFS_FILE_DAEMON);
}

void
mfs_model_hold(MfsFs *fs, const MfsNode *n)
{
    if (!of_daemon(n))
        g_rw_lock_reader_lock(&fs->model_lock);
}

void
mfs_model_release(MfsFs *fs, const MfsNode *n)
{
    if (!of_daemon(n))
        g_rw_lock_reader_unlock(&fs->model_lock);
}

int
mfs_snapshot_enter(MfsFs *fs, const MfsNode *n)
{
    if (of_daemon(n))
        return 0;
    g_rw_lock_reader_lock(&fs->model_lock);
    if (g_atomic_int_get(&fs->state) == MFS_SNAPSHOT_VALID)
        return 0;
    g_rw_lock_reader_unlock(&fs->model_lock);
    return -EIO;
}

void
mfs_snapshot_leave(MfsFs *fs, const MfsNode *n)
{
    mfs_model_release(fs, n);
}

/* Drops what the kernel caches of every file: pages and attributes. */
static void
invalidate_all(MfsFs *fs)
{
    GPtrArray *nodes = fs->tree->nodes;

    if (fs->se == NULL)
        return;
    for (guint i = 0; i < nodes->len; i++) {
        MfsNode *n = g_ptr_array_index(nodes, i);
        int r;

        if (MFS_NODE_IS_DIR(n) || of_daemon(n))
            continue;
        /* -ENOENT: the kernel has never looked the file up. */
        r = fuse_lowlevel_notify_inval_inode(fs->se, n->ino, 0, 0);
        if (r < 0 && r != -ENOENT)
            mfs_log(LOG_WARNING, "cannot drop the kernel's cache of inode %"
                    G_GINT64_MODIFIER "u: %s", n->ino, g_strerror(-r));
    }
}

static void
changing(MfsFs *fs, int pid)
{
    const MrFile *f = fs->tree->file;
    g_autofree char *who = pid > 0 ? g_strdup_printf(" (pid %d)", pid)
                                   : g_strdup("");

    g_atomic_int_set(&fs->state, MFS_SNAPSHOT_CHANGING);
    /* Operations that began before are done once the lock is ours. */
    g_rw_lock_writer_lock(&fs->model_lock);
    g_rw_lock_writer_unlock(&fs->model_lock);
    invalidate_all(fs);
    mfs_log(LOG_WARNING, "%s: written by another program%s while mounted: "
            "its files fail with EIO until it is done and the file is "
            "validated again", f->path, who);
}

static void
settled(MfsFs *fs)
{
    MrFile *f = fs->tree->file;
    g_autoptr(GError) err = NULL;
    gboolean ok;

    g_rw_lock_writer_lock(&fs->model_lock);
    ok = mr_file_reload(f, &err);
    if (ok) {
        /* Documents show device sections whose bytes may be new; NULL:
         * whatever else the model holds (libvirt's XML, the guest's map
         * and core, which follow device state).  Sizes may change too:
         * invalidate_all() below drops the kernel's attributes. */
        for (guint i = 0; i < f->devices->len; i++)
            mfs_fs_section_changed(fs, g_ptr_array_index(f->devices, i));
        mfs_fs_section_changed(fs, NULL);
        g_autoptr(GError) serr = NULL;
        if (!mr_file_stat(f, &fs->file_st, &serr))
            mfs_log(LOG_WARNING, "%s", serr->message);
    }
    g_rw_lock_writer_unlock(&fs->model_lock);
    /* No page was served meanwhile, but stat may have cached sizes of the
     * snapshot that was: dropped before the files are served again, or a
     * read could get the new bytes cut at an old size.  Not under the
     * lock: dropping a page waits for the reads in flight on it. */
    invalidate_all(fs);
    /* Validated after 0.3 s without a write, but the writer may have come
     * back meanwhile: then what was read may be half old, half new, and
     * the files stay failing until it is quiet again. */
    if (fs->watch && !mfs_watch_quiet(fs->watch))
        return;
    g_atomic_int_set(&fs->state, ok ? MFS_SNAPSHOT_VALID : MFS_SNAPSHOT_FAILED);
    if (ok)
        mfs_log(LOG_NOTICE, "%s: validated again after the change: same "
                "layout, its files show the new bytes", f->path);
    else
        mfs_log(LOG_ERR, "%s: validated again after the change: %s; its "
                "files fail with EIO (unmount and mount it again to see the "
                "new file)", f->path, err->message);
}

static void
on_event(MfsWatchEvent ev, int pid, gpointer data)
{
    MfsFs *fs = data;
    const MrFile *f = fs->tree->file;
    g_autofree char *now = NULL;

    switch (ev) {
    case MFS_WATCH_MODIFIED:
        changing(fs, pid);
        break;
    case MFS_WATCH_SETTLED:
        settled(fs);
        break;
    case MFS_WATCH_DELETED:
        mfs_log(LOG_WARNING, "%s: deleted while mounted (its last name was "
                "removed): the mount still shows the deleted file%s", f->path,
                fs->updater ? ", and writes go to a file nothing can restore "
                              "from once it is unmounted" : "");
        break;
    case MFS_WATCH_RENAMED:
        now = mr_file_current_name(f);
        mfs_log(LOG_NOTICE, "%s: renamed while mounted%s%s: the mount still "
                "shows it", f->path, now ? " to " : "", now ? now : "");
        break;
    }
}

void
mfs_change_start(MfsFs *fs)
{
    g_autoptr(GError) err = NULL;
    int fd;

    if (fs->opts.no_watch)
        return;
    fd = mr_file_watch_descriptor(fs->tree->file, &err);
    if (fd < 0) {
        mfs_log(LOG_WARNING, "%s; changes by other programs are not watched",
                err->message);
        return;
    }
    fs->watch = mfs_watch_start(fd, fs->updater != NULL, on_event, fs);
    if (!g_str_equal(mfs_watch_method(fs->watch), "fanotify") &&
        !g_str_equal(mfs_watch_method(fs->watch), "inotify"))
        mfs_log(LOG_WARNING, "%s: changes by other programs are not watched: "
                "%s", fs->tree->file->path, mfs_watch_method(fs->watch));
}

void
mfs_change_stop(MfsFs *fs)
{
    mfs_watch_stop(fs->watch);
    fs->watch = NULL;
}
