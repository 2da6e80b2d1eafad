#include "mr-bitmap.h"

#include <string.h>

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

MrBitmap *
mr_bitmap_new(guint64 nbits)
{
    MrBitmap *bm = g_new0(MrBitmap, 1);

    bm->nbits = nbits;
    bm->nwords = nbits / 64 + (nbits % 64 != 0);
    bm->words = g_new0(guint64, MAX(bm->nwords, 1));
    return bm;
}

void
mr_bitmap_free(MrBitmap *bm)
{
    if (bm == NULL)
        return;
    g_free(bm->words);
    g_free(bm);
}

static guint64
file_byte(const guint8 *bytes, gsize nbytes, guint64 i)
{
    return i < nbytes ? bytes[i] : 0;
}

MrBitmap *
mr_bitmap_new_from_file(const guint8 *bytes, gsize nbytes, guint64 nbits,
                        MrBitmapOrder order, guint64 *stray)
{
    MrBitmap *bm = mr_bitmap_new(nbits);
    guint64 strays = 0;

    for (guint64 w = 0; w < bm->nwords; w++) {
        guint64 v = 0, base = w * 8;

        switch (order) {
        case MR_BITMAP_LE:
            for (unsigned k = 0; k < 8; k++)
                v |= file_byte(bytes, nbytes, base + k) << (8 * k);
            break;
        case MR_BITMAP_BE64:
            for (unsigned k = 0; k < 8; k++)
                v |= file_byte(bytes, nbytes, base + k) << (8 * (7 - k));
            break;
        case MR_BITMAP_BE32:
            /* Two 32-bit longs: pages 64w..64w+31 then 64w+32..64w+63. */
            for (unsigned k = 0; k < 4; k++) {
                v |= file_byte(bytes, nbytes, base + k) << (8 * (3 - k));
                v |= file_byte(bytes, nbytes, base + 4 + k) << (32 + 8 * (3 - k));
            }
            break;
        }
        bm->words[w] = v;
    }
    if (nbits % 64 != 0) {
        guint64 keep = (G_GUINT64_CONSTANT(1) << (nbits % 64)) - 1;
        strays += (guint64)__builtin_popcountll(bm->words[bm->nwords - 1] & ~keep);
        bm->words[bm->nwords - 1] &= keep;
    }
    /* Bytes beyond the last word of nbits (a 64-bit host's padding long). */
    for (guint64 i = bm->nwords * 8; i < nbytes; i++)
        strays += (guint64)__builtin_popcount(bytes[i]);
    if (stray)
        *stray = strays;
    bm->count = mr_bitmap_count_range(bm, 0, nbits);
    return bm;
}

gboolean
mr_bitmap_test(const MrBitmap *bm, guint64 i)
{
    if (i >= bm->nbits)
        return FALSE;
    return (load_word(bm, i / 64) >> (i % 64)) & 1;
}

static guint64
next_bit(const MrBitmap *bm, guint64 from, gboolean want_set)
{
    guint64 w, v;

    if (from >= bm->nbits)
        return bm->nbits;
    w = from / 64;
    v = load_word(bm, w);
    if (!want_set)
        v = ~v;
    v &= ~G_GUINT64_CONSTANT(0) << (from % 64);
    while (v == 0) {
        if (++w >= bm->nwords)
            return bm->nbits;
        v = load_word(bm, w);
        if (!want_set)
            v = ~v;
    }
    return MIN(w * 64 + (guint64)__builtin_ctzll(v), bm->nbits);
}

guint64
mr_bitmap_next_set(const MrBitmap *bm, guint64 from)
{
    return next_bit(bm, from, TRUE);
}

guint64
mr_bitmap_next_clear(const MrBitmap *bm, guint64 from)
{
    return next_bit(bm, from, FALSE);
}

guint64
mr_bitmap_count_range(const MrBitmap *bm, guint64 from, guint64 to)
{
    guint64 n = 0;

    to = MIN(to, bm->nbits);
    if (from >= to)
        return 0;
    for (guint64 w = from / 64; w * 64 < to; w++) {
        guint64 v = load_word(bm, w);
        guint64 lo = w * 64;
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
    return __atomic_load_n(&bm->count, __ATOMIC_RELAXED);
}

gboolean
mr_bitmap_set(MrBitmap *bm, guint64 i)
{
    guint64 m = G_GUINT64_CONSTANT(1) << (i % 64);

    g_return_val_if_fail(i < bm->nbits, FALSE);
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
    guint64 w = i / 64, v = load_word(bm, w);

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
