/* The checks of one crash state (crash-verify.h). */
#include "crash-verify.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash-apply.h"
#include "mr-error.h"

typedef struct {
    gboolean present;
    guint8 *bytes; /* as a reader sees the page: zeros when absent */
} PageView;

struct CrashVerifier {
    const CrashModel *m;
    int fd;
    char *path;
    char *tool;
    GPtrArray *base_warnings; /* without the file name */
    GHashTable *views;        /* key -> PageView*, this state's reads */
    guint check_runs, repairs;
};

GHashTable *
crash_page_set_new(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

static void
set_add(GHashTable *set, guint64 key)
{
    if (!g_hash_table_contains(set, &key)) {
        guint64 *k = g_new(guint64, 1);
        *k = key;
        g_hash_table_add(set, k);
    }
}

static void
add_block_page(gint block, guint64 page, gpointer data)
{
    set_add(data, crash_page_key(block, page));
}

void
crash_pages_touched(const CrashModel *m, GHashTable *pages, guint64 at, guint64 len)
{
    const guint64 ps = MAX(m->base->page_size, 1);

    crash_model_pages_in(m, at, len, add_block_page, pages);
    if (!crash_model_in_pages_or_bitmaps(m, at, len))
        for (guint64 p = at / ps; p * ps < at + len; p++)
            set_add(pages, crash_page_key(-1, p));
}

static void
view_free(gpointer p)
{
    PageView *v = p;

    g_free(v->bytes);
    g_free(v);
}

/* "FILE: offset ...: text" -> "offset ...: text": the same warning about
 * the base and about a state built from it compare equal. */
static char *
strip_path(const char *msg, const char *path)
{
    gsize n = strlen(path);

    if (strncmp(msg, path, n) == 0 && msg[n] == ':')
        return g_strdup(msg + n + (msg[n + 1] == ' ' ? 2 : 1));
    return g_strdup(msg);
}

typedef struct {
    int status;
    GPtrArray *warnings;
    GPtrArray *problems;
} CheckResult;

static void
check_result_clear(CheckResult *r)
{
    g_clear_pointer(&r->warnings, g_ptr_array_unref);
    g_clear_pointer(&r->problems, g_ptr_array_unref);
}

static void
strings_of(json_object *o, const char *key, const char *path, GPtrArray *out)
{
    json_object *a;

    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(a); i++)
        g_ptr_array_add(out, strip_path(json_object_get_string(
                                 json_object_array_get_idx(a, i)), path));
}

static gboolean
run_check(CrashVerifier *v, const char *path, gboolean repair, CheckResult *r,
          GError **err)
{
    const char *argv[] = { v->tool, "--json", repair ? "--repair" : path,
                           repair ? path : NULL, NULL };
    g_autofree char *out = NULL, *errout = NULL;
    json_object *o, *st;
    int wait;

    r->warnings = g_ptr_array_new_with_free_func(g_free);
    r->problems = g_ptr_array_new_with_free_func(g_free);
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                      &out, &errout, &wait, err))
        return FALSE;
    v->check_runs++;
    o = json_tokener_parse(out);
    if (!WIFEXITED(wait) || o == NULL ||
        !json_object_object_get_ex(o, "exit_status", &st)) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s %s: no JSON report "
                    "(wait status 0x%x): %s", v->tool, path, wait, errout);
        json_object_put(o);
        return FALSE;
    }
    r->status = WEXITSTATUS(wait);
    strings_of(o, "warnings", path, r->warnings);
    strings_of(o, "problems", path, r->problems);
    json_object_put(o);
    return TRUE;
}

CrashVerifier *
crash_verifier_new(const CrashModel *m, int work_fd, const char *work_path,
                   const char *check_tool, GError **err)
{
    CrashVerifier *v = g_new0(CrashVerifier, 1);

    v->m = m;
    v->fd = work_fd;
    v->path = g_strdup(work_path);
    v->tool = g_strdup(check_tool);
    v->views = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, view_free);
    v->base_warnings = g_ptr_array_new_with_free_func(g_free);
    if (check_tool) {
        CheckResult r = { 0 };
        if (!run_check(v, m->base->path, FALSE, &r, err)) {
            check_result_clear(&r);
            crash_verifier_free(v);
            return NULL;
        }
        /* The base's own findings are not the mount's doing. */
        for (guint i = 0; i < r.warnings->len; i++)
            g_ptr_array_add(v->base_warnings, g_strdup(g_ptr_array_index(r.warnings, i)));
        check_result_clear(&r);
    }
    return v;
}

void
crash_verifier_free(CrashVerifier *v)
{
    if (v == NULL)
        return;
    g_free(v->path);
    g_free(v->tool);
    g_ptr_array_unref(v->base_warnings);
    g_hash_table_unref(v->views);
    g_free(v);
}

guint
crash_verifier_base_warnings(const CrashVerifier *v)
{
    return v->base_warnings->len;
}

guint
crash_verifier_check_runs(const CrashVerifier *v)
{
    return v->check_runs;
}

guint
crash_verifier_repairs(const CrashVerifier *v)
{
    return v->repairs;
}

static const MrRamBlock *
block_of(const CrashVerifier *v, gint i)
{
    return g_ptr_array_index(v->m->base->blocks, i);
}

/* The page of this state as QEMU would load it. */
static PageView *
view(CrashVerifier *v, gint block, guint64 page, GError **err)
{
    guint64 key = crash_page_key(block, page), byte;
    const MrRamBlock *b = block_of(v, block);
    PageView *pv = g_hash_table_lookup(v->views, &key);
    guint8 mask, bits = 0;

    if (pv)
        return pv;
    mr_bitmap_file_position(v->m->base->bitmap_order, page, &byte, &mask);
    if (pread(v->fd, &bits, 1, (off_t)(b->bitmap_offset + byte)) != 1) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: reading the bitmap of "
                    "\"%s\": %s", v->path, b->idstr, g_strerror(errno));
        return NULL;
    }
    pv = g_new0(PageView, 1);
    pv->present = (bits & mask) != 0;
    pv->bytes = g_malloc0(b->page_size);
    if (pv->present &&
        pread(v->fd, pv->bytes, b->page_size,
              (off_t)(b->pages_offset + page * b->page_size)) != (ssize_t)b->page_size) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: reading page %" G_GUINT64_FORMAT
                    " of \"%s\": short read", v->path, page, b->idstr);
        view_free(pv);
        return NULL;
    }
    {
        guint64 *k = g_new(guint64, 1);
        *k = key;
        g_hash_table_insert(v->views, k, pv);
    }
    return pv;
}

/* Does some write put value val at (block, off)?  Writes that were over
 * before `after` began are left out when after is given. */
static gboolean
written(const CrashModel *m, gint block, guint64 off, guint8 val,
        const CrashWrite *after)
{
    const guint64 ps = block < 0 ? m->base->page_size
                     : ((MrRamBlock *)g_ptr_array_index(m->base->blocks, block))->page_size;
    GArray *ws = crash_model_page_writes(m, block, off / ps);

    for (guint i = 0; ws && i < ws->len; i++) {
        const CrashWrite *w = &g_array_index(m->writes, CrashWrite, g_array_index(ws, guint, i));
        if (w == after || (after && w->t_end <= after->t_start))
            continue;
        if (off >= w->offset && off - w->offset < w->len && w->data[off - w->offset] == val)
            return TRUE;
    }
    return FALSE;
}

static gboolean
check_garbage(CrashVerifier *v, gint block, guint64 page, GPtrArray *out,
              GError **err)
{
    const MrRamBlock *b = block_of(v, block);
    PageView *pv = view(v, block, page, err);
    gboolean base_present = mr_bitmap_test(b->bitmap, page);
    g_autofree guint8 *base = NULL;
    guint64 bad = 0, first = 0;

    if (pv == NULL)
        return FALSE;
    if (base_present && !pv->present)
        g_ptr_array_add(out, g_strdup_printf("cleared: \"%s\" page %" G_GUINT64_FORMAT
                                             " was present and is absent", b->idstr, page));
    if (!pv->present)
        return TRUE;
    if (base_present) {
        base = g_malloc(b->page_size);
        if (pread(v->m->base_fd, base, b->page_size,
                  (off_t)(b->pages_offset + page * b->page_size)) != (ssize_t)b->page_size) {
            g_set_error(err, MR_ERROR, MR_ERROR_IO, "base: short read");
            return FALSE;
        }
    }
    for (guint64 j = 0; j < b->page_size; j++) {
        guint8 c = pv->bytes[j];
        if (c == 0 || (base && base[j] == c) ||
            written(v->m, block, page * b->page_size + j, c, NULL))
            continue;
        if (bad++ == 0)
            first = j;
    }
    if (bad) {
        g_autofree char *hex = g_strdup_printf("%02x %02x %02x %02x",
            pv->bytes[first], pv->bytes[MIN(first + 1, b->page_size - 1)],
            pv->bytes[MIN(first + 2, b->page_size - 1)],
            pv->bytes[MIN(first + 3, b->page_size - 1)]);
        g_ptr_array_add(out, g_strdup_printf(
            "garbage: \"%s\" page %" G_GUINT64_FORMAT " (file offset 0x%"
            G_GINT64_MODIFIER "x) is present with %" G_GUINT64_FORMAT " bytes "
            "that neither the base nor any write explains, first at +0x%"
            G_GINT64_MODIFIER "x: %s", b->idstr, page,
            b->pages_offset + page * b->page_size, bad, first, hex));
    }
    return TRUE;
}

static gboolean
touches(GHashTable *pages, const CrashModel *m, const CrashWrite *w)
{
    const guint64 ps = w->block < 0 ? m->base->page_size
                     : ((MrRamBlock *)g_ptr_array_index(m->base->blocks, w->block))->page_size;

    for (guint64 p = w->offset / ps; p * ps < w->offset + w->len; p++) {
        guint64 key = crash_page_key(w->block, p);
        if (g_hash_table_contains(pages, &key))
            return TRUE;
    }
    return FALSE;
}

static gboolean
check_promise(CrashVerifier *v, const CrashWrite *w, guint idx, GPtrArray *out,
              GError **err)
{
    guint64 bad = 0, first = 0;
    guint8 got = 0;

    for (guint64 k = 0; k < w->len; k++) {
        guint64 off = w->offset + k;
        guint8 c;

        if (w->block < 0) {
            if (pread(v->fd, &c, 1, (off_t)off) != 1) {
                g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: short read at 0x%"
                            G_GINT64_MODIFIER "x", v->path, off);
                return FALSE;
            }
        } else {
            const MrRamBlock *b = block_of(v, w->block);
            PageView *pv = view(v, w->block, off / b->page_size, err);
            if (pv == NULL)
                return FALSE;
            c = pv->bytes[off % b->page_size];
        }
        if (c == w->data[k] || written(v->m, w->block, off, c, w))
            continue;
        if (bad++ == 0) {
            first = k;
            got = c;
        }
    }
    if (bad)
        g_ptr_array_add(out, g_strdup_printf(
            "lost: write %u (%s%s+0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT
            " bytes), promised durable, lacks %" G_GUINT64_FORMAT " of its bytes:"
            " at +0x%" G_GINT64_MODIFIER "x %02x, written %02x", idx,
            w->block < 0 ? "file" : "block ",
            w->block < 0 ? "" : block_of(v, w->block)->idstr, w->offset, w->len,
            bad, first, got, w->data[first]));
    return TRUE;
}

/* A document write (superio/pc87312.json) changes its registers all
 * together or not at all: the bytes of its range are the base's or those
 * of one document write of the same range, never a mix. */
static gboolean
check_document(CrashVerifier *v, const CrashWrite *w, guint idx, GPtrArray *out,
               GError **err)
{
    const CrashModel *m = v->m;
    g_autofree guint8 *now = g_malloc(w->len), *base = g_malloc0(w->len);
    g_autoptr(GString) hex = g_string_new(NULL);

    if (pread(v->fd, now, w->len, (off_t)w->offset) != (ssize_t)w->len) {
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "%s: short read at 0x%"
                    G_GINT64_MODIFIER "x", v->path, w->offset);
        return FALSE;
    }
    if (pread(m->base_fd, base, w->len, (off_t)w->offset) == (ssize_t)w->len &&
        memcmp(now, base, w->len) == 0)
        return TRUE;
    for (guint i = 0; i < m->writes->len; i++) {
        const CrashWrite *o = &g_array_index(m->writes, CrashWrite, i);
        if (o->block < 0 && o->offset == w->offset && o->len == w->len &&
            memcmp(now, o->data, w->len) == 0)
            return TRUE;
    }
    for (guint64 k = 0; k < w->len; k++)
        g_string_append_printf(hex, "%s%02x", k ? " " : "", now[k]);
    g_ptr_array_add(out, g_strdup_printf(
        "torn: document write %u (file+0x%" G_GINT64_MODIFIER "x, %"
        G_GUINT64_FORMAT " bytes) is partly applied: the file holds %s, "
        "neither the base's bytes nor those of one document write", idx,
        w->offset, w->len, hex->str));
    return TRUE;
}

/* Every check but mramfs-check's. */
static gboolean
check_contents(CrashVerifier *v, guint epoch, GHashTable *pages,
               guint64 since, const GArray *applied, GPtrArray *out,
               GError **err)
{
    const CrashModel *m = v->m;
    const CrashEpoch *ep = &g_array_index(m->epochs, CrashEpoch, epoch);
    GHashTableIter it;
    gpointer key;

    g_hash_table_remove_all(v->views);
    g_hash_table_iter_init(&it, pages);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        guint64 k = *(guint64 *)key;
        gint block = (gint)(k >> 40);
        GArray *docs;

        if (block != 0xffff) {
            if (!check_garbage(v, block, k & ((1ull << 40) - 1), out, err))
                return FALSE;
            continue;
        }
        /* File bytes outside page areas: the document writes there. */
        docs = crash_model_page_writes(m, -1, k & ((1ull << 40) - 1));
        for (guint i = 0; docs && i < docs->len; i++) {
            guint n = g_array_index(docs, guint, i);
            if (!check_document(v, &g_array_index(m->writes, CrashWrite, n), n,
                                out, err))
                return FALSE;
        }
    }
    for (guint i = 0; i < m->writes->len; i++) {
        const CrashWrite *w = &g_array_index(m->writes, CrashWrite, i);
        if (w->promised >= ep->binding_until)
            continue;
        if (w->promised < since && !touches(pages, m, w))
            continue;
        if (!check_promise(v, w, i, out, err))
            return FALSE;
    }
    for (guint i = 0; applied && i < applied->len; i++) {
        guint n = g_array_index(applied, guint, i);
        const CrashOp *op = &g_array_index(m->ops, CrashOp, n);
        if (op->raw_bad)
            g_ptr_array_add(out, g_strdup_printf(
                "raw: op %u (type %u at 0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT
                " bytes) changes the file outside page areas and bitmaps",
                n, op->type, op->offset, op->length));
    }
    return TRUE;
}

static gboolean
known_warning(CrashVerifier *v, const char *w)
{
    for (guint i = 0; i < v->base_warnings->len; i++)
        if (g_str_equal(g_ptr_array_index(v->base_warnings, i), w))
            return TRUE;
    return FALSE;
}

/* mramfs-check, and --repair when it finds problems: the repaired file
 * must still pass the content checks.  The repair's writes are undone. */
static gboolean
check_tool(CrashVerifier *v, guint epoch, GHashTable *pages, guint64 since,
           const GArray *applied, GPtrArray *out, GError **err)
{
    CheckResult r = { 0 };
    gboolean ok;

    if (v->tool == NULL)
        return TRUE;
    if (!run_check(v, v->path, FALSE, &r, err)) {
        check_result_clear(&r);
        return FALSE;
    }
    for (guint i = 0; i < r.warnings->len; i++)
        if (!known_warning(v, g_ptr_array_index(r.warnings, i)))
            g_ptr_array_add(out, g_strdup_printf("check: warning: %s",
                                                 (char *)g_ptr_array_index(r.warnings, i)));
    if (r.status & ~4) {
        g_ptr_array_add(out, g_strdup_printf("check: mramfs-check exit status %d%s%s",
            r.status, r.problems->len ? ": " : "",
            r.problems->len ? (char *)g_ptr_array_index(r.problems, 0) : ""));
    } else if (r.status == 4) {
        CrashUndo *u = crash_undo_new(v->fd);
        CheckResult fix = { 0 };

        v->repairs++;
        ok = TRUE;
        for (guint i = 0; ok && i < v->m->base->blocks->len; i++) {
            const MrRamBlock *b = block_of(v, (gint)i);
            if (b->stored)
                ok = crash_undo_save(u, b->bitmap_offset, b->bitmap_size, err);
        }
        ok = ok && run_check(v, v->path, TRUE, &fix, err);
        if (ok && (fix.status & ~1))
            g_ptr_array_add(out, g_strdup_printf(
                "check: %s; mramfs-check --repair exits %d",
                (char *)g_ptr_array_index(r.problems, 0), fix.status));
        else if (ok) {
            /* The repair touched bitmaps only: what it breaks is new. */
            g_autoptr(GPtrArray) after = g_ptr_array_new_with_free_func(g_free);
            ok = check_contents(v, epoch, pages, since, applied, after, err);
            for (guint i = 0; ok && i < after->len; i++)
                if (!g_ptr_array_find_with_equal_func(out, g_ptr_array_index(after, i),
                                                      g_str_equal, NULL))
                    g_ptr_array_add(out, g_strdup_printf("after --repair: %s",
                        (char *)g_ptr_array_index(after, i)));
        }
        ok = crash_undo_run(u, ok ? err : NULL) && ok;
        crash_undo_free(u);
        check_result_clear(&fix);
        check_result_clear(&r);
        return ok;
    }
    check_result_clear(&r);
    return TRUE;
}

gboolean
crash_verify_state(CrashVerifier *v, guint epoch, GHashTable *pages,
                   guint64 since, const GArray *applied_ops,
                   GPtrArray *violations, GError **err)
{
    return check_contents(v, epoch, pages, since, applied_ops, violations, err) &&
           check_tool(v, epoch, pages, since, applied_ops, violations, err);
}
