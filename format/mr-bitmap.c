#include "mr-bitmap.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mr-error.h"

static inline guint64
load_word(const MrBitmap *bm, guint64 w)
{
    return __atomic_load_n(&bm->words[w], __ATOMIC_RELAXED);
}

guint64
mr_bitmap_reserved_bytes(guint64 nbits, unsigned long_bits)
{
    guint64 longs = nbits / long_bits + (nbits % long_bits != 0);

    return longs * (long_bits / 8);
}

enum { CHUNK_UNREAD = 0, CHUNK_LOADED, CHUNK_FAILED };

MrBitmap *
mr_bitmap_new(guint64 nbits)
{
    MrBitmap *bm = g_new0(MrBitmap, 1);

    bm->nbits = nbits;
    bm->nwords = nbits / 64 + (nbits % 64 != 0);
    bm->words = g_new0(guint64, MAX(bm->nwords, 1));
    g_mutex_init(&bm->lock);
    return bm;
}

void
mr_bitmap_free(MrBitmap *bm)
{
    if (bm == NULL)
        return;
    if (bm->mapped_bytes)
        munmap(bm->words, bm->mapped_bytes);
    else
        g_free(bm->words);
    g_free(bm->chunk_state);
    if (bm->read_data_free)
        bm->read_data_free(bm->read_data);
    g_clear_error(&bm->error);
    g_mutex_clear(&bm->lock);
    g_free(bm);
}

/* Canonical words w0..w0+n-1 from the file's bytes: bytes[k] is file byte
 * base + k, and bytes past nbytes (a 32-bit host's shorter bitmap) are 0.
 * Every order keeps word w in file bytes 8w..8w+7. */
static void
decode_words(const guint8 *bytes, guint64 base, gsize nbytes,
             MrBitmapOrder order, guint64 w0, guint64 n, guint64 *out)
{
    for (guint64 w = w0; w < w0 + n; w++) {
        guint64 i = w * 8 - base, v = 0;
        guint32 hi, lo;

        /* memcpy: the bytes need not be aligned. */
        if (i + 8 <= nbytes) {
            memcpy(&v, bytes + i, 8);
        } else {
            guint8 b[8] = { 0 };
            for (unsigned k = 0; k < 8 && i + k < nbytes; k++)
                b[k] = bytes[i + k];
            memcpy(&v, b, 8);
        }
        switch (order) {
        case MR_BITMAP_LE:
            v = GUINT64_FROM_LE(v);
            break;
        case MR_BITMAP_BE64:
            v = GUINT64_FROM_BE(v);
            break;
        case MR_BITMAP_BE32:
            /* Two 32-bit longs: pages 64w..64w+31 then 64w+32..64w+63. */
            memcpy(&lo, (guint8 *)&v, 4);
            memcpy(&hi, (guint8 *)&v + 4, 4);
            v = (guint64)GUINT32_FROM_BE(lo) | (guint64)GUINT32_FROM_BE(hi) << 32;
            break;
        }
        out[w - w0] = v;
    }
}

/* Clears the bits of the last word past nbits, keeping them aside in
 * tail_stray; returns how many were set. */
static guint64
drop_tail_bits(MrBitmap *bm)
{
    guint64 keep, *last;

    if (bm->nbits % 64 == 0)
        return 0;
    keep = (G_GUINT64_CONSTANT(1) << (bm->nbits % 64)) - 1;
    last = &bm->words[bm->nwords - 1];
    bm->tail_stray = *last & ~keep;
    *last &= keep;
    return (guint64)__builtin_popcountll(bm->tail_stray);
}

void
mr_bitmap_forget_tail_stray(MrBitmap *bm)
{
    bm->tail_stray = 0;
}

static guint64
popcount_words(const guint64 *w, guint64 n)
{
    guint64 c = 0;

    for (guint64 i = 0; i < n; i++)
        c += (guint64)__builtin_popcountll(w[i]);
    return c;
}

MrBitmap *
mr_bitmap_new_from_file(const guint8 *bytes, gsize nbytes, guint64 nbits,
                        MrBitmapOrder order, guint64 *stray)
{
    MrBitmap *bm = mr_bitmap_new(nbits);
    guint64 strays;

    decode_words(bytes, 0, nbytes, order, 0, bm->nwords, bm->words);
    strays = drop_tail_bits(bm);
    /* Bytes beyond the last word of nbits (a 64-bit host's padding long). */
    for (guint64 i = bm->nwords * 8; i < nbytes; i++)
        strays += (guint64)__builtin_popcount(bytes[i]);
    if (stray)
        *stray = strays;
    bm->count = popcount_words(bm->words, bm->nwords);
    return bm;
}

/* Reads chunk c, under bm->lock.  The last chunk also takes any file bytes
 * past the last word, to count their bits as stray. */
static void
load_chunk(MrBitmap *bm, guint64 c)
{
    guint64 w0 = c * MR_BITMAP_CHUNK_WORDS;
    guint64 n = MIN((guint64)MR_BITMAP_CHUNK_WORDS, bm->nwords - w0);
    gboolean last = c + 1 == bm->nchunks;
    guint64 lo = MIN(w0 * 8, bm->file_bytes);
    guint64 hi = last ? bm->file_bytes : MIN((w0 + n) * 8, bm->file_bytes);
    g_autofree guint8 *bytes = g_malloc(MAX(hi - lo, 1));
    GError *err = NULL;
    int state = CHUNK_LOADED;

    if (hi > lo && !bm->read(bm->read_data, bytes, lo, (gsize)(hi - lo), &err)) {
        if (bm->error == NULL)
            __atomic_store_n(&bm->error, err, __ATOMIC_RELEASE);
        else
            g_error_free(err);
        state = CHUNK_FAILED;
    } else {
        decode_words(bytes, lo, (gsize)(hi - lo), bm->order, w0, n, bm->words + w0);
        if (last) {
            bm->stray = drop_tail_bits(bm);
            for (guint64 i = MAX(bm->nwords * 8, lo); i < hi; i++)
                bm->stray += (guint64)__builtin_popcount(bytes[i - lo]);
        }
        __atomic_add_fetch(&bm->count, popcount_words(bm->words + w0, n),
                           __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&bm->chunks_done, 1, __ATOMIC_RELAXED);
    /* Release: a reader that sees the state sees the words. */
    __atomic_store_n(&bm->chunk_state[c], state, __ATOMIC_RELEASE);
}

/* Makes the chunk of word w readable; FALSE if it failed to load.  The
 * bitmap is logically constant: loading only fills in what the file says. */
static gboolean
ensure_word(const MrBitmap *cbm, guint64 w)
{
    MrBitmap *bm = (MrBitmap *)cbm;
    guint64 c = w / MR_BITMAP_CHUNK_WORDS;
    int state;

    if (bm->chunk_state == NULL || w >= bm->nwords)
        return TRUE;
    state = __atomic_load_n(&bm->chunk_state[c], __ATOMIC_ACQUIRE);
    if (state == CHUNK_UNREAD) {
        g_mutex_lock(&bm->lock);
        if (__atomic_load_n(&bm->chunk_state[c], __ATOMIC_ACQUIRE) == CHUNK_UNREAD)
            load_chunk(bm, c);
        g_mutex_unlock(&bm->lock);
        state = __atomic_load_n(&bm->chunk_state[c], __ATOMIC_ACQUIRE);
    }
    return state == CHUNK_LOADED;
}

MrBitmap *
mr_bitmap_open(guint64 nbits, guint64 nbytes, MrBitmapOrder order,
               MrBitmapReadFn read, gpointer read_data,
               GDestroyNotify read_data_free, guint64 *stray, GError **err)
{
    MrBitmap *bm = g_new0(MrBitmap, 1);

    bm->nbits = nbits;
    bm->nwords = nbits / 64 + (nbits % 64 != 0);
    bm->nchunks = bm->nwords / MR_BITMAP_CHUNK_WORDS +
                  (bm->nwords % MR_BITMAP_CHUNK_WORDS != 0);
    bm->file_bytes = nbytes;
    bm->order = order;
    bm->read = read;
    bm->read_data = read_data;
    bm->read_data_free = read_data_free;
    g_mutex_init(&bm->lock);
    bm->chunk_state = g_new0(gint, MAX(bm->nchunks, 1));
    /* Untouched pages of an anonymous mapping cost no memory: only the
     * chunks a query reads become resident. */
    bm->mapped_bytes = MAX(bm->nwords, 1) * sizeof(guint64);
    bm->words = mmap(NULL, bm->mapped_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (bm->words == MAP_FAILED) {
        int e = errno;
        bm->words = NULL;
        bm->mapped_bytes = 0;
        mr_bitmap_free(bm);
        g_set_error(err, MR_ERROR, MR_ERROR_IO, "bitmap of %" G_GINT64_MODIFIER
                    "u bits: %s", nbits, g_strerror(e));
        return NULL;
    }
    if (bm->nchunks > 0 && !ensure_word(bm, bm->nwords - 1)) {
        g_propagate_error(err, g_error_copy(bm->error));
        mr_bitmap_free(bm);
        return NULL;
    }
    if (bm->nchunks == 0) {
        /* No words: any byte the host reserved is padding, all stray. */
        guint8 b[8];
        for (guint64 at = 0; at < nbytes; at += sizeof(b)) {
            gsize n = (gsize)MIN((guint64)sizeof(b), nbytes - at);
            if (!read(read_data, b, at, n, err)) {
                mr_bitmap_free(bm);
                return NULL;
            }
            for (gsize i = 0; i < n; i++)
                bm->stray += (guint64)__builtin_popcount(b[i]);
        }
    }
    if (stray)
        *stray = bm->stray;
    return bm;
}

gboolean
mr_bitmap_ok(const MrBitmap *bm, GError **err)
{
    GError *e = __atomic_load_n(&bm->error, __ATOMIC_ACQUIRE);

    if (e == NULL)
        return TRUE;
    g_propagate_error(err, g_error_copy(e));
    return FALSE;
}

gboolean
mr_bitmap_load_all(const MrBitmap *bm, GError **err)
{
    if (bm->chunk_state != NULL &&
        __atomic_load_n(&bm->chunks_done, __ATOMIC_RELAXED) < bm->nchunks)
        for (guint64 c = 0; c < bm->nchunks; c++)
            ensure_word(bm, c * MR_BITMAP_CHUNK_WORDS);
    return mr_bitmap_ok(bm, err);
}

gboolean
mr_bitmap_test(const MrBitmap *bm, guint64 i)
{
    if (i >= bm->nbits)
        return FALSE;
    ensure_word(bm, i / 64);
    return (load_word(bm, i / 64) >> (i % 64)) & 1;
}

/* Scans no word at or past bit `to`: a read of one request in a huge
 * absent area must not walk (and load) the bitmap up to the next page. */
static guint64
next_bit(const MrBitmap *bm, guint64 from, guint64 to, gboolean want_set)
{
    guint64 w, v, end, flip = want_set ? 0 : ~G_GUINT64_CONSTANT(0);

    to = MIN(to, bm->nbits);
    if (from >= to)
        return to;
    w = from / 64;
    end = (to - 1) / 64; /* last word to look at */
    ensure_word(bm, w);
    v = (load_word(bm, w) ^ flip) & (~G_GUINT64_CONSTANT(0) << (from % 64));
    while (v == 0) {
        if (++w > end)
            return to;
        if (w % MR_BITMAP_CHUNK_WORDS == 0)
            ensure_word(bm, w);
        v = load_word(bm, w) ^ flip;
    }
    return MIN(w * 64 + (guint64)__builtin_ctzll(v), to);
}

guint64
mr_bitmap_next_set(const MrBitmap *bm, guint64 from)
{
    return next_bit(bm, from, bm->nbits, TRUE);
}

guint64
mr_bitmap_next_clear(const MrBitmap *bm, guint64 from)
{
    return next_bit(bm, from, bm->nbits, FALSE);
}

guint64
mr_bitmap_next_set_before(const MrBitmap *bm, guint64 from, guint64 to)
{
    return next_bit(bm, from, to, TRUE);
}

guint64
mr_bitmap_next_clear_before(const MrBitmap *bm, guint64 from, guint64 to)
{
    return next_bit(bm, from, to, FALSE);
}

guint64
mr_bitmap_count_range(const MrBitmap *bm, guint64 from, guint64 to)
{
    guint64 n = 0;

    to = MIN(to, bm->nbits);
    if (from >= to)
        return 0;
    for (guint64 w = from / 64; w * 64 < to; w++) {
        guint64 v, lo = w * 64;
        if (w == from / 64 || w % MR_BITMAP_CHUNK_WORDS == 0)
            ensure_word(bm, w);
        v = load_word(bm, w);
        if (from > lo)
            v &= ~G_GUINT64_CONSTANT(0) << (from - lo);
        if (to < lo + 64)
            v &= (G_GUINT64_CONSTANT(1) << (to - lo)) - 1;
        n += (guint64)__builtin_popcountll(v);
    }
    return n;
}

guint64
mr_bitmap_count(const MrBitmap *bm)
{
    mr_bitmap_load_all(bm, NULL);
    return __atomic_load_n(&bm->count, __ATOMIC_RELAXED);
}

gboolean
mr_bitmap_set(MrBitmap *bm, guint64 i)
{
    guint64 m = G_GUINT64_CONSTANT(1) << (i % 64);

    g_return_val_if_fail(i < bm->nbits, FALSE);
    if (!ensure_word(bm, i / 64))
        return FALSE;
    if (__atomic_fetch_or(&bm->words[i / 64], m, __ATOMIC_ACQ_REL) & m)
        return TRUE;
    __atomic_add_fetch(&bm->count, 1, __ATOMIC_RELAXED);
    return FALSE;
}

gboolean
mr_bitmap_clear(MrBitmap *bm, guint64 i)
{
    guint64 m = G_GUINT64_CONSTANT(1) << (i % 64);

    g_return_val_if_fail(i < bm->nbits, FALSE);
    if (!ensure_word(bm, i / 64))
        return FALSE;
    if (!(__atomic_fetch_and(&bm->words[i / 64], ~m, __ATOMIC_ACQ_REL) & m))
        return FALSE;
    __atomic_sub_fetch(&bm->count, 1, __ATOMIC_RELAXED);
    return TRUE;
}

void
mr_bitmap_file_position(MrBitmapOrder order, guint64 i, guint64 *byte_index,
                        guint8 *mask)
{
    switch (order) {
    case MR_BITMAP_LE:
        *byte_index = i / 8;
        break;
    case MR_BITMAP_BE64:
        *byte_index = 8 * (i / 64) + 7 - (i % 64) / 8;
        break;
    case MR_BITMAP_BE32:
        *byte_index = 4 * (i / 32) + 3 - (i % 32) / 8;
        break;
    }
    *mask = (guint8)(1u << (i % 8));
}

guint64
mr_bitmap_file_word(const MrBitmap *bm, MrBitmapOrder order, guint64 i,
                    guint8 out[8])
{
    guint64 w = i / 64, v;

    ensure_word(bm, w);
    v = load_word(bm, w);
    if (w + 1 == bm->nwords)
        v |= bm->tail_stray;
    for (unsigned k = 0; k < 8; k++) {
        switch (order) {
        case MR_BITMAP_LE:
            out[k] = (guint8)(v >> (8 * k));
            break;
        case MR_BITMAP_BE64:
            out[k] = (guint8)(v >> (8 * (7 - k)));
            break;
        case MR_BITMAP_BE32:
            out[k] = (guint8)(v >> (k < 4 ? 8 * (3 - k) : 32 + 8 * (7 - k)));
            break;
        }
    }
    return w * 8;
}

const char *
mr_bitmap_order_name(MrBitmapOrder order)
{
    switch (order) {
    case MR_BITMAP_LE:
        return "le";
    case MR_BITMAP_BE64:
        return "be64";
    case MR_BITMAP_BE32:
        return "be32";
    }
    return "?";
}

gboolean
mr_bitmap_order_parse(const char *s, MrBitmapOrder *out)
{
    if (g_str_equal(s, "le") || g_str_equal(s, "little")) {
        *out = MR_BITMAP_LE;
    } else if (g_str_equal(s, "be64") || g_str_equal(s, "big") ||
               g_str_equal(s, "be")) {
        *out = MR_BITMAP_BE64;
    } else if (g_str_equal(s, "be32")) {
        *out = MR_BITMAP_BE32;
    } else {
        return FALSE;
    }
    return TRUE;
}
