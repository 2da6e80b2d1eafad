/* The model of one mapped-ram migration file, and the file itself.
 *
 * mr_file_open() reads and validates the whole stream (docs/FORMAT.md §11, R1-R15)
 * before it returns, so every offset in the model has been checked against
 * the file.  The structures are read-only to users; they change only
 * through mr-update.h (page and bitmap updates), mr-reload.h (the file
 * rewritten by another program) and the repair of mr-report.h.
 *
 * format/ owns the snapshot file: its descriptor is used by format/ alone.
 * Other layers lock it, stat it, check that it still holds what they read,
 * and read a section's bytes through the calls at the end of this header
 * (mr-io.c); RAM blocks through mr-read.h, writes through mr-update.h.  The
 * one exception, named for what it is for, is mr_block_splice_source().
 */
#ifndef MR_FILE_H
#define MR_FILE_H

#include <glib.h>
#include <json-c/json.h>

#include <sys/stat.h>

#include "mr-bitmap.h"
#include "mr-cursor.h"
#include "mr-libvirt.h"

#define MR_FILE_MAGIC 0x5145564Du /* "QEVM" */
#define MR_FILE_VERSION 3u
#define MR_MAPPED_RAM_HEADER_SIZE 28u
#define MR_PAGES_ALIGNMENT 0x100000u /* MAPPED_RAM_FILE_OFFSET_ALIGNMENT */

typedef struct {
    char *idstr;
    guint index;           /* position in MrFile.blocks */
    guint64 used_length;
    guint64 page_size;
    guint64 num_pages;
    guint64 desc_offset;   /* the idstr length byte */
    guint64 header_offset; /* the MappedRamHeader */
    gboolean has_mr_addr;  /* x-ignore-shared adds it (docs/FORMAT.md §9.7) */
    guint64 mr_addr;
    /* FALSE for an x-ignore-shared block with offsets (0,0): no data here. */
    gboolean stored;
    guint64 bitmap_offset;
    /* Bytes of bitmap the host reserved: 64-bit longs whenever they fit
     * before pages_offset (a 32-bit LE host lays bits out the same way),
     * else 32-bit ones. */
    guint64 bitmap_size;
    guint64 pages_offset;
    MrBitmap *bitmap;    /* NULL when !stored */
} MrRamBlock;

typedef enum {
    MR_SECTION_START = 0x01,
    MR_SECTION_PART = 0x02,
    MR_SECTION_END = 0x03,
    MR_SECTION_FULL = 0x04,
} MrSectionType;

/* A device (FULL) section, bounded with the vmdesc (docs/FORMAT.md §13.4). */
typedef struct {
    guint32 section_id;
    char *idstr;
    guint32 instance_id;
    guint32 version_id;
    guint64 offset;      /* the record type byte */
    guint64 body_offset; /* first byte after the version id */
    guint64 body_size;
    gboolean has_footer;
    guint64 end_offset;  /* first byte after the section (and footer) */
    gboolean before_ram; /* early-setup section (docs/FORMAT.md §4) */
    json_object *desc;   /* its devices[] entry in the vmdesc (borrowed);
                          * NULL when the file has no vmdesc */
} MrSection;

typedef struct {
    guint16 cmd;
    guint16 len;
    guint64 offset;
} MrCommand;

typedef struct {
    gboolean writable;
    /* Where the stream starts (file:PATH,offset=N).  Without it: where a
     * libvirt header says, else 0 if the magic is there, else the first
     * magic within the first 64 MiB. */
    gboolean has_stream_offset;
    guint64 stream_offset;
    MrBitmapOrder bitmap_order;
} MrOpenOptions;

typedef struct {
    char *path;
    int fd;                /* format/ only (above) */
    gboolean writable;
    MrBitmapOrder bitmap_order;
    guint64 file_size;
    guint64 stream_offset;
    gboolean stream_offset_detected; /* found by searching, not given */
    MrLibvirtHeader *libvirt; /* libvirt's header before the stream, or NULL */

    /* Configuration record (docs/FORMAT.md §5). */
    char *machine;
    GPtrArray *capabilities; /* char* */
    gboolean cap_mapped_ram;
    gboolean cap_ignore_shared;
    gboolean has_uuid;
    guint8 uuid[16];
    gboolean has_target_page_bits;
    guint32 target_page_bits;

    /* RAM section (docs/FORMAT.md §9). */
    guint32 ram_section_id;
    guint64 ram_offset;   /* the SECTION_START record */
    guint64 ram_total;    /* MEM_SIZE */
    guint64 page_size;    /* 0 if there are no blocks and no vmdesc */
    GPtrArray *blocks;    /* MrRamBlock*, stream order */
    guint parts;          /* PART sections of "ram" */
    guint multifd_flushes;

    GPtrArray *devices;   /* MrSection*, stream order */
    GArray *commands;     /* MrCommand */
    /* Without a vmdesc the device sections cannot be decoded.  With section
     * footers they are still bounded by them (their MrSection.desc is
     * NULL); without footers they are one opaque range [devices_offset,
     * eof_offset) and devices_bounded is FALSE. */
    gboolean devices_bounded;
    guint64 devices_offset;
    gboolean footers; /* the stream has section footers (docs/FORMAT.md §6) */

    guint64 eof_offset;
    gboolean has_vmdesc;
    guint64 vmdesc_offset;   /* the 0x06 byte */
    guint64 vmdesc_json_offset;
    guint64 vmdesc_size;     /* JSON bytes */
    json_object *vmdesc;     /* parsed, NULL without one */

    GPtrArray *warnings; /* char*, each "PATH: offset 0x..: text" */
    /* Set once the file was seen shorter than file_size
     * (mr_file_check_length()), until a reload validates it again
     * (mr-reload.h). */
    gint truncated;
    /* Steps left for the device walks of mr_file_open() plus one; 0 once
     * the file is open (later walks are bounded per section only). */
    guint64 walk_budget;
} MrFile;

MrFile *mr_file_open(const char *path, const MrOpenOptions *opts, GError **err);
void mr_file_close(MrFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrFile, mr_file_close)

/* Blocks by name; NULL when absent.  What a block holds: mr-read.h. */
MrRamBlock *mr_file_find_block(const MrFile *f, const char *idstr);

/* ---- The snapshot file (mr-io.c) ---- */

/* Who else may hold the snapshot: a read-only mount shares it with other
 * readers, a read-write mount and a repair hold it alone (flock(2) on the
 * open file, released by mr_file_close()).  A holder that excludes us is
 * waited for up to wait_us (a daemon still exiting after its unmount),
 * then MR_ERROR_BUSY. */
typedef enum {
    MR_LOCK_SHARED,
    MR_LOCK_EXCLUSIVE,
} MrLockMode;
gboolean mr_file_lock(MrFile *f, MrLockMode mode, gint64 wait_us,
                      GError **err);

/* The snapshot's stat(2) now: owner, modes and times for the mount. */
gboolean mr_file_stat(const MrFile *f, struct stat *st, GError **err);

/* Someone else may truncate the snapshot while it is open; it never
 * changes size by our hand (docs/FORMAT.md §12).  FALSE with
 * MR_ERROR_TRUNCATED (one message, at the file's new length) when the file
 * now ends before `end`, or, with end == MR_FILE_AS_OPENED, when it has
 * ever been seen shorter than when it was opened: a writer refuses from
 * then on (writing would extend it again with holes and set bits over a
 * stream that is gone), a reader only where the bytes are gone. */
#define MR_FILE_AS_OPENED G_MAXUINT64
gboolean mr_file_check_length(MrFile *f, guint64 end, GError **err);
/* The same for bytes [0, end) of block b's page area (a read of a block
 * fails where the block is no longer in the file, absent pages too). */
gboolean mr_block_check_length(MrFile *f, const MrRamBlock *b, guint64 end,
                               GError **err);

/* Where byte off of block b's page area is in the file (docs/FORMAT.md §9.5):
 * for offsets shown to the user.  The page's bit says whether it holds
 * the page (mr-read.h reads it). */
guint64 mr_block_file_offset(const MrRamBlock *b, guint64 off);

/* For one use only: handing libfuse a run of present pages to splice into
 * a read reply (-o splice), which needs a descriptor and an offset.
 * Returns the snapshot's descriptor and sets *file_off to where byte off
 * of b lies; the caller passes them on and never reads, writes, seeks,
 * locks or closes the descriptor itself. */
int mr_block_splice_source(const MrFile *f, const MrRamBlock *b, guint64 off,
                           guint64 *file_off);

/* For watching the snapshot while it is open (fanotify and inotify mark an
 * inode given a descriptor or a path; fstat tells it was deleted): a new
 * descriptor of the same inode, whatever it was renamed to since (the
 * caller closes it), or -1 with the error. */
int mr_file_watch_descriptor(const MrFile *f, GError **err);
/* The snapshot's name now, which a rename may have changed since it was
 * opened; NULL when the system cannot say (free it). */
char *mr_file_current_name(const MrFile *f);

/* Reads n bytes at file offset `offset`, which must lie inside section s
 * [s->offset, s->end_offset) (MR_ERROR_RANGE otherwise). */
gboolean mr_section_read(const MrFile *f, const MrSection *s, guint64 offset,
                         void *buf, gsize n, GError **err);
/* The same for n bytes at file offset `offset` of whichever device section
 * holds them all (a decoded field's offset, devstate/): MR_ERROR_RANGE when
 * no one section does. */
gboolean mr_section_read_at(const MrFile *f, guint64 offset, void *buf,
                            gsize n, GError **err);
/* A cursor over s's body, for mr_devwalk_section() (mr-devwalk.h). */
void mr_section_cursor(const MrFile *f, const MrSection *s, MrCursor *c);
/* A cursor over [pos, limit) of the file (tests walk the stream). */
void mr_file_cursor(const MrFile *f, guint64 pos, guint64 limit, MrCursor *c);

#endif
