/* Super I/O function views (docs/FORMAT.md §14): which function is enabled, at
 * which I/O base, on which IRQ, decoded as the chip does. */
#ifndef DS_SUPERIO_H
#define DS_SUPERIO_H

#include <json-c/json.h>

#include "mr-file.h"

typedef struct {
    gboolean enabled;
    guint16 iobase;
    gint irq;  /* -1: the chip defines none */
    gint dma;  /* -1: none */
} DsFunction;

/* {"enabled", "iobase": "0x378", "irq"[, "dma"]} */
json_object *ds_function_json(const DsFunction *fn);

/* ---- PC87312 (docs/FORMAT.md §14.1) ---- */

enum { DS_PC_PARALLEL, DS_PC_UART1, DS_PC_UART2, DS_PC_FDC, DS_PC_IDE, DS_PC_N };
extern const char *const ds_pc87312_function_names[DS_PC_N];

typedef struct {
    guint8 fer, far, ptr;
    guint8 selected_index, read_id_step;
} DsPc87312Regs;

/* The chip's state in the snapshot and where each byte lives. */
typedef struct {
    MrSection *section;
    DsPc87312Regs regs;
    guint64 regs_offset;     /* FER; FAR and PTR follow */
    guint64 selected_offset;
    guint64 step_offset;
} DsPc87312;

void ds_pc87312_decode(const DsPc87312Regs *r, DsFunction out[DS_PC_N]);
/* The file's pc87312 section (instance 0), or NULL when it has none or no
 * vmdesc to decode it with. */
MrSection *ds_pc87312_section(const MrFile *f);
/* Reads the chip's registers from s (ds_pc87312_section()).  FALSE with
 * an MR_ERROR: the section does not decode, or its vmdesc does not
 * describe QEMU's fields (MR_ERROR_UNSUPPORTED, at the section's offset). */
gboolean ds_pc87312_load(MrFile *f, MrSection *s, DsPc87312 *out, GError **err);
json_object *ds_pc87312_json(const DsPc87312 *p);
/* The registers a written document asks for (docs/FORMAT.md §14.1.3 read
 * backwards).  Keys may be left out (they keep their value); unknown keys
 * (at any level, "section" included), values the chip cannot express,
 * FER/FAR/PTR and functions both changed but disagreeing, and anything but
 * one strict JSON object (white space may follow) are refused
 * (MR_ERROR_REFUSED) with a message that names the key.  selected_index
 * and read_id_step say nothing about the functions and may change with
 * them. */
gboolean ds_pc87312_parse(const DsPc87312 *cur, const char *text, gsize len,
                          DsPc87312Regs *out, GError **err);

/* ---- VIA VT82C686B / VT8231 (docs/FORMAT.md §14.2) ---- */

/* The file's via-isa section (idstr ".../via-isa"), or NULL when it has
 * none or no vmdesc to decode it with. */
MrSection *ds_via_section(const MrFile *f);
/* The JSON node of the via-isa south bridge s (ds_via_section()) and its
 * file name ("vt82c686b.json" or "vt8231.json", set as soon as the PCI
 * device id is read).  NULL with an MR_ERROR when s does not decode or
 * has no 256-byte PCI configuration space, or a child section (serial,
 * parallel, FDC, a register file) cannot be read or decoded. */
json_object *ds_via_json(MrFile *f, MrSection *s, const char **node_name,
                         GError **err);

#endif
