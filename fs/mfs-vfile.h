/* Serving a virtual file (format/mr-vfile.h) as a file of the mount:
 * guest/physmem, guest/vmcore, restore/lazy.mig, and any view whose file
 * is pieces of the snapshot.  The node's data is an MfsVfile, which holds
 * the MrVfile and is freed by the ops.
 *
 * A view whose pieces depend on what another program may rewrite (the
 * guest-physical map follows device state) replaces them in its refresh
 * (mfs-view.h); when they can no longer be made, the file fails with EIO
 * rather than serve pieces of the snapshot that was. */
#ifndef MFS_VFILE_H
#define MFS_VFILE_H

#include "mfs-view.h"
#include "mr-vfile.h"

typedef struct MfsVfile MfsVfile;

/* A node's data for the ops below; takes v. */
MfsVfile *mfs_vfile_new(MrVfile *v);

/* Replaces the pieces of n, a file served with the ops below (takes v).
 * v NULL: reads, seeks and writes fail with EIO until pieces are given
 * again; the file keeps the size it had, so that a read reaches the
 * daemon and fails rather than find an empty file.  Only from a
 * refresh(NULL), with the model held as the writer: nothing else uses
 * the file then. */
void mfs_vfile_replace(MfsNode *n, MrVfile *v);

/* Read-only, uncached on a read-write mount, where its RAM block pieces
 * change with writes to the block files and to physmem (guest/vmcore,
 * restore/lazy.mig): size, stored bytes, reads, SEEK_DATA/SEEK_HOLE. */
extern const MfsFileOps mfs_vfile_ro_uncached_ops;
/* The same, writable in place over RAM block pieces (mr_vfile_write); a
 * write that touches anything else fails with ENXIO and writes nothing.
 * Uncached on a read-write mount: its bytes are also the block files'. */
extern const MfsFileOps mfs_vfile_ram_ops;

#endif
