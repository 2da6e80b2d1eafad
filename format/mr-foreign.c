/* Files users take for a snapshot that are not a migration stream: told
 * apart by their first bytes, so that the refusal says what the file is
 * instead of "no QEVM magic". */
#include <string.h>

#include "mr-parse.h"

typedef struct {
    const char *magic;
    gsize len;
    const char *what;
} Foreign;

#define COMPRESSED(tool)                                                      \
    tool "-compressed data, not a migration stream: decompress it first "     \
    "(onto a file system with holes: a mapped-ram file is sparse)"

static const Foreign foreign[] = {
    { "QFI\xfb", 4, "a qcow2 disk image, not a migration stream: snapshots "
      "taken with `savevm` or `virsh snapshot-create` live inside it "
      "(`qemu-img snapshot -l` lists them); mramfs reads the file written by "
      "`migrate` to file: with mapped-ram on, or by `virsh save "
      "--image-format sparse`" },
    { "\x1f\x8b", 2, COMPRESSED("gzip") },
    { "\xfd" "7zXZ\0", 6, COMPRESSED("xz") },
    { "\x28\xb5\x2f\xfd", 4, COMPRESSED("zstd") },
    { "BZh", 3, COMPRESSED("bzip2") },
    { "\x89LZO\0\r\n\x1a\n", 9, COMPRESSED("lzop") },
    { "KDUMP   ", 8, "a kdump-compressed memory dump (`dump-guest-memory` "
      "or `virsh dump`), not a migration stream" },
    { "\x7f" "ELF", 4, "an ELF file (a memory dump from `dump-guest-memory` "
      "or `virsh dump --memory-only` is one), not a migration stream" },
};

const char *
mr_foreign_describe(const guint8 *head, gsize n)
{
    for (gsize i = 0; i < G_N_ELEMENTS(foreign); i++)
        if (n >= foreign[i].len &&
            memcmp(head, foreign[i].magic, foreign[i].len) == 0)
            return foreign[i].what;
    return NULL;
}

gboolean
mr_refuse_foreign(MrFile *f, GError **err)
{
    guint8 head[16] = { 0 };
    gsize n = (gsize)MIN(f->file_size, (guint64)sizeof(head));
    const char *what;

    if (!mr_pread_exact(f->fd, f->path, head, n, 0, "file header", err))
        return FALSE;
    what = mr_foreign_describe(head, n);
    if (what == NULL)
        return TRUE;
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, 0, "%s", what);
    return FALSE;
}
