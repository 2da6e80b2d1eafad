/* Loading a recorded workload (crash-model.h). */
#include "crash-model.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "mr-error.h"

#define RAW_BLOCK 0xffff

static void
fail(GError **err, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
fail(GError **err, const char *path, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, MR_ERROR, MR_ERROR_INVALID, "%s: %s", path, msg);
}

guint64
crash_page_key(gint block, guint64 page)
{
    return (guint64)(block < 0 ? RAW_BLOCK : block) << 40 | page;
}

GArray *
crash_model_page_writes(const CrashModel *m, gint block, guint64 page)
{
    guint64 key = crash_page_key(block, page);

    return g_hash_table_lookup(m->page_writes, &key);
}

static int
by_start(gconstpointer a, gconstpointer b)
{
    const CrashOp *x = a, *y = b;

    return x->t_start < y->t_start ? -1 : x->t_start > y->t_start;
}

static int
by_end(gconstpointer a, gconstpointer b)
{
    const CrashSync *x = a, *y = b;

    return x->t_end < y->t_end ? -1 : x->t_end > y->t_end;
}

static gboolean
load_trace(CrashModel *m, const char *path, GError **err)
{
    g_autofree char *buf = NULL;
    gsize len, pos = 0;

    if (!g_file_get_contents(path, &buf, &len, err))
        return FALSE;
    while (pos < len) {
        CrashRecord r;

        if (len - pos < sizeof(r)) {
            fail(err, path, "offset 0x%" G_GSIZE_MODIFIER "x: record cut "
                 "short (%" G_GSIZE_FORMAT " bytes left)", pos, len - pos);
            return FALSE;
        }
        memcpy(&r, buf + pos, sizeof(r));
        if (r.magic != CRASH_TRACE_MAGIC || r.data_len > len - pos - sizeof(r)) {
            fail(err, path, "offset 0x%" G_GSIZE_MODIFIER "x: not a record "
                 "(magic 0x%08x, %" G_GUINT64_FORMAT " data bytes)", pos,
                 r.magic, (guint64)r.data_len);
            return FALSE;
        }
        m->records++;
        if (r.result < 0) {
            m->failed_calls++;
        } else if (crash_op_is_sync(r.type)) {
            CrashSync s = { r.t_start, r.t_end };
            g_array_append_val(m->syncs, s);
        } else if (r.type == CRASH_OP_SYNC_FILE_RANGE) {
            m->sync_file_ranges++;
        } else if (r.type == CRASH_OP_WRITE || r.type == CRASH_OP_FALLOCATE ||
                   r.type == CRASH_OP_FTRUNCATE) {
            CrashOp op = {
                .type = r.type, .mode = r.mode, .offset = r.offset,
                .length = r.type == CRASH_OP_WRITE ? r.data_len : r.length,
                .t_start = r.t_start, .t_end = r.t_end,
                .durable_at = G_MAXINT,
            };
            if (r.type == CRASH_OP_WRITE) {
                if (r.data_len == 0) {
                    pos += sizeof(r);
                    continue;
                }
                op.data = g_memdup2(buf + pos + sizeof(r), r.data_len);
            }
            g_array_append_val(m->ops, op);
        } else {
            fail(err, path, "offset 0x%" G_GSIZE_MODIFIER "x: unknown call "
                 "type %u", pos, r.type);
            return FALSE;
        }
        pos += sizeof(r) + r.data_len;
    }
    /* Stable: records of one process are in completion order already. */
    g_array_sort(m->ops, by_start);
    g_array_sort(m->syncs, by_end);
    return TRUE;
}

static gboolean
get_u64(json_object *o, const char *key, guint64 *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_int))
        return FALSE;
    *out = (guint64)json_object_get_int64(v);
    return TRUE;
}

static const char *
get_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

typedef struct {
    gint block;
    guint64 t_start, t_end;
} Fsync;

static gboolean
load_acks(CrashModel *m, const char *path, GArray *fsyncs, guint64 *unmount,
          GError **err)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, err))
        return FALSE;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        json_object *o, *v;
        const char *op, *file, *data;
        CrashWrite w = { .promised = CRASH_NEVER };
        gsize n = 0;

        if (lines[i][0] == '\0')
            continue;
        o = json_tokener_parse(lines[i]);
        if (o == NULL || (op = get_str(o, "op")) == NULL ||
            !get_u64(o, "t0", &w.t_start) || !get_u64(o, "t1", &w.t_end)) {
            fail(err, path, "line %u: not an acknowledgement: %.80s", i + 1, lines[i]);
            json_object_put(o);
            return FALSE;
        }
        file = get_str(o, "file");
        if (file) {
            MrRamBlock *b = mr_file_find_block(m->base, file);
            if (b == NULL || !b->stored) {
                fail(err, path, "line %u: no stored ram block \"%s\"", i + 1, file);
                json_object_put(o);
                return FALSE;
            }
            w.block = (gint)b->index;
        }
        if (g_str_equal(op, "write") || g_str_equal(op, "raw")) {
            gboolean raw = g_str_equal(op, "raw");
            if ((raw ? !get_u64(o, "at", &w.offset) : !file || !get_u64(o, "off", &w.offset)) ||
                (data = get_str(o, "data")) == NULL) {
                fail(err, path, "line %u: write without file, offset or data", i + 1);
                json_object_put(o);
                return FALSE;
            }
            if (raw)
                w.block = -1;
            w.data = g_base64_decode(data, &n);
            w.len = n;
            if (json_object_object_get_ex(o, "durable", &v) && json_object_get_boolean(v))
                w.promised = w.t_end;
            if (w.len)
                g_array_append_val(m->writes, w);
            else
                g_free(w.data);
        } else if (g_str_equal(op, "fsync") && file) {
            Fsync f = { w.block, w.t_start, w.t_end };
            g_array_append_val(fsyncs, f);
        } else if (g_str_equal(op, "unmount")) {
            *unmount = MIN(*unmount, w.t_end);
        } else {
            fail(err, path, "line %u: unknown op \"%s\"", i + 1, op);
            json_object_put(o);
            return FALSE;
        }
        json_object_put(o);
    }
    return TRUE;
}

/* The promise times (crash-model.h). */
static void
set_promises(CrashModel *m, GArray *fsyncs, guint64 unmount)
{
    for (guint i = 0; i < m->writes->len; i++) {
        CrashWrite *w = &g_array_index(m->writes, CrashWrite, i);

        w->promised = MIN(w->promised, unmount);
        for (guint k = 0; k < fsyncs->len; k++) {
            Fsync *f = &g_array_index(fsyncs, Fsync, k);
            if (f->block == w->block && f->t_start > w->t_end)
                w->promised = MIN(w->promised, f->t_end);
        }
    }
}

static void
index_page(CrashModel *m, gint block, guint64 page, guint idx)
{
    guint64 key = crash_page_key(block, page);
    GArray *a = g_hash_table_lookup(m->page_writes, &key);

    if (a == NULL) {
        guint64 *k = g_new(guint64, 1);
        *k = key;
        a = g_array_new(FALSE, FALSE, sizeof(guint));
        g_hash_table_insert(m->page_writes, k, a);
    }
    if (a->len == 0 || g_array_index(a, guint, a->len - 1) != idx)
        g_array_append_val(a, idx);
}

static void
index_writes(CrashModel *m)
{
    for (guint i = 0; i < m->writes->len; i++) {
        CrashWrite *w = &g_array_index(m->writes, CrashWrite, i);
        guint64 ps = w->block < 0 ? m->base->page_size
                   : ((MrRamBlock *)g_ptr_array_index(m->base->blocks, w->block))->page_size;

        ps = MAX(ps, 1);
        for (guint64 p = w->offset / ps; p * ps < w->offset + w->len; p++)
            index_page(m, w->block, p, i);
    }
}

gboolean
crash_model_page_at(const CrashModel *m, guint64 at, gint *block, guint64 *page)
{
    for (guint i = 0; i < m->base->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(m->base->blocks, i);
        if (b->stored && at >= b->pages_offset && at - b->pages_offset < b->used_length) {
            *block = (gint)i;
            *page = (at - b->pages_offset) / b->page_size;
            return TRUE;
        }
    }
    return FALSE;
}

void
crash_model_pages_in(const CrashModel *m, guint64 at, guint64 len,
                     CrashPageFn fn, gpointer data)
{
    const guint64 end = at + len;

    for (guint i = 0; i < m->base->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(m->base->blocks, i);
        guint64 lo, hi;

        if (!b->stored)
            continue;
        lo = MAX(at, b->pages_offset);
        hi = MIN(end, b->pages_offset + b->used_length);
        if (lo < hi) {
            guint64 last = (hi - 1 - b->pages_offset) / b->page_size;
            for (guint64 p = (lo - b->pages_offset) / b->page_size; p <= last; p++)
                fn((gint)i, p, data);
        }
        lo = MAX(at, b->bitmap_offset);
        hi = MIN(end, b->bitmap_offset + b->bitmap_size);
        if (lo >= hi)
            continue;
        /* Pages whose bit lies in the bytes: those of the 64-bit words
         * that hold the bytes, filtered by the file's bit order. */
        for (guint64 p = (lo - b->bitmap_offset) / 8 * 64;
             p < b->num_pages && p < ((hi - b->bitmap_offset + 7) / 8) * 64; p++) {
            guint64 byte;
            guint8 mask;
            mr_bitmap_file_position(m->base->bitmap_order, p, &byte, &mask);
            if (b->bitmap_offset + byte >= lo && b->bitmap_offset + byte < hi)
                fn((gint)i, p, data);
        }
    }
}

gboolean
crash_model_in_pages_or_bitmaps(const CrashModel *m, guint64 at, guint64 len)
{
    while (len > 0) {
        guint64 step = 0;
        for (guint i = 0; i < m->base->blocks->len && step == 0; i++) {
            const MrRamBlock *b = g_ptr_array_index(m->base->blocks, i);
            if (!b->stored)
                continue;
            if (at >= b->pages_offset && at - b->pages_offset < b->used_length)
                step = b->pages_offset + b->used_length - at;
            else if (at >= b->bitmap_offset && at - b->bitmap_offset < b->bitmap_size)
                step = b->bitmap_offset + b->bitmap_size - at;
        }
        if (step == 0)
            return FALSE;
        step = MIN(step, len);
        at += step;
        len -= step;
    }
    return TRUE;
}

/* Bytes an op writes outside page areas and bitmaps must be the base's or
 * what a document write of the workload put there. */
static gboolean
raw_bytes_explained(CrashModel *m, const CrashOp *op)
{
    for (guint64 k = 0; k < op->length; k++) {
        guint64 at = op->offset + k;
        guint8 base = 0, v = op->type == CRASH_OP_WRITE ? op->data[k] : 0;
        gboolean ok = FALSE;
        GArray *ws;

        if (crash_model_in_pages_or_bitmaps(m, at, 1))
            continue;
        if (pread(m->base_fd, &base, 1, (off_t)at) == 1 && base == v)
            continue;
        ws = crash_model_page_writes(m, -1, at / MAX(m->base->page_size, 1));
        for (guint i = 0; ws && i < ws->len && !ok; i++) {
            const CrashWrite *w = &g_array_index(m->writes, CrashWrite,
                                                 g_array_index(ws, guint, i));
            ok = at >= w->offset && at - w->offset < w->len && w->data[at - w->offset] == v;
        }
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

static void
cut_epochs(CrashModel *m)
{
    const guint nsync = m->syncs->len;

    for (guint i = 0; i < m->ops->len; i++) {
        CrashOp *op = &g_array_index(m->ops, CrashOp, i);
        for (guint k = 0; k < nsync && op->durable_at == G_MAXINT; k++)
            if (op->t_end < g_array_index(m->syncs, CrashSync, k).t_start)
                op->durable_at = (gint)k;
        /* ftruncate and fallocate can change the size: always checked. */
        op->raw_bad = op->type == CRASH_OP_FTRUNCATE ||
                      (op->type == CRASH_OP_FALLOCATE &&
                       !(op->mode & 0x01 /* FALLOC_FL_KEEP_SIZE */)) ||
                      !raw_bytes_explained(m, op);
    }
    /* epochs[j] is epoch j - 1: after sync j - 1, before sync j ends. */
    for (guint j = 0; j <= nsync; j++) {
        CrashEpoch e = {
            .base_new = g_array_new(FALSE, FALSE, sizeof(guint)),
            .candidates = g_array_new(FALSE, FALSE, sizeof(guint)),
            .binding_until = j < nsync ? g_array_index(m->syncs, CrashSync, j).t_end
                                       : CRASH_NEVER,
        };
        for (guint i = 0; i < m->ops->len; i++) {
            const CrashOp *op = &g_array_index(m->ops, CrashOp, i);
            if (j > 0 && op->durable_at == (gint)j - 1)
                g_array_append_val(e.base_new, i);
            else if ((op->durable_at == G_MAXINT || op->durable_at >= (gint)j) &&
                     op->t_start < e.binding_until)
                g_array_append_val(e.candidates, i);
        }
        g_array_append_val(m->epochs, e);
    }
}

CrashModel *
crash_model_load(const char *base_path, const char *trace_path,
                 const char *acks_path, GError **err)
{
    CrashModel *m = g_new0(CrashModel, 1);
    MrOpenOptions opts = { 0 };
    g_autoptr(GArray) fsyncs = g_array_new(FALSE, FALSE, sizeof(Fsync));
    guint64 unmount = CRASH_NEVER;

    m->ops = g_array_new(FALSE, FALSE, sizeof(CrashOp));
    m->syncs = g_array_new(FALSE, FALSE, sizeof(CrashSync));
    m->writes = g_array_new(FALSE, FALSE, sizeof(CrashWrite));
    m->epochs = g_array_new(FALSE, FALSE, sizeof(CrashEpoch));
    m->page_writes = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                           (GDestroyNotify)g_array_unref);
    m->base_fd = -1;
    m->base = mr_file_open(base_path, &opts, err);
    if (m->base == NULL || !load_trace(m, trace_path, err) ||
        !load_acks(m, acks_path, fsyncs, &unmount, err)) {
        crash_model_free(m);
        return NULL;
    }
    m->base_fd = open(base_path, O_RDONLY | O_CLOEXEC);
    if (m->base_fd < 0) {
        fail(err, base_path, "cannot open: %s", g_strerror(errno));
        crash_model_free(m);
        return NULL;
    }
    set_promises(m, fsyncs, unmount);
    index_writes(m);
    cut_epochs(m);
    return m;
}

void
crash_model_free(CrashModel *m)
{
    if (m == NULL)
        return;
    for (guint i = 0; i < m->ops->len; i++)
        g_free(g_array_index(m->ops, CrashOp, i).data);
    for (guint i = 0; i < m->writes->len; i++)
        g_free(g_array_index(m->writes, CrashWrite, i).data);
    for (guint i = 0; i < m->epochs->len; i++) {
        g_array_unref(g_array_index(m->epochs, CrashEpoch, i).base_new);
        g_array_unref(g_array_index(m->epochs, CrashEpoch, i).candidates);
    }
    g_array_unref(m->ops);
    g_array_unref(m->syncs);
    g_array_unref(m->writes);
    g_array_unref(m->epochs);
    g_hash_table_unref(m->page_writes);
    if (m->base_fd >= 0)
        close(m->base_fd);
    mr_file_close(m->base);
    g_free(m);
}
