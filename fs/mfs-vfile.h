/* Serving a virtual file (format/mr-vfile.h) as a file of the mount: the
 * node's data is the MrVfile, which the ops free.  guest/physmem uses it,
 * and so can any view whose file is pieces of the snapshot (a core file, a
 * migration stream). */
#ifndef MFS_VFILE_H
#define MFS_VFILE_H

#include "mfs-view.h"

/* Read-only: size, stored bytes, reads, SEEK_DATA/SEEK_HOLE. */
extern const MfsFileOps mfs_vfile_ops;
/* Read-only too, but uncached on a read-write mount: its RAM block pieces
 * change with writes to the block files and to physmem (guest/vmcore). */
extern const MfsFileOps mfs_vfile_ro_uncached_ops;
/* The same, writable in place over RAM block pieces (mr_vfile_write); a
 * write that touches anything else fails with ENXIO and writes nothing.
 * Uncached on a read-write mount: its bytes are also the block files'. */
extern const MfsFileOps mfs_vfile_ram_ops;

#endif
