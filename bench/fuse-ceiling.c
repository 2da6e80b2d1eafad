/* fuse-ceiling: the least a FUSE server can do to serve bytes of a file, as
 * the ceiling bench/run measures mramfs's read path against.  It shows
 * LENGTH bytes of FILE from OFFSET as MNT/data (read-only) and nothing else,
 * with the session mramfs sets up (fs/mfs-session.c, fs/mfs-ops.c):
 * default_permissions and ro, max_write = max_readahead = 1 MiB, no -o
 * max_read, keep_cache on open, day-long timeouts, and mramfs's own session
 * loop (fs/mfs-loop.c: shared, not copied, so that the ratio bench/run
 * reports measures mramfs's handlers and not a difference between two
 * loops).  A read is answered one of two ways:
 *
 *   --copy     pread into a per-thread buffer, then fuse_reply_buf (writev)
 *   --splice   fuse_reply_data of an fd buffer, FUSE_BUF_SPLICE_MOVE, with
 *              FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE wanted
 *
 * --direct-io opens the file direct_io, as mramfs -o direct_io does.
 * Limits: one file, no readdir, no writes, no lseek; errors are EIO.  It is
 * a measuring stick, not a file system.
 *
 *   fuse-ceiling [--copy|--splice] [--direct-io] [-f] [-s] FILE OFFSET LENGTH MNT
 *
 * Built by meson as bench/fuse-ceiling (not installed, not a test).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mfs-loop.h"

#define MAX_IO (1024u * 1024)  /* mount-mramfs.c: DEFAULT_MAX_READ */
#define TIMEOUT 86400.0
#define FILE_INO 2

typedef struct {
    int fd;
    uint64_t offset, length;
    int splice, direct_io;
    struct stat st;
} Ceiling;

static Ceiling *
ceiling_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void
fill_stat(const Ceiling *c, fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = c->st.st_uid;
    st->st_gid = c->st.st_gid;
    st->st_mtim = c->st.st_mtim;
    st->st_blksize = MAX_IO;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)c->length;
        st->st_blocks = (blkcnt_t)(c->length / 512);
    }
}

static void
ceiling_init(void *userdata, struct fuse_conn_info *conn)
{
    Ceiling *c = userdata;
    const unsigned splice_caps = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;

    conn->max_write = MAX_IO;
    conn->max_readahead = MAX_IO;
    if (c->splice)
        conn->want |= conn->capable & splice_caps;
    else
        conn->want &= ~(splice_caps | FUSE_CAP_SPLICE_READ);
}

static void
ceiling_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;

    if (parent != FUSE_ROOT_ID || strcmp(name, "data") != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.ino = FILE_INO;
    e.attr_timeout = e.entry_timeout = TIMEOUT;
    fill_stat(ceiling_of(req), FILE_INO, &e.attr);
    fuse_reply_entry(req, &e);
}

static void
ceiling_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;

    if (ino != FUSE_ROOT_ID && ino != FILE_INO) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fill_stat(ceiling_of(req), ino, &st);
    fuse_reply_attr(req, &st, TIMEOUT);
}

static void
ceiling_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    const Ceiling *c = ceiling_of(req);

    if (ino != FILE_INO) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->keep_cache = !c->direct_io;
    fi->direct_io = c->direct_io;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

/* Reads past the end are cut there, as mramfs cuts them at the block's end. */
static size_t
clamp(const Ceiling *c, size_t size, off_t off)
{
    if (off < 0 || (uint64_t)off >= c->length)
        return 0;
    if (size > MAX_IO)
        size = MAX_IO;
    if (size > c->length - (uint64_t)off)
        size = (size_t)(c->length - (uint64_t)off);
    return size;
}

static void
read_copy(fuse_req_t req, const Ceiling *c, size_t size, off_t off)
{
    static _Thread_local char *buf;
    size_t done = 0;

    if (buf == NULL && (buf = malloc(MAX_IO)) == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    while (done < size) {
        ssize_t r = pread(c->fd, buf + done, size - done,
                          (off_t)(c->offset + (uint64_t)off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fuse_reply_err(req, EIO);
            return;
        }
        done += (size_t)r;
    }
    fuse_reply_buf(req, buf, size);
}

static void
read_splice(fuse_req_t req, const Ceiling *c, size_t size, off_t off)
{
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

    bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
    bv.buf[0].fd = c->fd;
    bv.buf[0].pos = (off_t)(c->offset + (uint64_t)off);
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void
ceiling_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info *fi)
{
    const Ceiling *c = ceiling_of(req);

    size = clamp(c, size, off);
    if (size == 0)
        fuse_reply_buf(req, NULL, 0);
    else if (c->splice)
        read_splice(req, c, size, off);
    else
        read_copy(req, c, size, off);
}

static const struct fuse_lowlevel_ops ceiling_ops = {
    .init = ceiling_init,
    .lookup = ceiling_lookup,
    .getattr = ceiling_getattr,
    .open = ceiling_open,
    .read = ceiling_read,
};

static int
usage(void)
{
    fprintf(stderr, "usage: fuse-ceiling [--copy|--splice] [--direct-io] [-f] [-s] "
                    "FILE OFFSET LENGTH MNT\n");
    return 2;
}

int
main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct fuse_session *se;
    Ceiling c = { .fd = -1 };
    int foreground = 0, single_thread = 0, i, r = 1;
    char *end1, *end2;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--copy") == 0)
            c.splice = 0;
        else if (strcmp(argv[i], "--splice") == 0)
            c.splice = 1;
        else if (strcmp(argv[i], "--direct-io") == 0)
            c.direct_io = 1;
        else if (strcmp(argv[i], "-f") == 0)
            foreground = 1;
        else if (strcmp(argv[i], "-s") == 0)
            single_thread = 1;
        else
            return usage();
    }
    if (argc - i != 4)
        return usage();
    c.offset = strtoull(argv[i + 1], &end1, 0);
    c.length = strtoull(argv[i + 2], &end2, 0);
    if (*end1 != '\0' || *end2 != '\0')
        return usage();
    c.fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (c.fd < 0 || fstat(c.fd, &c.st) < 0) {
        perror(argv[i]);
        return 1;
    }
    if (c.offset > (uint64_t)c.st.st_size ||
        c.length > (uint64_t)c.st.st_size - c.offset) {
        fprintf(stderr, "fuse-ceiling: %s: range past the end of the file\n",
                argv[i]);
        return 1;
    }
    fuse_opt_add_arg(&args, "fuse-ceiling");
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, "fsname=fuse-ceiling,subtype=ceiling,"
                            "default_permissions,ro");
    se = fuse_session_new(&args, &ceiling_ops, sizeof(ceiling_ops), &c);
    fuse_opt_free_args(&args);
    if (se == NULL)
        return 1;
    if (fuse_set_signal_handlers(se) != 0)
        goto out_session;
    if (fuse_session_mount(se, argv[i + 3]) != 0)
        goto out_signals;
    /* As mount.mramfs: the command returns once the mount exists. */
    if (fuse_daemonize(foreground) == 0)
        r = mfs_serve_loop(se, single_thread) < 0;
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
    close(c.fd);
    return r;
}
