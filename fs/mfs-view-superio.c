/* superio/: the Super I/O chip's functions (FORMAT.md §14), one JSON
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
pc87312_bytes(MrFile *f, const MrSection *s, gboolean *decoded)
{
    g_autoptr(GError) err = NULL;
    DsPc87312 p;

    *decoded = ds_pc87312_load(f, &p, &err);
    if (*decoded)
        return mfs_json_bytes(ds_pc87312_json(&p));
    if (err == NULL)
        g_set_error(&err, MR_ERROR, MR_ERROR_INVALID,
                    "%s: section \"pc87312\" is no longer described", f->path);
    return undecoded_bytes("pc87312", s, err);
}

static gboolean
write_byte(MfsFs *fs, const DsPc87312 *p, guint64 off, guint8 old, guint8 val,
           GError **err)
{
    if (old == val)
        return TRUE;
    return mr_section_write(fs->updater, p->section, off, &val, 1, err);
}

/* The document's registers go to their bytes in the pc87312 section
 * (FORMAT.md §14.1, §13.6).  A document that does not parse, or asks for
 * what the chip cannot express, changes nothing.  The registers are up to
 * three writes (FER FAR PTR, selected_index, read_id_step), each durable:
 * an I/O error between them leaves the earlier ones written. */
static int
pc87312_apply(MfsFs *fs, MfsNode *n, const char *text, gsize len)
{
    MrFile *f = fs->tree->file;
    g_autoptr(GError) err = NULL;
    DsPc87312 cur;
    DsPc87312Regs next;
    guint8 regs[3], old[3];

    if (!ds_pc87312_load(f, &cur, &err)) {
        if (err == NULL)
            g_set_error(&err, MR_ERROR, MR_ERROR_INVALID,
                        "%s: no pc87312 section", f->path);
        return mfs_errno_from_error(err, "superio/" PC87312_NODE ": refused, "
                                    "nothing written");
    }
    if (!ds_pc87312_parse(&cur, text, len, &next, &err))
        return mfs_errno_from_error(err, "superio/" PC87312_NODE ": refused, "
                                    "nothing written");
    regs[0] = next.fer, regs[1] = next.far, regs[2] = next.ptr;
    old[0] = cur.regs.fer, old[1] = cur.regs.far, old[2] = cur.regs.ptr;
    if ((memcmp(regs, old, sizeof(regs)) != 0 &&
         !mr_section_write(fs->updater, cur.section, cur.regs_offset, regs,
                           sizeof(regs), &err)) ||
        !write_byte(fs, &cur, cur.selected_offset, cur.regs.selected_index,
                    next.selected_index, &err) ||
        !write_byte(fs, &cur, cur.step_offset, cur.regs.read_id_step,
                    next.read_id_step, &err)) {
        int e = mfs_errno_from_error(err, "superio/" PC87312_NODE ": writing "
                                     "the registers");
        /* Whatever was written before the error is shown. */
        mfs_fs_section_changed(fs, cur.section);
        return e;
    }
    mfs_log(LOG_INFO, "pc87312: registers FER FAR PTR %02x %02x %02x -> %02x "
            "%02x %02x (QEMU will not move its devices on restore)",
            old[0], old[1], old[2], regs[0], regs[1], regs[2]);
    mfs_fs_section_changed(fs, cur.section);
    return 0;
}

/* Shows what the file now says, read back from it. */
static void
pc87312_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    gboolean decoded;

    if (mfs_text_source(n) == changed)
        mfs_text_set(n, pc87312_bytes(fs->tree->file, changed, &decoded));
}

static const MfsFileOps pc87312_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .apply = pc87312_apply,
    .refresh = pc87312_refresh,
    .free = mfs_text_free,
};

/* ---- VIA VT82C686B / VT8231 ---------------------------------------- */

static MrSection *
via_section(const MrFile *f)
{
    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        if (g_str_has_suffix(s->idstr, "/via-isa") && s->desc)
            return s;
    }
    return NULL;
}

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
    MrSection *pc = ds_find_section(f, "pc87312", 0), *via = via_section(f);
    g_autoptr(GError) local = NULL;
    const char *via_name = NULL;
    json_object *o;

    /* Without a vmdesc nothing of a section can be decoded: no file. */
    if (pc && pc->desc) {
        gboolean decoded;
        GBytes *bytes = pc87312_bytes(f, pc, &decoded);
        add(tb, PC87312_NODE, decoded ? &pc87312_ops : &mfs_text_ops, bytes, pc);
    }
    if (via) {
        o = ds_via_json(f, &via_name, &local);
        if (o)
            add(tb, via_name, &mfs_text_ops, mfs_json_bytes(o), via);
        else if (local)
            add(tb, via_name ? via_name : VIA_UNKNOWN_NODE, &mfs_text_ops,
                undecoded_bytes("via-isa", via, local), via);
    }
    return TRUE;
}

const MfsView mfs_view_superio = { "superio", TRUE, build_superio };
