/* Shared pieces of the devstate/ unit tests: small snapshots made with
 * mr-writer around hand-written device sections, and checks of the JSON the
 * decoder builds, addressed by '/'-separated paths.
 *
 * Expected values are typed in from docs/FORMAT.md (§13.5 encodings, §14 chip
 * tables) or taken from the writer's layout, never computed with the code
 * under test.
 */
#ifndef DST_HELPERS_H
#define DST_HELPERS_H

#include <json-c/json.h>

#include "test-helpers.h"

typedef struct {
    const char *idstr;
    guint32 instance_id;
    guint32 version_id;
    const char *desc;   /* vmdesc entry without name/instance_id */
    const guint8 *body;
    gsize body_len;
} DstDevice;

/* A snapshot of `machine` with one 64 KiB RAM block and the devices, in
 * order, written to the scratch directory under `name`.  layout may be
 * NULL. */
char *dst_write(const char *name, const char *machine, const DstDevice *devs,
                guint n, gboolean vmdesc, MrWriterLayout *layout);

/* The node at path below o: object keys and array indexes separated by
 * '/' ("fields/regs/value/2"; "~1" is a '/' inside a name, as in a JSON
 * Pointer: "subsections/serial~1fifo").  NULL when absent; a JSON null is also
 * NULL, so use dst_has() to tell them apart. */
json_object *dst_get(json_object *o, const char *path);
gboolean dst_has(json_object *o, const char *path);

void dst_check_int_at(json_object *o, const char *path, gint64 want,
                      const char *file, int line);
void dst_check_u64_at(json_object *o, const char *path, guint64 want,
                      const char *file, int line);
void dst_check_str_at(json_object *o, const char *path, const char *want,
                      const char *file, int line);
void dst_check_bool_at(json_object *o, const char *path, gboolean want,
                       const char *file, int line);
void dst_check_null_at(json_object *o, const char *path, const char *file,
                       int line);
void dst_check_absent_at(json_object *o, const char *path, const char *file,
                         int line);
#define DST_INT(o, p, w) dst_check_int_at((o), (p), (w), __FILE__, __LINE__)
#define DST_U64(o, p, w) dst_check_u64_at((o), (p), (w), __FILE__, __LINE__)
#define DST_STR(o, p, w) dst_check_str_at((o), (p), (w), __FILE__, __LINE__)
#define DST_BOOL(o, p, w) dst_check_bool_at((o), (p), (w), __FILE__, __LINE__)
#define DST_NULL(o, p) dst_check_null_at((o), (p), __FILE__, __LINE__)
#define DST_ABSENT(o, p) dst_check_absent_at((o), (p), __FILE__, __LINE__)

/* A leaf node {"type", "offset", "size", ...} at path: its type, absolute
 * offset and size. */
void dst_check_leaf_at(json_object *o, const char *path, const char *type,
                       guint64 offset, guint64 size, const char *file,
                       int line);
#define DST_LEAF(o, p, t, off, sz)                                            \
    dst_check_leaf_at((o), (p), (t), (off), (sz), __FILE__, __LINE__)

/* Serialises o, parses the text back with a strict parser and checks that
 * the result equals o: what a program reading the mounted file gets. */
void dst_check_text_round_trip_at(json_object *o, const char *what,
                                  const char *file, int line);
#define DST_TEXT_ROUND_TRIP(o, what)                                          \
    dst_check_text_round_trip_at((o), (what), __FILE__, __LINE__)

/* Lower-case hex of n bytes (free it). */
char *dst_hex(const guint8 *p, gsize n);

#endif
