/* Files made of pieces of the snapshot (format/mr-vfile.h) in the mount:
 * the adapter mfs-view.h describes, shared by every view whose file is an
 * MrVfile (restore/lazy.mig; guest memory and core files are the same).
 *
 * The node's data is the MrVfile, freed with the tree.  Reads, holes
 * (SEEK_DATA/SEEK_HOLE) and st_blocks are the MrVfile's; writes reach only
 * its RAM block pieces (mr_vfile_write).  A view composes its MfsFileOps
 * from these pieces, as text files do from mfs-text.h's: with or without
 * write, with MFS_FILE_UNCACHED when its bytes are also reachable through
 * another file of a read-write mount.
 */
#ifndef MFS_VFILE_H
#define MFS_VFILE_H

#include "mfs-view.h"

guint64 mfs_vfile_size(MfsFs *fs, const MfsNode *n);
guint64 mfs_vfile_stored(MfsFs *fs, const MfsNode *n);
int mfs_vfile_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off,
                   gsize len, gsize *got);
int mfs_vfile_seek(MfsFs *fs, const MfsNode *n, guint64 off, gboolean data,
                   guint64 *out);
/* buf NULL (fallocate) writes zeros. */
int mfs_vfile_write(MfsFs *fs, MfsNode *n, const void *buf, guint64 off,
                    gsize len);
void mfs_vfile_free(gpointer data);

/* A read-only file whose bytes change with nothing else of the mount. */
extern const MfsFileOps mfs_vfile_ops;

#endif
