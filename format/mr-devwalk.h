/* Walking a device section with its vmdesc description (docs/FORMAT.md §13.4).
 *
 * The walk is the only way to find where a device section ends, so format/
 * uses it to bound sections; devstate/ uses the same walk with a visitor to
 * learn each field's byte range.  The description is untrusted: types and
 * sizes are checked, nesting and the number of steps are capped, and every
 * byte range is checked against the stream before it is reported.
 */
#ifndef MR_DEVWALK_H
#define MR_DEVWALK_H

#include "mr-cursor.h"
#include "mr-file.h"

typedef struct {
    /* A leaf field (or one element of a compressed array of leaves when
     * element >= 0; -1 for a plain field). */
    gboolean (*leaf)(void *ud, json_object *field, gint64 element,
                     guint64 offset, guint64 size, guint depth, GError **err);
    /* Entering/leaving a struct field element or a subsection body.
     * For a subsection, field is its description object. */
    gboolean (*enter)(void *ud, json_object *field, gint64 element,
                      gboolean subsection, guint64 offset, guint depth,
                      GError **err);
    gboolean (*leave)(void *ud, guint64 end_offset, guint depth, GError **err);
} MrDevVisitor;

#define MR_DEVWALK_MAX_DEPTH 32
#define MR_DEVWALK_MAX_STEPS (1u << 20)  /* per section */
#define MR_DEVWALK_FILE_STEPS (1u << 22) /* all sections, at open */
/* Longer compressed arrays of leaves reach a visitor as a single leaf
 * (element -1, the whole array's bytes). */
#define MR_DEVWALK_MAX_ELEMENTS 4096

/* Walks s->desc from the cursor (at s->body_offset); on success the cursor
 * is at the end of the body (before the footer). */
gboolean mr_devwalk_section(MrFile *f, MrCursor *c, MrSection *s,
                            const MrDevVisitor *v, void *ud, GError **err);
/* TRUE if the byte at the cursor can start a top-level record. */
gboolean mr_devwalk_next_is_record(MrCursor *c);

#endif
