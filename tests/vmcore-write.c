/* Test helper: writes the guest/vmcore virtual file of a snapshot to OUT,
 * sparsely (only the data extents are written), so that the QEMU tests
 * can compare it with dump-guest-memory before and besides the mount.
 *
 * The guest-physical map is ds_guest_map_new()'s, or with --range
 * GPA,OFFSET,LENGTH,BLOCK options (numbers in C notation) the one the tests
 * read from QEMU's `info mtree -f`, to tell a map problem from a core one.
 * --stats prints the virtual size, the stored bytes and how long building
 * the core took (with OUT "-" nothing is written).  Exit 3 when there is
 * no core (the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-common.h"
#include "ds-vmcore.h"
#include "mr-error.h"

static gboolean
add_range(MrFile *f, DsGuestMap *m, const char *spec, GError **err)
{
    g_auto(GStrv) p = g_strsplit(spec, ",", 4); /* names hold ':' */
    DsGuestRange r = { .kind = DS_RANGE_RAM };

    if (g_strv_length(p) != 4 || !cli_parse_u64(p[0], &r.gpa) ||
        !cli_parse_u64(p[1], &r.block_offset) || !cli_parse_u64(p[2], &r.length)) {
        g_set_error(err, MR_ERROR, MR_ERROR_INVALID, "bad --range %s", spec);
        return FALSE;
    }
    r.block = mr_file_find_block(f, p[3]);
    if (r.block == NULL) {
        g_set_error(err, MR_ERROR, MR_ERROR_INVALID, "--range %s: no block", spec);
        return FALSE;
    }
    g_array_append_val(m->ranges, r);
    return TRUE;
}

static gboolean
write_sparse(MrVfile *v, const char *out, GError **err)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    guint64 size = mr_vfile_size(v), pos = 0, data, hole;
    gsize chunk = 4 << 20, got;
    g_autofree guint8 *buf = g_malloc(chunk);

    if (fd < 0) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: %s", out, g_strerror(errno));
        return FALSE;
    }
    while (pos < size) {
        if (!mr_vfile_seek(v, pos, TRUE, &data, err))
            goto fail;
        if (data == MR_VFILE_NONE)
            break;
        if (!mr_vfile_seek(v, data, FALSE, &hole, err))
            goto fail;
        for (pos = data; pos < hole; pos += got) {
            if (!mr_vfile_read(v, buf, pos, MIN(chunk, hole - pos), &got, err))
                goto fail;
            if (pwrite(fd, buf, got, (off_t)pos) != (ssize_t)got) {
                g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: %s", out,
                            g_strerror(errno));
                goto fail;
            }
        }
    }
    if (ftruncate(fd, (off_t)size) != 0 || close(fd) != 0) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: %s", out, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
fail:
    close(fd);
    return FALSE;
}

int
main(int argc, char **argv)
{
    g_auto(GStrv) ranges = NULL;
    gboolean stats = FALSE;
    GOptionEntry entries[] = {
        { "range", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &ranges,
          "a guest-physical range", "GPA,OFFSET,LENGTH,BLOCK" },
        { "stats", 's', 0, G_OPTION_ARG_NONE, &stats, "print sizes", NULL },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE OUT");
    g_autoptr(GError) err = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(MrVfile) v = NULL;
    DsGuestMap m = { 0 };
    g_autoptr(DsGuestMap) gm = NULL;
    const DsGuestMap *map = &m;
    int rc = 1;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 3) {
        fprintf(stderr, "usage: vmcore-write [--range ...] FILE OUT\n");
        return 2;
    }
    f = mr_file_open(argv[1], &(MrOpenOptions){ 0 }, &err);
    if (f == NULL)
        goto out;
    m.ranges = g_array_new(FALSE, TRUE, sizeof(DsGuestRange));
    for (guint i = 0; ranges && ranges[i]; i++) {
        if (!add_range(f, &m, ranges[i], &err))
            goto out;
    }
    if (ranges == NULL) {
        gm = ds_guest_map_new(f, &err);
        if (gm == NULL)
            goto out;
        map = gm;
    }
    gint64 t0 = g_get_monotonic_time();
    v = ds_vmcore_new(f, map, &err);
    gint64 t1 = g_get_monotonic_time();
    if (v == NULL) {
        rc = g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED) ? 3 : 1;
        goto out;
    }
    if (!g_str_equal(argv[2], "-") && !write_sparse(v, argv[2], &err))
        goto out;
    if (stats)
        printf("size %" G_GUINT64_FORMAT " stored %" G_GUINT64_FORMAT
               " built_us %" G_GINT64_FORMAT "\n", mr_vfile_size(v),
               mr_vfile_stored_bytes(v), t1 - t0);
    rc = 0;
out:
    if (err)
        fprintf(stderr, "vmcore-write: %s\n", err->message);
    if (m.ranges)
        g_array_unref(m.ranges);
    return rc;
}
