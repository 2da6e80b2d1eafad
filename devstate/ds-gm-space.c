/* The memory-region model of ds-gm.h and its flattening.
 *
 * gm_render() follows QEMU's render_memory_region() (system/memory.c): the
 * subregions of a container are visited by falling priority, and among
 * equal priorities the one added last first; each claims the parts of its
 * range that nothing visited before claimed; an alias of a container
 * descends into it and claims only where that container has a region.
 * The trees here hold tens of regions, so the claimed set is a sorted
 * array searched linearly. */
#include "ds-gm.h"

#include <string.h>

struct GmSpace {
    char *name;
    guint64 size;
    GArray *regions; /* GmRegion, in order of addition */
};

static void
clear_region(gpointer p)
{
    GmRegion *r = p;

    json_object_put(r->why);
}

GmSpace *
gm_space_new(const char *name, guint64 size)
{
    GmSpace *s = g_new0(GmSpace, 1);

    s->name = g_strdup(name);
    s->size = size;
    s->regions = g_array_new(FALSE, TRUE, sizeof(GmRegion));
    g_array_set_clear_func(s->regions, clear_region);
    return s;
}

void
gm_space_free(GmSpace *s)
{
    if (s == NULL)
        return;
    g_array_unref(s->regions);
    g_free(s->name);
    g_free(s);
}

const char *
gm_space_name(const GmSpace *s)
{
    return s->name;
}

static void
add(GmSpace *s, GmRegion *r)
{
    r->seq = s->regions->len;
    if (r->size > 0)
        g_array_append_vals(s->regions, r, 1);
    else
        json_object_put(r->why);
}

void
gm_add_ram(GmSpace *s, guint64 addr, guint64 size, gint prio, MrRamBlock *b,
           guint64 block_offset, gboolean readonly, json_object *why)
{
    GmRegion r = { .kind = GM_RAM, .addr = addr, .size = size, .prio = prio,
                   .block = b, .block_offset = block_offset,
                   .readonly = readonly, .why = why };
    add(s, &r);
}

void
gm_add_io(GmSpace *s, guint64 addr, guint64 size, gint prio, const char *name)
{
    GmRegion r = { .kind = GM_IO, .addr = addr, .size = size, .prio = prio };

    r.why = json_object_new_object();
    json_object_object_add(r.why, "region", json_object_new_string(name));
    add(s, &r);
}

static void
add_unknown(GmSpace *s, guint64 addr, guint64 size, gint prio,
            const char *what, const char *why, gboolean dumped)
{
    GmRegion r = { .kind = GM_UNKNOWN, .addr = addr, .size = size,
                   .prio = prio };

    r.why = json_object_new_object();
    json_object_object_add(r.why, "what", json_object_new_string(what));
    json_object_object_add(r.why, "why", json_object_new_string(why));
    if (!dumped)
        json_object_object_add(r.why, "dumped", json_object_new_boolean(FALSE));
    add(s, &r);
}

void
gm_add_unknown(GmSpace *s, guint64 addr, guint64 size, gint prio,
               const char *what, const char *why)
{
    add_unknown(s, addr, size, prio, what, why, TRUE);
}

void
gm_add_rom_device(GmSpace *s, guint64 addr, guint64 size, gint prio,
                  const char *what, const char *why)
{
    add_unknown(s, addr, size, prio, what, why, FALSE);
}

void
gm_add_alias(GmSpace *s, guint64 addr, guint64 size, gint prio,
             GmSpace *target, guint64 target_offset, json_object *why)
{
    GmRegion r = { .kind = GM_ALIAS, .addr = addr, .size = size, .prio = prio,
                   .target = target, .target_offset = target_offset,
                   .why = why };
    add(s, &r);
}

/* ---- flattening ---- */

#define GM_MAX_DEPTH 8

typedef struct {
    guint64 start, end;        /* guest-physical, end exclusive */
    const GmRegion *region;    /* the terminal region */
    guint64 region_addr;       /* start in the region's own space */
    const GmRegion *via[GM_MAX_DEPTH];
    guint nvia;
} Seg;

/* Clamped a + b: containers as large as the address space end at 2^64. */
static guint64
end_of(guint64 a, guint64 b)
{
    return b > G_MAXUINT64 - a ? G_MAXUINT64 : a + b;
}

static gint
by_render_order(gconstpointer pa, gconstpointer pb)
{
    const GmRegion *a = *(const GmRegion *const *)pa;
    const GmRegion *b = *(const GmRegion *const *)pb;

    if (a->prio != b->prio)
        return a->prio > b->prio ? -1 : 1;
    return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* The unclaimed parts of [a, b), in order. */
static GArray *
free_parts(const GArray *segs, guint64 a, guint64 b)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(guint64) * 2);
    guint64 pos = a;

    for (guint i = 0; i < segs->len && pos < b; i++) {
        const Seg *s = &g_array_index(segs, Seg, i);
        if (s->end <= pos)
            continue;
        if (s->start >= b)
            break;
        if (s->start > pos) {
            guint64 part[2] = { pos, s->start };
            g_array_append_vals(out, part, 1);
        }
        pos = s->end;
    }
    if (pos < b) {
        guint64 part[2] = { pos, b };
        g_array_append_vals(out, part, 1);
    }
    return out;
}

static void
insert_seg(GArray *segs, const Seg *s)
{
    guint i = 0;

    while (i < segs->len && g_array_index(segs, Seg, i).start < s->start)
        i++;
    g_array_insert_vals(segs, i, s, 1);
}

/* Renders [lo, hi) of space (its own addresses) into segs; guest-physical
 * = space address + delta (mod 2^64, as aliases may shift down). */
static void
render(const GmSpace *space, guint64 lo, guint64 hi, guint64 delta,
       const GmRegion *const *via, guint nvia, GArray *segs)
{
    g_autoptr(GPtrArray) order = g_ptr_array_new();

    hi = MIN(hi, space->size);
    if (lo >= hi || nvia >= GM_MAX_DEPTH)
        return;
    for (guint i = 0; i < space->regions->len; i++)
        g_ptr_array_add(order, &g_array_index(space->regions, GmRegion, i));
    g_ptr_array_sort(order, by_render_order);

    for (guint i = 0; i < order->len; i++) {
        const GmRegion *r = g_ptr_array_index(order, i);
        guint64 a = MAX(lo, r->addr), b = MIN(hi, end_of(r->addr, r->size));
        g_autoptr(GArray) parts = NULL;

        if (a >= b)
            continue;
        parts = free_parts(segs, a + delta, b + delta);
        for (guint j = 0; j < parts->len; j++) {
            guint64 *p = &g_array_index(parts, guint64, 2 * j);
            guint64 pa = p[0] - delta, pb = p[1] - delta;

            if (r->kind == GM_ALIAS) {
                const GmRegion *chain[GM_MAX_DEPTH];
                if (nvia > 0) /* the root has no chain: via is NULL */
                    memcpy(chain, via, nvia * sizeof(*via));
                chain[nvia] = r;
                /* Target address t = pa - r->addr + target_offset. */
                render(r->target, pa - r->addr + r->target_offset,
                       pb - r->addr + r->target_offset,
                       delta + r->addr - r->target_offset, chain, nvia + 1,
                       segs);
            } else {
                Seg s = { .start = p[0], .end = p[1], .region = r,
                          .region_addr = pa, .nvia = nvia };
                if (nvia > 0)
                    memcpy(s.via, via, nvia * sizeof(*via));
                insert_seg(segs, &s);
            }
        }
    }
}

static json_object *
why_of(const Seg *s)
{
    json_object *why = json_object_new_object(), *through;

    json_object_object_foreach(s->region->why, k, v)
        json_object_object_add(why, k, json_object_get(v));
    if (s->nvia == 0)
        return why;
    /* The windows the range is seen through, outermost first. */
    through = json_object_new_array();
    for (guint i = 0; i < s->nvia; i++)
        json_object_array_add(through, json_object_get(s->via[i]->why));
    json_object_object_add(why, "through", through);
    return why;
}

static gboolean
same_path(const Seg *a, const Seg *b)
{
    return a->region == b->region && a->nvia == b->nvia &&
           (a->nvia == 0 ||
            memcmp(a->via, b->via, a->nvia * sizeof(a->via[0])) == 0);
}

void
gm_render(const GmSpace *root, DsGuestMap *m)
{
    g_autoptr(GArray) segs = g_array_new(FALSE, FALSE, sizeof(Seg));

    render(root, 0, G_MAXUINT64, 0, NULL, 0, segs);
    for (guint i = 0; i < segs->len; i++) {
        const Seg *s = &g_array_index(segs, Seg, i);
        guint64 end = s->end;

        /* Pieces of one region cut apart by nothing are one range; an
         * unknown region seen through several windows is one entry. */
        while (i + 1 < segs->len &&
               g_array_index(segs, Seg, i + 1).start == end &&
               (same_path(s, &g_array_index(segs, Seg, i + 1)) ||
                (s->region->kind == GM_UNKNOWN &&
                 g_array_index(segs, Seg, i + 1).region == s->region)))
            end = g_array_index(segs, Seg, ++i).end;

        if (s->region->kind == GM_RAM) {
            DsGuestRange r = {
                .gpa = s->start, .length = end - s->start,
                .kind = s->region->readonly ? DS_RANGE_ROM : DS_RANGE_RAM,
                .block = s->region->block,
                .block_offset = s->region->block_offset +
                                (s->region_addr - s->region->addr),
                .why = why_of(s),
            };
            g_array_append_val(m->ranges, r);
        } else if (s->region->kind == GM_UNKNOWN) {
            json_object *o = why_of(s);
            json_object_object_add(o, "gpa", json_object_new_uint64(s->start));
            json_object_object_add(o, "length",
                                   json_object_new_uint64(end - s->start));
            json_object_array_add(m->missing, o);
        }
    }
}
