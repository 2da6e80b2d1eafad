#include "mr-lazy.h"

#include <string.h>

#include "mr-error.h"

/* Machines whose main RAM is a memory backend, with the backend's id (the
 * RAM block's name): QEMU's MachineClass.default_ram_id, which QMP
 * query-machines reports as "default-ram-id" (tests/interop checks the
 * table against it).  `-machine memory-backend=ID` then replaces the RAM
 * QEMU would allocate by a backend mapped from the mount, under the same
 * block name, so the loader finds the block.  Only machines a lazy
 * restore was tested on are listed (docs/LAZY-RESTORE.md). */
typedef struct {
    const char *name;  /* the machine type as the configuration record has it */
    gboolean prefix;   /* name is a prefix: every versioned type */
    const char *ram_id;
} LazyMachine;

static const LazyMachine lazy_machines[] = {
    { "pc-i440fx-", TRUE, "pc.ram" },
    { "pc-q35-", TRUE, "pc.ram" },
    { "pegasos2", FALSE, "pegasos2.ram" },
    { "fuloong2e", FALSE, "fuloong2e.ram" },
};

static const LazyMachine *
find_machine(const char *machine)
{
    if (machine == NULL)
        return NULL;
    for (guint i = 0; i < G_N_ELEMENTS(lazy_machines); i++) {
        const LazyMachine *m = &lazy_machines[i];
        if (m->prefix ? g_str_has_prefix(machine, m->name)
                      : g_str_equal(machine, m->name))
            return m;
    }
    return NULL;
}

MrRamBlock *
mr_lazy_block(const MrFile *f)
{
    const LazyMachine *m = find_machine(f->machine);
    MrRamBlock *b;

    if (m == NULL)
        return NULL;
    b = mr_file_find_block(f, m->ram_id);
    if (b == NULL || !b->stored || b->used_length == 0)
        return NULL;
    return b;
}

MrVfile *
mr_lazy_stream_new(MrFile *f, MrRamBlock *lazy, GError **err)
{
    g_autoptr(MrVfile) v = mr_vfile_new(f);
    guint64 end;

    if (lazy == NULL) {
        if (!mr_vfile_add_snapshot(v, 0, 0, f->file_size, err))
            return NULL;
        return g_steal_pointer(&v);
    }
    /* Up to the bitmap as it is; from the bitmap to the end of the page
     * area a hole (zeros: no page present, docs/FORMAT.md §9.4); the rest of
     * the stream (the next block's descriptor follows at once, §9.6) as
     * it is.  The model has checked that these offsets are in order and
     * inside the file (R10, R11). */
    end = lazy->pages_offset + lazy->used_length;
    if (!mr_vfile_add_snapshot(v, 0, 0, lazy->bitmap_offset, err) ||
        !mr_vfile_add_snapshot(v, end, end, f->file_size - end, err) ||
        !mr_vfile_set_size(v, f->file_size, err))
        return NULL;
    return g_steal_pointer(&v);
}

/* A capability as QEMU names it: lower-case words joined by '-'. */
static gboolean
plain_name(const char *s)
{
    if (*s == '\0')
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_islower(*s) && !g_ascii_isdigit(*s) && *s != '-')
            return FALSE;
    return TRUE;
}

char **
mr_lazy_qemu_args(const MrFile *f, const MrRamBlock *lazy,
                  const char *mountpoint, GError **err)
{
    GPtrArray *a;
    g_autofree char *mnt = NULL;
    gsize len = strlen(mountpoint);

    /* QEMU splits option values on ',' (mem-path=, and the file: URI on
     * ",offset="); a newline would split restore/qemu-args. */
    if (mountpoint[0] != '/' || strpbrk(mountpoint, ",\n") != NULL) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, MR_NO_OFFSET,
                     "mount point \"%s\": QEMU's command line needs an "
                     "absolute path without ',' or newline", mountpoint);
        return NULL;
    }
    /* "/mnt/" and "/" name the same directories as "/mnt" and "". */
    while (len > 0 && mountpoint[len - 1] == '/')
        len--;
    mnt = g_strndup(mountpoint, len);
    for (guint i = 0; i < f->capabilities->len; i++) {
        const char *cap = g_ptr_array_index(f->capabilities, i);
        if (!plain_name(cap)) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, MR_NO_OFFSET,
                         "capability \"%s\" of the configuration record "
                         "cannot be set on QEMU's command line", cap);
            return NULL;
        }
    }
    a = g_ptr_array_new();
    if (lazy) {
        /* The table's ids have no '/' or '%', so the block's path below
         * ram/ is its name (mramfs(5)). */
        g_ptr_array_add(a, g_strdup("-machine"));
        g_ptr_array_add(a, g_strdup_printf("memory-backend=%s", lazy->idstr));
        g_ptr_array_add(a, g_strdup("-object"));
        /* share=off: a private mapping, the guest's writes never reach the
         * snapshot.  readonly=on opens the file read-only (the mount may be
         * read-only), rom=off keeps the guest's RAM writable.  Machine
         * types of QEMU 4.0 and older name a user's backend
         * "/objects/ID" unless told otherwise: the block would not match. */
        g_ptr_array_add(a, g_strdup_printf(
            "memory-backend-file,id=%s,size=%" G_GUINT64_FORMAT ",mem-path=%s/ram/%s,"
            "share=off,readonly=on,rom=off,x-use-canonical-path-for-ramblock-id=off",
            lazy->idstr, lazy->used_length, mnt, lazy->idstr));
    }
    for (guint i = 0; i < f->capabilities->len; i++) {
        g_ptr_array_add(a, g_strdup("-global"));
        g_ptr_array_add(a, g_strdup_printf("migration.%s=on",
                                           (char *)g_ptr_array_index(f->capabilities, i)));
    }
    g_ptr_array_add(a, g_strdup("-incoming"));
    if (f->stream_offset)
        g_ptr_array_add(a, g_strdup_printf("file:%s/" MR_LAZY_STREAM_PATH
                                           ",offset=0x%" G_GINT64_MODIFIER "x",
                                           mnt, f->stream_offset));
    else
        g_ptr_array_add(a, g_strdup_printf("file:%s/" MR_LAZY_STREAM_PATH, mnt));
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

char *
mr_lazy_qemu_args_text(const MrFile *f, const MrRamBlock *lazy,
                       const char *mountpoint, GError **err)
{
    g_auto(GStrv) args = mr_lazy_qemu_args(f, lazy, mountpoint, err);
    g_autofree char *joined = NULL;

    if (args == NULL)
        return NULL;
    joined = g_strjoinv("\n", args);
    return g_strconcat(joined, "\n", NULL);
}
