/* Device sections as JSON (docs/FORMAT.md §13): every field with its value, its
 * type and the byte range it occupies in the snapshot, walked with the
 * vmdesc by the same walk that bounds sections in format/. */
#ifndef DS_DECODE_H
#define DS_DECODE_H

#include <json-c/json.h>

#include "mr-file.h"

/* {"name", "instance_id", "version_id", "section_id", "offset", "size",
 *  "body_offset", "body_size", "vmsd_name", "fields": {NAME: FIELD...},
 *  "subsections": {VMSD_NAME: {...}}}.  A FIELD is {"type", "offset",
 *  "size", "value"} (plus "array_len" for compressed arrays, whose value is
 *  a list); a struct is {"type": "struct", "vmsd_name", "offset", "size",
 *  "fields", "subsections"}; a name that repeats (an uncompressed array) is
 *  a list of those. */
json_object *ds_decode_section(MrFile *f, MrSection *s, GError **err);
/* A section is read whole and each leaf becomes a JSON value (buffers as
 * hex digits, twice their size).  A hostile vmdesc can describe a section
 * of many GiB, which a sparse file holds for nothing: a larger section is
 * not read; its object has "decoded": false and a "reason".  QEMU's device
 * sections are KiBs (a PCIe configuration space is 4 KiB). */
#define DS_DECODE_MAX_SECTION (16u * 1024 * 1024)
/* The same undecoded object, with `reason`, for callers that must skip a
 * section (fs/mfs-view-devices.c: a budget for all of them). */
json_object *ds_undecoded_section(const MrSection *s, const char *reason);

/* A leaf's value from its bytes: numbers for integer types, booleans,
 * null for nullptr, lists for pci irq state, hex strings otherwise (also
 * for a float64 NaN or infinity, which JSON cannot hold). */
json_object *ds_leaf_value(const char *type, const guint8 *p, gsize size);

/* Finds a leaf by its path of field names below "fields" ("regs",
 * "dev.config[0]", "state/divider" for nested structs); NULL if absent. */
json_object *ds_find_field(json_object *device, const char *path);

/* The first device section named idstr (any instance with instance < 0). */
MrSection *ds_find_section(const MrFile *f, const char *idstr, gint64 instance);

#endif
