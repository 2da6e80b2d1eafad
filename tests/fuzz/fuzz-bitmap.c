/* fuzz-bitmap: mr-bitmap.h against a naive per-bit reference.
 *
 * Input: byte 0 picks the host order (% 3) and whether to set and clear
 * bits afterwards (bit 2); bytes 1-2 (LE) pick the number of pages, from 0
 * to a little more than the bytes hold (so that both stray bits and bytes
 * missing at the end, docs/FORMAT.md §9.4, occur); the rest are the bitmap
 * bytes as the file holds them (at most 2 KiB, which keeps the quadratic
 * walks fast).  The reference places bit i with the formulas of §9.4,
 * written out again here rather than taken from mr-bitmap.c.
 */
#include <string.h>

#include "fuzz.h"
#include "mr-bitmap.h"

#define MAX_BYTES 2048

/* docs/FORMAT.md §9.4: the byte of page i in the file. */
static guint64
ref_byte(MrBitmapOrder order, guint64 i)
{
    switch (order) {
    case MR_BITMAP_LE:
        return i / 8;
    case MR_BITMAP_BE64:
        return 8 * (i / 64) + 7 - (i % 64) / 8;
    case MR_BITMAP_BE32:
        return 4 * (i / 32) + 3 - (i % 32) / 8;
    }
    g_assert_not_reached();
}

/* The page of bit b of file byte j: the inverse of ref_byte. */
static guint64
ref_page(MrBitmapOrder order, guint64 j, unsigned b)
{
    switch (order) {
    case MR_BITMAP_LE:
        return 8 * j + b;
    case MR_BITMAP_BE64:
        return 64 * (j / 8) + 8 * (7 - j % 8) + b;
    case MR_BITMAP_BE32:
        return 32 * (j / 4) + 8 * (3 - j % 4) + b;
    }
    g_assert_not_reached();
}

static guint64
xorshift(guint64 *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct {
    MrBitmapOrder order;
    guint64 nbits;
    guint8 *bit;        /* [nbits] reference, 0/1 */
    guint64 *next_set;  /* [nbits + 1] */
    guint64 *next_clear;
    guint64 *prefix;    /* [nbits + 1]: set bits below i */
    const guint8 *bytes; /* the file's bytes: the last word's bits past */
    gsize nbytes;        /* nbits are written back as they are there */
} Ref;

static void
ref_index(Ref *r)
{
    r->next_set[r->nbits] = r->next_clear[r->nbits] = r->nbits;
    for (guint64 i = r->nbits; i-- > 0;) {
        r->next_set[i] = r->bit[i] ? i : r->next_set[i + 1];
        r->next_clear[i] = !r->bit[i] ? i : r->next_clear[i + 1];
    }
    r->prefix[0] = 0;
    for (guint64 i = 0; i < r->nbits; i++)
        r->prefix[i + 1] = r->prefix[i] + r->bit[i];
}

static guint64
ref_count(const Ref *r, guint64 from, guint64 to)
{
    to = MIN(to, r->nbits);
    return from >= to ? 0 : r->prefix[to] - r->prefix[from];
}

static void
compare(const MrBitmap *bm, const Ref *r, guint64 *seed)
{
    const guint64 n = r->nbits;

    FUZZ_CHECK(bm->nbits == n, "%" G_GUINT64_FORMAT, bm->nbits);
    FUZZ_CHECK(bm->nwords == n / 64 + (n % 64 != 0), "%" G_GUINT64_FORMAT,
               bm->nwords);
    for (guint64 i = 0; i < n + 70; i++)
        FUZZ_CHECK(mr_bitmap_test(bm, i) == (i < n && r->bit[i]),
                   "test(%" G_GUINT64_FORMAT ") of %" G_GUINT64_FORMAT, i, n);
    FUZZ_CHECK(!mr_bitmap_test(bm, G_MAXUINT64), "test(max)");
    for (guint64 i = 0; i <= n + 2; i++) {
        guint64 want_set = i <= n ? r->next_set[i] : n;
        guint64 want_clear = i <= n ? r->next_clear[i] : n;
        guint64 got_set = mr_bitmap_next_set(bm, i);
        guint64 got_clear = mr_bitmap_next_clear(bm, i);
        FUZZ_CHECK(got_set == want_set, "next_set(%" G_GUINT64_FORMAT ") = %"
                   G_GUINT64_FORMAT ", want %" G_GUINT64_FORMAT, i, got_set,
                   want_set);
        FUZZ_CHECK(got_clear == want_clear, "next_clear(%" G_GUINT64_FORMAT
                   ") = %" G_GUINT64_FORMAT ", want %" G_GUINT64_FORMAT, i,
                   got_clear, want_clear);
    }
    FUZZ_CHECK(mr_bitmap_next_set(bm, G_MAXUINT64) == n, "next_set(max)");
    FUZZ_CHECK(mr_bitmap_next_clear(bm, G_MAXUINT64) == n, "next_clear(max)");
    FUZZ_CHECK(mr_bitmap_count(bm) == ref_count(r, 0, n), "count");
    /* Ranges: every edge case, then pseudo-random ones. */
    {
        const guint64 edges[] = { 0, 1, 63, 64, 65, n / 2, n ? n - 1 : 0, n,
                                  n + 1, n + 64, G_MAXUINT64 };
        for (gsize a = 0; a < G_N_ELEMENTS(edges); a++)
            for (gsize b = 0; b < G_N_ELEMENTS(edges); b++)
                FUZZ_CHECK(mr_bitmap_count_range(bm, edges[a], edges[b]) ==
                           ref_count(r, edges[a], edges[b]),
                           "count_range(%" G_GUINT64_FORMAT ", %"
                           G_GUINT64_FORMAT ")", edges[a], edges[b]);
        for (int k = 0; k < 64; k++) {
            guint64 from = xorshift(seed) % (n + 80);
            guint64 to = xorshift(seed) % (n + 80);
            guint64 lim = MIN(to, n);
            guint64 ws = from < lim ? MIN(r->next_set[from], lim) : lim;
            guint64 wc = from < lim ? MIN(r->next_clear[from], lim) : lim;
            FUZZ_CHECK(mr_bitmap_count_range(bm, from, to) ==
                       ref_count(r, from, to),
                       "count_range(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                       ")", from, to);
            FUZZ_CHECK(mr_bitmap_next_set_before(bm, from, to) == ws &&
                       mr_bitmap_next_clear_before(bm, from, to) == wc,
                       "next_set/clear_before(%" G_GUINT64_FORMAT ", %"
                       G_GUINT64_FORMAT ")", from, to);
        }
    }
    /* The write path's view: where a bit lives and the word put back. */
    for (guint64 i = 0; i < n; i++) {
        guint64 idx;
        guint8 mask;
        mr_bitmap_file_position(r->order, i, &idx, &mask);
        FUZZ_CHECK(idx == ref_byte(r->order, i) && mask == (1u << (i % 8)),
                   "file_position(%" G_GUINT64_FORMAT ")", i);
    }
    for (guint64 w = 0; w < bm->nwords; w++) {
        guint8 out[8];
        guint64 first = mr_bitmap_file_word(bm, r->order, w * 64 + w % 64, out);
        FUZZ_CHECK(first == w * 8, "file_word(%" G_GUINT64_FORMAT ")", w);
        for (unsigned k = 0; k < 8; k++) {
            guint8 want = 0;
            for (unsigned b = 0; b < 8; b++) {
                guint64 i = ref_page(r->order, w * 8 + k, b);
                guint64 j = w * 8 + k;
                if (i < n ? r->bit[i] != 0
                          : j < r->nbytes && ((r->bytes[j] >> b) & 1))
                    want |= (guint8)(1u << b);
            }
            FUZZ_CHECK(out[k] == want, "file_word(%" G_GUINT64_FORMAT ") "
                       "byte %u = 0x%02x, want 0x%02x", w, k, out[k], want);
        }
    }
}

typedef struct {
    const guint8 *bytes;
    gsize nbytes;
} Mem;

static gboolean
mem_read(gpointer data, guint8 *buf, guint64 offset, gsize n, GError **err)
{
    const Mem *m = data;

    FUZZ_CHECK(offset <= m->nbytes && n <= m->nbytes - offset,
               "lazy read of %" G_GSIZE_FORMAT " bytes at %" G_GUINT64_FORMAT
               " past the %" G_GSIZE_FORMAT " bitmap bytes", n, offset, m->nbytes);
    memcpy(buf, m->bytes + offset, n);
    return TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MrBitmapOrder order;
    gboolean mutate;
    const guint8 *bytes;
    gsize nbytes;
    guint64 stray = 0, want_stray = 0, seed = 0x9e3779b97f4a7c15u;
    MrBitmap *bm;
    Ref r;

    if (size < 3)
        return 0;
    order = (MrBitmapOrder)(data[0] % 3);
    mutate = (data[0] & 4) != 0;
    bytes = data + 3;
    nbytes = MIN(size - 3, (gsize)MAX_BYTES);
    r.order = order;
    r.bytes = bytes;
    r.nbytes = nbytes;
    r.nbits = (guint64)(data[1] | data[2] << 8) % (nbytes * 8 + 130);
    for (gsize i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 0x100000001b3u;
    seed |= 1;

    FUZZ_CHECK(mr_bitmap_reserved_bytes(r.nbits, 64) ==
               (r.nbits + 63) / 64 * 8, "reserved 64");
    FUZZ_CHECK(mr_bitmap_reserved_bytes(r.nbits, 32) ==
               (r.nbits + 31) / 32 * 4, "reserved 32");

    r.bit = g_malloc0(r.nbits + 1);
    r.next_set = g_new(guint64, r.nbits + 1);
    r.next_clear = g_new(guint64, r.nbits + 1);
    r.prefix = g_new(guint64, r.nbits + 1);
    for (guint64 i = 0; i < r.nbits; i++) {
        guint64 j = ref_byte(order, i);
        r.bit[i] = j < nbytes && ((bytes[j] >> (i % 8)) & 1);
    }
    for (gsize j = 0; j < nbytes; j++)
        for (unsigned b = 0; b < 8; b++)
            if (((bytes[j] >> b) & 1) && ref_page(order, j, b) >= r.nbits)
                want_stray++;
    ref_index(&r);

    bm = mr_bitmap_new_from_file(bytes, nbytes, r.nbits, order, &stray);
    FUZZ_CHECK(stray == want_stray, "stray %" G_GUINT64_FORMAT ", want %"
               G_GUINT64_FORMAT, stray, want_stray);
    compare(bm, &r, &seed);

    /* The same bytes read lazily (mr_bitmap_open) answer the same. */
    {
        Mem m = { bytes, nbytes };
        guint64 lazy_stray = 0;
        MrBitmap *lazy = mr_bitmap_open(r.nbits, nbytes, order, mem_read, &m,
                                        NULL, &lazy_stray, NULL);
        FUZZ_CHECK(lazy != NULL, "mr_bitmap_open");
        FUZZ_CHECK(lazy_stray == want_stray, "lazy stray %" G_GUINT64_FORMAT
                   ", want %" G_GUINT64_FORMAT, lazy_stray, want_stray);
        compare(lazy, &r, &seed);
        FUZZ_CHECK(mr_bitmap_ok(lazy, NULL), "lazy bitmap failed");
        mr_bitmap_free(lazy);
    }

    if (mutate && r.nbits > 0) {
        for (int k = 0; k < 32; k++) {
            guint64 i = xorshift(&seed) % r.nbits;
            gboolean set = xorshift(&seed) & 1;
            gboolean was = set ? mr_bitmap_set(bm, i) : mr_bitmap_clear(bm, i);
            FUZZ_CHECK(was == r.bit[i], "previous value of bit %"
                       G_GUINT64_FORMAT, i);
            r.bit[i] = set;
        }
        ref_index(&r);
        compare(bm, &r, &seed);
    }
    mr_bitmap_free(bm);

    /* An empty bitmap behaves as one. */
    bm = mr_bitmap_new(r.nbits);
    FUZZ_CHECK(mr_bitmap_count(bm) == 0 &&
               mr_bitmap_next_set(bm, 0) == r.nbits &&
               mr_bitmap_next_clear(bm, 0) == (r.nbits ? 0 : r.nbits),
               "new(%" G_GUINT64_FORMAT ")", r.nbits);
    mr_bitmap_free(bm);

    g_free(r.bit);
    g_free(r.next_set);
    g_free(r.next_clear);
    g_free(r.prefix);
    return 0;
}
