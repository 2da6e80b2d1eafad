/* Lazy restore: QEMU maps the machine's main RAM privately from the mount
 * (ram/<block>, absent pages reading as zeros) and loads everything else
 * from restore/lazy.mig, the snapshot in which that block has no present
 * page.  QEMU's mapped-ram loader then skips the block (docs/FORMAT.md §9.10)
 * and the guest pages its RAM in on demand, through page faults on the
 * mount.  docs/LAZY-RESTORE.md says which machines and why.
 *
 * Everything here is built from the validated model; nothing reads the
 * snapshot except the virtual file's reads.
 */
#ifndef MR_LAZY_H
#define MR_LAZY_H

#include "mr-file.h"
#include "mr-vfile.h"

/* The block QEMU can map from the mount instead of loading it: the main
 * RAM of a machine that takes its RAM from a memory backend (the backend
 * id is the block's name), stored in the file.  NULL when there is none:
 * machines not in the table (the 40p's SIMMs are not a memory backend),
 * files without a configuration record, a block x-ignore-shared left out
 * (docs/FORMAT.md §9.7).  At most one: a machine has one memory backend. */
MrRamBlock *mr_lazy_block(const MrFile *f);

/* restore/lazy.mig: byte for byte the snapshot, except that the bitmap of
 * `lazy` and everything up to the end of its page area (the padding and
 * the pages) are holes.  lazy may be NULL: then the whole snapshot. */
MrVfile *mr_lazy_stream_new(MrFile *f, MrRamBlock *lazy, GError **err);

/* The arguments to add to the command line of the VM that was saved, so
 * that it restores lazily from the mount at `mountpoint` (absolute): the
 * memory backend of `lazy` (none if NULL), -global migration.CAP=on for
 * each capability the file lists (QEMU checks that both sides have the
 * same), and -incoming file:MOUNTPOINT/restore/lazy.mig.  A mount point
 * QEMU's option syntax cannot carry (not absolute, or with a ',' or a
 * newline) is refused with MR_ERROR_UNSUPPORTED.  Free with g_strfreev. */
char **mr_lazy_qemu_args(const MrFile *f, const MrRamBlock *lazy,
                         const char *mountpoint, GError **err);

/* The same as the text of restore/qemu-args: one argument per line. */
char *mr_lazy_qemu_args_text(const MrFile *f, const MrRamBlock *lazy,
                             const char *mountpoint, GError **err);

/* Where the mount serves the stream QEMU loads (with the lazily served
 * blocks' bitmaps cleared), below the mount point. */
#define MR_LAZY_STREAM_PATH "restore/lazy.mig"

#endif
