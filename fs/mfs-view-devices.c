/* devices/: one JSON file per device section (docs/FORMAT.md §13),
 * devices/IDSTR-PATH.INSTANCE.json, as devstate/ decodes it.  A section
 * that does not decode is still a file: {"decoded": false, "reason"}. */
#include <string.h>
#include <syslog.h>

#include "ds-decode.h"
#include "mfs-fs.h"
#include "mfs-text.h"
#include "mr-error.h"

/* The device files stay in memory for the life of the mount.  Each
 * section is bounded (DS_DECODE_MAX_SECTION, MR_DEVWALK_MAX_STEPS), but a
 * hostile vmdesc can describe thousands of them, each giving 10 MiB of
 * JSON or more: past this much, later sections are shown undecoded.  As
 * much as the vmdesc itself may take (mr-vmdesc.c); QEMU's come to about
 * 1 MiB. */
#define MFS_DEVICES_JSON_MAX (64u * 1024 * 1024)

/* The section decoded, or why not. */
static GBytes *
section_bytes(MrFile *f, MrSection *s)
{
    g_autoptr(GError) err = NULL;
    json_object *o = ds_decode_section(f, s, &err);

    if (o == NULL) {
        mfs_log(LOG_WARNING, "devices/: section \"%s\" instance %u not "
                "decoded: %s", s->idstr, s->instance_id, err->message);
        o = ds_undecoded_section(s, err->message);
    }
    return mfs_json_bytes(o);
}

/* A Super I/O document changed the section's bytes. */
static void
device_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    MrSection *s = mfs_text_source(n);

    if (s == changed)
        mfs_text_set(n, section_bytes(fs->tree->file, s));
}

static const MfsFileOps device_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .refresh = device_refresh,
    .free = mfs_text_free,
};

static gboolean
build_devices(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    guint64 total = 0;

    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        g_auto(GStrv) parts = mfs_block_path(s->idstr);
        guint n = g_strv_length(parts);
        g_autofree char *suffix = g_strdup_printf(".%u.json", s->instance_id);
        const MfsFileOps *ops = &device_ops;
        GBytes *bytes;
        char *last;

        if (total > MFS_DEVICES_JSON_MAX) {
            /* And stays so: a rewrite (device_refresh()) must not decode
             * what the bound left out. */
            ops = &mfs_text_ops;
            g_autofree char *why = g_strdup_printf(
                "not decoded: the device files before it already hold more "
                "than %u MiB of JSON", MFS_DEVICES_JSON_MAX >> 20);
            bytes = mfs_json_bytes(ds_undecoded_section(s, why));
        } else {
            bytes = section_bytes(f, s);
        }
        total += g_bytes_get_size(bytes);
        last = g_strconcat(parts[n - 1], suffix, NULL);
        g_free(parts[n - 1]);
        parts[n - 1] = last;
        if (!mfs_tree_add(tb, parts, strlen(suffix), ops,
                          mfs_text_new(bytes, s))) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                         "device section \"%s\" instance %u maps to the same "
                         "path as another", s->idstr, s->instance_id);
            return FALSE;
        }
    }
    return TRUE;
}

const MfsView mfs_view_devices = { "devices", TRUE, build_devices };
