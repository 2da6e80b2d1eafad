/* The processes of mramfs-restore: this one waits; a child serves the mount
 * (the daemon of mount.mramfs, in the foreground, in a session of its own
 * so that a ^C at the terminal reaches QEMU and us but not the mount QEMU
 * still maps); another child is QEMU.  The order of the end matters: QEMU
 * first (its guest RAM is a private mapping of a file of the mount, which
 * cannot be unmounted while mapped: "target is busy"), then the unmount,
 * then the daemon, then the mount point.
 *
 * Signals are taken synchronously (sigtimedwait on a blocked set), so no
 * handler runs in the middle of any of this. */
#include "restore-run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-common.h"
#include "mfs-session.h"
#include "mr-lazy.h"

#define DEFAULT_MAX_READ (1024u * 1024)
/* How long the mount may take to appear (it validates nothing more: the
 * file was opened here), QEMU to exit after SIGTERM before SIGKILL, an
 * unmount to stop being busy before it is made lazily, and the daemon to
 * exit after the unmount. */
#define MOUNT_WAIT_US (30 * G_USEC_PER_SEC)
#define QEMU_TERM_WAIT_US (10 * G_USEC_PER_SEC)
#define BUSY_WAIT_US (3 * G_USEC_PER_SEC)
#define DAEMON_WAIT_US (10 * G_USEC_PER_SEC)
#define POLL_US (10 * 1000)

/* QEMU -version, to refuse one without mapped-ram before anything is
 * mounted. */
static gboolean
check_qemu(const char *binary, GError **err)
{
    const char *argv[] = { binary, "-version", NULL };
    g_autofree char *out = NULL, *errout = NULL;
    g_autoptr(GError) e = NULL;
    guint major, minor;
    int status;

    if (!g_spawn_sync(NULL, (char **)argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL,
                      NULL, NULL, &out, &errout, &status, &e)) {
        restore_set_error(err, RESTORE_ERROR_QEMU, "cannot run %s: %s", binary,
                          e->message);
        return FALSE;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        restore_set_error(err, RESTORE_ERROR_QEMU, "%s -version failed: %s",
                          binary, errout && *errout ? errout : "(no message)");
        return FALSE;
    }
    if (!restore_parse_qemu_version(out, &major, &minor, err)) {
        g_prefix_error(err, "%s: ", binary);
        return FALSE;
    }
    return restore_check_qemu_version(binary, major, minor, err);
}

static gboolean
is_mounted(const char *mnt)
{
    g_autofree char *dev = mfs_mounted_device(mnt);

    return dev != NULL;
}

/* The daemon child: never returns.  It logs to syslog as a detached
 * mount.mramfs does (stderr with -v), so that the terminal is QEMU's. */
static void G_GNUC_NORETURN
serve_mount(MrFile *f, const char *mnt, pid_t parent, const sigset_t *old,
            gboolean verbose)
{
    MfsSessionOptions so = { 0 };
    g_autoptr(GError) err = NULL;
    int null;

    /* Out of the terminal's process group: ^C is for QEMU and us.  Ended
     * by the unmount, or by SIGTERM if mramfs-restore dies first. */
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    sigprocmask(SIG_SETMASK, old, NULL);
    null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    if (!verbose)
        mfs_log_to_syslog();
    so.fs.read_only = TRUE;
    so.fs.max_read = DEFAULT_MAX_READ;
    so.mountpoint = mnt;
    so.foreground = TRUE;
    if (!mfs_session_run(f, &so, &err)) {
        fprintf(stderr, "mramfs-restore: %s\n", err->message);
        _exit(cli_exit_status_of_error(CLI_MOUNT, err));
    }
    _exit(0);
}

/* QEMU's argv: the user's, then one argument per line of qemu-args. */
static char **
qemu_command(char *const *user, const char *args_text)
{
    GPtrArray *a = g_ptr_array_new();
    g_auto(GStrv) lines = g_strsplit(args_text, "\n", -1);

    for (guint i = 0; user[i]; i++)
        g_ptr_array_add(a, g_strdup(user[i]));
    for (guint i = 0; lines[i]; i++)
        if (*lines[i])
            g_ptr_array_add(a, g_strdup(lines[i]));
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

/* Forks and execs QEMU; the exec's errno comes back through a pipe closed
 * on exec, so a missing binary is an error here, not an exit status. */
static pid_t
start_qemu(char **argv, pid_t parent, const sigset_t *old, GError **err)
{
    int pipefd[2], e = 0;
    pid_t pid;
    ssize_t n;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        restore_set_error(err, RESTORE_ERROR_QEMU, "pipe: %s",
                          g_strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        restore_set_error(err, RESTORE_ERROR_QEMU, "fork: %s", g_strerror(e));
        return -1;
    }
    if (pid == 0) {
        /* QEMU stops with us if we are killed (SIGTERM: it shuts down
         * cleanly), and takes signals as if started directly. */
        close(pipefd[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        sigprocmask(SIG_SETMASK, old, NULL);
        execvp(argv[0], argv);
        e = errno;
        if (write(pipefd[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close(pipefd[1]);
    do
        n = read(pipefd[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(e)) {
        waitpid(pid, NULL, 0);
        restore_set_error(err, RESTORE_ERROR_QEMU, "cannot run %s: %s",
                          argv[0], g_strerror(e));
        return -1;
    }
    return pid;
}

/* Waits for one of the blocked signals until the monotonic deadline (0:
 * none); 0 on timeout. */
static int
wait_signal(const sigset_t *set, gint64 deadline)
{
    struct timespec ts;
    gint64 left;
    int sig;

    for (;;) {
        if (deadline == 0) {
            sig = sigwaitinfo(set, NULL);
        } else {
            left = deadline - g_get_monotonic_time();
            if (left <= 0)
                return 0;
            ts.tv_sec = left / G_USEC_PER_SEC;
            ts.tv_nsec = (left % G_USEC_PER_SEC) * 1000;
            sig = sigtimedwait(set, NULL, &ts);
            if (sig < 0 && errno == EAGAIN)
                return 0;
        }
        if (sig > 0)
            return sig;
        if (errno != EINTR)
            return 0;
    }
}

/* Reaps pid if it has ended: TRUE with its wait status. */
static gboolean
reaped(pid_t pid, int *status)
{
    pid_t r;

    do
        r = waitpid(pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    return r == pid;
}

typedef struct {
    pid_t qemu, daemon;
    gboolean qemu_done, daemon_done;
    int qemu_status, daemon_status;
} Children;

static void
reap_children(Children *c)
{
    if (c->qemu > 0 && !c->qemu_done)
        c->qemu_done = reaped(c->qemu, &c->qemu_status);
    if (c->daemon > 0 && !c->daemon_done)
        c->daemon_done = reaped(c->daemon, &c->daemon_status);
}

/* Until QEMU has exited: a signal to us goes on to QEMU, which gets
 * SIGKILL if it has not exited QEMU_TERM_WAIT_US later; so does a QEMU
 * whose mount died under it (its next fault on guest RAM would be a
 * SIGBUS). */
static void
wait_qemu(Children *c, const sigset_t *set, RestoreResult *res)
{
    gint64 kill_at = 0;

    while (!c->qemu_done) {
        int sig = wait_signal(set, kill_at);

        reap_children(c);
        if (c->qemu_done)
            break;
        if (sig == 0 && kill_at) {
            kill(c->qemu, SIGKILL);
            kill_at = 0;
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            res->signal = sig;
            kill(c->qemu, sig == SIGINT ? SIGINT : SIGTERM);
        } else if (sig == SIGCHLD && c->daemon_done && !res->mount_died) {
            res->mount_died = TRUE;
            fprintf(stderr, "mramfs-restore: the mount's daemon ended under "
                    "QEMU: stopping QEMU\n");
            kill(c->qemu, SIGTERM);
        } else {
            continue;
        }
        if (kill_at == 0)
            kill_at = g_get_monotonic_time() + QEMU_TERM_WAIT_US;
    }
}

/* Unmounts once nothing maps the mount any more; if something still does
 * after BUSY_WAIT_US, detaches it (it goes once the last user closes it).
 * Without the right to unmount (not root), the daemon unmounts on SIGTERM
 * through fusermount3, lazily too. */
static void
unmount(const char *mnt, Children *c)
{
    gint64 deadline = g_get_monotonic_time() + BUSY_WAIT_US;

    while (is_mounted(mnt)) {
        if (umount2(mnt, UMOUNT_NOFOLLOW) == 0)
            break;
        if (errno == EBUSY && g_get_monotonic_time() < deadline) {
            g_usleep(POLL_US * 5);
            continue;
        }
        if (errno == EBUSY) {
            fprintf(stderr, "mramfs-restore: %s: still busy %d s after QEMU "
                    "exited: detaching it\n", mnt,
                    (int)(BUSY_WAIT_US / G_USEC_PER_SEC));
            if (umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                break;
        }
        if (errno == EPERM && !c->daemon_done) {
            kill(c->daemon, SIGTERM);
            break;
        }
        fprintf(stderr, "mramfs-restore: cannot unmount %s: %s\n", mnt,
                g_strerror(errno));
        break;
    }
}

static void
wait_daemon(Children *c)
{
    gint64 deadline = g_get_monotonic_time() + DAEMON_WAIT_US;
    gboolean killed = FALSE;

    while (c->daemon > 0 && !c->daemon_done) {
        reap_children(c);
        if (c->daemon_done)
            break;
        if (g_get_monotonic_time() >= deadline) {
            if (killed)
                break;
            fprintf(stderr, "mramfs-restore: the mount's daemon did not exit "
                    "after the unmount: killing it\n");
            kill(c->daemon, SIGKILL);
            killed = TRUE;
            deadline = g_get_monotonic_time() + DAEMON_WAIT_US;
        }
        g_usleep(POLL_US);
    }
}

/* Forks the daemon and waits for its mount to appear. */
static gboolean
mount_snapshot(MrFile *f, const char *mnt, Children *c, const sigset_t *old,
               gboolean verbose, GError **err)
{
    gint64 deadline = g_get_monotonic_time() + MOUNT_WAIT_US;
    pid_t self = getpid();

    fflush(NULL);
    c->daemon = fork();
    if (c->daemon < 0) {
        restore_set_error(err, RESTORE_ERROR_MOUNT, "fork: %s",
                          g_strerror(errno));
        return FALSE;
    }
    if (c->daemon == 0)
        serve_mount(f, mnt, self, old, verbose);
    while (!is_mounted(mnt)) {
        reap_children(c);
        if (c->daemon_done) {
            gboolean locked = WIFEXITED(c->daemon_status) &&
                              WEXITSTATUS(c->daemon_status) ==
                                  cli_exit_status(CLI_MOUNT, CLI_BUSY);
            restore_set_error(err, locked ? RESTORE_ERROR_LOCKED
                                          : RESTORE_ERROR_MOUNT,
                              "%s could not be mounted on %s (see above)",
                              f->path, mnt);
            return FALSE;
        }
        if (g_get_monotonic_time() >= deadline) {
            restore_set_error(err, RESTORE_ERROR_MOUNT, "%s: no mount on %s "
                              "after %d s", f->path, mnt,
                              (int)(MOUNT_WAIT_US / G_USEC_PER_SEC));
            return FALSE;
        }
        g_usleep(POLL_US);
    }
    return TRUE;
}

static gboolean
run_qemu(const RestoreOptions *o, const char *mnt, Children *c,
         const sigset_t *set, const sigset_t *old, RestoreResult *res,
         GError **err)
{
    g_autofree char *args_path = g_build_filename(mnt, "restore", "qemu-args",
                                                  NULL);
    g_autofree char *args_text = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) e = NULL;

    /* What the mount says, so that a user's `QEMU ... $(cat qemu-args)`
     * and mramfs-restore run the same command. */
    if (!g_file_get_contents(args_path, &args_text, NULL, &e)) {
        restore_set_error(err, RESTORE_ERROR_MOUNT, "%s", e->message);
        return FALSE;
    }
    argv = qemu_command(o->qemu_argv, args_text);
    if (o->verbose) {
        g_autofree char *line = g_strjoinv(" ", argv);
        fprintf(stderr, "mramfs-restore: running %s\n", line);
    }
    fflush(NULL);
    c->qemu = start_qemu(argv, getpid(), old, err);
    if (c->qemu < 0)
        return FALSE;
    res->qemu_started = TRUE;
    wait_qemu(c, set, res);
    res->qemu_status = c->qemu_status;
    return TRUE;
}

gboolean
restore_run(const RestoreOptions *o, RestoreResult *res, GError **err)
{
    g_autoptr(MrFile) f = NULL;
    g_autofree char *made = NULL, *mnt = NULL;
    g_auto(GStrv) args = NULL;
    g_autoptr(GError) e = NULL;
    MrOpenOptions open = o->open;
    Children c = { 0 };
    sigset_t set, old;
    MrRamBlock *lazy;
    gboolean ok;

    memset(res, 0, sizeof(*res));
    open.writable = FALSE;
    f = mr_file_open(o->snapshot, &open, err);
    if (f == NULL)
        return FALSE;
    lazy = mr_lazy_block(f);
    if (!restore_check_args(f, lazy, o->qemu_argv + 1, err) ||
        !check_qemu(o->qemu_argv[0], err))
        return FALSE;
    if (lazy == NULL)
        fprintf(stderr, "mramfs-restore: %s: machine %s has no RAM block QEMU "
                "can map from the mount: QEMU loads all of its RAM\n", f->path,
                f->machine ? f->machine : "(unnamed)");
    made = g_dir_make_tmp("mramfs-restore-XXXXXX", NULL);
    /* Named as /proc/self/mountinfo and the daemon will name it. */
    mnt = made ? realpath(made, NULL) : NULL;
    if (mnt == NULL) {
        restore_set_error(err, RESTORE_ERROR_MOUNT, "cannot make a mount "
                          "point in %s: %s", g_get_tmp_dir(),
                          g_strerror(errno));
        if (made)
            rmdir(made);
        return FALSE;
    }
    /* Refused now rather than by the mount's qemu-args file. */
    args = mr_lazy_qemu_args(f, lazy, mnt, &e);
    if (args == NULL) {
        restore_set_error(err, RESTORE_ERROR_REFUSED, "%s (set TMPDIR to "
                          "another directory)", e->message);
        rmdir(mnt);
        return FALSE;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    ok = mount_snapshot(f, mnt, &c, &old, o->verbose, err) &&
         run_qemu(o, mnt, &c, &set, &old, res, err);
    if (c.qemu > 0 && !c.qemu_done) {
        /* Only if waiting failed: never leave it running on a mount that
         * goes away. */
        kill(c.qemu, SIGKILL);
        waitpid(c.qemu, NULL, 0);
    }
    if (c.daemon > 0) {
        unmount(mnt, &c);
        wait_daemon(&c);
    }
    if (rmdir(mnt) < 0)
        fprintf(stderr, "mramfs-restore: cannot remove %s: %s\n", mnt,
                g_strerror(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (ok && res->mount_died) {
        restore_set_error(err, RESTORE_ERROR_MOUNT, "the mount of %s ended "
                          "while QEMU ran", f->path);
        return FALSE;
    }
    return ok;
}
