/* The snapshot watch (fs/mfs-watch.h) without a mount: another process's
 * writes are seen, settle after MFS_WATCH_QUIET_MS, and a write that lands
 * while the file is being validated after SETTLED is not missed
 * (mfs_watch_quiet(), which mfs-change.c asks before it says valid).
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mfs-watch.h"
#include "test-helpers.h"

typedef struct {
    MfsWatch *w;
    const char *path;
    GMutex lock;
    GCond cond;
    guint modified, settled;
    gboolean quiet_after_write, quiet_alone;
    gboolean done;
} Probe;

/* What `virsh save` is to the mount: another process writing. */
static void
write_from_another_process(const char *path)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(path, O_WRONLY);
        _exit(fd >= 0 && pwrite(fd, "x", 1, 0) == 1 ? 0 : 1);
    }
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT(waitpid(pid, NULL, 0) == pid);
}

static void
on_event(MfsWatchEvent ev, int pid, gpointer data)
{
    Probe *p = data;

    g_mutex_lock(&p->lock);
    if (ev == MFS_WATCH_MODIFIED)
        p->modified++;
    if (ev == MFS_WATCH_SETTLED) {
        p->settled++;
        g_mutex_unlock(&p->lock);
        if (p->settled == 1) {
            /* As if the file were being validated: the writer is back. */
            write_from_another_process(p->path);
            p->quiet_after_write = mfs_watch_quiet(p->w);
        } else {
            p->quiet_alone = mfs_watch_quiet(p->w);
        }
        g_mutex_lock(&p->lock);
        if (p->settled == 2) {
            p->done = TRUE;
            g_cond_signal(&p->cond);
        }
    }
    g_mutex_unlock(&p->lock);
}

static void
test_a_write_while_validating_is_not_missed(void)
{
    g_autofree char *path = mrt_path("watched.mig");
    Probe p = { .path = path };
    gint64 deadline;
    int fd;

    CU_ASSERT_FATAL(g_file_set_contents(path, "snapshot", -1, NULL));
    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    g_mutex_lock(&p.lock);
    p.w = mfs_watch_start(fd, FALSE, on_event, &p);
    g_mutex_unlock(&p.lock);
    MRT_CHECK(g_str_equal(mfs_watch_method(p.w), "fanotify") ||
              g_str_equal(mfs_watch_method(p.w), "inotify"),
              "watched: %s", mfs_watch_method(p.w));
    write_from_another_process(path);
    deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&p.lock);
    while (!p.done && g_cond_wait_until(&p.cond, &p.lock, deadline))
        ;
    g_mutex_unlock(&p.lock);
    mfs_watch_stop(p.w);
    MRT_CHECK(p.done, "two SETTLED within 10 s (got %u)", p.settled);
    MRT_CHECK(!p.quiet_after_write, "a write after SETTLED makes it not quiet");
    MRT_CHECK_U64(p.modified, 2);
    MRT_CHECK(p.quiet_alone, "quiet when nobody wrote since");
    g_cond_clear(&p.cond);
    g_mutex_clear(&p.lock);
}

static const MrtTest tests[] = {
    MRT_TEST(test_a_write_while_validating_is_not_missed),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "watch: other programs' writes to the snapshot", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
