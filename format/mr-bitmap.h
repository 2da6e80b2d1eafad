/* The present-page bitmap of one RAM block.
 *
 * In the file the bitmap is a raw dump of the saving host's `unsigned long`
 * array (FORMAT.md §9.4), so the bit of page i sits at a host-dependent byte.
 * In memory we keep one canonical layout: bit i is bit (i % 64) of words[i/64]
 * whatever the file's order, so that queries scan 64 pages per step.
 * Words are read and changed with atomic builtins because the write path
 * updates bits while readers scan.
 */
#ifndef MR_BITMAP_H
#define MR_BITMAP_H

#include <glib.h>

typedef enum {
    MR_BITMAP_LE = 0, /* little-endian host, 32 or 64 bit: byte i/8, bit i%8 */
    MR_BITMAP_BE64,   /* big-endian 64-bit host (s390x, ppc64) */
    MR_BITMAP_BE32,   /* big-endian 32-bit host */
} MrBitmapOrder;

typedef struct {
    guint64 nbits;
    guint64 nwords;
    guint64 *words;
    /* Set bits, kept by mr_bitmap_set/clear: stat() of a block file asks
     * for it, and counting 32 MiB of bitmap (a 1 TiB block) per call would
     * put the whole bitmap in the hot path. */
    guint64 count;
} MrBitmap;

/* Bytes the saving host reserved for nbits: ceil(nbits / long_bits) longs. */
guint64 mr_bitmap_reserved_bytes(guint64 nbits, unsigned long_bits);

/* Builds the in-memory bitmap from the file's bytes.  nbytes may be shorter
 * than a whole number of words (a 32-bit host's bitmap); missing bytes are
 * zero.  Set bits at indexes >= nbits are cleared and counted in *stray. */
MrBitmap *mr_bitmap_new_from_file(const guint8 *bytes, gsize nbytes,
                                  guint64 nbits, MrBitmapOrder order,
                                  guint64 *stray);
MrBitmap *mr_bitmap_new(guint64 nbits);
void mr_bitmap_free(MrBitmap *bm);

gboolean mr_bitmap_test(const MrBitmap *bm, guint64 i);
/* First set (clear) bit at index >= from, or nbits if there is none. */
guint64 mr_bitmap_next_set(const MrBitmap *bm, guint64 from);
guint64 mr_bitmap_next_clear(const MrBitmap *bm, guint64 from);
guint64 mr_bitmap_count(const MrBitmap *bm); /* O(1) */
/* Set bits in [from, to). */
guint64 mr_bitmap_count_range(const MrBitmap *bm, guint64 from, guint64 to);
/* Atomically sets/clears bit i; returns its previous value. */
gboolean mr_bitmap_set(MrBitmap *bm, guint64 i);
gboolean mr_bitmap_clear(MrBitmap *bm, guint64 i);

/* Where bit i lives in the file's bytes for the given order. */
void mr_bitmap_file_position(MrBitmapOrder order, guint64 i,
                             guint64 *byte_index, guint8 *mask);
/* The file's bytes of the long (64-bit) word containing bit i, as they must
 * be written back: fills out[8] and returns the byte index of out[0]. */
guint64 mr_bitmap_file_word(const MrBitmap *bm, MrBitmapOrder order,
                            guint64 i, guint8 out[8]);

const char *mr_bitmap_order_name(MrBitmapOrder order);
gboolean mr_bitmap_order_parse(const char *s, MrBitmapOrder *out);

#endif
