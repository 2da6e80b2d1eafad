/* Option parsing shared by the commands: numbers with 0x prefixes and the
 * options every command takes to open a snapshot. */
#ifndef MRAMFS_CLI_COMMON_H
#define MRAMFS_CLI_COMMON_H

#include <glib.h>

#include "mr-file.h"

/* Exit codes of every mramfs command (documented in their man pages). */
enum {
    MRAMFS_EXIT_OK = 0,
    MRAMFS_EXIT_INVALID = 1, /* the snapshot is unreadable or invalid */
    MRAMFS_EXIT_USAGE = 2,   /* bad command line */
};

gboolean cli_parse_u64(const char *s, guint64 *out);
/* Fills opts from --offset / --bitmap-order strings (either may be NULL). */
gboolean cli_open_options(const char *offset, const char *order,
                          MrOpenOptions *opts, GError **err);

#endif
