/* Text files: bytes the mount builds in memory (the JSON documents of
 * devices/, superio/, snapshot.json).
 *
 * A text file's data is an MfsText: bytes fixed until a refresh replaces
 * them (mfs_text_set), or made afresh at each read by a generator.  Its
 * ops are mfs_text_ops for a read-only file; a view whose text files do
 * more (refresh, apply) writes its own MfsFileOps from the mfs_text_*
 * pieces below.
 */
#ifndef MFS_TEXT_H
#define MFS_TEXT_H

#include <json-c/json.h>

#include "mfs-view.h"

typedef struct MfsText MfsText;

/* Takes bytes.  source: what the view builds them from, for its refresh
 * (an MrSection, say; borrowed). */
MfsText *mfs_text_new(GBytes *bytes, gpointer source);
/* Bytes made at each read (and each stat: a summary that changes as pages
 * are written). */
MfsText *mfs_text_new_generated(GBytes *(*generate)(MfsFs *fs,
                                                    const MfsNode *n));
gpointer mfs_text_source(const MfsNode *n);
/* The file's current bytes (a reference), and their replacement (takes
 * bytes), which readers see whole or not at all. */
GBytes *mfs_text_bytes(MfsFs *fs, const MfsNode *n);
void mfs_text_set(MfsNode *n, GBytes *bytes);

/* A JSON document as the bytes of a file (pretty, newline-terminated);
 * takes the reference to o. */
GBytes *mfs_json_bytes(json_object *o);

/* The MfsFileOps pieces of a text file. */
guint64 mfs_text_size(MfsFs *fs, const MfsNode *n);
int mfs_text_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off,
                  gsize len, gsize *got);
void mfs_text_free(gpointer data);
/* A read-only text file. */
extern const MfsFileOps mfs_text_ops;

#endif
