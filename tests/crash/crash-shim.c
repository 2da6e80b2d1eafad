/* crash-shim: an LD_PRELOAD library that records what a process (the
 * mount.mramfs daemon, in the crash tests) writes to one file and when it
 * makes it durable, for crash-check.c to build the file's possible states
 * after a power loss from.  Built by meson for the tests, never installed.
 *
 *   LD_PRELOAD=libmramfs-crash-shim.so MRAMFS_CRASH_TARGET=snapshot.mig \
 *   MRAMFS_CRASH_LOG=trace.bin mount.mramfs snapshot.mig mnt
 *
 * Every pwrite/pwritev/write/writev, fallocate/posix_fallocate, ftruncate,
 * fsync/fdatasync/syncfs and sync_file_range on a descriptor whose file is
 * the target (same device and inode, checked with fstat at each call, so
 * descriptors opened, closed or reused any way are all seen) is passed to
 * libc unchanged and then appended to the log as one record of
 * crash-trace.h, with its data.  Calls on other descriptors cost one fstat.
 *
 * Test-only switches, read here and nowhere else (the daemon has no such
 * option):
 *   MRAMFS_CRASH_SLOW_SYNC_MS=N  every fsync/fdatasync of the target takes
 *       N ms longer, as on a slow disk: the flush itself is done, then the
 *       call sleeps before it returns.  Widens the windows in which other
 *       threads write while a flush is in flight.
 *   MRAMFS_CRASH_BREAK=late-sync  a broken writer, to show that the checker
 *       catches one: an fsync/fdatasync of the target returns at once and
 *       is really done only after the next write to the target, so a
 *       bitmap word reaches the file before the data it vouches for is
 *       synced.
 *   MRAMFS_CRASH_BREAK=no-sync  a writer that never flushes: fsync and
 *       fdatasync of the target return 0 and do nothing.
 */
/* The plain names (pwrite) and the *64 ones are both defined here: with
 * _FILE_OFFSET_BITS=64 the headers would turn the first into the second. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crash-trace.h"

#define EXPORT __attribute__((visibility("default")))

static int log_fd = -1;
static dev_t target_dev;
static ino_t target_ino;
static int have_target;
static unsigned slow_sync_ms;
static int late_sync;
static int no_sync;
static uint64_t seq;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* late-sync: the flush a caller was told is done but that is not. */
static pthread_mutex_t late_lock = PTHREAD_MUTEX_INITIALIZER;
static int late_fd = -1;
static uint16_t late_type;

static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off64_t);
static ssize_t (*real_pwritev64v2)(int, const struct iovec *, int, off64_t, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fallocate64)(int, int, off64_t, off64_t);
static int (*real_posix_fallocate64)(int, off64_t, off64_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_sync_file_range)(int, off64_t, off64_t, unsigned int);

static void
complain(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!syscall(SYS_write, 2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void *
next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (p == NULL)
        complain("crash-shim: no %s in libc: %s\n", name, dlerror());
    return p;
}

static void perform_late_sync(void);

__attribute__((constructor)) static void
shim_init(void)
{
    const char *target = getenv("MRAMFS_CRASH_TARGET");
    const char *log = getenv("MRAMFS_CRASH_LOG");
    const char *slow = getenv("MRAMFS_CRASH_SLOW_SYNC_MS");
    const char *brk = getenv("MRAMFS_CRASH_BREAK");
    struct stat st;

    real_pwrite64 = next("pwrite64");
    real_pwritev64 = next("pwritev64");
    real_pwritev64v2 = next("pwritev64v2");
    real_write = next("write");
    real_writev = next("writev");
    real_fallocate64 = next("fallocate64");
    real_posix_fallocate64 = next("posix_fallocate64");
    real_ftruncate64 = next("ftruncate64");
    real_fsync = next("fsync");
    real_fdatasync = next("fdatasync");
    real_syncfs = next("syncfs");
    real_sync_file_range = next("sync_file_range");
    if (slow)
        slow_sync_ms = (unsigned)strtoul(slow, NULL, 10);
    late_sync = brk && strcmp(brk, "late-sync") == 0;
    no_sync = brk && strcmp(brk, "no-sync") == 0;
    if (brk && !late_sync && !no_sync)
        complain("crash-shim: unknown MRAMFS_CRASH_BREAK=%s\n", brk);
    if (target == NULL || log == NULL)
        return;
    if (stat(target, &st) != 0) {
        complain("crash-shim: %s: %s: nothing is recorded\n", target, strerror(errno));
        return;
    }
    target_dev = st.st_dev;
    target_ino = st.st_ino;
    log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        complain("crash-shim: %s: %s: nothing is recorded\n", log, strerror(errno));
        return;
    }
    have_target = 1;
}

/* A process that ends (the daemon after unmounting) with a flush still
 * owed does it now: late-sync delays flushes, it does not drop them. */
__attribute__((destructor)) static void
shim_fini(void)
{
    if (late_sync)
        perform_late_sync();
}

static int
is_target(int fd)
{
    struct stat st;
    int saved = errno, r;

    if (!have_target || fd < 0)
        return 0;
    r = fstat(fd, &st) == 0 && st.st_dev == target_dev && st.st_ino == target_ino;
    errno = saved;
    return r;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Appends one record and the first data_len bytes of iov.  One writev per
 * record under the lock: records of threads never interleave. */
static void
log_record(CrashRecord *r, const struct iovec *iov, int iovcnt)
{
    struct iovec stack[64], *vec = stack, *out;
    uint64_t left = r->data_len;
    int n = 1, saved = errno;
    size_t total = sizeof(*r);

    if (iovcnt + 1 > 64)
        vec = malloc(sizeof(*vec) * (size_t)(iovcnt + 1));
    if (vec == NULL) {
        complain("crash-shim: out of memory: record lost\n");
        errno = saved;
        return;
    }
    out = vec;
    for (int i = 0; i < iovcnt && left > 0; i++) {
        size_t k = iov[i].iov_len < left ? iov[i].iov_len : (size_t)left;
        if (k == 0)
            continue;
        out[n].iov_base = iov[i].iov_base;
        out[n].iov_len = k;
        n++;
        left -= k;
        total += k;
    }
    r->magic = CRASH_TRACE_MAGIC;
    r->pid = (uint32_t)getpid();
    r->tid = (uint32_t)syscall(SYS_gettid);
    out[0].iov_base = r;
    out[0].iov_len = sizeof(*r);
    pthread_mutex_lock(&log_lock);
    r->seq = seq++;
    /* Regular-file writes are whole unless the disk is full; then the
     * trace is short and crash-check refuses it. */
    while (total > 0 && n > 0) {
        ssize_t w = syscall(SYS_writev, log_fd, out, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            complain("crash-shim: writing the log: %s\n", strerror(errno));
            break;
        }
        total -= (size_t)w;
        while (n > 0 && (size_t)w >= out[0].iov_len) {
            w -= (ssize_t)out[0].iov_len;
            out++;
            n--;
        }
        if (n > 0) {
            out[0].iov_base = (char *)out[0].iov_base + w;
            out[0].iov_len -= (size_t)w;
        }
    }
    pthread_mutex_unlock(&log_lock);
    if (vec != stack)
        free(vec);
    errno = saved;
}

static void
record(uint16_t type, int mode, int64_t result, uint64_t offset,
       uint64_t length, uint64_t t0, uint64_t t1, const struct iovec *iov,
       int iovcnt)
{
    CrashRecord r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.mode = mode;
    r.err = result < 0 ? errno : 0;
    r.result = result;
    r.offset = offset;
    r.length = length;
    r.t_start = t0;
    r.t_end = t1;
    r.data_len = type == CRASH_OP_WRITE && result > 0 ? (uint64_t)result : 0;
    log_record(&r, iov, iovcnt);
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The real flush, recorded. */
static int
do_sync(int fd, uint16_t type)
{
    uint64_t t0 = now_ns(), t1;
    int r, saved;

    r = type == CRASH_OP_FSYNC ? real_fsync(fd)
      : type == CRASH_OP_SYNCFS ? real_syncfs(fd) : real_fdatasync(fd);
    saved = errno;
    if (slow_sync_ms)
        sleep_ms(slow_sync_ms);
    t1 = now_ns();
    errno = saved;
    record(type, 0, r, 0, 0, t0, t1, NULL, 0);
    errno = saved;
    return r;
}

static void
perform_late_sync(void)
{
    int fd;
    uint16_t type;

    pthread_mutex_lock(&late_lock);
    fd = late_fd;
    type = late_type;
    late_fd = -1;
    if (fd >= 0) {
        int saved = errno;
        do_sync(fd, type);
        errno = saved;
    }
    pthread_mutex_unlock(&late_lock);
}

static int
sync_call(int fd, uint16_t type)
{
    if (!is_target(fd)) {
        return type == CRASH_OP_FSYNC ? real_fsync(fd)
             : type == CRASH_OP_SYNCFS ? real_syncfs(fd) : real_fdatasync(fd);
    }
    if (no_sync)
        return 0;
    if (!late_sync)
        return do_sync(fd, type);
    /* Owed since the last call: done now.  This one is owed instead. */
    perform_late_sync();
    pthread_mutex_lock(&late_lock);
    late_fd = fd;
    late_type = type;
    pthread_mutex_unlock(&late_lock);
    return 0;
}

static ssize_t
after_write(int fd, ssize_t r, uint64_t off, uint64_t len, uint64_t t0,
            const struct iovec *iov, int iovcnt)
{
    int saved = errno;

    record(CRASH_OP_WRITE, 0, r, off, len, t0, now_ns(), iov, iovcnt);
    if (late_sync)
        perform_late_sync();
    errno = saved;
    return r;
}

static uint64_t
iov_total(const struct iovec *iov, int n)
{
    uint64_t t = 0;

    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* ------------------------------------------------------------------ */
/* The wrapped calls.  With _FILE_OFFSET_BITS=64 a 64-bit build calls the
 * *64 names; both are defined, as the same functions. */

EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    struct iovec iov = { (void *)buf, n };
    uint64_t t0;
    ssize_t r;

    if (!is_target(fd))
        return real_pwrite64(fd, buf, n, off);
    t0 = now_ns();
    r = real_pwrite64(fd, buf, n, off);
    return after_write(fd, r, (uint64_t)off, n, t0, &iov, 1);
}

EXPORT ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite64(fd, buf, n, off);
}

EXPORT ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    uint64_t t0;
    ssize_t r;

    if (!is_target(fd))
        return real_pwritev64(fd, iov, cnt, off);
    t0 = now_ns();
    r = real_pwritev64(fd, iov, cnt, off);
    return after_write(fd, r, (uint64_t)off, iov_total(iov, cnt), t0, iov, cnt);
}

EXPORT ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return pwritev64(fd, iov, cnt, off);
}

EXPORT ssize_t
pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    uint64_t t0, at;
    ssize_t r;

    if (!is_target(fd))
        return real_pwritev64v2(fd, iov, cnt, off, flags);
    /* off -1: at the file position, which moves. */
    at = off == -1 ? (uint64_t)lseek64(fd, 0, SEEK_CUR) : (uint64_t)off;
    t0 = now_ns();
    r = real_pwritev64v2(fd, iov, cnt, off, flags);
    return after_write(fd, r, at, iov_total(iov, cnt), t0, iov, cnt);
}

EXPORT ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    return pwritev64v2(fd, iov, cnt, off, flags);
}

/* write/writev at the file position: where it was before the call, or the
 * end of the file with O_APPEND (found after the call: end - written). */
static uint64_t
position_before(int fd)
{
    int saved = errno;
    off64_t p = lseek64(fd, 0, SEEK_CUR);

    errno = saved;
    return (uint64_t)p;
}

static uint64_t
position_fix(int fd, uint64_t before, ssize_t r)
{
    int saved = errno, fl = fcntl(fd, F_GETFL);
    uint64_t at = before;

    if (r > 0 && fl >= 0 && (fl & O_APPEND))
        at = (uint64_t)lseek64(fd, 0, SEEK_CUR) - (uint64_t)r;
    errno = saved;
    return at;
}

EXPORT ssize_t
write(int fd, const void *buf, size_t n)
{
    struct iovec iov = { (void *)buf, n };
    uint64_t t0, at;
    ssize_t r;

    if (!is_target(fd))
        return real_write(fd, buf, n);
    at = position_before(fd);
    t0 = now_ns();
    r = real_write(fd, buf, n);
    return after_write(fd, r, position_fix(fd, at, r), n, t0, &iov, 1);
}

EXPORT ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    uint64_t t0, at;
    ssize_t r;

    if (!is_target(fd))
        return real_writev(fd, iov, cnt);
    at = position_before(fd);
    t0 = now_ns();
    r = real_writev(fd, iov, cnt);
    return after_write(fd, r, position_fix(fd, at, r), iov_total(iov, cnt), t0,
                       iov, cnt);
}

EXPORT int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    uint64_t t0;
    int r, saved;

    if (!is_target(fd))
        return real_fallocate64(fd, mode, off, len);
    t0 = now_ns();
    r = real_fallocate64(fd, mode, off, len);
    saved = errno;
    record(CRASH_OP_FALLOCATE, mode, r, (uint64_t)off, (uint64_t)len, t0,
           now_ns(), NULL, 0);
    if (late_sync)
        perform_late_sync();
    errno = saved;
    return r;
}

EXPORT int
fallocate(int fd, int mode, off_t off, off_t len)
{
    return fallocate64(fd, mode, off, len);
}

EXPORT int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
    uint64_t t0;
    int r;

    if (!is_target(fd))
        return real_posix_fallocate64(fd, off, len);
    t0 = now_ns();
    r = real_posix_fallocate64(fd, off, len);
    /* Returns the error instead of setting errno. */
    errno = r;
    record(CRASH_OP_FALLOCATE, 0, r ? -1 : 0, (uint64_t)off, (uint64_t)len,
           t0, now_ns(), NULL, 0);
    return r;
}

EXPORT int
posix_fallocate(int fd, off_t off, off_t len)
{
    return posix_fallocate64(fd, off, len);
}

EXPORT int
ftruncate64(int fd, off64_t len)
{
    uint64_t t0;
    int r, saved;

    if (!is_target(fd))
        return real_ftruncate64(fd, len);
    t0 = now_ns();
    r = real_ftruncate64(fd, len);
    saved = errno;
    record(CRASH_OP_FTRUNCATE, 0, r, 0, (uint64_t)len, t0, now_ns(), NULL, 0);
    errno = saved;
    return r;
}

EXPORT int
ftruncate(int fd, off_t len)
{
    return ftruncate64(fd, len);
}

EXPORT int
fsync(int fd)
{
    return sync_call(fd, CRASH_OP_FSYNC);
}

EXPORT int
fdatasync(int fd)
{
    return sync_call(fd, CRASH_OP_FDATASYNC);
}

EXPORT int
syncfs(int fd)
{
    return sync_call(fd, CRASH_OP_SYNCFS);
}

/* Starts writeback at most: no persistence point (no metadata, no disk
 * cache flush), but recorded so the trace shows every call. */
EXPORT int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    uint64_t t0;
    int r, saved;

    if (!is_target(fd))
        return real_sync_file_range(fd, off, n, flags);
    t0 = now_ns();
    r = real_sync_file_range(fd, off, n, flags);
    saved = errno;
    record(CRASH_OP_SYNC_FILE_RANGE, (int)flags, r, (uint64_t)off, (uint64_t)n,
           t0, now_ns(), NULL, 0);
    errno = saved;
    return r;
}
