/* PCI devices in the guest-physical map (ds-gm.h): which RAM blocks their
 * BARs map, and the standard VGA's legacy window (ds-gm-pcidev.c finds the
 * devices, ds-gm-pcibridge.c the buses behind bridges).
 *
 * The rules come from QEMU 10.0: hw/pci/pci.c (pci_bar_address: a memory
 * BAR decodes only with the command register's memory bit, a ROM BAR also
 * needs its enable bit, an address of 0 or one that wraps or, for a 32-bit
 * BAR, passes 4 GiB decodes nothing; pci_update_mappings adds the BAR at
 * priority 1 in the bus's memory space), hw/pci/pci.c pci_add_option_rom
 * (the ROM's RAM block is named "<vmsd or type name>.rom"),
 * hw/display/vga-pci.c, virtio-vga.c and bochs-display.c (BAR 0 is the
 * framebuffer), hw/display/vga.c vga_init (the VGA registers sit at
 * 0xa0000 in the bus's memory space) and vga_update_memory_access (in
 * chain-4 mode a window of vga.vram covers part of them, ds-gm-vga.c). */
#include "ds-gm.h"

#include <string.h>

#include "mr-error.h"

#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CLASS_DEVICE 0x0a
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_ROM_ADDRESS 0x30
#define PCI_ROM_ADDRESS1 0x38 /* in a bridge's (type 1) header */
#define PCI_CAPABILITY_LIST 0x34
#define PCI_CAP_ID_PM 0x01
#define PCI_CLASS_DISPLAY_VGA 0x0300

/* A device that keeps a PCI power-management capability in D1-D3 may have
 * its BARs off (hw/pci/pci.c pci_pm_state) if QEMU registered the
 * capability; no QEMU 10.0 device does, but a later one may. */
static gboolean
pm_not_d0(const GmPciDev *d)
{
    guint pos, hops = 0;

    if (!(gm_le16(d->config + PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return FALSE;
    for (pos = d->config[PCI_CAPABILITY_LIST] & ~3u; pos >= 0x40 &&
         pos + 6 <= d->config_size && hops < 48;
         pos = d->config[pos + 1] & ~3u, hops++) {
        if (d->config[pos] == PCI_CAP_ID_PM)
            return (gm_le16(d->config + pos + 4) & 3) != 0;
    }
    return FALSE;
}

typedef enum { BAR_MAPPED, BAR_OFF, BAR_UNKNOWN } BarState;

/* Where BAR `bar` (6: the ROM) of size `size` decodes, as
 * pci_bar_address() decides.  *why gets the facts either way. */
static BarState
bar_address(const GmPciDev *d, guint bar, guint64 size, guint64 *addr,
            json_object *why, const char **off_reason)
{
    guint16 cmd = gm_le16(d->config + PCI_COMMAND);
    gboolean bridge = (d->config[PCI_HEADER_TYPE] & 0x7f) == 1;
    guint reg = bar == 6 ? (bridge ? PCI_ROM_ADDRESS1 : PCI_ROM_ADDRESS)
                         : PCI_BASE_ADDRESS_0 + 4 * bar;
    guint32 low = gm_le32(d->config + reg);
    gboolean is64 = bar != 6 && (low & 0x7) == 0x4;
    guint64 a, last;

    json_object_object_add(why, "command", gm_pci_cfg_ref(d, PCI_COMMAND, 2));
    json_object_object_add(why, "bar_register", gm_pci_cfg_ref(d, reg, is64 ? 8 : 4));
    if (low & 1 && bar != 6) {
        *off_reason = "the BAR is an I/O BAR";
        return BAR_UNKNOWN;
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) {
        *off_reason = "memory decoding is off in the command register";
        return BAR_OFF;
    }
    a = is64 ? (low | (guint64)gm_le32(d->config + reg + 4) << 32) : low;
    if (bar == 6 && !(a & 1)) {
        *off_reason = "the ROM BAR's enable bit is clear";
        return BAR_OFF;
    }
    a &= ~(size - 1);
    last = a + size - 1;
    if (last <= a || last == G_MAXUINT64 || a == 0 ||
        (!is64 && last >= G_MAXUINT32)) {
        *off_reason = "the BAR holds an address QEMU does not map (0, or "
                      "one that wraps or passes 4 GiB in a 32-bit BAR)";
        return BAR_OFF;
    }
    if (pm_not_d0(d)) {
        *off_reason = "the device's power-management state is not D0, in "
                      "which a QEMU that registers the capability unmaps "
                      "its BARs";
        return BAR_UNKNOWN;
    }
    *addr = a;
    return BAR_MAPPED;
}

/* "0000:00:1c.0" is below root bus "0000:00": a device behind bridges. */
static gboolean
below_root(const GmPciBus *buses, guint n, const char *bus)
{
    for (guint i = 0; i < n; i++) {
        gsize len = strlen(buses[i].bus);
        if (strncmp(bus, buses[i].bus, len) == 0 && bus[len] == ':')
            return TRUE;
    }
    return FALSE;
}

/* The bus itself, or the deepest listed bus it is below; -1 if none. */
static gint
nearest_bus(const GmPciBus *buses, guint n, const char *bus)
{
    gint best = -1;

    for (guint i = 0; i < n; i++) {
        if (g_str_equal(bus, buses[i].bus))
            return (gint)i;
        if (below_root(&buses[i], 1, bus) &&
            (best < 0 || strlen(buses[i].bus) > strlen(buses[best].bus)))
            best = (gint)i;
    }
    return best;
}

static const GmPciBus *
bus_of(const GmPciBus *buses, guint n, const char *bus)
{
    for (guint i = 0; i < n; i++)
        if (g_str_equal(buses[i].bus, bus))
            return &buses[i];
    return NULL;
}

/* One RAM block behind a BAR; bus NULL for a device behind bridges,
 * whose BAR counts only when it decodes nothing. */
static void
place_bar(GmCtx *c, const GmPciBus *bus, const GmPciDev *d, guint bar,
          MrRamBlock *b)
{
    json_object *why = json_object_new_object();
    const char *off = NULL;
    g_autofree char *what = NULL;
    guint64 addr = 0, size = b->used_length;
    BarState st;

    json_object_object_add(why, "rule", json_object_new_string(
        bar == 6 ? "pci-rom-bar" : "pci-bar"));
    json_object_object_add(why, "source", json_object_new_string(
        "hw/pci/pci.c pci_bar_address, pci_update_mappings"));
    json_object_object_add(why, "device", json_object_new_string(d->path));
    json_object_object_add(why, "bar", bar == 6 ? json_object_new_string("rom")
                                                : json_object_new_int(bar));
    json_object_object_add(why, "size", gm_hex(size));
    what = g_strdup_printf("ram block \"%s\" (PCI %s %s)", b->idstr, d->path,
                           bar == 6 ? "ROM BAR" : "BAR");
    if (size == 0 || (size & (size - 1))) {
        gm_missing(c, b, what, "its size 0x%" G_GINT64_MODIFIER "x is not a "
                   "power of two, which a BAR's size must be", size);
        json_object_put(why);
        return;
    }
    st = bar_address(d, bar, size, &addr, why, &off);
    if (st == BAR_OFF) {
        json_object *cmd = json_object_object_get(why, "command");
        json_object *reg = json_object_object_get(why, "bar_register");
        gm_note_block(c, b, FALSE, "PCI %s %s: %s (command %s at offset 0x%"
                      G_GINT64_MODIFIER "x, BAR %s at offset 0x%"
                      G_GINT64_MODIFIER "x)", d->path,
                      bar == 6 ? "ROM BAR" : "BAR", off,
                      json_object_get_string(json_object_object_get(cmd, "value")),
                      json_object_get_uint64(json_object_object_get(cmd, "offset")),
                      json_object_get_string(json_object_object_get(reg, "value")),
                      json_object_get_uint64(json_object_object_get(reg, "offset")));
        json_object_put(why);
        return;
    }
    if (st == BAR_UNKNOWN) {
        gm_missing(c, b, what, "%s", off);
        json_object_put(why);
        return;
    }
    if (bus == NULL) {
        gm_missing(c, b, what, "the BAR decodes bus address 0x%"
                   G_GINT64_MODIFIER "x, but %s is behind a PCI bridge whose "
                   "configuration is not in the snapshot", addr, d->path);
        json_object_put(why);
        return;
    }
    if (bus->windows_unknown) {
        gm_missing(c, b, what, "the BAR decodes bus address 0x%"
                   G_GINT64_MODIFIER "x, but %s", addr, bus->windows_unknown);
        json_object_put(why);
        return;
    }
    if (!gm_block_usable(c, b, what)) {
        json_object_put(why);
        return;
    }
    json_object_object_add(why, "bus_address", gm_hex(addr));
    json_object_object_add(why, "bus", json_object_new_string(gm_space_name(bus->space)));
    gm_add_ram(bus->space, addr, size, 1, b, 0, bar == 6, why);
    gm_note_block(c, b, TRUE, "PCI %s %s at bus address 0x%" G_GINT64_MODIFIER "x",
                  d->path, bar == 6 ? "ROM BAR" : "BAR", addr);
}

gboolean gm_vga_window(GmCtx *c, const GmPciBus *bus, const GmPciDev *d,
                       MrRamBlock *vram, GError **err);

/* Fills d->vga_state for a standard VGA: "VGA" (vmsd "vga", class
 * 0x0300; "secondary-vga" shares the vmsd but is class 0x0380 and has no
 * legacy window) or virtio-vga (hw/display/virtio-vga.c: its PCI state is
 * the virtio-gpu's, its VGA state a section "<path>/virtio-vga"). */
static gboolean
std_vga(GmCtx *c, GmPciDev *d, GError **err)
{
    g_autofree char *idstr = NULL;
    const MrSection *s;
    json_object *dev;

    if (d->vga_state)
        return TRUE;
    if (gm_le16(d->config + PCI_CLASS_DEVICE) != PCI_CLASS_DISPLAY_VGA)
        return FALSE;
    if (g_str_equal(d->vmsd, "vga")) {
        d->vga_state = d->dev;
        d->vga_section = d->section->idstr;
        return TRUE;
    }
    idstr = g_strconcat(d->path, "/virtio-vga", NULL);
    s = ds_find_section(c->f, idstr, -1);
    if (s == NULL || !gm_section(c, s->idstr, s->instance_id, &dev, NULL, err) ||
        dev == NULL || ds_find_field(dev, "vga/sr") == NULL)
        return FALSE;
    d->vga_state = dev;
    d->vga_section = s->idstr;
    return TRUE;
}

/* Might the device decode the legacy VGA window (0xa0000-0xbffff)? */
static gboolean
vga_like(const GmPciDev *d)
{
    if (g_str_equal(d->vmsd, "vga"))
        return gm_le16(d->config + PCI_CLASS_DEVICE) == PCI_CLASS_DISPLAY_VGA;
    return gm_le16(d->config + PCI_CLASS_DEVICE) == PCI_CLASS_DISPLAY_VGA ||
           strstr(d->vmsd, "vga") || strstr(d->vmsd, "qxl") ||
           strstr(d->vmsd, "cirrus");
}

/* A section that is no PCI device's and holds a display's VGA state. */
static gboolean
isa_vga_like(const MrSection *s)
{
    json_object *v;
    const char *vmsd;

    if (s->desc == NULL || !json_object_object_get_ex(s->desc, "vmsd_name", &v))
        return strstr(s->idstr, "vga") != NULL;
    vmsd = json_object_get_string(v);
    return strstr(vmsd, "vga") || strstr(vmsd, "cirrus");
}

typedef struct {
    const GmPciBus *bus;
    guint vga_devices;       /* devices decoding the legacy window */
    GmPciDev *std_vga;       /* the one whose window is known, if any */
    MrRamBlock *std_vram;
    gboolean reset_vga;      /* a window known to hold registers only */
    char *unknown_vga;       /* a device whose window is not known */
} BusVga;

static void
place_block(GmCtx *c, const GmPciBus *buses, guint nbuses, GHashTable *devs,
            BusVga *vga, MrRamBlock *b, GError **err)
{
    g_autofree char *path = gm_pci_path_of_block(b->idstr);
    const char *name = strrchr(b->idstr, '/') + 1;
    GmPciDev *d;
    const GmPciBus *bus;
    g_autofree char *bus_name = NULL;
    guint s, f;

    gm_pci_split_path(path, &bus_name, &s, &f);
    bus = bus_of(buses, nbuses, bus_name);
    if (!gm_pci_cached(c, devs, path, &d, err))
        return;
    if (d == NULL) {
        /* Sections that exist but cannot be decoded hide the config. */
        for (guint i = 0; i < c->f->devices->len; i++) {
            MrSection *sec = g_ptr_array_index(c->f->devices, i);
            if (g_str_has_prefix(sec->idstr, path) &&
                sec->idstr[strlen(path)] == '/') {
                gm_missing(c, b, b->idstr, "the PCI configuration of %s "
                           "cannot be read from its device section \"%s\"",
                           path, sec->idstr);
                return;
            }
        }
        /* No vmstate at all (ati-vga): a restored QEMU keeps the device at
         * reset, command register 0, so none of its BARs decodes. */
        gm_note_block(c, b, FALSE, "not mapped: PCI device %s has no device "
                      "section, so a restored QEMU leaves it at reset "
                      "(memory decoding off)", path);
        if (bus && g_str_equal(name, "vga.vram")) {
            BusVga *v = &vga[bus - buses];
            v->vga_devices++;
            v->reset_vga = TRUE;
        }
        return;
    }
    if (bus == NULL && !below_root(buses, nbuses, bus_name)) {
        /* Not below any root bus of this machine (a pxb expander's). */
        gm_missing(c, b, b->idstr, "PCI device %s is not below a root bus "
                   "this machine maps", path);
        return;
    }
    /* pci_add_option_rom names the ROM "<vmsd name>.rom", or after the
     * type where the PCI device has no vmsd of its own (virtio-net-pci's
     * section is its virtio device's): a device has one. */
    if (g_str_has_suffix(name, ".rom") && strlen(name) > 4) {
        place_bar(c, bus, d, 6, b);
    } else if (g_str_equal(name, "vga.vram") &&
               (g_str_equal(d->vmsd, "vga") || std_vga(c, d, err))) {
        /* "VGA", "secondary-vga" and virtio-vga: the framebuffer is BAR 0
         * (hw/display/vga-pci.c, virtio-vga.c). */
        place_bar(c, bus, d, 0, b);
        if (bus && std_vga(c, d, err))
            vga[bus - buses].std_vram = b;
    } else if (g_str_equal(name, "bochs-display-vram") &&
               g_str_equal(d->vmsd, "bochs-display")) {
        /* hw/display/bochs-display.c: BAR 0; no legacy window. */
        place_bar(c, bus, d, 0, b);
    } else {
        gm_missing(c, b, b->idstr, "which BAR of PCI device %s (device "
                   "section \"%s\") maps this block is not known here",
                   path, d->section->idstr);
    }
}

/* Every device section on the buses: who decodes the legacy VGA window. */
static gboolean
scan_vga(GmCtx *c, const GmPciBus *buses, guint nbuses, GHashTable *devs,
         BusVga *vga, GError **err)
{
    for (guint i = 0; i < c->f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(c->f->devices, i);
        const char *slash = strchr(s->idstr, '/');
        g_autofree char *path = NULL, *bus_name = NULL;
        GmPciDev *d;
        guint sl, fn;
        gint j;

        if (slash)
            path = g_strndup(s->idstr, slash - s->idstr);
        if (!path || !gm_pci_split_path(path, &bus_name, &sl, &fn)) {
            /* Not a PCI device: an ISA display (isa-vga, isa-cirrus-vga)
             * decodes the window of the bus the ISA bridge sits on. */
            if (nbuses > 0 && isa_vga_like(s) && !vga[0].unknown_vga) {
                vga[0].vga_devices++;
                vga[0].unknown_vga = g_strdup(s->idstr);
            }
            continue;
        }
        if (!gm_pci_cached(c, devs, path, &d, err))
            return FALSE;
        if (d == NULL || !vga_like(d) || d->section != s)
            continue;
        if ((j = nearest_bus(buses, nbuses, bus_name)) < 0)
            continue;
        vga[j].vga_devices++;
        /* A device on an unmodelled bus below bus j may reach its window
         * through a bridge's VGA forwarding: not known. */
        if (g_str_equal(bus_name, buses[j].bus) && std_vga(c, d, err))
            vga[j].std_vga = d;
        else if (!vga[j].unknown_vga)
            vga[j].unknown_vga = g_strdup(s->idstr);
        if (err && *err)
            return FALSE;
    }
    return TRUE;
}

gboolean
gm_pci_place(GmCtx *c, const GmPciBus *roots, guint nroots, GError **err)
{
    g_autoptr(GHashTable) devs = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)gm_pci_dev_free);
    g_autoptr(GArray) all = NULL;
    g_autofree BusVga *vga = NULL;
    const GmPciBus *buses;
    guint nbuses;
    GError *e = NULL;
    gboolean ok = TRUE;

    all = gm_pci_bridges(c, roots, nroots, devs, &e);
    if (all == NULL) {
        g_propagate_error(err, e);
        return FALSE;
    }
    buses = (const GmPciBus *)(gpointer)all->data;
    nbuses = all->len;
    vga = g_new0(BusVga, nbuses);

    for (guint i = 0; i < c->f->blocks->len && !e; i++) {
        MrRamBlock *b = g_ptr_array_index(c->f->blocks, i);
        g_autofree char *path = gm_pci_path_of_block(b->idstr);
        if (path)
            place_block(c, buses, nbuses, devs, vga, b, &e);
    }
    if (!e)
        scan_vga(c, buses, nbuses, devs, vga, &e);
    for (guint j = 0; j < nbuses && !e; j++) {
        BusVga *v = &vga[j];
        g_autofree char *what = g_strdup_printf(
            "the legacy VGA window 0xa0000-0xbffff of bus %s", buses[j].bus);
        if (v->vga_devices > 1 || v->unknown_vga) {
            gm_add_unknown(buses[j].space, 0xa0000, 0x20000, 1, what,
                           v->vga_devices > 1
                           ? "more than one device decodes it"
                           : "a display device whose legacy window is not "
                             "modelled here decodes it");
        } else if (v->std_vga) {
            ok = gm_vga_window(c, &buses[j], v->std_vga, v->std_vram, &e);
        } else if (v->reset_vga) {
            gm_add_io(buses[j].space, 0xa0000, 0x20000, 1, "vga-lowmem");
        }
    }
    /* Apart: the loop above stops at the first error. */
    for (guint j = 0; j < nbuses; j++)
        g_free(vga[j].unknown_vga);
    if (e) {
        g_propagate_error(err, e);
        return FALSE;
    }
    return ok;
}
