/* Finding a PCI device's state in the snapshot (ds-gm.h): its qdev path,
 * the section and the field that hold its configuration space.
 *
 * A RAM block of a PCI device is named "<path>/<region>" and its section
 * "<path>/<vmsd name>"; a device on a root bus has the path "<bus>:SS.F",
 * one behind bridges one ":SS.F" more per bridge.  The configuration is
 * the "config" field of a PCIDevice or PCIEDevice struct
 * (VMSTATE_PCI_DEVICE, hw/pci/pci.c vmstate_pci_device), or the start of
 * a virtio device's "virtio" field. */
#include "ds-gm.h"

#include <string.h>

#include "mr-cursor.h"
#include "mr-error.h"

json_object *
gm_pci_cfg_fact(const GmPciDev *d, guint reg, guint64 value)
{
    g_autofree char *field = g_strdup_printf("%s[0x%x]", d->config_field, reg);

    return gm_ref(d->section->idstr, field, d->config_offset + reg,
                  gm_hex(value));
}

json_object *
gm_pci_cfg_ref(const GmPciDev *d, guint reg, guint width)
{
    const guint8 *p = d->config + reg;
    guint64 v = width == 1 ? p[0]
              : width == 2 ? gm_le16(p)
              : width == 4 ? gm_le32(p)
              : gm_le32(p) | (guint64)gm_le32(p + 4) << 32;

    return gm_pci_cfg_fact(d, reg, v);
}

void
gm_pci_dev_free(GmPciDev *d)
{
    if (d == NULL)
        return;
    g_free(d->path);
    g_free(d->bus);
    g_free(d->vmsd);
    g_free(d->config_field);
    g_free(d->config);
    g_free(d);
}

/* ":SS.F" at the end of path: the slot and function. */
gboolean
gm_pci_split_path(const char *path, char **bus, guint *slot, guint *fn)
{
    const char *colon = strrchr(path, ':'), *p;

    if (colon == NULL || colon == path || strlen(colon + 1) != 4)
        return FALSE;
    p = colon + 1;
    if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) || p[2] != '.' ||
        p[3] < '0' || p[3] > '7')
        return FALSE;
    *slot = g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]);
    if (*slot > 0x1f)
        return FALSE;
    *fn = (guint)(p[3] - '0');
    *bus = g_strndup(path, colon - path);
    return TRUE;
}

char *
gm_pci_path_of_block(const char *idstr)
{
    const char *slash = strrchr(idstr, '/');
    g_autofree char *path = NULL, *bus = NULL;
    guint s, f;

    if (slash == NULL || slash == idstr)
        return NULL;
    path = g_strndup(idstr, slash - idstr);
    if (!gm_pci_split_path(path, &bus, &s, &f))
        return NULL;
    return g_steal_pointer(&path);
}

/* The struct holding a PCIDevice's state (VMSTATE_PCI_DEVICE), anywhere in
 * the section: its "config" leaf and that leaf's path. */
static json_object *
find_config(json_object *node, GString *path)
{
    json_object *fields, *vmsd;

    if (!json_object_object_get_ex(node, "fields", &fields))
        return NULL;
    if (json_object_object_get_ex(node, "vmsd_name", &vmsd) &&
        (g_str_equal(json_object_get_string(vmsd), "PCIDevice") ||
         g_str_equal(json_object_get_string(vmsd), "PCIEDevice"))) {
        json_object_object_foreach(fields, key, val) {
            if (g_str_has_prefix(key, "config") &&
                json_object_is_type(val, json_type_object)) {
                g_string_append(path, key);
                return val;
            }
        }
    }
    json_object_object_foreach(fields, key, val) {
        json_object *child = val, *type, *found;
        gsize len = path->len;
        if (json_object_is_type(child, json_type_array))
            child = json_object_array_get_idx(child, 0);
        if (!json_object_is_type(child, json_type_object) ||
            !json_object_object_get_ex(child, "type", &type) ||
            !g_str_equal(json_object_get_string(type), "struct"))
            continue;
        g_string_append_printf(path, "%s/", key);
        found = find_config(child, path);
        if (found)
            return found;
        g_string_truncate(path, len);
    }
    return NULL;
}

/* The device at path whose state is section s (decoded: dev). */
static GmPciDev *
new_dev(const char *path, const MrSection *s, json_object *dev,
        char *config_field)
{
    GmPciDev *d = g_new0(GmPciDev, 1);
    json_object *vmsd;

    d->path = g_strdup(path);
    if (!gm_pci_split_path(path, &d->bus, &d->slot, &d->fn))
        d->bus = g_strdup("");
    d->section = s;
    d->dev = dev;
    d->vmsd = g_strdup(json_object_object_get_ex(dev, "vmsd_name", &vmsd)
                       ? json_object_get_string(vmsd) : "");
    d->config_field = config_field;
    return d;
}

/* A virtio PCI device saves its PCI state inside its "virtio" field
 * (hw/virtio/virtio.c virtio_save calls hw/virtio/virtio-pci.c
 * virtio_pci_save_config, which writes hw/pci/pci.c pci_device_save's
 * version_id and config first): the standard 256 bytes follow 4 bytes of
 * version id 2.  A PCI Express device's config is longer, but the header
 * with the command register and the BARs is these 256 bytes either way. */
static gboolean
virtio_config(GmCtx *c, const MrSection *s, json_object *dev, const char *path,
              GmPciDev **out, GError **err)
{
    json_object *leaf = ds_find_field(dev, "virtio"), *type, *size, *off;
    g_autoptr(GmPciDev) d = NULL;
    guint8 head[4 + 256];

    *out = NULL;
    if (leaf == NULL || !json_object_object_get_ex(leaf, "type", &type) ||
        !g_str_equal(json_object_get_string(type), "virtio") ||
        !json_object_object_get_ex(leaf, "size", &size) ||
        json_object_get_uint64(size) < sizeof(head) ||
        !json_object_object_get_ex(leaf, "offset", &off))
        return TRUE;
    if (!mr_section_read(c->f, s, json_object_get_uint64(off), head,
                         sizeof(head), err))
        return FALSE;
    /* version_id 2, and the virtio vendor id 0x1af4. */
    if (memcmp(head, "\0\0\0\2", 4) != 0 || head[4] != 0xf4 || head[5] != 0x1a)
        return TRUE;
    d = new_dev(path, s, dev, g_strdup("virtio[4:]"));
    d->config_offset = json_object_get_uint64(off) + 4;
    d->config_size = 256;
    d->config = g_memdup2(head + 4, 256);
    *out = g_steal_pointer(&d);
    return TRUE;
}

gboolean
gm_pci_find(GmCtx *c, const char *path, GmPciDev **out, GError **err)
{
    g_autofree char *prefix = g_strconcat(path, "/", NULL);

    *out = NULL;
    for (guint i = 0; i < c->f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(c->f->devices, i);
        g_autoptr(GString) fpath = g_string_new(NULL);
        g_autoptr(GmPciDev) d = NULL;
        json_object *dev, *leaf;
        const char *why;
        guint64 size;

        if (!g_str_has_prefix(s->idstr, prefix) ||
            strchr(s->idstr + strlen(prefix), '/'))
            continue;
        if (!gm_section(c, s->idstr, s->instance_id, &dev, &why, err))
            return FALSE;
        if (dev == NULL)
            continue;
        if ((leaf = find_config(dev, fpath)) == NULL) {
            if (!virtio_config(c, s, dev, path, out, err))
                return FALSE;
            if (*out)
                return TRUE;
            continue;
        }
        d = new_dev(path, s, dev, g_string_free(g_steal_pointer(&fpath), FALSE));
        size = json_object_get_uint64(json_object_object_get(leaf, "size"));
        if (size < 64 || size > 4096) {
            mr_set_error(err, MR_ERROR_INVALID, c->f->path, s->offset,
                         "device section \"%s\": PCI configuration of %"
                         G_GINT64_MODIFIER "u bytes (expected 64 to 4096)",
                         s->idstr, size);
            return FALSE;
        }
        d->config_size = size;
        d->config = g_malloc(size);
        if (!gm_field_bytes(c, dev, d->config_field, d->config, size,
                            &d->config_offset, err))
            return FALSE;
        *out = g_steal_pointer(&d);
        return TRUE;
    }
    return TRUE;
}

gboolean
gm_pci_cached(GmCtx *c, GHashTable *devs, const char *path, GmPciDev **out,
              GError **err)
{
    if (g_hash_table_lookup_extended(devs, path, NULL, (gpointer *)out))
        return TRUE;
    if (!gm_pci_find(c, path, out, err))
        return FALSE;
    g_hash_table_insert(devs, g_strdup(path), *out);
    return TRUE;
}

