/* mramfs-check: checks a mapped-ram migration file and repairs the one thing
 * that is safe to repair (see mramfs-check(8)).
 *
 * The checks are the format library's: mr_file_open() validates every
 * invariant of FORMAT.md §11, mr_block_check() compares each bitmap with
 * the file's allocation, mr_block_stray_bits() finds bits past a block's
 * last page (R12); the repair is mr_block_clear_stray_bits().  This file
 * parses options, locks the snapshot against mounts, and reports.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-common.h"
#include "mr-check.h"
#include "mr-error.h"
#include "mr-file.h"
#include "mr-update.h"

/* fsck(8)'s exit codes, ORed together (documented in mramfs-check(8)). */
enum {
    CHECK_EXIT_OK = 0,
    CHECK_EXIT_REPAIRED = 1,
    CHECK_EXIT_UNREPAIRED = 4,
    CHECK_EXIT_OPERATIONAL = 8,
    CHECK_EXIT_USAGE = 16,
};

#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 4)
/* On a terminal, a check that is over sooner shows no progress at all. */
#define PROGRESS_DELAY_US (G_USEC_PER_SEC / 2)

typedef struct {
    gboolean json, repair, quiet, verbose, progress;
    MrOpenOptions open;
} Options;

typedef struct {
    const MrRamBlock *block;
    MrBlockCheck check;
    MrStrayBits stray;
    MrStrayBits fixed; /* what the repair wrote; len 0 if nothing */
} BlockResult;

typedef struct {
    const char *path;
    const Options *o;
    MrFile *file;        /* the blocks below point into it */
    int status;
    gboolean opened;     /* the file passed mr_file_open() */
    char *error;         /* why it did not, or an operational error */
    GPtrArray *warnings; /* char*: the model's, then ours */
    GPtrArray *problems; /* char*: what sets CHECK_EXIT_UNREPAIRED */
    GPtrArray *repairs;  /* char*: what --repair wrote */
    json_object *repairs_json;
    GArray *blocks;      /* BlockResult */

    /* Progress line (stderr). */
    gboolean progress_on, progress_tty, progress_shown;
    gint64 progress_start, progress_last;
    guint64 total, base;
    const char *current;
} Check;

static char *message(const char *path, guint64 offset, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static char *
message(const char *path, guint64 offset, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = mr_format_message(path, offset, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------ */
/* Progress */

static void
progress_print(Check *c, guint64 done, gboolean final)
{
    gint64 now = g_get_monotonic_time();
    unsigned pct = c->total ? (unsigned)(done * 100 / c->total) : 100;

    if (!c->progress_on)
        return;
    if (!final) {
        if (c->progress_tty && !c->o->progress &&
            now - c->progress_start < PROGRESS_DELAY_US)
            return;
        if (c->progress_shown && now - c->progress_last < PROGRESS_INTERVAL_US)
            return;
    } else if (!c->progress_shown || c->progress_tty) {
        /* A terminal's line is erased at the end; a log gets its 100%
         * line only if it got any. */
        if (c->progress_shown)
            fprintf(stderr, "\r\033[K");
        return;
    }
    c->progress_last = now;
    c->progress_shown = TRUE;
    if (c->progress_tty)
        fprintf(stderr, "\rmramfs-check: %3u%% of the page areas checked "
                "(ram block \"%.24s\")\033[K", pct, c->current ? c->current : "");
    else
        fprintf(stderr, "mramfs-check: %u%% of the page areas checked\n", pct);
    fflush(stderr);
}

static void
on_progress(guint64 done, gpointer data)
{
    Check *c = data;

    progress_print(c, c->base + done, FALSE);
}

/* ------------------------------------------------------------------ */
/* Checking */

static void
operational(Check *c, const char *msg)
{
    c->status |= CHECK_EXIT_OPERATIONAL;
    if (c->error == NULL)
        c->error = g_strdup(msg);
    fprintf(stderr, "mramfs-check: %s\n", msg);
}

/* "page 4" or "pages 4-7". */
static char *
pages_text(const MrPageRange *p)
{
    if (p->count == 1)
        return g_strdup_printf("page %" G_GINT64_MODIFIER "u", p->first);
    return g_strdup_printf("pages %" G_GINT64_MODIFIER "u-%" G_GINT64_MODIFIER
                           "u", p->first, p->first + p->count - 1);
}

/* "fe 00 81" (sep " ") or "fe0081" (sep ""). */
static char *
hex(const guint8 *p, guint n, const char *sep)
{
    GString *s = g_string_new(NULL);

    for (guint k = 0; k < n; k++)
        g_string_append_printf(s, "%s%02x", k ? sep : "", p[k]);
    return g_string_free(s, FALSE);
}

static void
report_stray(Check *c, const BlockResult *r)
{
    const MrStrayBits *s = &r->stray;
    g_autofree char *old = hex(s->old_bytes, s->len, " ");
    g_autofree char *want = hex(s->new_bytes, s->len, " ");

    g_ptr_array_add(c->problems, message(c->path, s->offset,
        "ram block \"%s\": %" G_GINT64_MODIFIER "u bitmap bit%s set beyond "
        "its last page (page %" G_GINT64_MODIFIER "u; FORMAT.md R12): "
        "byte%s %s, expected %s", r->block->idstr, s->count,
        s->count > 1 ? "s" : "", r->block->num_pages - 1,
        s->len > 1 ? "s" : "", old, want));
}

/* Every block: the allocation walk, then the bits past the last page. */
static gboolean
check_blocks(Check *c, MrFile *f)
{
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        if (b->stored)
            c->total += b->used_length;
    }
    for (guint i = 0; i < f->blocks->len; i++) {
        BlockResult r = { .block = g_ptr_array_index(f->blocks, i) };
        BlockResult *rp;
        gboolean ok;

        c->current = r.block->idstr;
        ok = mr_block_check(f, r.block, &r.check, on_progress, c, &err) &&
             mr_block_stray_bits(f, r.block, &r.stray, &err);
        g_array_append_val(c->blocks, r);
        if (!ok) {
            operational(c, err->message);
            return FALSE;
        }
        if (r.block->stored)
            c->base += r.block->used_length;
        rp = &g_array_index(c->blocks, BlockResult, c->blocks->len - 1);
        if (rp->stray.count)
            report_stray(c, rp);
    }
    progress_print(c, c->total, TRUE);
    return TRUE;
}

static void
report_repair(Check *c, const MrRamBlock *b, const MrStrayBits *fix)
{
    g_autofree char *old = hex(fix->old_bytes, fix->len, " ");
    g_autofree char *new = hex(fix->new_bytes, fix->len, " ");
    g_autofree char *old_json = hex(fix->old_bytes, fix->len, "");
    g_autofree char *new_json = hex(fix->new_bytes, fix->len, "");
    json_object *o = json_object_new_object();

    g_ptr_array_add(c->repairs, message(c->path, fix->offset,
        "ram block \"%s\": cleared %" G_GINT64_MODIFIER "u stray bitmap "
        "bit%s: wrote %u byte%s, %s -> %s", b->idstr, fix->count,
        fix->count > 1 ? "s" : "", fix->len, fix->len > 1 ? "s" : "", old,
        new));
    json_object_object_add(o, "block", json_object_new_string(b->idstr));
    json_object_object_add(o, "offset", json_object_new_uint64(fix->offset));
    json_object_object_add(o, "length", json_object_new_uint64(fix->len));
    json_object_object_add(o, "old", json_object_new_string(old_json));
    json_object_object_add(o, "new", json_object_new_string(new_json));
    json_object_object_add(o, "bits_cleared", json_object_new_uint64(fix->count));
    json_object_array_add(c->repairs_json, o);
}

/* Clears the stray bits of every block that has some, through a second,
 * writable open that validates the file again: a file that changed into
 * an invalid one since the check is not touched. */
static void
repair(Check *c, MrFile *f)
{
    MrOpenOptions wopts = c->o->open;
    g_autoptr(MrFile) fw = NULL;
    g_autoptr(GError) err = NULL;

    /* Exclusive: no mount (mfs-session.c takes LOCK_SH or LOCK_EX) may
     * hold the bitmap in memory while we write it. */
    if (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
        g_autofree char *m = g_strdup_printf(
            "%s: not repairing: %s", c->path, errno == EWOULDBLOCK
                ? "the snapshot is in use (mounted: its lock is held)"
                : g_strerror(errno));
        operational(c, m);
        return;
    }
    wopts.writable = TRUE;
    fw = mr_file_open(c->path, &wopts, &err);
    if (fw == NULL) {
        g_autofree char *m = g_strdup_printf("not repairing: %s", err->message);
        operational(c, m);
        return;
    }
    for (guint i = 0; i < c->blocks->len; i++) {
        BlockResult *r = &g_array_index(c->blocks, BlockResult, i);
        MrRamBlock *bw;
        MrStrayBits after;

        if (r->stray.count == 0)
            continue;
        bw = mr_file_find_block(fw, r->block->idstr);
        if (bw == NULL) {
            g_autofree char *m = g_strdup_printf("%s: not repairing: ram block "
                "\"%s\" is gone: the file changed during the check", c->path,
                r->block->idstr);
            operational(c, m);
            return;
        }
        if (!mr_block_clear_stray_bits(fw, bw, &r->fixed, &err)) {
            operational(c, err->message);
            return;
        }
        if (r->fixed.len)
            report_repair(c, bw, &r->fixed);
        /* Repaired only once the file says so. */
        if (!mr_block_stray_bits(fw, bw, &after, &err)) {
            operational(c, err->message);
            return;
        }
        if (after.count != 0) {
            g_autofree char *m = g_strdup_printf("%s: ram block \"%s\": %"
                G_GINT64_MODIFIER "u stray bits still set after the repair",
                c->path, bw->idstr, after.count);
            r->fixed.len = 0;
            operational(c, m);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Output */

static json_object *
ranges_json(const MrRamBlock *b, GArray *a)
{
    json_object *arr = json_object_new_array();

    for (guint i = 0; i < a->len; i++) {
        const MrPageRange *p = &g_array_index(a, MrPageRange, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "first_page", json_object_new_uint64(p->first));
        json_object_object_add(o, "pages", json_object_new_uint64(p->count));
        json_object_object_add(o, "offset", json_object_new_uint64(
            b->pages_offset + p->first * b->page_size));
        json_object_object_add(o, "length", json_object_new_uint64(p->count * b->page_size));
        json_object_array_add(arr, o);
    }
    return arr;
}

static json_object *
strings_json(GPtrArray *a)
{
    json_object *arr = json_object_new_array();

    for (guint i = 0; i < a->len; i++)
        json_object_array_add(arr, json_object_new_string(g_ptr_array_index(a, i)));
    return arr;
}

static void
print_json(Check *c)
{
    json_object *o = json_object_new_object(), *blocks = json_object_new_array();

    json_object_object_add(o, "file", json_object_new_string(c->path));
    /* null: an operational error left it unknown. */
    json_object_object_add(o, "valid", c->opened ? json_object_new_boolean(TRUE)
                                   : c->status & CHECK_EXIT_OPERATIONAL ? NULL
                                   : json_object_new_boolean(FALSE));
    json_object_object_add(o, "error", c->error ? json_object_new_string(c->error) : NULL);
    json_object_object_add(o, "exit_status", json_object_new_int(c->status));
    for (guint i = 0; i < c->blocks->len; i++) {
        const BlockResult *r = &g_array_index(c->blocks, BlockResult, i);
        const MrRamBlock *b = r->block;
        json_object *bo = json_object_new_object();

        json_object_object_add(bo, "name", json_object_new_string(b->idstr));
        json_object_object_add(bo, "stored", json_object_new_boolean(b->stored));
        json_object_object_add(bo, "num_pages", json_object_new_uint64(b->num_pages));
        json_object_object_add(bo, "present_pages", json_object_new_uint64(r->check.present_pages));
        json_object_object_add(bo, "stored_bytes",
                               json_object_new_uint64(r->check.present_pages * b->page_size));
        json_object_object_add(bo, "allocated_bytes", json_object_new_uint64(r->check.allocated_bytes));
        json_object_object_add(bo, "stale_slots", json_object_new_uint64(r->check.stale_slots));
        json_object_object_add(bo, "present_in_hole", json_object_new_uint64(r->check.present_in_hole));
        json_object_object_add(bo, "stray_bits", json_object_new_uint64(r->stray.count));
        json_object_object_add(bo, "stray_bits_cleared",
                               json_object_new_uint64(r->fixed.len ? r->fixed.count : 0));
        json_object_object_add(bo, "bitmap_offset", json_object_new_uint64(b->bitmap_offset));
        json_object_object_add(bo, "bitmap_size", json_object_new_uint64(b->bitmap_size));
        json_object_object_add(bo, "pages_offset", json_object_new_uint64(b->pages_offset));
        json_object_object_add(bo, "present_in_hole_ranges", ranges_json(b, r->check.in_hole));
        if (c->o->verbose)
            json_object_object_add(bo, "stale_ranges", ranges_json(b, r->check.stale));
        json_object_array_add(blocks, bo);
    }
    json_object_object_add(o, "blocks", blocks);
    json_object_object_add(o, "warnings", strings_json(c->warnings));
    json_object_object_add(o, "problems", strings_json(c->problems));
    json_object_object_add(o, "repairs", json_object_get(c->repairs_json));
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                               JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void
print_table(Check *c)
{
    printf("%-28s %10s %10s %10s %8s %8s %6s\n", "RAM BLOCK", "PRESENT",
           "STORED", "ALLOCATED", "STALE", "IN HOLE", "STRAY");
    for (guint i = 0; i < c->blocks->len; i++) {
        const BlockResult *r = &g_array_index(c->blocks, BlockResult, i);
        const MrRamBlock *b = r->block;
        g_autofree char *stored = g_format_size_full(
            r->check.present_pages * b->page_size, G_FORMAT_SIZE_IEC_UNITS);
        g_autofree char *alloc = g_format_size_full(r->check.allocated_bytes,
                                                    G_FORMAT_SIZE_IEC_UNITS);

        if (!b->stored) {
            printf("%-28s %10s %10s %10s %8s %8s %6s\n", b->idstr, "-",
                   "not stored", "-", "-", "-", "-");
            continue;
        }
        printf("%-28s %10" G_GINT64_MODIFIER "u %10s %10s %8" G_GINT64_MODIFIER
               "u %8" G_GINT64_MODIFIER "u %6" G_GINT64_MODIFIER "u\n", b->idstr,
               r->check.present_pages, stored, alloc, r->check.stale_slots,
               r->check.present_in_hole, r->stray.count);
    }
}

/* Stale slots and present pages in holes: both normal (FORMAT.md §9.9;
 * docs/CRASH-CONSISTENCY.md: a present page may be a hole, read as
 * zeros), so listed only with --verbose. */
static void
print_ranges(Check *c, gboolean stale)
{
    for (guint i = 0; i < c->blocks->len; i++) {
        const BlockResult *r = &g_array_index(c->blocks, BlockResult, i);
        const MrRamBlock *b = r->block;
        GArray *runs = stale ? r->check.stale : r->check.in_hole;

        for (guint k = 0; k < runs->len; k++) {
            const MrPageRange *p = &g_array_index(runs, MrPageRange, k);
            guint64 at = b->pages_offset + p->first * b->page_size;
            g_autofree char *pages = pages_text(p);

            if (stale)
                printf("stale: %s: offset 0x%" G_GINT64_MODIFIER "x: ram block "
                       "\"%s\": %s absent, old bytes at 0x%" G_GINT64_MODIFIER
                       "x-0x%" G_GINT64_MODIFIER "x (never read)\n", c->path, at,
                       b->idstr, pages, at, at + p->count * b->page_size - 1);
            else
                printf("in hole: %s: offset 0x%" G_GINT64_MODIFIER "x: ram block "
                       "\"%s\": %s present, no data on disk at 0x%" G_GINT64_MODIFIER
                       "x-0x%" G_GINT64_MODIFIER "x (zeros)\n", c->path, at,
                       b->idstr, pages, at, at + p->count * b->page_size - 1);
        }
    }
}

static void
print_text(Check *c)
{
    const Options *o = c->o;
    guint repaired = 0;

    if (c->opened && !o->quiet)
        print_table(c);
    if (o->verbose && !o->quiet) {
        print_ranges(c, TRUE);
        print_ranges(c, FALSE);
    }
    for (guint i = 0; !o->quiet && i < c->warnings->len; i++)
        printf("warning: %s\n", (char *)g_ptr_array_index(c->warnings, i));
    for (guint i = 0; i < c->problems->len; i++)
        printf("problem: %s\n", (char *)g_ptr_array_index(c->problems, i));
    for (guint i = 0; i < c->repairs->len; i++)
        printf("repaired: %s\n", (char *)g_ptr_array_index(c->repairs, i));
    for (guint i = 0; i < c->blocks->len; i++)
        repaired += g_array_index(c->blocks, BlockResult, i).fixed.len != 0;
    if (o->quiet)
        return;
    if (!c->opened) {
        if (c->status & CHECK_EXIT_OPERATIONAL)
            printf("%s: not checked (operational error)\n", c->path);
        else
            printf("%s: not a valid mapped-ram file%s\n", c->path,
                   o->repair ? "; not repaired (only stray bitmap bits of an "
                               "otherwise valid file are)" : "");
        return;
    }
    if (c->status & CHECK_EXIT_OPERATIONAL)
        printf("%s: %s not completed (operational error)\n", c->path,
               c->blocks->len && c->o->repair ? "check or repair" : "check");
    if (c->problems->len == 0 && (c->status & CHECK_EXIT_OPERATIONAL))
        return;
    if (c->problems->len == 0)
        printf("%s: no problems (%u RAM blocks, %u warnings)\n", c->path,
               c->blocks->len, c->warnings->len);
    else if (repaired == c->problems->len)
        printf("%s: %u problem%s, repaired\n", c->path, repaired,
               repaired > 1 ? "s" : "");
    else
        printf("%s: %u problem%s left unrepaired%s\n", c->path,
               c->problems->len - repaired, c->problems->len - repaired > 1 ? "s" : "",
               o->repair ? "" : " (--repair clears stray bitmap bits)");
}

/* ------------------------------------------------------------------ */

static void
run(Check *c)
{
    MrFile *f;
    g_autoptr(GError) err = NULL;
    struct stat st;
    guint stray_blocks = 0, repaired = 0;

    /* Whether the file can be read at all is an operational question;
     * mr_file_open() would call a directory an invalid snapshot. */
    errno = 0;
    if (stat(c->path, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_autofree char *m = g_strdup_printf("%s: cannot check: %s", c->path,
            errno ? g_strerror(errno) : "not a regular file");
        operational(c, m);
        return;
    }
    f = c->file = mr_file_open(c->path, &c->o->open, &err);
    if (f == NULL) {
        if (g_error_matches(err, MR_ERROR, MR_ERROR_IO)) {
            operational(c, err->message);
            return;
        }
        c->error = g_strdup(err->message);
        g_ptr_array_add(c->problems, g_strdup(err->message));
        c->status |= CHECK_EXIT_UNREPAIRED;
        return;
    }
    c->opened = TRUE;
    for (guint i = 0; i < f->warnings->len; i++)
        g_ptr_array_add(c->warnings, g_strdup(g_ptr_array_index(f->warnings, i)));
    /* A read-write mount holds LOCK_EX: its writes may land mid-check. */
    if (flock(f->fd, LOCK_SH | LOCK_NB) != 0)
        g_ptr_array_add(c->warnings, message(c->path, MR_NO_OFFSET,
            "the snapshot is locked (mounted read-write?): it may change "
            "while it is checked"));
    if (!check_blocks(c, f))
        return;
    /* Readable, but QEMU refuses to load such a stream (FORMAT.md §9.1),
     * and removing records is no safe repair. */
    if (f->multifd_flushes) {
        g_ptr_array_add(c->problems, message(c->path, f->ram_offset,
            "%u MULTIFD_FLUSH records in the ram section: QEMU refuses to "
            "load a mapped-ram stream with them", f->multifd_flushes));
        c->status |= CHECK_EXIT_UNREPAIRED;
    }
    for (guint i = 0; i < c->blocks->len; i++)
        stray_blocks += g_array_index(c->blocks, BlockResult, i).stray.count != 0;
    if (stray_blocks && c->o->repair)
        repair(c, f);
    for (guint i = 0; i < c->blocks->len; i++)
        repaired += g_array_index(c->blocks, BlockResult, i).fixed.len != 0;
    if (repaired)
        c->status |= CHECK_EXIT_REPAIRED;
    if (repaired < stray_blocks)
        c->status |= CHECK_EXIT_UNREPAIRED;
}

int
main(int argc, char **argv)
{
    Options o = { 0 };
    gboolean version = FALSE;
    g_autofree char *offset = NULL, *order = NULL;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &o.json,
          "Print one JSON object instead of text", NULL },
        { "repair", 'r', 0, G_OPTION_ARG_NONE, &o.repair,
          "Clear bitmap bits past a block's last page (nothing else is "
          "ever changed)", NULL },
        { "offset", 'o', 0, G_OPTION_ARG_STRING, &offset,
          "The stream starts at byte N (file:PATH,offset=N)", "N" },
        { "bitmap-order", 0, 0, G_OPTION_ARG_STRING, &order,
          "Bitmap layout of the saving host: le (default), be64, be32",
          "ORDER" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet,
          "Print only problems and repairs", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
          "Also list the stale slots and the present pages in holes, as "
          "page ranges", NULL },
        { "progress", 'P', 0, G_OPTION_ARG_NONE, &o.progress,
          "Show progress on stderr even if it is not a terminal", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
          "Print the version and exit", NULL },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE");
    g_autoptr(GError) err = NULL;
    Check c = { 0 };

    g_option_context_set_summary(ctx, "Check a QEMU mapped-ram migration "
                                 "file: every format invariant, and each RAM "
                                 "block's bitmap against the file's data.");
    g_option_context_set_description(ctx, "Exit status (ORed, as fsck's): 0 "
        "no problems, 1 problems repaired, 4 problems left unrepaired (an "
        "invalid file included), 8 operational error, 16 usage error.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) ||
        !cli_open_options(offset, order, &o.open, &err)) {
        fprintf(stderr, "mramfs-check: %s\n", err->message);
        return CHECK_EXIT_USAGE;
    }
    if (version) {
        printf("mramfs-check %s\n", MRAMFS_VERSION);
        return CHECK_EXIT_OK;
    }
    if (argc != 2) {
        fprintf(stderr, "mramfs-check: expected one FILE (try --help)\n");
        return CHECK_EXIT_USAGE;
    }
    c.path = argv[1];
    c.o = &o;
    c.warnings = g_ptr_array_new_with_free_func(g_free);
    c.problems = g_ptr_array_new_with_free_func(g_free);
    c.repairs = g_ptr_array_new_with_free_func(g_free);
    c.repairs_json = json_object_new_array();
    c.blocks = g_array_new(FALSE, TRUE, sizeof(BlockResult));
    c.progress_tty = isatty(STDERR_FILENO);
    c.progress_on = o.progress || (c.progress_tty && !o.quiet);
    c.progress_start = g_get_monotonic_time();

    run(&c);
    if (o.json)
        print_json(&c);
    else
        print_text(&c);
    if (fflush(stdout) != 0)
        c.status |= CHECK_EXIT_OPERATIONAL;

    for (guint i = 0; i < c.blocks->len; i++)
        mr_block_check_clear(&g_array_index(c.blocks, BlockResult, i).check);
    g_array_unref(c.blocks);
    g_ptr_array_unref(c.warnings);
    g_ptr_array_unref(c.problems);
    g_ptr_array_unref(c.repairs);
    json_object_put(c.repairs_json);
    g_free(c.error);
    mr_file_close(c.file);
    return c.status;
}
