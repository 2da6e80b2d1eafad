#include "cli-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mr-error.h"

/* The one exit-status table of the commands (written in each man page).
 * -1: an outcome the command never has. */
static const int exit_table[CLI_NOUTCOMES][CLI_NCOMMANDS] = {
    /*                  info mount check restore */
    [CLI_OK] =         { 0,  0,    0,    0 },
    [CLI_USAGE] =      { 2,  2,   16,    2 },
    [CLI_INVALID] =    { 1,  1,    4,    1 },
    [CLI_UNREADABLE] = { 1,  1,    8,    1 },
    [CLI_BUSY] =       { -1, 4,    8,    4 },
    [CLI_SYSTEM] =     { 1,  3,    8,    3 },
    [CLI_REPAIRED] =   { -1, -1,   1,   -1 },
    [CLI_UNREPAIRED] = { -1, -1,   4,   -1 },
    [CLI_REFUSED] =    { -1, -1,  -1,    5 },
    [CLI_QEMU] =       { -1, -1,  -1,    6 },
};

int
cli_exit_status(CliCommand cmd, CliOutcome outcome)
{
    int s;

    g_return_val_if_fail(cmd < CLI_NCOMMANDS && outcome < CLI_NOUTCOMES, 1);
    s = exit_table[outcome][cmd];
    return s >= 0 ? s : exit_table[CLI_SYSTEM][cmd];
}

CliOutcome
cli_outcome_of_error(const GError *err)
{
    if (err->domain == G_OPTION_ERROR)
        return CLI_USAGE;
    if (err->domain != MR_ERROR)
        return CLI_SYSTEM;
    switch ((MrErrorCode)err->code) {
    case MR_ERROR_INVALID:
    case MR_ERROR_TRUNCATED:
    case MR_ERROR_UNSUPPORTED:
    case MR_ERROR_RANGE:
        return CLI_INVALID;
    case MR_ERROR_IO:
    case MR_ERROR_NOSPACE:
    case MR_ERROR_READONLY:
        return CLI_UNREADABLE;
    case MR_ERROR_BUSY:
        return CLI_BUSY;
    case MR_ERROR_REFUSED:
        return CLI_USAGE;
    }
    return CLI_SYSTEM;
}

int
cli_exit_status_of_error(CliCommand cmd, const GError *err)
{
    return cli_exit_status(cmd, cli_outcome_of_error(err));
}

gboolean
cli_parse_u64(const char *s, guint64 *out)
{
    char *end;
    guint64 v;

    if (s == NULL || *s == '\0' || *s == '-')
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return FALSE;
    *out = v;
    return TRUE;
}

gboolean
cli_open_options(const char *offset, const char *order, MrOpenOptions *opts,
                 GError **err)
{
    if (offset) {
        if (!cli_parse_u64(offset, &opts->stream_offset)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--offset: \"%s\" is not a number (decimal or 0x hex)",
                        offset);
            return FALSE;
        }
        opts->has_stream_offset = TRUE;
    }
    if (order && !mr_bitmap_order_parse(order, &opts->bitmap_order)) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--bitmap-order: \"%s\" is not le, be64 or be32", order);
        return FALSE;
    }
    return TRUE;
}

static const char *const command_names[CLI_NCOMMANDS] = {
    [CLI_INFO] = "mramfs-info",
    [CLI_MOUNT] = "mount.mramfs",
    [CLI_CHECK] = "mramfs-check",
    [CLI_RESTORE] = "mramfs-restore",
};

void
cli_add_open_entries(GOptionContext *ctx, CliOpenArgs *a)
{
    const GOptionEntry entries[] = {
        { "offset", 'o', 0, G_OPTION_ARG_STRING, &a->offset,
          "The stream starts at byte N (file:PATH,offset=N)", "N" },
        { "bitmap-order", 0, 0, G_OPTION_ARG_STRING, &a->order,
          "Bitmap layout of the saving host: le (default), be64, be32",
          "ORDER" },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &a->version,
          "Print the version and exit", NULL },
        G_OPTION_ENTRY_NULL
    };

    g_option_context_add_main_entries(ctx, entries, NULL);
}

int
cli_parse_one_file(GOptionContext *ctx, CliCommand cmd, int *argc,
                   char ***argv, CliOpenArgs *a, MrOpenOptions *opts)
{
    const char *prog = command_names[cmd];
    g_autoptr(GError) err = NULL;

    if (!g_option_context_parse(ctx, argc, argv, &err) ||
        !cli_open_options(a->offset, a->order, opts, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err->message);
        return cli_exit_status(cmd, CLI_USAGE);
    }
    if (a->version) {
        printf("%s %s\n", prog, MRAMFS_VERSION);
        return cli_exit_status(cmd, CLI_OK);
    }
    if (*argc != 2) {
        fprintf(stderr, "%s: expected one FILE (try --help)\n", prog);
        return cli_exit_status(cmd, CLI_USAGE);
    }
    return -1;
}

void
cli_open_args_clear(CliOpenArgs *a)
{
    g_clear_pointer(&a->offset, g_free);
    g_clear_pointer(&a->order, g_free);
}
