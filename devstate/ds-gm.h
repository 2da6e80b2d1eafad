/* Inside the guest-physical map (ds-guestmap.h): a small model of QEMU's
 * memory regions and the state the machine files read from the snapshot.
 *
 * QEMU decides what the guest sees at an address by rendering a tree of
 * memory regions (system/memory.c, render_memory_region): each container
 * lists subregions with a priority; higher priorities are rendered first,
 * and among equal ones the one added last; a region claims only what no
 * earlier one claimed, and an alias of a container claims only where that
 * container holds something.  The machine files (ds-guestmap-pc.c, ...)
 * rebuild the part of that tree the snapshot decides, with the same
 * priorities and order, and gm_render() flattens it the same way.  Only
 * RAM comes out as ranges; device registers (GM_IO) hide what lies below
 * them and map nothing, and GM_UNKNOWN marks what we cannot decide, which
 * comes out in `missing` wherever it would have been visible.
 */
#ifndef DS_GM_H
#define DS_GM_H

#include "ds-decode.h"
#include "ds-guestmap.h"

typedef struct GmSpace GmSpace;

typedef enum {
    GM_RAM,     /* bytes of a RAM block */
    GM_IO,      /* registers: hides what lies below, maps no RAM */
    GM_UNKNOWN, /* what the guest sees here is not known */
    GM_ALIAS,   /* a window onto another space, transparent where empty */
} GmKind;

typedef struct {
    GmKind kind;
    guint64 addr;
    guint64 size;
    gint prio;
    guint seq;           /* order of addition within its space */
    MrRamBlock *block;   /* GM_RAM */
    guint64 block_offset;
    gboolean readonly;
    GmSpace *target;     /* GM_ALIAS */
    guint64 target_offset;
    json_object *why;    /* owned; for GM_UNKNOWN {"what", "why"} */
} GmRegion;

/* A container, e.g. "system" or a PCI bus's memory space.  size may be
 * G_MAXUINT64 (QEMU's UINT64_MAX containers). */
GmSpace *gm_space_new(const char *name, guint64 size);
void gm_space_free(GmSpace *s);
const char *gm_space_name(const GmSpace *s);

/* Each takes `why` (may be NULL for GM_IO) and adds the region after all
 * earlier ones (it wins ties of priority against them). */
void gm_add_ram(GmSpace *s, guint64 addr, guint64 size, gint prio,
                MrRamBlock *b, guint64 block_offset, gboolean readonly,
                json_object *why);
void gm_add_io(GmSpace *s, guint64 addr, guint64 size, gint prio,
               const char *name);
void gm_add_unknown(GmSpace *s, guint64 addr, guint64 size, gint prio,
                    const char *what, const char *why);
/* The same for memory that is not RAM but a ROM device (pflash): its
 * missing entry says "dumped": false, as QEMU's dump leaves it out too. */
void gm_add_rom_device(GmSpace *s, guint64 addr, guint64 size, gint prio,
                       const char *what, const char *why);
void gm_add_alias(GmSpace *s, guint64 addr, guint64 size, gint prio,
                  GmSpace *target, guint64 target_offset, json_object *why);

/* Flattens root into m->ranges (RAM, sorted, adjacent pieces of one region
 * joined) and m->missing (GM_UNKNOWN where visible). */
void gm_render(const GmSpace *root, DsGuestMap *m);

/* ---- Reading the snapshot for the machine files ---- */

typedef struct {
    MrFile *f;
    DsGuestMap *m;
    GHashTable *sections; /* "idstr.instance" -> decoded json (owned) */
    GPtrArray *spaces;    /* GmSpace made while placing devices (bridges'
                           * buses), freed with the context */
    json_object *blocks;  /* {block: {"mapped": bool, "note": ...}} */
} GmCtx;

/* The decoded section in *out, or NULL there when absent or undecodable
 * (then *reason, if given, says which); cached for the context's life.
 * FALSE only with an error (I/O). */
gboolean gm_section(GmCtx *c, const char *idstr, gint64 instance,
                    json_object **out, const char **reason, GError **err);
/* A leaf below a decoded section: path as ds_find_field(); the bytes it
 * holds (size must be n) and their snapshot offset. */
gboolean gm_field_bytes(GmCtx *c, json_object *dev, const char *path,
                        guint8 *buf, gsize n, guint64 *offset, GError **err);
/* An integer leaf's value and offset; FALSE when absent or not an
 * integer. */
gboolean gm_field_uint(json_object *dev, const char *path, guint64 *value,
                       guint64 *offset);

/* {"rule": name, "source": the QEMU file and function it follows}: the
 * start of a range's `why`. */
json_object *gm_rule(const char *name, const char *source);
/* {"section": idstr, "field": path, "offset": N, "value": v}: a fact read
 * from the snapshot, for `why`. */
json_object *gm_ref(const char *section, const char *field, guint64 offset,
                    json_object *value);
json_object *gm_hex(guint64 v);

/* Per-block notes: what happened to each block (mapped or why not). */
void gm_note_block(GmCtx *c, const MrRamBlock *b, gboolean mapped,
                   const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* A missing entry: {"what", "why"} plus "block" when b is given. */
void gm_missing(GmCtx *c, const MrRamBlock *b, const char *what,
                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* A board's RAM or ROM block `name` of `size` bytes (0: any) at addr,
 * priority 0, in space; a missing entry when the block is absent, of
 * another size or not stored. */
void gm_board_block(GmCtx *c, GmSpace *space, const char *name, guint64 addr,
                    guint64 size, gboolean rom, const char *source);
/* A block's bytes must be in the file to be mapped: an x-ignore-shared
 * block without data (docs/FORMAT.md §9.7) gets a missing entry instead. */
gboolean gm_block_usable(GmCtx *c, MrRamBlock *b, const char *what);

/* ---- PCI (ds-gm-pci.c) ---- */

typedef struct {
    char *path;             /* qdev path, "0000:00:02.0" */
    char *bus;              /* "0000:00"; "" when not a root-bus path */
    guint slot, fn;
    const MrSection *section;
    json_object *dev;       /* decoded section (borrowed from the ctx) */
    char *vmsd;             /* the section's vmsd name */
    char *config_field;     /* its path below the section */
    guint64 config_offset;  /* snapshot offset of config byte 0 */
    guint8 *config;
    gsize config_size;
    /* A standard VGA (class 0x0300 with QEMU's VGA register state): the
     * decoded section holding its "vga" struct (the device's own for
     * "VGA", the "virtio-vga" one for virtio-vga); NULL otherwise. */
    json_object *vga_state;
    const char *vga_section;
} GmPciDev;

void gm_pci_dev_free(GmPciDev *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GmPciDev, gm_pci_dev_free)

/* Configuration space registers (QEMU's include/standard-headers/linux/
 * pci_regs.h), little-endian in the snapshot as in the device. */
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_HEADER_TYPE 0x0e

static inline guint16
gm_le16(const guint8 *p)
{
    return (guint16)(p[0] | p[1] << 8);
}

static inline guint32
gm_le32(const guint8 *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (guint32)p[3] << 24;
}

/* Register reg of d's configuration as a fact for `why`: its place in the
 * snapshot and `value` (what the rule read from it, or made of it). */
json_object *gm_pci_cfg_fact(const GmPciDev *d, guint reg, guint64 value);
/* The same with the register's own value, width 1, 2, 4 or 8 bytes. */
json_object *gm_pci_cfg_ref(const GmPciDev *d, guint reg, guint width);

/* The device whose qdev path is `path`, from the section that holds its
 * PCI configuration, in *out (free it); NULL there when no section does.
 * FALSE only with an error. */
gboolean gm_pci_find(GmCtx *c, const char *path, GmPciDev **out, GError **err);
/* The same through a cache path -> GmPciDev* (owned by the cache, NULL
 * remembered). */
gboolean gm_pci_cached(GmCtx *c, GHashTable *devs, const char *path,
                       GmPciDev **out, GError **err);
/* "0000:00:02.0" -> its bus "0000:00", slot 2, function 0. */
gboolean gm_pci_split_path(const char *path, char **bus, guint *slot,
                           guint *fn);

/* The PCI devices of one bus (a root bus "0000:00", "pci.0", "pci", or one
 * behind a bridge) and the memory space their BARs decode into. */
typedef struct {
    const char *bus;
    GmSpace *space;
    /* A BAR address is a bus address; the CPU reaches the space through
     * windows the machine adds.  When those windows are not known
     * (pegasos2), every RAM the bus would map is reported missing with
     * this reason instead. */
    const char *windows_unknown;
} GmPciBus;

/* Places every RAM block owned by a PCI device: on a bus of `buses` its
 * BAR (ROM BAR, VGA framebuffer) decides, per the configuration space in
 * the snapshot (hw/pci/pci.c pci_bar_address); the standard VGA's legacy
 * window at 0xa0000 is added too.  Blocks of devices behind a bridge
 * whose configuration the snapshot lacks, or of unknown kinds, go to
 * `missing`.  Returns FALSE only on I/O errors. */
gboolean gm_pci_place(GmCtx *c, const GmPciBus *buses, guint nbuses,
                      GError **err);

/* The buses below roots: the roots, then the secondary bus of every PCI
 * bridge (a type 1 header) below a bus already in the list, its windows
 * added to its parent's space as hw/pci/pci_bridge.c
 * pci_bridge_region_init does.  A GmPciBus array. */
GArray *gm_pci_bridges(GmCtx *c, const GmPciBus *roots, guint nroots,
                       GHashTable *devs, GError **err);

/* "0000:00:02.0/vga.vram" -> "0000:00:02.0" when the part before the last
 * '/' is a PCI path (ends in ":SS.F"); NULL otherwise. */
char *gm_pci_path_of_block(const char *idstr);

#endif
