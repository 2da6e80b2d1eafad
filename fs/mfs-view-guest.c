/* guest/: the snapshot as the guest sees its memory (docs/GUESTMAP.md).
 *
 *   memmap.json  the guest-physical map: ranges, why, what is missing;
 *   physmem      guest-physical memory, offset = address: a sparse file as
 *                long as the end of the highest range, holes where nothing
 *                is mapped and where pages are absent; writable on a
 *                read-write mount over RAM ranges, ENXIO elsewhere;
 *   vmcore       the ELF core QEMU's dump-guest-memory would write
 *                (docs/VMCORE.md), read-only; absent when it cannot be
 *                made exactly, with the reason in memmap.json's "vmcore".
 *
 * The map is built once at mount (ds_guest_map_new); what it cannot
 * decide is in memmap.json's "missing", never guessed.  Another file of
 * the guest's view is one more mfs_tree_add() in build_guest() from the
 * same map. */
#include "ds-guestmap.h"
#include "ds-vmcore.h"
#include "mfs-fs.h"
#include "mfs-text.h"
#include "mfs-vfile.h"
#include "mr-error.h"

static gboolean
add_file(MfsTreeBuilder *tb, const char *name, const MfsFileOps *ops,
         gpointer data)
{
    char *parts[] = { (char *)name, NULL };

    return mfs_tree_add(tb, parts, 0, ops, data);
}

/* memmap.json for a snapshot whose map could not be built (its device
 * state cannot be read): what went wrong, and no physmem. */
static gboolean
add_error(MfsTreeBuilder *tb, const GError *e)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(e->message));
    return add_file(tb, "memmap.json", &mfs_text_ops,
                    mfs_text_new(mfs_json_bytes(o), NULL));
}

static gboolean
build_guest(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(DsGuestMap) m = ds_guest_map_new(f, &e);
    MrVfile *physmem, *vmcore;
    json_object *status, *doc;

    if (m == NULL)
        return add_error(tb, e);
    physmem = ds_guest_physmem(f, m, &e);
    if (physmem == NULL)
        return add_error(tb, e);
    /* Cheap (headers and notes in memory, no page read): made at mount so
     * that the file exists exactly when it can be QEMU's core. */
    vmcore = ds_vmcore_offer(f, m, &status);
    doc = ds_guest_map_json(m);
    json_object_object_add(doc, "vmcore", status);
    add_file(tb, "memmap.json", &mfs_text_ops,
             mfs_text_new(mfs_json_bytes(doc), NULL));
    add_file(tb, "physmem", &mfs_vfile_ram_ops, physmem);
    if (vmcore)
        add_file(tb, "vmcore", &mfs_vfile_ro_uncached_ops, vmcore);
    return TRUE;
}

const MfsView mfs_view_guest = { "guest", TRUE, build_guest };
