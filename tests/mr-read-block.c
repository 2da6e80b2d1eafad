/* Test helper: writes bytes of one RAM block, as format/ reads them, to
 * stdout.  The interoperability tests compare its output with the guest
 * memory QEMU restores from the same file. */
#include <stdio.h>
#include <unistd.h>

#include "cli-common.h"
#include "mr-read.h"

int
main(int argc, char **argv)
{
    g_autofree char *offset = NULL;
    GOptionEntry entries[] = {
        { "offset", 'o', 0, G_OPTION_ARG_STRING, &offset, "stream start", "N" },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("FILE BLOCK OFFSET LENGTH");
    g_autoptr(GError) err = NULL;
    g_autoptr(MrFile) f = NULL;
    MrOpenOptions opts = { 0 };
    const MrRamBlock *b;
    guint64 off, len;
    g_autofree guint8 *buf = NULL;
    const gsize chunk = 4 * 1024 * 1024;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) ||
        !cli_open_options(offset, NULL, &opts, &err)) {
        fprintf(stderr, "mr-read-block: %s\n", err->message);
        return 2;
    }
    if (argc != 5 || !cli_parse_u64(argv[3], &off) ||
        !cli_parse_u64(argv[4], &len)) {
        fprintf(stderr, "usage: mr-read-block FILE BLOCK OFFSET LENGTH\n");
        return 2;
    }
    f = mr_file_open(argv[1], &opts, &err);
    if (f == NULL) {
        fprintf(stderr, "mr-read-block: %s\n", err->message);
        return 1;
    }
    b = mr_file_find_block(f, argv[2]);
    if (b == NULL) {
        fprintf(stderr, "mr-read-block: %s: no ram block \"%s\"\n", argv[1],
                argv[2]);
        return 1;
    }
    buf = g_malloc(chunk);
    while (len > 0) {
        gsize n = (gsize)MIN(len, (guint64)chunk);
        if (!mr_block_read(f, b, buf, off, n, &err)) {
            fprintf(stderr, "mr-read-block: %s\n", err->message);
            return 1;
        }
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("mr-read-block: stdout");
            return 1;
        }
        off += n;
        len -= n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
