/* mramfs-check: checks a mapped-ram migration file and repairs the one thing
 * that is safe to repair (see mramfs-check(8)).
 *
 * The checks, what is a problem and the repair are format/'s (mr-report.h);
 * this file parses options, shows progress, prints the report as text or
 * JSON, and turns it into fsck's exit status (cli-common.h).
 */
#include <stdio.h>
#include <unistd.h>

#include "cli-common.h"
#include "mr-error.h"
#include "mr-report.h"

#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 4)
/* On a terminal, a check that is over sooner shows no progress at all. */
#define PROGRESS_DELAY_US (G_USEC_PER_SEC / 2)

typedef struct {
    gboolean json, quiet, verbose, progress;
    MrReportOptions report;
} Options;

typedef struct {
    gboolean on, tty, shown, forced;
    gint64 start, last;
} Progress;

/* ------------------------------------------------------------------ */
/* Progress (stderr) */

static void
on_progress(guint64 done, guint64 total, const char *block, gpointer data)
{
    Progress *p = data;
    gint64 now = g_get_monotonic_time();
    unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
    g_autofree char *name = block ? mr_escape_text(block, -1) : g_strdup("");

    if (!p->on)
        return;
    if (block == NULL) {
        /* The end: a terminal's line is erased; a log gets its 100% line
         * only if it got any. */
        if (p->shown && p->tty)
            fprintf(stderr, "\r\033[K");
        if (!p->shown || p->tty)
            return;
    } else {
        if (p->tty && !p->forced && now - p->start < PROGRESS_DELAY_US)
            return;
        if (p->shown && now - p->last < PROGRESS_INTERVAL_US)
            return;
    }
    p->last = now;
    p->shown = TRUE;
    if (p->tty)
        fprintf(stderr, "\rmramfs-check: %3u%% of the page areas checked "
                "(ram block \"%.24s\")\033[K", pct, name);
    else
        fprintf(stderr, "mramfs-check: %u%% of the page areas checked\n", pct);
    fflush(stderr);
}

/* ------------------------------------------------------------------ */
/* Text output */

static void
print_table(const MrReport *r)
{
    printf("%-28s %10s %10s %10s %8s %8s %6s\n", "RAM BLOCK", "PRESENT",
           "STORED", "ALLOCATED", "STALE", "IN HOLE", "STRAY");
    for (guint i = 0; i < r->blocks->len; i++) {
        const MrBlockReport *br = &g_array_index(r->blocks, MrBlockReport, i);
        const MrRamBlock *b = br->block;
        const MrBlockCheck *c = &br->check;
        g_autofree char *name = mr_escape_text(b->idstr, -1);
        g_autofree char *stored = g_format_size_full(c->present_pages * b->page_size,
                                                     G_FORMAT_SIZE_IEC_UNITS);
        g_autofree char *alloc = g_format_size_full(c->allocated_bytes,
                                                    G_FORMAT_SIZE_IEC_UNITS);

        if (!b->stored) {
            printf("%-28s %10s %10s %10s %8s %8s %6s\n", name, "-",
                   "not stored", "-", "-", "-", "-");
            continue;
        }
        printf("%-28s %10" G_GINT64_MODIFIER "u %10s %10s %8" G_GINT64_MODIFIER
               "u %8" G_GINT64_MODIFIER "u %6" G_GINT64_MODIFIER "u\n", name,
               c->present_pages, stored, alloc, c->stale_slots,
               c->present_in_hole, br->stray.count);
    }
}

/* Stale slots and present pages in holes: both normal (docs/FORMAT.md §9.9;
 * docs/CRASH-CONSISTENCY.md: a present page may be a hole, read as
 * zeros), so listed only with --verbose. */
static void
print_ranges(const MrReport *r, gboolean stale)
{
    g_autofree char *path = mr_escape_text(r->path, -1);

    for (guint i = 0; i < r->blocks->len; i++) {
        const MrBlockReport *br = &g_array_index(r->blocks, MrBlockReport, i);
        const MrRamBlock *b = br->block;
        GArray *runs = stale ? br->check.stale : br->check.in_hole;
        g_autofree char *name = mr_escape_text(b->idstr, -1);

        for (guint k = 0; k < runs->len; k++) {
            const MrPageRange *p = &g_array_index(runs, MrPageRange, k);
            guint64 at = mr_block_file_offset(b, p->first * b->page_size);
            guint64 last = at + p->count * b->page_size - 1;
            g_autofree char *pages = p->count == 1
                ? g_strdup_printf("page %" G_GINT64_MODIFIER "u", p->first)
                : g_strdup_printf("pages %" G_GINT64_MODIFIER "u-%"
                                  G_GINT64_MODIFIER "u", p->first,
                                  p->first + p->count - 1);

            printf("%s: %s: offset 0x%" G_GINT64_MODIFIER "x: ram block \"%s\": "
                   "%s %s at 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                   "x (%s)\n", stale ? "stale" : "in hole", path, at, name,
                   pages, stale ? "absent, old bytes" : "present, no data on disk",
                   at, last, stale ? "never read" : "zeros");
        }
    }
}

static void
print_text(const MrReport *r, const Options *o)
{
    guint problems = mr_report_problems(r), repaired = mr_report_repaired(r);
    g_autofree char *path = mr_escape_text(r->path, -1);

    if (r->valid && !o->quiet)
        print_table(r);
    if (o->verbose && !o->quiet) {
        print_ranges(r, TRUE);
        print_ranges(r, FALSE);
    }
    for (guint i = 0; !o->quiet && i < r->warnings->len; i++)
        printf("warning: %s\n", (char *)g_ptr_array_index(r->warnings, i));
    for (guint i = 0; i < problems; i++)
        printf("problem: %s\n", ((MrProblem *)g_ptr_array_index(r->problems, i))->message);
    for (guint i = 0; i < r->repairs->len; i++) {
        g_autofree char *m = mr_repair_message(r, g_ptr_array_index(r->repairs, i));
        printf("repaired: %s\n", m);
    }
    if (o->quiet)
        return;
    if (!r->valid) {
        if (r->operational)
            printf("%s: not checked (operational error)\n", path);
        else
            printf("%s: not a valid mapped-ram file%s\n", path,
                   o->report.repair ? "; not repaired (only stray bitmap bits "
                                      "of an otherwise valid file are)" : "");
        return;
    }
    if (r->operational)
        printf("%s: %s not completed (operational error)\n", path,
               r->blocks->len && o->report.repair ? "check or repair" : "check");
    if (problems == 0 && r->operational)
        return;
    if (problems == 0)
        printf("%s: no problems (%u RAM blocks, %u warnings)\n", path,
               r->blocks->len, r->warnings->len);
    else if (repaired == problems)
        printf("%s: %u problem%s, repaired\n", path, repaired,
               repaired > 1 ? "s" : "");
    else
        printf("%s: %u problem%s left unrepaired%s\n", path, problems - repaired,
               problems - repaired > 1 ? "s" : "",
               o->report.repair ? "" : " (--repair clears stray bitmap bits)");
}

/* fsck's statuses, ORed (cli-common.c's CLI_CHECK column). */
static int
exit_status(const MrReport *r)
{
    guint problems = mr_report_problems(r), repaired = mr_report_repaired(r);
    int status = cli_exit_status(CLI_CHECK, CLI_OK);

    if (r->operational)
        status |= cli_exit_status_of_error(CLI_CHECK, r->operational);
    if (repaired)
        status |= cli_exit_status(CLI_CHECK, CLI_REPAIRED);
    if (repaired < problems)
        status |= cli_exit_status(CLI_CHECK, CLI_UNREPAIRED);
    return status;
}

int
main(int argc, char **argv)
{
    Options o = { 0 };
    Progress p = { 0 };
    g_auto(CliOpenArgs) args = { 0 };
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &o.json,
          "Print one JSON object instead of text", NULL },
        { "repair", 'r', 0, G_OPTION_ARG_NONE, &o.report.repair,
          "Clear bitmap bits past a block's last page (nothing else is "
          "ever changed)", NULL },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet,
          "Print only problems and repairs", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
          "Also list the stale slots and the present pages in holes, as "
          "page ranges", NULL },
        { "progress", 'P', 0, G_OPTION_ARG_NONE, &o.progress,
          "Show progress on stderr even if it is not a terminal", NULL },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE");
    g_autoptr(GError) err = NULL;
    g_autoptr(MrReport) r = NULL;
    int status;

    g_option_context_set_summary(ctx, "Check a QEMU mapped-ram migration "
                                 "file: every format invariant, and each RAM "
                                 "block's bitmap against the file's data.");
    g_option_context_set_description(ctx, "Exit status (ORed, as fsck's): 0 "
        "no problems, 1 problems repaired, 4 problems left unrepaired (an "
        "invalid file included), 8 operational error, 16 usage error.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    cli_add_open_entries(ctx, &args);
    status = cli_parse_one_file(ctx, CLI_CHECK, &argc, &argv, &args, &o.report.open);
    if (status >= 0)
        return status;
    p.tty = isatty(STDERR_FILENO);
    p.forced = o.progress;
    p.on = o.progress || (p.tty && !o.quiet);
    p.start = g_get_monotonic_time();
    o.report.progress = on_progress;
    o.report.progress_data = &p;

    r = mr_report_run(argv[1], &o.report);
    if (r->operational)
        fprintf(stderr, "mramfs-check: %s\n", r->operational->message);
    status = exit_status(r);
    if (o.json) {
        json_object *j = mr_report_json(r, status, o.verbose);
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
                                                   JSON_C_TO_STRING_SPACED |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
    } else {
        print_text(r, &o);
    }
    if (fflush(stdout) != 0)
        status |= cli_exit_status(CLI_CHECK, CLI_UNREADABLE);
    return status;
}
