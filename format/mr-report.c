/* mramfs-check's checks and the problems they sort out (mr-report.h). */
#include "mr-report.h"

#include <errno.h>
#include <sys/stat.h>

#include "mr-error.h"

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

static void
problem_free(gpointer p)
{
    MrProblem *pr = p;

    g_free(pr->message);
    g_free(pr);
}


static MrProblem *
add_problem(MrReport *r, MrProblemKind kind, gint block, char *msg)
{
    MrProblem *p = g_new0(MrProblem, 1);

    p->kind = kind;
    p->block = block;
    p->message = msg;
    g_ptr_array_add(r->problems, p);
    return p;
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
add_stray_problem(MrReport *r, guint i)
{
    const MrBlockReport *br = &g_array_index(r->blocks, MrBlockReport, i);
    const MrStrayBits *s = &br->stray;
    g_autofree char *old = hex(s->old_bytes, s->len, " ");
    g_autofree char *want = hex(s->new_bytes, s->len, " ");

    add_problem(r, MR_PROBLEM_STRAY_BITS, (gint)i, message(r->path, s->offset,
        "ram block \"%s\": %" G_GINT64_MODIFIER "u bitmap bit%s set beyond "
        "its last page (page %" G_GINT64_MODIFIER "u; docs/FORMAT.md R12): "
        "byte%s %s, expected %s", br->block->idstr, s->count,
        s->count > 1 ? "s" : "", br->block->num_pages - 1,
        s->len > 1 ? "s" : "", old, want));
}

typedef struct {
    MrReport *r;
    const MrReportOptions *o;
    guint64 base, total;
    const char *current;
} Walk;

static void
on_progress(guint64 done, gpointer data)
{
    Walk *w = data;

    if (w->o->progress)
        w->o->progress(w->base + done, w->total, w->current, w->o->progress_data);
}

/* Every block: the allocation walk, then the bits past the last page. */
static gboolean
check_blocks(MrReport *r, const MrReportOptions *o)
{
    MrFile *f = r->file;
    Walk w = { r, o, 0, 0, NULL };

    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        if (b->stored)
            w.total += b->used_length;
    }
    for (guint i = 0; i < f->blocks->len; i++) {
        MrBlockReport br = { .block = g_ptr_array_index(f->blocks, i) };
        GError *err = NULL;
        gboolean ok;

        w.current = br.block->idstr;
        ok = mr_block_check(f, br.block, &br.check, on_progress, &w, &err) &&
             mr_block_stray_bits(f, br.block, &br.stray, &err);
        g_array_append_val(r->blocks, br);
        if (!ok) {
            r->operational = err;
            return FALSE;
        }
        if (br.block->stored)
            w.base += br.block->used_length;
        if (br.stray.count)
            add_stray_problem(r, i);
    }
    if (o->progress)
        o->progress(w.total, w.total, NULL, o->progress_data);
    return TRUE;
}

MrReport *
mr_report_run(const char *path, const MrReportOptions *o)
{
    MrReport *r = g_new0(MrReport, 1);
    GError *err = NULL;
    struct stat st;
    MrFile *f;

    r->path = g_strdup(path);
    r->warnings = g_ptr_array_new_with_free_func(g_free);
    r->problems = g_ptr_array_new_with_free_func(problem_free);
    r->repairs = g_ptr_array_new_with_free_func(g_free);
    r->blocks = g_array_new(FALSE, TRUE, sizeof(MrBlockReport));
    /* Whether the file can be read at all is an operational question;
     * mr_file_open() would call a directory an invalid snapshot. */
    errno = 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        mr_set_error(&r->operational, MR_ERROR_IO, path, MR_NO_OFFSET,
                     "cannot check: %s",
                     errno ? g_strerror(errno) : "not a regular file");
        return r;
    }
    f = r->file = mr_file_open(path, &o->open, &err);
    if (f == NULL) {
        /* Not read is not checked; anything else it says is the file's. */
        if (g_error_matches(err, MR_ERROR, MR_ERROR_IO)) {
            r->operational = err;
            return r;
        }
        add_problem(r, MR_PROBLEM_INVALID_FILE, -1, g_strdup(err->message));
        g_error_free(err);
        return r;
    }
    r->valid = TRUE;
    for (guint i = 0; i < f->warnings->len; i++)
        g_ptr_array_add(r->warnings, g_strdup(g_ptr_array_index(f->warnings, i)));
    /* A read-write mount holds the lock alone: its writes may land
     * mid-check. */
    if (!mr_file_lock(f, MR_LOCK_SHARED, 0, NULL))
        g_ptr_array_add(r->warnings, message(path, MR_NO_OFFSET,
            "the snapshot is locked (mounted read-write?): it may change "
            "while it is checked"));
    if (!check_blocks(r, o))
        return r;
    /* Readable, but QEMU refuses to load such a stream (docs/FORMAT.md §9.1),
     * and removing records is no safe repair. */
    if (f->multifd_flushes)
        add_problem(r, MR_PROBLEM_MULTIFD_FLUSH, -1, message(path, f->ram_offset,
            "%u MULTIFD_FLUSH records in the ram section: QEMU refuses to "
            "load a mapped-ram stream with them", f->multifd_flushes));
    if (o->repair) {
        for (guint i = 0; i < r->problems->len; i++) {
            const MrProblem *p = g_ptr_array_index(r->problems, i);
            if (p->kind == MR_PROBLEM_STRAY_BITS) {
                mr_report_repair(r, &o->open);
                break;
            }
        }
    }
    return r;
}

void
mr_report_free(MrReport *r)
{
    if (r == NULL)
        return;
    for (guint i = 0; i < r->blocks->len; i++)
        mr_block_check_clear(&g_array_index(r->blocks, MrBlockReport, i).check);
    g_array_unref(r->blocks);
    g_ptr_array_unref(r->warnings);
    g_ptr_array_unref(r->problems);
    g_ptr_array_unref(r->repairs);
    g_clear_error(&r->operational);
    mr_file_close(r->file);
    g_free(r->path);
    g_free(r);
}

guint
mr_report_problems(const MrReport *r)
{
    return r->problems->len;
}

guint
mr_report_repaired(const MrReport *r)
{
    guint n = 0;

    for (guint i = 0; i < r->problems->len; i++)
        n += ((const MrProblem *)g_ptr_array_index(r->problems, i))->repaired;
    return n;
}

char *
mr_repair_message(const MrReport *r, const MrRepair *rp)
{
    const MrStrayBits *fix = &rp->fixed;
    g_autofree char *old = hex(fix->old_bytes, fix->len, " ");
    g_autofree char *new = hex(fix->new_bytes, fix->len, " ");

    return message(r->path, fix->offset, "ram block \"%s\": cleared %"
                   G_GINT64_MODIFIER "u stray bitmap bit%s: wrote %u byte%s, "
                   "%s -> %s", rp->block->idstr, fix->count,
                   fix->count > 1 ? "s" : "", fix->len, fix->len > 1 ? "s" : "",
                   old, new);
}

/* ------------------------------------------------------------------ */

static json_object *
text_json(const char *s)
{
    g_autofree char *e = mr_escape_text(s, -1);

    return json_object_new_string(e);
}

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
            mr_block_file_offset(b, p->first * b->page_size)));
        json_object_object_add(o, "length", json_object_new_uint64(p->count * b->page_size));
        json_object_array_add(arr, o);
    }
    return arr;
}

static json_object *
block_json(const MrBlockReport *br, gboolean verbose)
{
    const MrRamBlock *b = br->block;
    const MrBlockCheck *c = &br->check;
    json_object *o = json_object_new_object();

    json_object_object_add(o, "name", text_json(b->idstr));
    json_object_object_add(o, "stored", json_object_new_boolean(b->stored));
    json_object_object_add(o, "num_pages", json_object_new_uint64(b->num_pages));
    json_object_object_add(o, "present_pages", json_object_new_uint64(c->present_pages));
    json_object_object_add(o, "stored_bytes",
                           json_object_new_uint64(c->present_pages * b->page_size));
    json_object_object_add(o, "allocated_bytes", json_object_new_uint64(c->allocated_bytes));
    json_object_object_add(o, "stale_slots", json_object_new_uint64(c->stale_slots));
    json_object_object_add(o, "present_in_hole", json_object_new_uint64(c->present_in_hole));
    json_object_object_add(o, "stray_bits", json_object_new_uint64(br->stray.count));
    json_object_object_add(o, "stray_bits_cleared",
                           json_object_new_uint64(br->fixed.len ? br->fixed.count : 0));
    json_object_object_add(o, "bitmap_offset", json_object_new_uint64(b->bitmap_offset));
    json_object_object_add(o, "bitmap_size", json_object_new_uint64(b->bitmap_size));
    json_object_object_add(o, "pages_offset", json_object_new_uint64(b->pages_offset));
    json_object_object_add(o, "present_in_hole_ranges", ranges_json(b, c->in_hole));
    if (verbose)
        json_object_object_add(o, "stale_ranges", ranges_json(b, c->stale));
    return o;
}

static json_object *
repair_json(const MrRepair *rp)
{
    const MrStrayBits *fix = &rp->fixed;
    g_autofree char *old = hex(fix->old_bytes, fix->len, "");
    g_autofree char *new = hex(fix->new_bytes, fix->len, "");
    json_object *o = json_object_new_object();

    json_object_object_add(o, "block", text_json(rp->block->idstr));
    json_object_object_add(o, "offset", json_object_new_uint64(fix->offset));
    json_object_object_add(o, "length", json_object_new_uint64(fix->len));
    json_object_object_add(o, "old", json_object_new_string(old));
    json_object_object_add(o, "new", json_object_new_string(new));
    json_object_object_add(o, "bits_cleared", json_object_new_uint64(fix->count));
    return o;
}

json_object *
mr_report_json(const MrReport *r, int exit_status, gboolean verbose)
{
    json_object *o = json_object_new_object(), *a;
    const char *error = r->operational ? r->operational->message : NULL;

    for (guint i = 0; error == NULL && i < r->problems->len; i++) {
        const MrProblem *p = g_ptr_array_index(r->problems, i);
        if (p->kind == MR_PROBLEM_INVALID_FILE)
            error = p->message;
    }
    json_object_object_add(o, "file", text_json(r->path));
    /* null: an operational error left it unknown. */
    json_object_object_add(o, "valid", r->valid ? json_object_new_boolean(TRUE)
                                   : r->operational ? NULL
                                   : json_object_new_boolean(FALSE));
    json_object_object_add(o, "error", error ? text_json(error) : NULL);
    json_object_object_add(o, "exit_status", json_object_new_int(exit_status));
    a = json_object_new_array();
    for (guint i = 0; i < r->blocks->len; i++)
        json_object_array_add(a, block_json(&g_array_index(r->blocks, MrBlockReport, i),
                                            verbose));
    json_object_object_add(o, "blocks", a);
    a = json_object_new_array();
    for (guint i = 0; i < r->warnings->len; i++)
        json_object_array_add(a, text_json(g_ptr_array_index(r->warnings, i)));
    json_object_object_add(o, "warnings", a);
    a = json_object_new_array();
    for (guint i = 0; i < r->problems->len; i++)
        json_object_array_add(a, text_json(((MrProblem *)g_ptr_array_index(
                                  r->problems, i))->message));
    json_object_object_add(o, "problems", a);
    a = json_object_new_array();
    for (guint i = 0; i < r->repairs->len; i++)
        json_object_array_add(a, repair_json(g_ptr_array_index(r->repairs, i)));
    json_object_object_add(o, "repairs", a);
    return o;
}
