/* crash-check: every crash state of a recorded workload, checked.
 *
 *   crash-check --base BASE.mig --trace TRACE --acks ACKS.jsonl \
 *               --final AFTER.mig --check mramfs-check --work DIR \
 *               [--label NAME] [--seed N] [--random N] [--torn N]
 *               [--max-states N] [--keep DIR --keep-count K] [--report F]
 *
 * BASE is the snapshot as it was before the mount, TRACE what crash-shim
 * recorded of the daemon, ACKS what the workload saw acknowledged, AFTER
 * the snapshot after the unmount.  First the trace is replayed onto a copy
 * of BASE and must give AFTER byte for byte (the recorder missed nothing).
 * Then the states of every epoch (crash-states.h) are built in one work
 * file and checked (crash-verify.h).  Prints
 *
 *   crash states: N checked, M violations
 *
 * and the first violations with the state that shows them.  --max-states
 * checks a seeded sample (every epoch's base state, and a random choice
 * of the rest); --keep writes K of the checked states, spread over the
 * run, as files for QEMU to load.  Exit status: 0 no violation, 1
 * violations, 2 the check could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crash-apply.h"
#include "crash-model.h"
#include "crash-states.h"
#include "crash-verify.h"

typedef struct {
    char *base, *trace, *acks, *final, *check, *work, *label, *keep, *report;
    char *save_violations;
    gint64 seed, random, torn, max_states, keep_count, show;
} Options;

typedef struct {
    const Options *o;
    CrashModel *m;
    CrashVerifier *v;
    char *work_path;
    int fd;
    guint checked, violations, kept, saved;
    GHashTable *kinds;     /* violation kind -> count */
    GPtrArray *manifest;   /* json_object* of kept states */
    GHashTable *keep_at;   /* checked-state numbers to keep */
} Run;

static void
put_json(gpointer o)
{
    json_object_put(o);
}

static gboolean
files_equal(const char *a, const char *b, char **why)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    g_autofree char *ba = g_malloc(1 << 20), *bb = g_malloc(1 << 20);
    guint64 at = 0;
    gboolean same = fa && fb;

    while (same) {
        size_t na = fread(ba, 1, 1 << 20, fa), nb = fread(bb, 1, 1 << 20, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) {
            size_t k = 0;
            while (k < MIN(na, nb) && ba[k] == bb[k])
                k++;
            *why = g_strdup_printf("first difference at file offset 0x%" G_GINT64_MODIFIER
                                   "x%s", at + k, na != nb ? " (lengths differ)" : "");
            same = FALSE;
        }
        if (na == 0)
            break;
        at += na;
    }
    if (!(fa && fb))
        *why = g_strdup_printf("cannot open: %s", g_strerror(errno));
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* The recorder's completeness: base + every op == the file after unmount. */
static gboolean
check_replay(Run *r, GError **err)
{
    g_autofree char *path = g_build_filename(r->o->work, "replay.mig", NULL);
    g_autofree char *why = NULL;
    int fd;
    gboolean ok;

    if (!crash_copy_sparse(r->o->base, path, err) ||
        (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return FALSE;
    ok = TRUE;
    for (guint i = 0; ok && i < r->m->ops->len; i++)
        ok = crash_apply_op(fd, &g_array_index(r->m->ops, CrashOp, i), NULL, NULL, err);
    close(fd);
    if (!ok)
        return FALSE;
    if (!files_equal(path, r->o->final, &why)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED, "the trace replayed "
                    "onto %s is not %s: %s (the recorder missed a write)",
                    r->o->base, r->o->final, why);
        return FALSE;
    }
    unlink(path);
    printf("%s: recorder: %u ops and %u syncs replayed onto the base give the "
           "snapshot after the unmount, byte for byte\n", r->o->label,
           r->m->ops->len, r->m->syncs->len);
    return TRUE;
}

/* Each kind ("garbage", "lost", ...) once per state that shows it. */
static void
count_kinds(Run *r, GPtrArray *found)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < found->len; i++) {
        const char *line = g_ptr_array_index(found, i), *colon = strchr(line, ':');
        char *kind = g_strndup(line, colon ? (gsize)(colon - line) : strlen(line));
        guint n;

        if (!g_hash_table_add(seen, kind))
            continue;
        n = GPOINTER_TO_UINT(g_hash_table_lookup(r->kinds, kind));
        g_hash_table_insert(r->kinds, g_strdup(kind), GUINT_TO_POINTER(n + 1));
    }
}

static void
save_state(Run *r, const char *dir, const char *name, const CrashState *s,
           gboolean violating)
{
    g_autofree char *file = g_strdup_printf("%s.mig", name);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *desc = crash_state_describe(r->m, s);
    g_autoptr(GError) err = NULL;
    json_object *o;

    g_mkdir_with_parents(dir, 0755);
    if (!crash_copy_sparse(r->work_path, path, &err)) {
        fprintf(stderr, "crash-check: keeping %s: %s\n", path, err->message);
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "file", json_object_new_string(path));
    json_object_object_add(o, "state", json_object_new_string(desc));
    json_object_object_add(o, "violating", json_object_new_boolean(violating));
    g_ptr_array_add(r->manifest, o);
}

/* Applies s on top of the epoch's base, checks it, undoes it. */
/* An epoch's base state is checked on the pages its new durable ops
 * touched and for the promises that bind from this epoch on; the rest is
 * as in the previous epoch's base.  Other states, on their ops' pages. */
static gboolean
check_one(Run *r, const CrashState *s, GHashTable *base_pages, guint64 since,
          CrashUndo *u, GError **err)
{
    const gboolean is_base = s->ops->len == 0 && s->torn_op < 0;
    g_autoptr(GHashTable) pages = is_base ? g_hash_table_ref(base_pages)
                                          : crash_page_set_new();
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) applied = g_array_copy(s->ops);
    gboolean ok = TRUE;

    for (guint i = 0; ok && i < s->ops->len; i++) {
        const CrashOp *op = &g_array_index(r->m->ops, CrashOp, g_array_index(s->ops, guint, i));
        ok = crash_apply_op(r->fd, op, NULL, u, err);
        crash_pages_touched(r->m, pages, op->offset, op->length);
    }
    if (ok && s->torn_op >= 0) {
        const CrashOp *op = &g_array_index(r->m->ops, CrashOp, s->torn_op);
        guint n = (guint)s->torn_op;
        ok = crash_apply_op(r->fd, op, s->torn->data, u, err);
        crash_pages_touched(r->m, pages, op->offset, op->length);
        g_array_append_val(applied, n);
    }
    ok = ok && crash_verify_state(r->v, s->epoch, pages, is_base ? since : CRASH_NEVER,
                                  applied, found, err);
    if (ok) {
        guint number = r->checked++;
        if (found->len) {
            g_autofree char *desc = crash_state_describe(r->m, s);
            if (r->violations < (guint)r->o->show) {
                printf("%s: VIOLATION in state %u (%s):\n", r->o->label, number, desc);
                for (guint i = 0; i < found->len && i < 8; i++)
                    printf("    %s\n", (char *)g_ptr_array_index(found, i));
            }
            r->violations++;
            count_kinds(r, found);
            if (r->o->save_violations && r->saved < 3) {
                g_autofree char *name = g_strdup_printf("violation-%u", r->saved++);
                save_state(r, r->o->save_violations, name, s, TRUE);
            }
        } else if (g_hash_table_contains(r->keep_at, GUINT_TO_POINTER(number + 1))) {
            g_autofree char *name = g_strdup_printf("state-%u", number);
            save_state(r, r->o->keep, name, s, FALSE);
            r->kept++;
        }
    }
    return crash_undo_run(u, ok ? err : NULL) && ok;
}

/* Which states to check: all, or every epoch's base and a seeded sample
 * of the others. */
static void
select_states(Run *r, GPtrArray *all, GPtrArray *chosen)
{
    const guint64 max = (guint64)r->o->max_states;
    g_autoptr(GArray) rest = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autofree gboolean *take = g_new0(gboolean, MAX(all->len, 1));
    GRand *rng = g_rand_new_with_seed((guint32)r->o->seed ^ 0x5eed);
    guint bases = 0;

    for (guint i = 0; i < all->len; i++) {
        const CrashState *s = g_ptr_array_index(all, i);
        if (max == 0 || all->len <= max || g_str_equal(s->kind, "base")) {
            take[i] = TRUE;
            bases++;
        } else {
            g_array_append_val(rest, i);
        }
    }
    for (guint k = 0; bases + k < max && k < rest->len; k++) {
        guint j = k + (guint)g_rand_int_range(rng, 0, (gint32)(rest->len - k));
        guint t = g_array_index(rest, guint, j);
        g_array_index(rest, guint, j) = g_array_index(rest, guint, k);
        g_array_index(rest, guint, k) = t;
        take[t] = TRUE;
    }
    for (guint i = 0; i < all->len; i++)
        if (take[i])
            g_ptr_array_add(chosen, g_ptr_array_index(all, i));
    g_rand_free(rng);
}

static gboolean
run_states(Run *r, GError **err)
{
    const CrashGenOptions gen = { 10, (guint)r->o->random, (guint)r->o->torn,
                                  (guint64)r->o->seed };
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func((GDestroyNotify)crash_state_free);
    g_autoptr(GPtrArray) chosen = g_ptr_array_new();
    CrashUndo *u;
    guint next = 0;
    guint64 since = 0;
    gboolean ok = TRUE;

    for (guint e = 0; e < r->m->epochs->len; e++) {
        GPtrArray *st = crash_states_of_epoch(r->m, e, &gen);
        g_ptr_array_extend_and_steal(all, st);
    }
    select_states(r, all, chosen);
    for (gint64 k = 0; k < r->o->keep_count && r->o->keep; k++)
        g_hash_table_add(r->keep_at, GUINT_TO_POINTER(
            (guint)((k + 1) * chosen->len / (r->o->keep_count + 1)) + 1));
    u = crash_undo_new(r->fd);
    for (guint e = 0; ok && e < r->m->epochs->len; e++) {
        const CrashEpoch *ep = &g_array_index(r->m->epochs, CrashEpoch, e);
        g_autoptr(GHashTable) base_pages = crash_page_set_new();
        for (guint i = 0; ok && i < ep->base_new->len; i++) {
            const CrashOp *op = &g_array_index(r->m->ops, CrashOp,
                                               g_array_index(ep->base_new, guint, i));
            ok = crash_apply_op(r->fd, op, NULL, NULL, err);
            crash_pages_touched(r->m, base_pages, op->offset, op->length);
        }
        /* select_states() keeps every epoch's base: checked first. */
        while (ok && next < chosen->len &&
               ((CrashState *)g_ptr_array_index(chosen, next))->epoch == e)
            ok = check_one(r, g_ptr_array_index(chosen, next++), base_pages, since, u, err);
        since = ep->binding_until;
    }
    crash_undo_free(u);
    return ok;
}

static void
report(Run *r, double seconds)
{
    GHashTableIter it;
    gpointer k, val;
    json_object *o = json_object_new_object(), *kinds = json_object_new_object();
    json_object *kept = json_object_new_array();
    guint promised = 0;

    for (guint i = 0; i < r->m->writes->len; i++)
        promised += g_array_index(r->m->writes, CrashWrite, i).promised != CRASH_NEVER;
    printf("%s: crash states: %u checked, %u violations (%u epochs, %u ops, "
           "%u syncs, %u promised writes of %u; %u mramfs-check runs, %u "
           "with --repair; %.1f s, %.0f states/s)\n", r->o->label, r->checked,
           r->violations, r->m->epochs->len, r->m->ops->len, r->m->syncs->len,
           promised, r->m->writes->len, crash_verifier_check_runs(r->v),
           crash_verifier_repairs(r->v), seconds, r->checked / MAX(seconds, 1e-3));
    if (crash_verifier_base_warnings(r->v))
        printf("%s:   the base snapshot itself has %u mramfs-check warnings "
               "(not counted against its states)\n", r->o->label,
               crash_verifier_base_warnings(r->v));
    g_hash_table_iter_init(&it, r->kinds);
    while (g_hash_table_iter_next(&it, &k, &val)) {
        printf("%s:   %s: %u states\n", r->o->label, (char *)k, GPOINTER_TO_UINT(val));
        json_object_object_add(kinds, k, json_object_new_int((int)GPOINTER_TO_UINT(val)));
    }
    if (r->o->report == NULL) {
        json_object_put(o);
        json_object_put(kinds);
        json_object_put(kept);
        return;
    }
    json_object_object_add(o, "label", json_object_new_string(r->o->label));
    json_object_object_add(o, "checked", json_object_new_int((int)r->checked));
    json_object_object_add(o, "violations", json_object_new_int((int)r->violations));
    json_object_object_add(o, "kinds", kinds);
    json_object_object_add(o, "repairs",
                           json_object_new_int((int)crash_verifier_repairs(r->v)));
    json_object_object_add(o, "base_warnings",
                           json_object_new_int((int)crash_verifier_base_warnings(r->v)));
    json_object_object_add(o, "epochs", json_object_new_int((int)r->m->epochs->len));
    json_object_object_add(o, "ops", json_object_new_int((int)r->m->ops->len));
    json_object_object_add(o, "syncs", json_object_new_int((int)r->m->syncs->len));
    json_object_object_add(o, "seconds", json_object_new_double(seconds));
    for (guint i = 0; i < r->manifest->len; i++)
        json_object_array_add(kept, json_object_get(g_ptr_array_index(r->manifest, i)));
    json_object_object_add(o, "kept", kept);
    if (json_object_to_file_ext(r->o->report, o, JSON_C_TO_STRING_PRETTY) != 0)
        fprintf(stderr, "crash-check: cannot write %s\n", r->o->report);
    json_object_put(o);
}

int
main(int argc, char **argv)
{
    Options o = { .label = NULL, .seed = 1, .random = 32, .torn = 6, .show = 5 };
    GOptionEntry entries[] = {
        { "base", 0, 0, G_OPTION_ARG_FILENAME, &o.base, "Snapshot before the mount", "F" },
        { "trace", 0, 0, G_OPTION_ARG_FILENAME, &o.trace, "crash-shim's trace", "F" },
        { "acks", 0, 0, G_OPTION_ARG_FILENAME, &o.acks, "The workload's acknowledgements", "F" },
        { "final", 0, 0, G_OPTION_ARG_FILENAME, &o.final, "Snapshot after the unmount", "F" },
        { "check", 0, 0, G_OPTION_ARG_FILENAME, &o.check, "mramfs-check to run on each state", "F" },
        { "work", 0, 0, G_OPTION_ARG_FILENAME, &o.work, "Directory for the work file", "D" },
        { "label", 0, 0, G_OPTION_ARG_STRING, &o.label, "Workload name for the output", "S" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &o.seed, "Seed of the random choices", "N" },
        { "random", 0, 0, G_OPTION_ARG_INT64, &o.random, "Random subsets and prefixes per epoch beyond 10 candidates", "N" },
        { "torn", 0, 0, G_OPTION_ARG_INT64, &o.torn, "Torn variants per write", "N" },
        { "max-states", 0, 0, G_OPTION_ARG_INT64, &o.max_states, "Check a sample of this many (0: all)", "N" },
        { "keep", 0, 0, G_OPTION_ARG_FILENAME, &o.keep, "Write kept states here", "D" },
        { "keep-count", 0, 0, G_OPTION_ARG_INT64, &o.keep_count, "How many states to keep", "K" },
        { "save-violations", 0, 0, G_OPTION_ARG_FILENAME, &o.save_violations, "Write the first violating states here", "D" },
        { "report", 0, 0, G_OPTION_ARG_FILENAME, &o.report, "Write a JSON summary here", "F" },
        { "show", 0, 0, G_OPTION_ARG_INT64, &o.show, "Violating states to print", "N" },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- check crash states");
    g_autoptr(GError) err = NULL;
    Run r = { .o = &o, .fd = -1 };
    gint64 t0 = g_get_monotonic_time();
    int status;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || !o.base || !o.trace ||
        !o.acks || !o.work) {
        fprintf(stderr, "crash-check: %s\n", err ? err->message
                : "--base, --trace, --acks and --work are required");
        return 2;
    }
    if (o.label == NULL)
        o.label = g_path_get_basename(o.trace);
    r.m = crash_model_load(o.base, o.trace, o.acks, &err);
    if (r.m == NULL || (o.final && !check_replay(&r, &err))) {
        fprintf(stderr, "crash-check: %s: %s\n", o.label, err->message);
        crash_model_free(r.m);
        return 2;
    }
    r.work_path = g_build_filename(o.work, "state.mig", NULL);
    r.kinds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r.manifest = g_ptr_array_new_with_free_func(put_json);
    r.keep_at = g_hash_table_new(NULL, NULL);
    if (!crash_copy_sparse(o.base, r.work_path, &err) ||
        (r.fd = open(r.work_path, O_RDWR | O_CLOEXEC)) < 0 ||
        !(r.v = crash_verifier_new(r.m, r.fd, r.work_path, o.check, &err)) ||
        !run_states(&r, &err)) {
        fprintf(stderr, "crash-check: %s: %s\n", o.label,
                err ? err->message : g_strerror(errno));
        status = 2;
    } else {
        report(&r, (double)(g_get_monotonic_time() - t0) / 1e6);
        status = r.violations ? 1 : 0;
    }
    if (r.fd >= 0)
        close(r.fd);
    if (status != 2)
        unlink(r.work_path);
    crash_verifier_free(r.v);
    crash_model_free(r.m);
    g_hash_table_unref(r.kinds);
    g_hash_table_unref(r.keep_at);
    g_ptr_array_unref(r.manifest);
    g_free(r.work_path);
    g_free(o.base), g_free(o.trace), g_free(o.acks), g_free(o.final);
    g_free(o.check), g_free(o.work), g_free(o.label), g_free(o.keep);
    g_free(o.report), g_free(o.save_violations);
    return status;
}
