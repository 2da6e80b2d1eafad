/* The present-page bitmap of one RAM block.
 *
 * In the file the bitmap is a raw dump of the saving host's `unsigned long`
 * array (docs/FORMAT.md §9.4), so the bit of page i sits at a host-dependent byte.
 * In memory we keep one canonical layout: bit i is bit (i % 64) of words[i/64]
 * whatever the file's order, so that queries scan 64 pages per step.
 * Words are read and changed with atomic builtins because the write path
 * updates bits while readers scan.
 *
 * A bitmap opened on a file (mr_bitmap_open) is read lazily, one chunk of
 * MR_BITMAP_CHUNK_WORDS words (1 GiB of 4 KiB pages) at a time, the first
 * time a query touches it: mounting a snapshot of 1 TiB of guest RAM then
 * reads no bitmap but the last chunk, and the words array, mapped anonymous
 * memory, costs only the chunks queried.  A chunk that cannot be read (the
 * file was truncated under us) reads as all clear and makes the bitmap
 * failed: callers check mr_bitmap_ok() after their queries, the way one
 * checks ferror(), and turn the failure into an error for their caller
 * rather than trust a guess.
 */
#ifndef MR_BITMAP_H
#define MR_BITMAP_H

#include <glib.h>

typedef enum {
    MR_BITMAP_LE = 0, /* little-endian host, 32 or 64 bit: byte i/8, bit i%8 */
    MR_BITMAP_BE64,   /* big-endian 64-bit host (s390x, ppc64) */
    MR_BITMAP_BE32,   /* big-endian 32-bit host */
} MrBitmapOrder;

#define MR_BITMAP_CHUNK_WORDS 4096u

/* Reads n bytes at offset of the file's bitmap bytes into buf. */
typedef gboolean (*MrBitmapReadFn)(gpointer data, guint8 *buf, guint64 offset,
                                   gsize n, GError **err);

typedef struct {
    guint64 nbits;
    guint64 nwords;
    guint64 *words;
    /* Set bits of the chunks read so far, kept by mr_bitmap_set/clear: stat()
     * of a block file asks for it, and counting 32 MiB of bitmap (a 1 TiB
     * block) per call would put the whole bitmap in the hot path. */
    guint64 count;

    /* Lazy loading; chunk_state is NULL for a bitmap built in memory. */
    guint64 nchunks;
    guint64 chunks_done;   /* chunks read or failed */
    gint *chunk_state;
    gsize mapped_bytes;    /* words is an anonymous mapping of this size */
    guint64 file_bytes;
    MrBitmapOrder order;
    MrBitmapReadFn read;
    gpointer read_data;
    GDestroyNotify read_data_free;
    GMutex lock;           /* serialises chunk loads */
    GError *error;         /* the first failed load; set once */
    guint64 stray;         /* bits set past nbits, found reading the tail */
    /* The bits past nbits of the last word as the file had them: dropped
     * from the queries, written back as they were (mr_bitmap_file_word():
     * page writes never change them, docs/FORMAT.md §12). */
    guint64 tail_stray;
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
/* A bitmap of nbits read lazily from nbytes of the file through read (which
 * gets offsets from 0 to nbytes).  Reads the last chunk now, so that stray
 * bits past nbits are counted in *stray and an unreadable tail fails here;
 * read_data is freed with read_data_free when the bitmap is, or on error. */
MrBitmap *mr_bitmap_open(guint64 nbits, guint64 nbytes, MrBitmapOrder order,
                         MrBitmapReadFn read, gpointer read_data,
                         GDestroyNotify read_data_free, guint64 *stray,
                         GError **err);
void mr_bitmap_free(MrBitmap *bm);
/* The file's bits past nbits were cleared (a repair): write them as zero
 * from now on. */
void mr_bitmap_forget_tail_stray(MrBitmap *bm);

/* FALSE, with a copy of the read error, if some chunk could not be read:
 * what the queries returned since may be wrong (a failed chunk reads as
 * clear) and nothing computed from them may be written. */
gboolean mr_bitmap_ok(const MrBitmap *bm, GError **err);
/* Reads every chunk not read yet; FALSE as mr_bitmap_ok(). */
gboolean mr_bitmap_load_all(const MrBitmap *bm, GError **err);

gboolean mr_bitmap_test(const MrBitmap *bm, guint64 i);
/* First set (clear) bit at index >= from, or nbits if there is none. */
guint64 mr_bitmap_next_set(const MrBitmap *bm, guint64 from);
guint64 mr_bitmap_next_clear(const MrBitmap *bm, guint64 from);
/* The same, looking only below `to`: returns MIN(to, nbits) if none. */
guint64 mr_bitmap_next_set_before(const MrBitmap *bm, guint64 from, guint64 to);
guint64 mr_bitmap_next_clear_before(const MrBitmap *bm, guint64 from, guint64 to);
/* O(1) once every chunk has been read (the first call reads them). */
guint64 mr_bitmap_count(const MrBitmap *bm);
/* Set bits in [from, to). */
guint64 mr_bitmap_count_range(const MrBitmap *bm, guint64 from, guint64 to);
/* Atomically sets/clears bit i; returns its previous value.  A bit of a
 * chunk that failed to load is left alone (mr_bitmap_ok() says so). */
gboolean mr_bitmap_set(MrBitmap *bm, guint64 i);
gboolean mr_bitmap_clear(MrBitmap *bm, guint64 i);

/* Where bit i lives in the file's bytes for the given order. */
void mr_bitmap_file_position(MrBitmapOrder order, guint64 i,
                             guint64 *byte_index, guint8 *mask);
/* The file's bytes of the long (64-bit) word containing bit i, as they must
 * be written back: the word's page bits as the model holds them and, in
 * the last word, the bits past nbits as the file had them.  Fills out[8]
 * and returns the byte index of out[0]. */
guint64 mr_bitmap_file_word(const MrBitmap *bm, MrBitmapOrder order,
                            guint64 i, guint8 out[8]);

const char *mr_bitmap_order_name(MrBitmapOrder order);
gboolean mr_bitmap_order_parse(const char *s, MrBitmapOrder *out);

#endif
