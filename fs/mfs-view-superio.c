/* superio/: the Super I/O chip's functions (docs/FORMAT.md §14), one JSON
 * document per chip the snapshot has: pc87312.json (writable on a
 * read-write mount), vt82c686b.json or vt8231.json.
 *
 * A chip whose section devstate/ cannot interpret still has its file, a
 * read-only document that says why ({"decoded": false, "reason"}): the
 * rest of the mount is served whatever one device says. */
#include <string.h>
#include <syslog.h>

#include "ds-decode.h"
#include "ds-superio.h"
#include "mfs-fs.h"
#include "mfs-text.h"
#include "mr-error.h"

#define PC87312_NODE "pc87312.json"
/* The VIA chip is told by its PCI device id; without it, this name. */
#define VIA_UNKNOWN_NODE "via-isa.json"

static GBytes *
undecoded_bytes(const char *device, const MrSection *s, const GError *why)
{
    json_object *o = ds_undecoded_section(s, why->message);

    json_object_object_add(o, "device", json_object_new_string(device));
    mfs_log(LOG_WARNING, "superio/: %s not decoded, shown read-only: %s",
            device, why->message);
    return mfs_json_bytes(o);
}

/* ---- PC87312 ---------------------------------------------------------- */

/* The document of the pc87312 section as the file holds it now, or why it
 * cannot be shown. */
static GBytes *
pc87312_bytes(MrFile *f, MrSection *s, gboolean *decoded)
{
    g_autoptr(GError) err = NULL;
    DsPc87312 p;

    *decoded = ds_pc87312_load(f, s, &p, &err);
    if (*decoded)
        return mfs_json_bytes(ds_pc87312_json(&p));
    return undecoded_bytes("pc87312", s, err);
}

/* The bytes of the section from lo to hi as they are to be: the file's,
 * with the five one-byte leaves the document sets. */
static gboolean
pc87312_image(MrFile *f, const DsPc87312 *cur, const DsPc87312Regs *next,
              guint64 lo, guint64 hi, guint8 *out, GError **err)
{
    const struct { guint64 at; guint8 v; } leaves[] = {
        { cur->regs_offset, next->fer }, { cur->regs_offset + 1, next->far },
        { cur->regs_offset + 2, next->ptr },
        { cur->selected_offset, next->selected_index },
        { cur->step_offset, next->read_id_step },
    };

    if (!mr_section_read(f, cur->section, lo, out, (gsize)(hi - lo), err))
        return FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(leaves); i++)
        if (leaves[i].at >= lo && leaves[i].at < hi)
            out[leaves[i].at - lo] = leaves[i].v;
    return TRUE;
}

/* The document's registers go to their bytes in the pc87312 section
 * (docs/FORMAT.md §14.1, §13.6).  A document that does not parse, or asks for
 * what the chip cannot express, changes nothing.  The registers change
 * all together or not at all, also across a power loss: the bytes that
 * change (QEMU lays read_id_step, selected_index and FER FAR PTR out as
 * five consecutive bytes) are one write, which mr_section_write() makes
 * only inside one disk sector, and refuses across a sector boundary
 * (docs/CRASH-CONSISTENCY.md §1). */
static int
pc87312_apply(MfsFs *fs, MfsNode *n, const char *text, gsize len)
{
    MrFile *f = fs->tree->file;
    g_autoptr(GError) err = NULL;
    g_autofree guint8 *image = NULL;
    DsPc87312 cur;
    DsPc87312Regs next;
    guint64 lo = G_MAXUINT64, hi = 0;

    if (!ds_pc87312_load(f, mfs_text_source(n), &cur, &err) ||
        !ds_pc87312_parse(&cur, text, len, &next, &err))
        return mfs_errno_from_error(err, "superio/" PC87312_NODE ": refused, "
                                    "nothing written");
    /* The span of the leaves that change. */
    {
        const guint64 at[] = { cur.regs_offset, cur.regs_offset + 1,
                               cur.regs_offset + 2, cur.selected_offset,
                               cur.step_offset };
        const guint8 was[] = { cur.regs.fer, cur.regs.far, cur.regs.ptr,
                               cur.regs.selected_index, cur.regs.read_id_step };
        const guint8 now[] = { next.fer, next.far, next.ptr,
                               next.selected_index, next.read_id_step };
        for (guint i = 0; i < G_N_ELEMENTS(at); i++) {
            if (was[i] == now[i])
                continue;
            lo = MIN(lo, at[i]);
            hi = MAX(hi, at[i] + 1);
        }
    }
    if (lo >= hi)
        return 0;
    image = g_malloc(hi - lo);
    if (!pc87312_image(f, &cur, &next, lo, hi, image, &err) ||
        !mr_section_write(fs->updater, cur.section, lo, image, hi - lo, &err)) {
        int e = mfs_errno_from_error(err, "superio/" PC87312_NODE ": writing "
                                     "the registers");
        /* What the file holds now is shown, whatever the error left. */
        mfs_fs_section_changed(fs, cur.section);
        return e;
    }
    mfs_log(LOG_INFO, "pc87312: registers FER FAR PTR %02x %02x %02x -> %02x "
            "%02x %02x (QEMU will not move its devices on restore)",
            cur.regs.fer, cur.regs.far, cur.regs.ptr, next.fer, next.far,
            next.ptr);
    mfs_fs_section_changed(fs, cur.section);
    return 0;
}

/* Shows what the file now says, read back from it. */
static void
pc87312_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    gboolean decoded;

    if (mfs_text_source(n) == changed)
        mfs_text_set(n, pc87312_bytes(fs->tree->file, mfs_text_source(n), &decoded));
}

static const MfsFileOps pc87312_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .apply = pc87312_apply,
    .refresh = pc87312_refresh,
    .free = mfs_text_free,
};

/* A pc87312 section the view could not read when it was mounted: read-only
 * for the life of the mount, but what it says follows the file. */
static const MfsFileOps pc87312_undecoded_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .refresh = pc87312_refresh,
    .free = mfs_text_free,
};

/* ---- VIA ---------------------------------------------------------- */

/* The document of the via-isa section s as the file holds it now, or why
 * it cannot be shown; *name is the file name the chip asks for. */
static GBytes *
via_bytes(MrFile *f, MrSection *s, const char **name)
{
    g_autoptr(GError) err = NULL;
    json_object *o;

    *name = NULL;
    o = ds_via_json(f, s, name, &err);
    if (o == NULL)
        return undecoded_bytes("via-isa", s, err);
    return mfs_json_bytes(o);
}

/* The document gathers the chip's section and its children (serial,
 * parallel, FDC), so it is made again after another program rewrote the
 * snapshot (changed NULL), not per section. */
static void
via_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    MrSection *s = mfs_text_source(n);
    const char *name;
    GBytes *bytes;

    if (changed != NULL)
        return;
    bytes = via_bytes(fs->tree->file, s, &name);
    if (name && !g_str_equal(name, n->name)) {
        /* A file cannot be renamed under its readers: this one says so. */
        g_autoptr(GError) why = g_error_new(
            MR_ERROR, MR_ERROR_UNSUPPORTED, "the snapshot was rewritten while "
            "mounted and now holds the chip of %s: mount it again to see it",
            name);
        g_bytes_unref(bytes);
        bytes = undecoded_bytes("via-isa", s, why);
    }
    mfs_text_set(n, bytes);
}

static const MfsFileOps via_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .refresh = via_refresh,
    .free = mfs_text_free,
};

/* ---- the view ------------------------------------------------------ */

static gboolean
add(MfsTreeBuilder *tb, const char *name, const MfsFileOps *ops, GBytes *bytes,
    MrSection *s)
{
    char *parts[] = { (char *)name, NULL };

    /* The names are this file's own: they cannot collide. */
    return mfs_tree_add(tb, parts, 0, ops, mfs_text_new(bytes, s));
}

static gboolean
build_superio(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    /* Without a vmdesc nothing of a section can be decoded: no file. */
    MrSection *pc = ds_pc87312_section(f), *via = ds_via_section(f);
    const char *via_name = NULL;

    if (pc) {
        gboolean decoded;
        GBytes *bytes = pc87312_bytes(f, pc, &decoded);
        add(tb, PC87312_NODE, decoded ? &pc87312_ops : &pc87312_undecoded_ops,
            bytes, pc);
    }
    if (via) {
        GBytes *bytes = via_bytes(f, via, &via_name);
        add(tb, via_name ? via_name : VIA_UNKNOWN_NODE, &via_ops, bytes, via);
    }
    return TRUE;
}

const MfsView mfs_view_superio = { "superio", TRUE, build_superio };
