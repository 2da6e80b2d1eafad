/* mramfs-restore's judgement of a QEMU command line and binary before
 * anything is started: what it must refuse (mramfs-restore(1)).  Pure
 * functions over strings and the validated snapshot model, so that they
 * are tested without QEMU. */
#ifndef RESTORE_ARGS_H
#define RESTORE_ARGS_H

#include <glib.h>

#include "mr-file.h"

#define RESTORE_ERROR (restore_error_quark())
GQuark restore_error_quark(void);

typedef enum {
    /* The command line, QEMU or the snapshot cannot make a lazy restore. */
    RESTORE_ERROR_REFUSED,
    /* Mounting the snapshot failed, or the mount ended under QEMU. */
    RESTORE_ERROR_MOUNT,
    /* A read-write mount of the snapshot holds its lock. */
    RESTORE_ERROR_LOCKED,
    /* QEMU could not be started or asked. */
    RESTORE_ERROR_QEMU,
} RestoreErrorCode;

void restore_set_error(GError **err, RestoreErrorCode code, const char *fmt,
                       ...) G_GNUC_PRINTF(3, 4);

/* The guest RAM size of a -m argument as QEMU takes it ("4G", "4096"
 * meaning MiB, "size=4G,slots=2,maxmem=8G", "1.5G"), rounded up to 8 KiB
 * as QEMU rounds it.  FALSE (REFUSED) for what QEMU would not take either.
 * *has_size is FALSE for a -m without a size ("slots=2,maxmem=8G"). */
gboolean restore_parse_ram_size(const char *arg, gboolean *has_size,
                                guint64 *bytes, GError **err);

/* "QEMU emulator version 10.0.2 (Debian ...)" (qemu -version) to 10, 0. */
gboolean restore_parse_qemu_version(const char *text, guint *major,
                                    guint *minor, GError **err);
/* Refuses a QEMU older than 9.0, the first with mapped-ram. */
gboolean restore_check_qemu_version(const char *binary, guint major,
                                    guint minor, GError **err);

/* Checks QEMU's arguments (without the binary) against the snapshot f and
 * its lazily served block (NULL if none), and refuses: a RAM size other
 * than the block's, options mramfs-restore adds itself (-incoming, a
 * machine memory backend, an object with the block's id), options that
 * cannot work with a private read-only mapping (share=on on a memory
 * backend, -mem-path) or with waiting for QEMU (-daemonize). */
gboolean restore_check_args(const MrFile *f, const MrRamBlock *lazy,
                            char *const *args, GError **err);

#endif
