/* snapshot.json: the snapshot's summary (mr-summary.h), made at each read:
 * it counts present pages, which a mount must not read every bitmap for
 * (mr-bitmap.h) and which writes change. */
#include "mfs-fs.h"
#include "mfs-text.h"
#include "mr-summary.h"

static GBytes *
summary_bytes(MfsFs *fs, const MfsNode *n)
{
    return mfs_json_bytes(mr_summary_json(fs->tree->file));
}

static gboolean
build_snapshot(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    mfs_tree_add(tb, NULL, 0, &mfs_text_ops, mfs_text_new_generated(summary_bytes));
    return TRUE;
}

const MfsView mfs_view_snapshot = { "snapshot.json", FALSE, build_snapshot };
