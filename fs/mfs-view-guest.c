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
 * All three come from one map (ds_guest_map_new), built at mount; what it
 * cannot decide is in memmap.json's "missing", never guessed.  The map
 * follows device state (PAM/SMRAM registers, PCI BARs, CPU registers for
 * the core's notes), which another program may rewrite with the same
 * layout (mfs-change.c): memmap.json's refresh then builds the map again
 * and gives each file its new bytes, once per change.  A file that was
 * there at mount and can no longer be made fails with EIO, and one that
 * was not there does not appear (a mount's files are fixed); the log says
 * which and why.  Another file of the guest's view is one more part in
 * GuestParts, made in make_parts() from the same map. */
#include <syslog.h>

#include "ds-guestmap.h"
#include "ds-vmcore.h"
#include "mfs-fs.h"
#include "mfs-text.h"
#include "mfs-vfile.h"

#define PHYSMEM "physmem"
#define VMCORE "vmcore"

/* What the view's files show, made from the snapshot as it is now. */
typedef struct {
    json_object *doc;           /* memmap.json, taken by whoever serves it */
    json_object *vmcore_status; /* its "vmcore" (in doc); NULL with no map */
    MrVfile *physmem, *vmcore;  /* NULL: cannot be made, see why */
    char *physmem_why, *vmcore_why;
} GuestParts;

static void
parts_clear(GuestParts *p)
{
    mr_vfile_free(p->physmem);
    mr_vfile_free(p->vmcore);
    g_free(p->physmem_why);
    g_free(p->vmcore_why);
}

/* No map (the device state cannot be read): memmap.json says what went
 * wrong, and there is neither physmem nor vmcore. */
static void
parts_error(GuestParts *p, const GError *e)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(e->message));
    p->doc = o;
    p->physmem_why = g_strdup(e->message);
    p->vmcore_why = g_strdup(e->message);
}

static void
make_parts(MrFile *f, GuestParts *p)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(DsGuestMap) m = ds_guest_map_new(f, &e);

    *p = (GuestParts){ 0 };
    if (m == NULL || (p->physmem = ds_guest_physmem(f, m, &e)) == NULL) {
        parts_error(p, e);
        return;
    }
    /* Cheap (headers and notes in memory, no page read): made with the
     * map so that the file exists exactly when it can be QEMU's core. */
    p->vmcore = ds_vmcore_offer(f, m, &p->vmcore_status);
    if (p->vmcore == NULL)
        p->vmcore_why = g_strdup(json_object_get_string(
            json_object_object_get(p->vmcore_status, "why")));
    p->doc = ds_guest_map_json(m);
    json_object_object_add(p->doc, "vmcore", p->vmcore_status);
}

/* A file of the mount takes its new pieces, or fails from now on. */
static void
take(MfsNode *n, const char *name, MrVfile **v, const char *why)
{
    if (n == NULL && *v) {
        mfs_log(LOG_NOTICE, "guest/%s: can be made from the rewritten "
                "snapshot, but a file cannot appear without a remount: "
                "mount it again to see it", name);
    } else if (n && *v == NULL) {
        mfs_log(LOG_ERR, "guest/%s: cannot be made from the rewritten "
                "snapshot: %s; it fails with EIO rather than show the "
                "snapshot that was", name, why);
    }
    if (n)
        mfs_vfile_replace(n, g_steal_pointer(v));
}

/* Only after another program rewrote the snapshot (changed NULL): a
 * document changes Super I/O registers, which no rule of the map reads
 * (ds-guestmap.h).  Runs with the model held as the writer, so the files
 * change whole for every reader. */
static void
guest_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    MfsNode *physmem = mfs_tree_lookup(n->parent, PHYSMEM);
    MfsNode *vmcore = mfs_tree_lookup(n->parent, VMCORE);
    GuestParts p;

    if (changed != NULL)
        return;
    make_parts(fs->tree->file, &p);
    take(physmem, PHYSMEM, &p.physmem, p.physmem_why);
    if (vmcore == NULL && p.vmcore) {
        /* memmap.json says what the mount has, not what a new one would. */
        json_object_object_add(p.vmcore_status, "offered",
                               json_object_new_boolean(FALSE));
        json_object_object_add(p.vmcore_status, "why", json_object_new_string(
            "the snapshot was rewritten while mounted and its core can now "
            "be made, but a file cannot appear without a remount: mount it "
            "again"));
    }
    take(vmcore, VMCORE, &p.vmcore, p.vmcore_why);
    mfs_text_set(n, mfs_json_bytes(p.doc));
    parts_clear(&p);
}

static const MfsFileOps memmap_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .refresh = guest_refresh,
    .free = mfs_text_free,
};

static gboolean
add_file(MfsTreeBuilder *tb, const char *name, const MfsFileOps *ops,
         gpointer data)
{
    char *parts[] = { (char *)name, NULL };

    return mfs_tree_add(tb, parts, 0, ops, data);
}

static gboolean
build_guest(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    GuestParts p;

    make_parts(f, &p);
    add_file(tb, "memmap.json", &memmap_ops,
             mfs_text_new(mfs_json_bytes(p.doc), NULL));
    if (p.physmem)
        add_file(tb, PHYSMEM, &mfs_vfile_ram_ops,
                 mfs_vfile_new(g_steal_pointer(&p.physmem)));
    if (p.vmcore)
        add_file(tb, VMCORE, &mfs_vfile_ro_uncached_ops,
                 mfs_vfile_new(g_steal_pointer(&p.vmcore)));
    parts_clear(&p);
    return TRUE;
}

const MfsView mfs_view_guest = { "guest", TRUE, build_guest };
