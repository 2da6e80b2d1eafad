/* A virtual file made of pieces of the snapshot.
 *
 * The views that are not one RAM block (guest/physmem, guest/vmcore,
 * restore/lazy.mig) are each a sequence of pieces laid end to end: a range
 * of a RAM block (present pages are data, absent pages are holes), a range
 * of the snapshot file as it is, bytes built in memory (an ELF header,
 * notes), and holes (zeros stored nowhere).  One MrVfile answers reads,
 * SEEK_DATA/SEEK_HOLE, the bytes it stores (st_blocks) and writes for all
 * of them, so the FUSE layer serves every such view the same way.
 *
 * It is built once (pieces added in increasing offset order, gaps become
 * holes) and never changes shape afterwards; only the presence of pages of
 * its RAM block pieces changes, through writes.  Reads take no lock.
 */
#ifndef MR_VFILE_H
#define MR_VFILE_H

#include "mr-file.h"
#include "mr-update.h"

typedef enum {
    MR_PIECE_HOLE,     /* zeros, stored nowhere */
    MR_PIECE_BYTES,    /* bytes held in memory */
    MR_PIECE_BLOCK,    /* a range of a RAM block, sparse as its bitmap */
    MR_PIECE_SNAPSHOT, /* a byte range of the snapshot file, all data */
} MrPieceKind;

typedef struct {
    MrPieceKind kind;
    guint64 offset;    /* in the virtual file */
    guint64 length;
    GBytes *bytes;     /* MR_PIECE_BYTES */
    MrRamBlock *block; /* MR_PIECE_BLOCK */
    guint64 source;    /* BLOCK: offset in the block; SNAPSHOT: file offset */
} MrPiece;

typedef struct MrVfile MrVfile;

/* The virtual file reads from f, which must outlive it. */
MrVfile *mr_vfile_new(MrFile *f);
void mr_vfile_free(MrVfile *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrVfile, mr_vfile_free)

/* Each adds a piece at `at`, which must not be below the end of the last
 * piece (the gap becomes a hole).  A block range must lie inside a block
 * stored in the file, a snapshot range inside the file: else
 * MR_ERROR_RANGE and nothing is added.  Zero-length pieces add nothing. */
gboolean mr_vfile_add_block(MrVfile *v, guint64 at, MrRamBlock *b,
                            guint64 block_offset, guint64 length, GError **err);
gboolean mr_vfile_add_snapshot(MrVfile *v, guint64 at, guint64 file_offset,
                               guint64 length, GError **err);
/* Takes a reference to bytes. */
gboolean mr_vfile_add_bytes(MrVfile *v, guint64 at, GBytes *bytes,
                            GError **err);
/* Ends the file at size with a hole after the last piece (size must not
 * be below the end of the last piece). */
gboolean mr_vfile_set_size(MrVfile *v, guint64 size, GError **err);

guint64 mr_vfile_size(const MrVfile *v);
/* Bytes the file stores: block pages present, snapshot ranges and memory
 * bytes; holes and absent pages count nothing (st_blocks * 512). */
guint64 mr_vfile_stored_bytes(const MrVfile *v);
/* The pieces, in offset order (holes between pieces are not listed). */
const MrPiece *mr_vfile_pieces(const MrVfile *v, guint *n);

/* Reads up to len bytes at off; *got is len unless the file ends first (0
 * at or past the end).  Holes and absent pages read as zeros. */
gboolean mr_vfile_read(const MrVfile *v, void *buf, guint64 off, gsize len,
                       gsize *got, GError **err);

/* SEEK_DATA (data TRUE) or SEEK_HOLE from off < size: *out is the first
 * offset >= off that is data (or a hole).  The end of the file is a hole;
 * with no data at or after off, SEEK_DATA gives *out = MR_VFILE_NONE
 * (ENXIO for lseek).  The caller refuses off >= size itself. */
#define MR_VFILE_NONE G_MAXUINT64
gboolean mr_vfile_seek(const MrVfile *v, guint64 off, gboolean data,
                       guint64 *out, GError **err);

/* Writes len bytes at off through u, with mr_block_write()'s semantics
 * (buf NULL: zeros).
 * Every byte of the range must be backed by a RAM block piece: otherwise
 * MR_ERROR_RANGE names the first offset that is not, and nothing is
 * written.  A range over several block pieces is written piece by piece;
 * an I/O error part-way leaves the earlier pieces written (as a failed
 * pwrite(2) may). */
gboolean mr_vfile_write(MrVfile *v, MrUpdater *u, const void *buf,
                        guint64 off, gsize len, GError **err);

#endif
