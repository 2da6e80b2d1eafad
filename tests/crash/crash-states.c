/* Crash states of an epoch (crash-states.h). */
#include "crash-states.h"

#include <string.h>

guint64
crash_op_sectors(const CrashOp *op)
{
    if (op->length == 0)
        return 0;
    return (op->offset + op->length - 1) / CRASH_SECTOR - op->offset / CRASH_SECTOR + 1;
}

void
crash_state_free(CrashState *s)
{
    if (s == NULL)
        return;
    g_array_unref(s->ops);
    if (s->torn)
        g_byte_array_unref(s->torn);
    g_free(s);
}

typedef struct {
    const CrashModel *m;
    guint epoch;
    const GArray *cand;
    GPtrArray *out;
    GHashTable *seen; /* descriptions already generated */
} Gen;

static CrashState *
state_new(Gen *g, const char *kind)
{
    CrashState *s = g_new0(CrashState, 1);

    s->epoch = g->epoch;
    s->ops = g_array_new(FALSE, FALSE, sizeof(guint));
    s->torn_op = -1;
    s->kind = kind;
    return s;
}

/* Keeps s unless an identical state was generated before. */
static void
emit(Gen *g, CrashState *s)
{
    GString *key = g_string_new(NULL);

    for (guint i = 0; i < s->ops->len; i++)
        g_string_append_printf(key, "%u,", g_array_index(s->ops, guint, i));
    if (s->torn_op >= 0) {
        g_string_append_printf(key, "t%d:", s->torn_op);
        for (guint i = 0; i < s->torn->len; i++)
            g_string_append_c(key, s->torn->data[i] ? '1' : '0');
    }
    if (g_hash_table_contains(g->seen, key->str)) {
        g_string_free(key, TRUE);
        crash_state_free(s);
        return;
    }
    g_hash_table_add(g->seen, g_string_free(key, FALSE));
    g_ptr_array_add(g->out, s);
}

/* Candidates whose bit is set in `pick` (n <= 64) or listed by a bool
 * array. */
static void
emit_mask(Gen *g, const gboolean *take, const char *kind)
{
    CrashState *s = state_new(g, kind);

    for (guint i = 0; i < g->cand->len; i++)
        if (take[i])
            g_array_append_val(s->ops, g_array_index(g->cand, guint, i));
    emit(g, s);
}

static void
gen_subsets(Gen *g, const CrashGenOptions *o, GRand *rng)
{
    const guint n = g->cand->len;
    g_autofree gboolean *take = g_new0(gboolean, MAX(n, 1));

    if (n <= o->exhaustive && n < 31) {
        for (guint32 mask = 1; mask < (1u << n); mask++) {
            for (guint i = 0; i < n; i++)
                take[i] = (mask >> i) & 1;
            emit_mask(g, take, "subset");
        }
        return;
    }
    /* Prefixes: a loss at one instant with everything before it on disk. */
    for (guint k = 0; k < MIN(o->random, n); k++) {
        guint len = o->random >= n ? k + 1 : (guint)((guint64)(k + 1) * n / o->random);
        for (guint i = 0; i < n; i++)
            take[i] = i < len;
        emit_mask(g, take, len == n ? "subset" : "prefix");
    }
    for (guint k = 0; k < o->random; k++) {
        for (guint i = 0; i < n; i++)
            take[i] = g_rand_boolean(rng);
        emit_mask(g, take, "random");
    }
}

static void
emit_torn(Gen *g, guint ci, const guint8 *sectors, guint64 ns, gboolean with_earlier)
{
    CrashState *s = state_new(g, "torn");

    if (with_earlier)
        for (guint i = 0; i < ci; i++)
            g_array_append_val(s->ops, g_array_index(g->cand, guint, i));
    s->torn_op = (gint)g_array_index(g->cand, guint, ci);
    s->torn = g_byte_array_sized_new((guint)ns);
    g_byte_array_append(s->torn, sectors, (guint)ns);
    emit(g, s);
}

static void
gen_torn(Gen *g, const CrashGenOptions *o, GRand *rng)
{
    for (guint ci = 0; ci < g->cand->len; ci++) {
        const CrashOp *op = &g_array_index(g->m->ops, CrashOp,
                                           g_array_index(g->cand, guint, ci));
        guint64 ns = crash_op_sectors(op);
        g_autofree guint8 *mask = NULL;

        if (op->type != CRASH_OP_WRITE || ns < 2 || o->torn == 0)
            continue;
        mask = g_malloc(ns);
        for (guint v = 0; v < o->torn; v++) {
            guint kind = v % 3;
            /* Spread the cut points over the write: j in [1, ns - 1]. */
            guint64 j = 1 + (guint64)(v / 3) * (ns - 1) / MAX(1, (o->torn + 2) / 3);

            j = MIN(MAX(j, 1), ns - 1);
            for (guint64 k = 0; k < ns; k++) {
                if (kind == 0)
                    mask[k] = k < j;        /* the first sectors landed */
                else if (kind == 1)
                    mask[k] = k >= ns - j;  /* the last ones */
                else
                    mask[k] = (guint8)g_rand_boolean(rng);
            }
            if (memchr(mask, 1, ns) == NULL || memchr(mask, 0, ns) == NULL)
                continue; /* not torn: whole or absent, states of their own */
            emit_torn(g, ci, mask, ns, FALSE);
            if (ci > 0)
                emit_torn(g, ci, mask, ns, TRUE);
        }
    }
}

GPtrArray *
crash_states_of_epoch(const CrashModel *m, guint e, const CrashGenOptions *o)
{
    const CrashEpoch *ep = &g_array_index(m->epochs, CrashEpoch, e);
    GRand *rng = g_rand_new_with_seed_array(
        (const guint32[]){ (guint32)o->seed, (guint32)(o->seed >> 32), e }, 3);
    Gen g = { m, e, ep->candidates, g_ptr_array_new_with_free_func(
                  (GDestroyNotify)crash_state_free),
              g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };

    emit(&g, state_new(&g, "base"));
    gen_subsets(&g, o, rng);
    gen_torn(&g, o, rng);
    g_hash_table_unref(g.seen);
    g_rand_free(rng);
    return g.out;
}

char *
crash_state_describe(const CrashModel *m, const CrashState *s)
{
    GString *d = g_string_new(NULL);

    g_string_append_printf(d, "epoch %d (after %d of %u syncs), %s", (int)s->epoch - 1,
                           (int)s->epoch, m->syncs->len, s->kind);
    if (s->ops->len) {
        g_string_append(d, ", ops");
        for (guint i = 0; i < s->ops->len && i < 24; i++)
            g_string_append_printf(d, " %u", g_array_index(s->ops, guint, i));
        if (s->ops->len > 24)
            g_string_append_printf(d, " ... (%u)", s->ops->len);
    }
    if (s->torn_op >= 0) {
        guint on = 0;
        for (guint i = 0; i < s->torn->len; i++)
            on += s->torn->data[i];
        g_string_append_printf(d, ", op %d torn (%u of %u sectors)", s->torn_op,
                               on, s->torn->len);
    }
    return g_string_free(d, FALSE);
}
