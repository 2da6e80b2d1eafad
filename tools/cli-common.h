/* What every mramfs command shares: the one table of exit statuses, chosen
 * by what a run came to (from an error's code, never its domain), and the
 * option parsing every command does to open a snapshot. */
#ifndef MRAMFS_CLI_COMMON_H
#define MRAMFS_CLI_COMMON_H

#include <glib.h>

#include "mr-file.h"

/* The commands, the columns of the table. */
typedef enum {
    CLI_INFO,    /* mramfs-info(1) */
    CLI_MOUNT,   /* mount.mramfs(8) */
    CLI_CHECK,   /* mramfs-check(8): fsck(8)'s statuses, ORed together */
    CLI_RESTORE, /* mramfs-restore(1) */
    CLI_NCOMMANDS,
} CliCommand;

/* What a run came to, the rows of the table (cli-common.c).  Each man page
 * lists its command's column under EXIT STATUS. */
typedef enum {
    CLI_OK,
    CLI_USAGE,      /* the command line is wrong */
    CLI_INVALID,    /* the snapshot is not a valid mapped-ram file, or has
                     * what mramfs cannot show (MR_ERROR_INVALID,
                     * _TRUNCATED, _UNSUPPORTED, _RANGE) */
    CLI_UNREADABLE, /* the system failed to open, read or write it
                     * (MR_ERROR_IO, _NOSPACE, _READONLY) */
    CLI_BUSY,       /* another program holds its lock (MR_ERROR_BUSY) */
    CLI_SYSTEM,     /* the kernel or libfuse refused, or serving the mount
                     * failed (any other error) */
    CLI_REPAIRED,   /* mramfs-check: problems found and repaired */
    CLI_UNREPAIRED, /* mramfs-check: problems left (an invalid file too) */
    CLI_REFUSED,    /* mramfs-restore: the QEMU command line or binary does
                     * not fit the snapshot */
    CLI_QEMU,       /* mramfs-restore: QEMU could not be run, failed or was
                     * killed */
    CLI_NOUTCOMES,
} CliOutcome;

/* A command stopped by SIGINT, SIGTERM or SIGHUP exits with 128 + the
 * signal, as the shell reports it (mramfs-restore; the mount's daemon
 * ends its loop instead). */
#define CLI_EXIT_SIGNAL(sig) (128 + (sig))

/* The exit status of cmd for outcome (an outcome the command never has
 * gives its "cannot do it" status). */
int cli_exit_status(CliCommand cmd, CliOutcome outcome);
/* The outcome an error stands for: by its MR_ERROR code (G_OPTION_ERROR:
 * usage); any other error is CLI_SYSTEM. */
CliOutcome cli_outcome_of_error(const GError *err);
/* Both: the exit status of cmd for err. */
int cli_exit_status_of_error(CliCommand cmd, const GError *err);

gboolean cli_parse_u64(const char *s, guint64 *out);
/* Fills opts from --offset / --bitmap-order strings (either may be NULL). */
gboolean cli_open_options(const char *offset, const char *order,
                          MrOpenOptions *opts, GError **err);

/* The options of a command that opens one snapshot FILE: --offset,
 * --bitmap-order and --version, parsed by cli_parse_one_file(). */
typedef struct {
    char *offset;
    char *order;
    gboolean version;
} CliOpenArgs;

/* Adds CliOpenArgs' options to ctx, after the command's own. */
void cli_add_open_entries(GOptionContext *ctx, CliOpenArgs *a);
/* Parses the command line of `cmd`: -1 to go on, with opts filled and
 * (*argv)[1] the FILE; else the exit status to return at once, a usage
 * error having been said on stderr or --version printed. */
int cli_parse_one_file(GOptionContext *ctx, CliCommand cmd, int *argc,
                       char ***argv, CliOpenArgs *a, MrOpenOptions *opts);
void cli_open_args_clear(CliOpenArgs *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliOpenArgs, cli_open_args_clear)

#endif
