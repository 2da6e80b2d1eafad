/* mramfs-restore: mount a snapshot read-only at a private mount point, run
 * QEMU with the arguments of the mount's restore/qemu-args added so that it
 * restores lazily, and unmount once QEMU is gone (mramfs-restore(1)). */
#ifndef RESTORE_RUN_H
#define RESTORE_RUN_H

#include <glib.h>

#include "mr-file.h"
#include "restore-args.h"

typedef struct {
    const char *snapshot;
    MrOpenOptions open;     /* --offset, --bitmap-order */
    char *const *qemu_argv; /* the binary and its arguments, NULL-terminated */
    gboolean verbose;       /* print the command line QEMU runs with */
} RestoreOptions;

typedef struct {
    gboolean qemu_started;
    int qemu_status;    /* its wait status once started */
    int signal;         /* SIGINT/SIGTERM/SIGHUP that stopped us, or 0 */
    gboolean mount_died; /* the mount's daemon ended before QEMU */
} RestoreResult;

/* Runs the whole restore.  FALSE with err when nothing could be started
 * (MR_ERROR: the snapshot; RESTORE_ERROR: refused, mount, QEMU) or when
 * the mount failed under QEMU; TRUE once QEMU ran and everything it used
 * is cleaned up, with QEMU's status in *res.  Nothing stays mounted and no
 * process of ours stays behind either way. */
gboolean restore_run(const RestoreOptions *o, RestoreResult *res,
                     GError **err);

#endif
