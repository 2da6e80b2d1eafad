/* mramfs-restore: start a VM from a mapped-ram snapshot with its RAM paged
 * in on demand (see mramfs-restore(1)); the work is in restore-run.c. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli-common.h"
#include "mr-error.h"
#include "restore-run.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: mramfs-restore [OPTIONS] SNAPSHOT -- QEMU-BINARY [ARGS...]\n"
            "Start QEMU-BINARY with ARGS (the command line of the VM that was\n"
            "saved) from SNAPSHOT, mapping the guest's RAM from a read-only\n"
            "mount so that it is read only when the guest touches it.\n\n"
            "  --offset N           the stream starts at byte N of SNAPSHOT\n"
            "  --bitmap-order O     le (default), be64 or be32: the saving host\n"
            "  -v, --verbose        print the command line QEMU runs with\n"
            "  -h, --help           this text\n"
            "  -V, --version        the version\n");
}

/* Returns -1 to go on, else an exit status. */
static int
parse_args(int argc, char **argv, RestoreOptions *o, GError **err)
{
    const char *offset = NULL, *order = NULL;
    int i;

    for (i = 1; i < argc && !g_str_equal(argv[i], "--"); i++) {
        const char *a = argv[i];
        if (g_str_equal(a, "-h") || g_str_equal(a, "--help")) {
            usage(stdout);
            return cli_exit_status(CLI_RESTORE, CLI_OK);
        } else if (g_str_equal(a, "-V") || g_str_equal(a, "--version")) {
            printf("mramfs-restore %s\n", MRAMFS_VERSION);
            return cli_exit_status(CLI_RESTORE, CLI_OK);
        } else if (g_str_equal(a, "-v") || g_str_equal(a, "--verbose")) {
            o->verbose = TRUE;
        } else if (g_str_equal(a, "--offset") && i + 1 < argc) {
            offset = argv[++i];
        } else if (g_str_equal(a, "--bitmap-order") && i + 1 < argc) {
            order = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                        "unknown option \"%s\" (try --help)", a);
            return cli_exit_status(CLI_RESTORE, CLI_USAGE);
        } else if (o->snapshot == NULL) {
            o->snapshot = a;
        } else {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                        "unexpected argument \"%s\": QEMU's command line "
                        "follows \"--\"", a);
            return cli_exit_status(CLI_RESTORE, CLI_USAGE);
        }
    }
    if (o->snapshot == NULL || i + 1 >= argc) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "expected SNAPSHOT -- QEMU-BINARY [ARGS...] (try --help)");
        return cli_exit_status(CLI_RESTORE, CLI_USAGE);
    }
    o->qemu_argv = argv + i + 1;
    if (!cli_open_options(offset, order, &o->open, err))
        return cli_exit_status(CLI_RESTORE, CLI_USAGE);
    return -1;
}

/* What a failure came to, by its code: restore-args.h's own, or those of
 * the lower layers (cli_outcome_of_error()). */
static CliOutcome
outcome_of(const GError *err)
{
    if (err->domain != RESTORE_ERROR)
        return cli_outcome_of_error(err);
    switch ((RestoreErrorCode)err->code) {
    case RESTORE_ERROR_REFUSED:
        return CLI_REFUSED;
    case RESTORE_ERROR_LOCKED:
        return CLI_BUSY;
    case RESTORE_ERROR_QEMU:
        return CLI_QEMU;
    case RESTORE_ERROR_MOUNT:
        break;
    }
    return CLI_SYSTEM;
}

int
main(int argc, char **argv)
{
    RestoreOptions o = { 0 };
    RestoreResult res;
    g_autoptr(GError) err = NULL;
    int r, st;

    r = parse_args(argc, argv, &o, &err);
    if (r >= 0) {
        if (err)
            fprintf(stderr, "mramfs-restore: %s\n", err->message);
        return r;
    }
    if (!restore_run(&o, &res, &err)) {
        fprintf(stderr, "mramfs-restore: %s\n", err->message);
        return res.signal ? CLI_EXIT_SIGNAL(res.signal)
                          : cli_exit_status(CLI_RESTORE, outcome_of(err));
    }
    if (res.signal)
        return CLI_EXIT_SIGNAL(res.signal);
    st = res.qemu_status;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return cli_exit_status(CLI_RESTORE, CLI_OK);
    if (WIFSIGNALED(st))
        fprintf(stderr, "mramfs-restore: QEMU was killed by signal %d (%s)\n",
                WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        fprintf(stderr, "mramfs-restore: QEMU exited with status %d\n",
                WEXITSTATUS(st));
    return cli_exit_status(CLI_RESTORE, CLI_QEMU);
}
