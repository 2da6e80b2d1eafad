/* Test helper: the guest-physical memory file (ds_guest_physmem) without
 * the mount.  The interoperability tests compare it with what QEMU's
 * pmemsave reads from the VM restored from the same snapshot.
 *
 *   gm-physmem FILE GPA LENGTH   the bytes at [GPA, GPA+LENGTH) on stdout
 *   gm-physmem --extents FILE    "size N", "stored N", then one "data S E"
 *                                line per SEEK_DATA/SEEK_HOLE extent */
#include <stdio.h>

#include "cli-common.h"
#include "ds-guestmap.h"

static int
fail(const GError *err)
{
    fprintf(stderr, "gm-physmem: %s\n", err->message);
    return 1;
}

static int
extents(const MrVfile *v)
{
    g_autoptr(GError) err = NULL;
    guint64 size = mr_vfile_size(v), pos = 0, data, hole;

    printf("size %" G_GINT64_MODIFIER "u\nstored %" G_GINT64_MODIFIER "u\n",
           size, mr_vfile_stored_bytes(v));
    while (pos < size) {
        if (!mr_vfile_seek(v, pos, TRUE, &data, &err))
            return fail(err);
        if (data == MR_VFILE_NONE)
            break;
        if (!mr_vfile_seek(v, data, FALSE, &hole, &err))
            return fail(err);
        printf("data %" G_GINT64_MODIFIER "u %" G_GINT64_MODIFIER "u\n",
               data, hole);
        pos = hole;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    gboolean ext = FALSE;
    GOptionEntry entries[] = {
        { "extents", 'e', 0, G_OPTION_ARG_NONE, &ext, "list data extents", NULL },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE [GPA LENGTH]");
    g_autoptr(GError) err = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(DsGuestMap) m = NULL;
    g_autoptr(MrVfile) v = NULL;
    g_autofree guint8 *buf = NULL;
    const gsize chunk = 4 * 1024 * 1024;
    MrOpenOptions opts = { 0 };
    guint64 off = 0, len = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "gm-physmem: %s\n", err->message);
        return 2;
    }
    if (ext ? argc != 2 : (argc != 4 || !cli_parse_u64(argv[2], &off) ||
                           !cli_parse_u64(argv[3], &len))) {
        fprintf(stderr, "usage: gm-physmem FILE GPA LENGTH | --extents FILE\n");
        return 2;
    }
    if ((f = mr_file_open(argv[1], &opts, &err)) == NULL ||
        (m = ds_guest_map_new(f, &err)) == NULL ||
        (v = ds_guest_physmem(f, m, &err)) == NULL)
        return fail(err);
    if (ext)
        return extents(v);
    buf = g_malloc(chunk);
    while (len > 0) {
        gsize n = (gsize)MIN(len, (guint64)chunk), got;
        if (!mr_vfile_read(v, buf, off, n, &got, &err))
            return fail(err);
        if (got != n) {
            fprintf(stderr, "gm-physmem: 0x%" G_GINT64_MODIFIER "x is past "
                    "the end of physmem (0x%" G_GINT64_MODIFIER "x)\n",
                    off + got, mr_vfile_size(v));
            return 1;
        }
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("gm-physmem: stdout");
            return 1;
        }
        off += n;
        len -= n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
