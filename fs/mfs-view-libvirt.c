/* libvirt/: what libvirt's header of a save image holds (mr-libvirt.h,
 * docs/LIBVIRT.md): domain.xml, the domain XML as stored without its NUL
 * and padding, and header.json, the header's fields.  Empty for a file
 * without libvirt's header.  A rewritten image (mfs-change.c) may bring
 * another XML: the files are rebuilt then. */
#include "mfs-fs.h"
#include "mfs-text.h"

typedef enum { LIBVIRT_XML = 1, LIBVIRT_HEADER } Which;

static GBytes *
libvirt_bytes(const MrFile *f, Which which)
{
    const MrLibvirtHeader *h = f->libvirt;

    if (which == LIBVIRT_XML)
        return h && h->xml ? g_bytes_new(h->xml, h->xml_len) : g_bytes_new(NULL, 0);
    return mfs_json_bytes(h ? mr_libvirt_header_json(h) : json_object_new_object());
}

/* After any change of the snapshot (changed is NULL then, or a section). */
static void
libvirt_refresh(MfsFs *fs, MfsNode *n, const MrSection *changed)
{
    Which which = GPOINTER_TO_INT(mfs_text_source(n));

    mfs_text_set(n, libvirt_bytes(fs->tree->file, which));
}

static const MfsFileOps libvirt_ops = {
    .flags = MFS_FILE_UNCACHED,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .refresh = libvirt_refresh,
    .free = mfs_text_free,
};

static gboolean
build_libvirt(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    char *xml[] = { "domain.xml", NULL }, *header[] = { "header.json", NULL };

    if (f->libvirt == NULL)
        return TRUE;
    return mfs_tree_add(tb, xml, 0, &libvirt_ops,
                        mfs_text_new(libvirt_bytes(f, LIBVIRT_XML),
                                     GINT_TO_POINTER(LIBVIRT_XML))) &&
           mfs_tree_add(tb, header, 0, &libvirt_ops,
                        mfs_text_new(libvirt_bytes(f, LIBVIRT_HEADER),
                                     GINT_TO_POINTER(LIBVIRT_HEADER)));
}

const MfsView mfs_view_libvirt = { "libvirt", TRUE, build_libvirt };
