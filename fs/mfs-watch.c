/* mfs-watch.h: a thread that reads fanotify (or inotify) events about the
 * snapshot's inode and turns them into MfsWatchEvents: the first write of
 * another program, then quiet once it stopped writing, deletion, rename. */
#include "mfs-watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

struct MfsWatch {
    int target;      /* a descriptor of the snapshot's inode (owned) */
    int events_fd;   /* fanotify or inotify */
    gboolean fanotify;
    gboolean own_writes;
    int stop_fd;     /* eventfd: stop the thread */
    GThread *thread;
    MfsWatchFn fn;
    gpointer data;
    char *method;
    int self;        /* our pid: fanotify reports it for our own writes */
    gboolean writing;   /* another program wrote and has not settled */
    gint64 last_write;  /* monotonic µs */
    gboolean deleted;
};

static gboolean
start_fanotify(MfsWatch *w, GString *why)
{
    /* FID reporting: no file descriptor per event, and allowed to an
     * unprivileged daemon (Linux 5.13), which learns only its own pid:
     * enough to tell its writes from the others'. */
    int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
                            FAN_REPORT_FID, O_RDONLY);

    if (fan < 0) {
        g_string_append_printf(why, "fanotify: %s", g_strerror(errno));
        return FALSE;
    }
    if (fanotify_mark(fan, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE |
                      FAN_ATTRIB | FAN_MOVE_SELF, w->target, NULL) < 0) {
        g_string_append_printf(why, "fanotify on the snapshot: %s",
                               g_strerror(errno));
        close(fan);
        return FALSE;
    }
    w->events_fd = fan;
    w->fanotify = TRUE;
    w->method = g_strdup("fanotify");
    return TRUE;
}

static gboolean
start_inotify(MfsWatch *w, GString *why)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", w->target);
    int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

    if (ino < 0 || inotify_add_watch(ino, proc, IN_MODIFY | IN_CLOSE_WRITE |
                                     IN_ATTRIB | IN_MOVE_SELF) < 0) {
        g_string_append_printf(why, "; inotify: %s", g_strerror(errno));
        if (ino >= 0)
            close(ino);
        return FALSE;
    }
    w->events_fd = ino;
    w->method = w->own_writes
        ? g_strdup_printf("inotify: deletion and renames only; writes by "
                          "other programs cannot be told from the mount's own "
                          "on a read-write mount without fanotify (%s)", why->str)
        : g_strdup("inotify");
    return TRUE;
}

static void
write_seen(MfsWatch *w, int pid)
{
    w->last_write = g_get_monotonic_time();
    if (!w->writing) {
        w->writing = TRUE;
        w->fn(MFS_WATCH_MODIFIED, pid, w->data);
    }
}

static void
attrib_seen(MfsWatch *w)
{
    struct stat st;

    if (!w->deleted && fstat(w->target, &st) == 0 && st.st_nlink == 0) {
        w->deleted = TRUE;
        w->fn(MFS_WATCH_DELETED, 0, w->data);
    }
}

/* Events are packed back to back: with FID records one may end anywhere,
 * so each header is copied out before it is read. */
static void
read_fanotify(MfsWatch *w)
{
    guint8 buf[4096];
    ssize_t n;

    while ((n = read(w->events_fd, buf, sizeof(buf))) > 0) {
        struct fanotify_event_metadata m;

        for (ssize_t at = 0; n - at >= (ssize_t)sizeof(m); at += m.event_len) {
            memcpy(&m, buf + at, sizeof(m));
            if (m.event_len < sizeof(m) || m.event_len > (guint32)(n - at))
                break;
            if (m.vers != FANOTIFY_METADATA_VERSION)
                continue;
            if (m.fd >= 0)
                close(m.fd);
            if (m.mask & FAN_Q_OVERFLOW)
                write_seen(w, 0);
            if ((m.mask & (FAN_MODIFY | FAN_CLOSE_WRITE)) && m.pid != w->self)
                write_seen(w, m.pid);
            if (m.mask & FAN_ATTRIB)
                attrib_seen(w);
            if (m.mask & FAN_MOVE_SELF)
                w->fn(MFS_WATCH_RENAMED, 0, w->data);
        }
    }
}

static void
read_inotify(MfsWatch *w)
{
    guint8 buf[4096];
    ssize_t n;

    while ((n = read(w->events_fd, buf, sizeof(buf))) > 0) {
        struct inotify_event e;

        for (ssize_t at = 0; n - at >= (ssize_t)sizeof(e);
             at += (ssize_t)(sizeof(e) + e.len)) {
            memcpy(&e, buf + at, sizeof(e));
            if ((e.mask & (IN_MODIFY | IN_CLOSE_WRITE | IN_Q_OVERFLOW)) &&
                !w->own_writes)
                write_seen(w, 0);
            if (e.mask & IN_ATTRIB)
                attrib_seen(w);
            if (e.mask & IN_MOVE_SELF)
                w->fn(MFS_WATCH_RENAMED, 0, w->data);
        }
    }
}

static gpointer
watch_thread(gpointer data)
{
    MfsWatch *w = data;

    for (;;) {
        struct pollfd p[2] = { { w->stop_fd, POLLIN, 0 },
                               { w->events_fd, POLLIN, 0 } };
        int timeout = -1;

        if (w->writing) {
            gint64 left = w->last_write + MFS_WATCH_QUIET_MS * 1000 -
                          g_get_monotonic_time();
            if (left <= 0) {
                w->writing = FALSE;
                w->fn(MFS_WATCH_SETTLED, 0, w->data);
                continue;
            }
            timeout = (int)((left + 999) / 1000);
        }
        if (poll(p, 2, timeout) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (p[1].revents & POLLIN) {
            if (w->fanotify)
                read_fanotify(w);
            else
                read_inotify(w);
        }
    }
    return NULL;
}

gboolean
mfs_watch_quiet(MfsWatch *w)
{
    /* The descriptor does not block: this reads what is queued, no more. */
    if (w->events_fd >= 0) {
        if (w->fanotify)
            read_fanotify(w);
        else
            read_inotify(w);
    }
    return !w->writing;
}

MfsWatch *
mfs_watch_start(int fd, gboolean own_writes, MfsWatchFn fn, gpointer data)
{
    MfsWatch *w = g_new0(MfsWatch, 1);
    g_autoptr(GString) why = g_string_new(NULL);

    w->target = fd;
    w->own_writes = own_writes;
    w->fn = fn;
    w->data = data;
    w->self = getpid();
    w->events_fd = -1;
    w->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (w->stop_fd < 0) {
        w->method = g_strdup_printf("none (eventfd: %s)", g_strerror(errno));
        return w;
    }
    if (!start_fanotify(w, why) && !start_inotify(w, why)) {
        w->method = g_strdup_printf("none (%s)", why->str);
        return w;
    }
    w->thread = g_thread_new("mramfs-watch", watch_thread, w);
    return w;
}

void
mfs_watch_stop(MfsWatch *w)
{
    guint64 one = 1;

    if (w == NULL)
        return;
    if (w->thread) {
        if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
            g_warning("cannot stop the snapshot watch: %s", g_strerror(errno));
        g_thread_join(w->thread);
    }
    if (w->events_fd >= 0)
        close(w->events_fd);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    close(w->target);
    g_free(w->method);
    g_free(w);
}

const char *
mfs_watch_method(const MfsWatch *w)
{
    return w->method;
}
