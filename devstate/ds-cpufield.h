/* Reading CPU registers from a decoded device section by field name.
 *
 * The CPU sections are decoded with the vmdesc (ds_decode_section); these
 * helpers find a field by the name QEMU's vmstate gives it ("env.eip",
 * "env.segs" element 1 / "base", "env.fpscr" in subsection "cpu/fpu"),
 * check that its type and size are the ones the register needs, and give
 * its value.  A field that is absent or not of the expected shape is an
 * error naming the section, the field and what was found: the caller
 * refuses rather than guesses a register.
 */
#ifndef DS_CPUFIELD_H
#define DS_CPUFIELD_H

#include <json-c/json.h>

#include "mr-file.h"

typedef struct {
    const MrFile *file;
    const MrSection *section;
    json_object *device; /* ds_decode_section() of section (owned) */
} DsCpuSection;

/* Decodes s; FALSE with MR_ERROR_UNSUPPORTED when it cannot be decoded
 * (no vmdesc, or the decoder skipped it). */
gboolean ds_cpu_section_open(DsCpuSection *cs, MrFile *f, MrSection *s,
                             GError **err);
void ds_cpu_section_close(DsCpuSection *cs);

/* The scope holding "fields": the section itself (sub NULL) or one of its
 * subsections by vmsd name; NULL when that subsection was not sent. */
json_object *ds_cpu_scope(const DsCpuSection *cs, const char *sub);

/* An unsigned integer (or bool, as 0/1) leaf of `size` bytes: `name` in scope, element
 * `index` (of a compressed array, or of a name that repeats; 0 for a
 * single field), or within a struct element: "env.segs" index 1 then
 * member "base" (member NULL for a plain leaf). */
gboolean ds_cpu_uint(const DsCpuSection *cs, json_object *scope,
                     const char *name, guint index, const char *member,
                     guint size, guint64 *out, GError **err);

/* A leaf held as hex digits (buffers, "fpr", "avr", custom types): its
 * `size` bytes, as they are in the stream. */
gboolean ds_cpu_bytes(const DsCpuSection *cs, json_object *scope,
                      const char *name, guint index, const char *member,
                      guint size, guint8 *out, GError **err);

/* Number of elements of name in scope (array_len, or how often the name
 * repeats); 0 when absent. */
guint ds_cpu_count(json_object *scope, const char *name);

#endif
