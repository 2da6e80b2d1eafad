/* The table of the mount's views (mfs-view.h): each top-level entry of the
 * mount is one line here and one file, mfs-view-NAME.c, that defines it.
 * Their order does not matter: inode numbers follow the sorted names. */
#include "mfs-view.h"

extern const MfsView mfs_view_devices, mfs_view_guest, mfs_view_libvirt,
    mfs_view_mramfs, mfs_view_ram, mfs_view_restore, mfs_view_snapshot,
    mfs_view_superio;

const MfsView *const mfs_views[] = {
    &mfs_view_ram,      /* ram/: RAM blocks */
    &mfs_view_devices,  /* devices/: device sections as JSON */
    &mfs_view_superio,  /* superio/: Super I/O functions */
    &mfs_view_snapshot, /* snapshot.json: the summary */
    &mfs_view_guest,    /* guest/: guest-physical map and memory */
    &mfs_view_libvirt,  /* libvirt/: libvirt's header of a save image */
    &mfs_view_mramfs,   /* .mramfs/: the daemon's log and statistics */
    &mfs_view_restore,  /* restore/: a lazy restore's stream and arguments */
    NULL,
};
