/* mount.mramfs: mount a mapped-ram migration file (see mount.mramfs(8)).
 * Also installed as mount.fuse.mramfs, the name mount(8) looks for with
 * `-t fuse.mramfs`, which calls it as "SNAPSHOT MOUNTPOINT [-nsfv] -o OPTS". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-common.h"
#include "mfs-session.h"

#define DEFAULT_MAX_READ (1024u * 1024)

typedef struct {
    MfsSessionOptions session;
    MrOpenOptions open;
    gboolean fake;
    gboolean want_ro; /* -o ro */
    gboolean want_rw; /* -o rw: fail rather than fall back to read-only */
} MountConfig;

/* Options mount(8) and fstab pass that mean nothing to us. */
static const char *const ignored_opts[] = {
    "defaults", "auto", "noauto", "user", "nouser", "users", "owner",
    "group", "_netdev", "nofail", "loop", NULL
};
/* Options the kernel applies to any mount. */
static const char *const kernel_opts[] = {
    "suid", "nosuid", "dev", "nodev", "exec", "noexec", "atime", "noatime",
    "relatime", "norelatime", "strictatime", "nodiratime", "diratime",
    "dirsync", "lazytime", NULL
};

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: mount.mramfs SNAPSHOT MOUNTPOINT [-o OPTIONS] [-f] [-d] [-s]\n"
            "Mount a QEMU mapped-ram migration file: one sparse file per RAM\n"
            "block under ram/, and snapshot.json.\n\n"
            "  -o ro              read-only (default: read-write if the file is\n"
            "                     writable)\n"
            "  -o rw              read-write, or fail\n"
            "  -o sync            every write durable before it returns\n"
            "  -o allow_other     let other users see the mount\n"
            "  -o uid=N,gid=N     owner of every file (default: the snapshot's)\n"
            "  -o umask=OCTAL     permission bits to clear\n"
            "  -o offset=N        the stream starts at byte N (file:PATH,offset=N)\n"
            "  -o bitmap_order=O  le (default), be64 or be32: the saving host\n"
            "  -o direct_io       bypass the kernel page cache\n"
            "  -o splice          splice replies from the snapshot instead of copying\n"
            "  -o nowatch         do not watch the snapshot for other programs' changes\n"
            "  -f                 stay in the foreground\n"
            "  -d                 debug: print every FUSE request (implies -f)\n"
            "  -s                 single-threaded\n"
            "  -h, --help         this text\n"
            "  -V, --version      the version\n");
}

static gboolean
in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (g_str_equal(*list, s))
            return TRUE;
    return FALSE;
}

static gboolean
parse_id(const char *v, guint32 *out)
{
    guint64 n;

    if (!cli_parse_u64(v, &n) || n > G_MAXUINT32 - 1)
        return FALSE;
    *out = (guint32)n;
    return TRUE;
}

static gboolean
parse_one_option(MountConfig *c, const char *opt, GError **err)
{
    const char *eq = strchr(opt, '=');
    g_autofree char *key = eq ? g_strndup(opt, (gsize)(eq - opt)) : g_strdup(opt);
    const char *val = eq ? eq + 1 : NULL;
    MfsOptions *fs = &c->session.fs;
    guint32 id;
    guint64 n;

    if (g_str_equal(key, "ro")) {
        c->want_ro = TRUE;
        c->want_rw = FALSE;
    } else if (g_str_equal(key, "rw")) {
        c->want_rw = TRUE;
        c->want_ro = FALSE;
    } else if (g_str_equal(key, "sync")) {
        fs->sync = TRUE;
    } else if (g_str_equal(key, "async")) {
        fs->sync = FALSE;
    } else if (g_str_equal(key, "allow_other")) {
        c->session.allow_other = TRUE;
    } else if (g_str_equal(key, "uid") && val && parse_id(val, &id)) {
        fs->has_uid = TRUE;
        fs->uid = id;
    } else if (g_str_equal(key, "gid") && val && parse_id(val, &id)) {
        fs->has_gid = TRUE;
        fs->gid = id;
    } else if (g_str_equal(key, "umask") && val) {
        char *end;
        unsigned long m = strtoul(val, &end, 8);
        if (*val == '\0' || *end != '\0' || m > 0777)
            goto bad;
        fs->has_umask = TRUE;
        fs->umask = (mode_t)m;
    } else if (g_str_equal(key, "offset") && val && cli_parse_u64(val, &n)) {
        c->open.has_stream_offset = TRUE;
        c->open.stream_offset = n;
    } else if (g_str_equal(key, "bitmap_order") && val) {
        if (!mr_bitmap_order_parse(val, &c->open.bitmap_order))
            goto bad;
    } else if (g_str_equal(key, "direct_io")) {
        fs->direct_io = TRUE;
    } else if (g_str_equal(key, "splice")) {
        fs->splice = TRUE;
    } else if (g_str_equal(key, "nosplice")) {
        fs->splice = FALSE;
    } else if (g_str_equal(key, "nowatch")) {
        fs->no_watch = TRUE;
    } else if (in_list(kernel_opts, key) && val == NULL) {
        g_ptr_array_add(c->session.mount_flags, g_strdup(key));
    } else if (in_list(ignored_opts, key) || g_str_has_prefix(key, "x-") ||
               g_str_equal(key, "comment") || g_str_equal(key, "fsname") ||
               g_str_equal(key, "subtype") ||
               g_str_equal(key, "default_permissions")) {
        /* mount(8)/fstab bookkeeping, or something we always set. */
    } else {
        goto bad;
    }
    return TRUE;
bad:
    g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "bad or unknown mount option \"%s\"", opt);
    return FALSE;
}

static gboolean
parse_options(MountConfig *c, const char *list, GError **err)
{
    g_auto(GStrv) opts = g_strsplit(list, ",", -1);

    for (guint i = 0; opts[i]; i++)
        if (*opts[i] && !parse_one_option(c, opts[i], err))
            return FALSE;
    return TRUE;
}

/* Returns -1 to go on, else an exit status (cli-common.h). */
static int
parse_args(MountConfig *c, int argc, char **argv, const char **snapshot,
           GError **err)
{
    g_autofree char *base = g_path_get_basename(argv[0]);
    gboolean as_helper = g_str_has_prefix(base, "mount.fuse");
    const char *pos[2];
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (g_str_equal(a, "-h") || g_str_equal(a, "--help")) {
            usage(stdout);
            return cli_exit_status(CLI_MOUNT, CLI_OK);
        } else if (g_str_equal(a, "-V") || g_str_equal(a, "--version")) {
            printf("mount.mramfs %s (libfuse %d)\n", MRAMFS_VERSION,
                   fuse_version());
            return cli_exit_status(CLI_MOUNT, CLI_OK);
        } else if (g_str_equal(a, "-o") && i + 1 < argc) {
            if (!parse_options(c, argv[++i], err))
                return cli_exit_status(CLI_MOUNT, CLI_USAGE);
        } else if (g_str_has_prefix(a, "-o") && a[2]) {
            if (!parse_options(c, a + 2, err))
                return cli_exit_status(CLI_MOUNT, CLI_USAGE);
        } else if (as_helper && (g_str_equal(a, "-n") || g_str_equal(a, "-s") ||
                                 g_str_equal(a, "-v"))) {
            /* mount(8): no mtab, sloppy, verbose. */
        } else if (as_helper && g_str_equal(a, "-f")) {
            c->fake = TRUE; /* mount(8)'s -f is "fake" */
        } else if (g_str_equal(a, "-f")) {
            c->session.foreground = TRUE;
        } else if (g_str_equal(a, "-d")) {
            c->session.debug = c->session.foreground = TRUE;
        } else if (g_str_equal(a, "-s")) {
            c->session.single_thread = TRUE;
        } else if (a[0] == '-' && a[1] != '\0') {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                        "unknown option \"%s\" (try --help)", a);
            return cli_exit_status(CLI_MOUNT, CLI_USAGE);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                        "unexpected argument \"%s\"", a);
            return cli_exit_status(CLI_MOUNT, CLI_USAGE);
        }
    }
    if (npos != 2) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "expected SNAPSHOT and MOUNTPOINT (try --help)");
        return cli_exit_status(CLI_MOUNT, CLI_USAGE);
    }
    *snapshot = pos[0];
    c->session.mountpoint = pos[1];
    return -1;
}

int
main(int argc, char **argv)
{
    MountConfig c = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func(g_free);
    const char *snapshot = NULL;
    g_autofree char *abs_snapshot = NULL;
    int r;

    c.session.mount_flags = flags;
    c.session.fs.max_read = DEFAULT_MAX_READ;
    r = parse_args(&c, argc, argv, &snapshot, &err);
    if (r >= 0) {
        if (err)
            fprintf(stderr, "mount.mramfs: %s\n", err->message);
        return r;
    }
    /* The daemon leaves the working directory: name the file absolutely
     * in its messages and in snapshot.json. */
    abs_snapshot = realpath(snapshot, NULL);
    if (abs_snapshot == NULL) {
        fprintf(stderr, "mount.mramfs: %s: %s\n", snapshot, g_strerror(errno));
        return cli_exit_status(CLI_MOUNT, CLI_UNREADABLE);
    }
    /* Read-write unless asked otherwise or the file cannot be written. */
    c.open.writable = !c.want_ro && (c.want_rw || access(abs_snapshot, W_OK) == 0);
    c.session.fs.read_only = !c.open.writable;
    if (!c.want_ro && !c.open.writable)
        fprintf(stderr, "mount.mramfs: %s is not writable: mounting "
                "read-only\n", abs_snapshot);
    /* The whole file is validated before anything is mounted. */
    f = mr_file_open(abs_snapshot, &c.open, &err);
    if (f == NULL) {
        fprintf(stderr, "mount.mramfs: %s\n", err->message);
        return cli_exit_status_of_error(CLI_MOUNT, err);
    }
    for (guint i = 0; i < f->warnings->len; i++)
        fprintf(stderr, "mount.mramfs: warning: %s\n",
                (char *)g_ptr_array_index(f->warnings, i));
    if (c.fake)
        return cli_exit_status(CLI_MOUNT, CLI_OK);
    if (!mfs_session_run(f, &c.session, &err)) {
        fprintf(stderr, "mount.mramfs: %s\n", err->message);
        /* By its code: the snapshot's lock held (busy), a tree that cannot
         * be built (two blocks on one path: the snapshot's fault), what
         * the kernel or libfuse refused. */
        return cli_exit_status_of_error(CLI_MOUNT, err);
    }
    return cli_exit_status(CLI_MOUNT, CLI_OK);
}
