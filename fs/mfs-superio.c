/* superio/pc87312.json written back: the document's registers go to their
 * bytes in the pc87312 section (FORMAT.md §14.1, §13.6), then the JSON
 * files that show them are rebuilt from the file. */
#include <string.h>
#include <syslog.h>

#include "ds-decode.h"
#include "ds-superio.h"
#include "mfs-fs.h"
#include "mr-error.h"

static gboolean
write_byte(MfsFs *fs, const DsPc87312 *p, guint64 off, guint8 old, guint8 val,
           GError **err)
{
    if (old == val)
        return TRUE;
    return mr_section_write(fs->updater, p->section, off, &val, 1, err);
}

static gboolean
apply_pc87312(void *ctx, MfsNode *n, const char *text, gsize len, GError **err)
{
    MfsFs *fs = ctx;
    MrFile *f = fs->tree->file;
    DsPc87312 cur, now;
    DsPc87312Regs next;
    guint8 regs[3], old[3];
    MfsNode *dev;
    GError *local = NULL;

    if (!ds_pc87312_load(f, &cur, &local)) {
        if (local == NULL)
            g_set_error(&local, MR_ERROR, MR_ERROR_INVALID, "%s: no pc87312 section",
                        f->path);
        g_propagate_error(err, local);
        return FALSE;
    }
    if (!ds_pc87312_parse(&cur, text, len, &next, err))
        return FALSE;
    regs[0] = next.fer, regs[1] = next.far, regs[2] = next.ptr;
    old[0] = cur.regs.fer, old[1] = cur.regs.far, old[2] = cur.regs.ptr;
    if (memcmp(regs, old, sizeof(regs)) != 0 &&
        !mr_section_write(fs->updater, cur.section, cur.regs_offset, regs,
                          sizeof(regs), err))
        return FALSE;
    if (!write_byte(fs, &cur, cur.selected_offset, cur.regs.selected_index,
                    next.selected_index, err) ||
        !write_byte(fs, &cur, cur.step_offset, cur.regs.read_id_step,
                    next.read_id_step, err))
        return FALSE;
    mfs_log(LOG_INFO, "pc87312: registers FER FAR PTR %02x %02x %02x -> %02x "
            "%02x %02x (QEMU will not move its devices on restore)",
            old[0], old[1], old[2], regs[0], regs[1], regs[2]);
    /* Show what the file now says, read back from it. */
    if (!ds_pc87312_load(f, &now, err))
        return FALSE;
    mfs_tree_set_blob(fs->tree, n, mfs_json_bytes(ds_pc87312_json(&now)));
    dev = mfs_tree_resolve(fs->tree, "devices/pc87312.0.json");
    if (dev) {
        json_object *o = ds_decode_section(f, now.section, err);
        if (o == NULL)
            return FALSE;
        mfs_tree_set_blob(fs->tree, dev, mfs_json_bytes(o));
    }
    return TRUE;
}

void
mfs_superio_init(MfsFs *fs)
{
    MfsNode *n = mfs_tree_resolve(fs->tree, "superio/" MFS_PC87312_NODE);

    if (n && fs->updater)
        n->apply = apply_pc87312;
}
