/* Option parsing shared by the commands: numbers with 0x prefixes and the
 * options every command takes to open a snapshot. */
#ifndef MRAMFS_CLI_COMMON_H
#define MRAMFS_CLI_COMMON_H

#include <glib.h>

#include "mr-file.h"

/* Exit codes of every mramfs command (documented in their man pages).  A
 * command stopped by SIGINT, SIGTERM or SIGHUP exits with 128 + the signal,
 * as the shell reports it. */
enum {
    MRAMFS_EXIT_OK = 0,
    MRAMFS_EXIT_INVALID = 1, /* the snapshot is unreadable or invalid */
    MRAMFS_EXIT_USAGE = 2,   /* bad command line */
    MRAMFS_EXIT_MOUNT = 3,   /* the kernel or libfuse refused the mount, or
                              * it ended under its user */
    MRAMFS_EXIT_LOCKED = 4,  /* the snapshot is mounted elsewhere */
    MRAMFS_EXIT_REFUSED = 5, /* mramfs-restore: the QEMU command line or
                              * binary does not fit the snapshot */
    MRAMFS_EXIT_QEMU = 6,    /* mramfs-restore: QEMU could not be run, failed
                              * or was killed */
};

gboolean cli_parse_u64(const char *s, guint64 *out);
/* Fills opts from --offset / --bitmap-order strings (either may be NULL). */
gboolean cli_open_options(const char *offset, const char *order,
                          MrOpenOptions *opts, GError **err);

#endif
