/* The standard VGA's legacy window (ds-gm.h).
 *
 * hw/display/vga.c vga_init puts the VGA registers at 0xa0000-0xbffff of
 * the PCI bus's memory space (priority 1) whatever the command register
 * says; vga_update_memory_access, which vga_common_post_load runs on a
 * restore, lays a window of vga.vram over part of them (priority 2) when
 * the sequencer has all four planes writable and chain-4 on: where, by the
 * graphics controller's memory map select (GR06 bits 3:2).  With the Bochs
 * VBE extension enabled the sequencer values come from sr_vbe instead,
 * which a restored QEMU rebuilds from the VBE registers only
 * (vbe_update_vgaregs): chain-4 and all planes unless 4 bits per pixel,
 * and memory map 1 (0xa0000, 64 KiB at bank_offset). */
#include "ds-gm.h"

#include "mr-error.h"

#define VGA_SEQ_PLANE_WRITE 2
#define VGA_SEQ_MEMORY_MODE 4
#define VGA_SR02_ALL_PLANES 0x0f
#define VGA_SR04_CHN_4M 0x08
#define VGA_GFX_MISC 6
#define VBE_DISPI_INDEX_BPP 3
#define VBE_DISPI_INDEX_ENABLE 4
#define VBE_DISPI_ENABLED 0x01

gboolean gm_vga_window(GmCtx *c, const GmPciBus *bus, const GmPciDev *d,
                       MrRamBlock *vram, GError **err);

/* vbe_regs[i] of the section: an array of uint16 leaves. */
static gboolean
vbe_reg(json_object *dev, guint i, guint64 *value, guint64 *offset)
{
    json_object *leaf = ds_find_field(dev, "vga/vbe_regs"), *list, *off, *v;

    if (leaf == NULL || !json_object_object_get_ex(leaf, "value", &list) ||
        !json_object_is_type(list, json_type_array) ||
        i >= json_object_array_length(list) ||
        !json_object_object_get_ex(leaf, "offset", &off))
        return FALSE;
    v = json_object_array_get_idx(list, i);
    *value = json_object_get_uint64(v);
    *offset = json_object_get_uint64(off) + 2 * i;
    return TRUE;
}

static json_object *
ref(const GmPciDev *d, const char *field, guint64 offset, guint64 value)
{
    return gm_ref(d->vga_section, field, offset, gm_hex(value));
}

gboolean
gm_vga_window(GmCtx *c, const GmPciBus *bus, const GmPciDev *d,
              MrRamBlock *vram, GError **err)
{
    guint8 sr[8], gr[16];
    guint64 sr_off, gr_off, enable, enable_off, bpp, bpp_off, bank, bank_off;
    guint64 base, size, offset = 0;
    gboolean vbe, chain4;
    json_object *why;
    g_autofree char *what = g_strdup_printf(
        "the legacy VGA window 0xa0000-0xbffff of bus %s", bus->bus);

    gm_add_io(bus->space, 0xa0000, 0x20000, 1, "vga-lowmem");
    if (!gm_field_bytes(c, d->vga_state, "vga/sr", sr, sizeof(sr), &sr_off, err) ||
        !gm_field_bytes(c, d->vga_state, "vga/gr", gr, sizeof(gr), &gr_off, err))
        return FALSE;
    if (!vbe_reg(d->vga_state, VBE_DISPI_INDEX_ENABLE, &enable, &enable_off) ||
        !vbe_reg(d->vga_state, VBE_DISPI_INDEX_BPP, &bpp, &bpp_off) ||
        !gm_field_uint(d->vga_state, "vga/bank_offset", &bank, &bank_off)) {
        gm_add_unknown(bus->space, 0xa0000, 0x20000, 2, what, "the VGA "
                       "section lacks vbe_regs or bank_offset");
        return TRUE;
    }
    vbe = enable & VBE_DISPI_ENABLED;
    why = json_object_new_object();
    json_object_object_add(why, "rule", json_object_new_string("vga-chain4"));
    json_object_object_add(why, "source", json_object_new_string(
        "hw/display/vga.c vga_update_memory_access, vbe_update_vgaregs"));
    json_object_object_add(why, "device", json_object_new_string(d->path));
    json_object_object_add(why, "vbe_enable",
                           ref(d, "vga/vbe_regs[4]", enable_off, enable));
    if (vbe) {
        chain4 = bpp != 4;
        base = 0xa0000;
        size = 0x10000;
        offset = (guint64)(gint32)bank;
        json_object_object_add(why, "vbe_bpp",
                               ref(d, "vga/vbe_regs[3]", bpp_off, bpp));
    } else {
        chain4 = (sr[VGA_SEQ_PLANE_WRITE] & VGA_SR02_ALL_PLANES) ==
                 VGA_SR02_ALL_PLANES &&
                 (sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_CHN_4M);
        json_object_object_add(why, "sr2", ref(d, "vga/sr[2]", sr_off + 2,
                                               sr[VGA_SEQ_PLANE_WRITE]));
        json_object_object_add(why, "sr4", ref(d, "vga/sr[4]", sr_off + 4,
                                               sr[VGA_SEQ_MEMORY_MODE]));
        json_object_object_add(why, "gr6", ref(d, "vga/gr[6]", gr_off + 6,
                                               gr[VGA_GFX_MISC]));
        switch ((gr[VGA_GFX_MISC] >> 2) & 3) {
        case 0: base = 0xa0000; size = 0x20000; break;
        case 1: base = 0xa0000; size = 0x10000; offset = (guint64)(gint32)bank; break;
        case 2: base = 0xb0000; size = 0x8000; break;
        default: base = 0xb8000; size = 0x8000; break;
        }
    }
    if (!chain4) {
        json_object_put(why);
        return TRUE;
    }
    json_object_object_add(why, "bank_offset",
                           ref(d, "vga/bank_offset", bank_off, bank));
    if (vram == NULL || offset > vram->used_length ||
        size > vram->used_length - offset) {
        /* QEMU asserts on this: the restore would not complete. */
        gm_add_unknown(bus->space, base, size, 2, what, "chain-4 mode maps "
                       "vga.vram at an offset past its end (or the device "
                       "has no vga.vram block)");
        json_object_put(why);
        return TRUE;
    }
    if (bus->windows_unknown) {
        gm_missing(c, vram, what, "chain-4 mode maps vga.vram there, but %s",
                   bus->windows_unknown);
        json_object_put(why);
        return TRUE;
    }
    if (!gm_block_usable(c, vram, what)) {
        json_object_put(why);
        return TRUE;
    }
    gm_add_ram(bus->space, base, size, 2, vram, offset, FALSE, why);
    return TRUE;
}
