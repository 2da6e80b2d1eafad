/* PCI-to-PCI bridges in the guest-physical map (ds-gm.h): the buses behind
 * them and the windows through which their parent bus sees those buses.
 *
 * hw/pci/pci_bridge.c pci_bridge_region_init, as get_pci_config_device
 * runs it on a restore: the prefetchable window (config 0x24/0x26, the
 * upper halves 0x28/0x2c when its type is 64-bit) and the memory window
 * (0x20/0x22), each [base, limit | 0xfffff] of the secondary bus's memory
 * space, are aliases at priority 1 in the parent's, present when the
 * command register has memory decoding and limit >= base; with the VGA
 * bit of the bridge control register (0x3e bit 3) the legacy window
 * 0xa0000-0xbffff is forwarded too (pci_bridge_init_vga_aliases,
 * pci_register_vga, enabled by pci_update_vga with memory decoding). */
#include "ds-gm.h"

#include <string.h>

#define PCI_MEMORY_BASE 0x20
#define PCI_MEMORY_LIMIT 0x22
#define PCI_PREF_MEMORY_BASE 0x24
#define PCI_PREF_MEMORY_LIMIT 0x26
#define PCI_PREF_BASE_UPPER32 0x28
#define PCI_PREF_LIMIT_UPPER32 0x2c
#define PCI_BRIDGE_CONTROL 0x3e
#define PCI_BRIDGE_CTL_VGA 0x08

/* hw/pci/pci_bridge.c pci_config_get_memory_base / _pref_base. */
static guint64
window_reg(const guint8 *cfg, guint reg, guint upper, gboolean pref)
{
    guint64 w = gm_le16(cfg + reg), v = (w & ~0xfull) << 16;

    if (pref && (w & 0xf) == 1)
        v |= (guint64)gm_le32(cfg + upper) << 32;
    return v;
}

static void
add_window(const GmPciDev *d, GmSpace *parent, GmSpace *sec, gboolean pref)
{
    guint breg = pref ? PCI_PREF_MEMORY_BASE : PCI_MEMORY_BASE;
    guint lreg = pref ? PCI_PREF_MEMORY_LIMIT : PCI_MEMORY_LIMIT;
    guint64 base = window_reg(d->config, breg, PCI_PREF_BASE_UPPER32, pref);
    guint64 limit = window_reg(d->config, lreg, PCI_PREF_LIMIT_UPPER32, pref) |
                    0xfffff;
    json_object *why;

    if (!(gm_le16(d->config + PCI_COMMAND) & PCI_COMMAND_MEMORY) || limit < base)
        return;
    why = json_object_new_object();
    json_object_object_add(why, "rule", json_object_new_string(
        pref ? "pci-bridge-pref-window" : "pci-bridge-window"));
    json_object_object_add(why, "source", json_object_new_string(
        "hw/pci/pci_bridge.c pci_bridge_region_init"));
    json_object_object_add(why, "bridge", json_object_new_string(d->path));
    json_object_object_add(why, "command",
                           gm_pci_cfg_fact(d, PCI_COMMAND, gm_le16(d->config + PCI_COMMAND)));
    json_object_object_add(why, "base", gm_pci_cfg_fact(d, breg, gm_le16(d->config + breg)));
    json_object_object_add(why, "limit", gm_pci_cfg_fact(d, lreg, gm_le16(d->config + lreg)));
    gm_add_alias(parent, base, limit - base + 1, 1, sec, base, why);
}

static gint
by_depth(gconstpointer a, gconstpointer b)
{
    const GmPciDev *x = *(const GmPciDev *const *)a;
    const GmPciDev *y = *(const GmPciDev *const *)b;
    gsize lx = strlen(x->path), ly = strlen(y->path);

    return lx < ly ? -1 : lx > ly;
}

GArray *
gm_pci_bridges(GmCtx *c, const GmPciBus *roots, guint nroots,
               GHashTable *devs, GError **err)
{
    GArray *buses = g_array_new(FALSE, FALSE, sizeof(GmPciBus));
    g_autoptr(GPtrArray) bridges = g_ptr_array_new();

    g_array_append_vals(buses, roots, nroots);
    for (guint i = 0; i < c->f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(c->f->devices, i);
        const char *slash = strchr(s->idstr, '/');
        g_autofree char *path = NULL, *bus = NULL;
        GError *e = NULL;
        GmPciDev *d;
        guint sl, fn;

        if (slash == NULL)
            continue;
        path = g_strndup(s->idstr, slash - s->idstr);
        if (!gm_pci_split_path(path, &bus, &sl, &fn))
            continue;
        if (!gm_pci_cached(c, devs, path, &d, &e)) {
            g_propagate_error(err, e);
            g_array_unref(buses);
            return NULL;
        }
        if (d && d->section == s && (d->config[PCI_HEADER_TYPE] & 0x7f) == 1)
            g_ptr_array_add(bridges, d);
    }
    /* Parents first: a bridge's path is longer than its parent bridge's. */
    g_ptr_array_sort(bridges, by_depth);
    for (guint i = 0; i < bridges->len; i++) {
        GmPciDev *d = g_ptr_array_index(bridges, i);
        const GmPciBus *parent = NULL;
        GmPciBus child;
        GmSpace *sec;

        for (guint j = 0; j < buses->len && !parent; j++)
            if (g_str_equal(g_array_index(buses, GmPciBus, j).bus, d->bus))
                parent = &g_array_index(buses, GmPciBus, j);
        if (parent == NULL)
            continue; /* below a bus we do not know: its devices say so */
        sec = gm_space_new(d->path, G_MAXUINT64);
        g_ptr_array_add(c->spaces, sec);
        add_window(d, parent->space, sec, TRUE);
        add_window(d, parent->space, sec, FALSE);
        if ((gm_le16(d->config + PCI_BRIDGE_CONTROL) & PCI_BRIDGE_CTL_VGA) &&
            (gm_le16(d->config + PCI_COMMAND) & PCI_COMMAND_MEMORY)) {
            json_object *why = json_object_new_object();
            json_object_object_add(why, "rule", json_object_new_string(
                "pci-bridge-vga"));
            json_object_object_add(why, "source", json_object_new_string(
                "hw/pci/pci_bridge.c pci_bridge_init_vga_aliases"));
            json_object_object_add(why, "bridge", json_object_new_string(d->path));
            json_object_object_add(why, "bridge_control", gm_pci_cfg_fact(
                d, PCI_BRIDGE_CONTROL, gm_le16(d->config + PCI_BRIDGE_CONTROL)));
            gm_add_alias(parent->space, 0xa0000, 0x20000, 1, sec, 0xa0000, why);
        }
        child = (GmPciBus){ .bus = d->path, .space = sec,
                            .windows_unknown = parent->windows_unknown };
        g_array_append_val(buses, child);
    }
    return buses;
}
