/* The model of one mapped-ram migration file.
 *
 * mr_file_open() reads and validates the whole stream (FORMAT.md §11, R1-R15)
 * before it returns, so every offset in the model has been checked against
 * the file: users may pread any range the model describes without further
 * bounds checks against the file layout.  The structures are read-only to
 * users; they change only through mr-write.h (page and bitmap updates).
 */
#ifndef MR_FILE_H
#define MR_FILE_H

#include <glib.h>
#include <json-c/json.h>

#include "mr-bitmap.h"
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
    gboolean has_mr_addr;  /* x-ignore-shared adds it (FORMAT.md §9.7) */
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

/* A device (FULL) section, bounded with the vmdesc (FORMAT.md §13.4). */
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
    gboolean before_ram; /* early-setup section (FORMAT.md §4) */
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
    int fd;
    gboolean writable;
    MrBitmapOrder bitmap_order;
    guint64 file_size;
    guint64 stream_offset;
    gboolean stream_offset_detected; /* found by searching, not given */
    MrLibvirtHeader *libvirt; /* libvirt's header before the stream, or NULL */

    /* Configuration record (FORMAT.md §5). */
    char *machine;
    GPtrArray *capabilities; /* char* */
    gboolean cap_mapped_ram;
    gboolean cap_ignore_shared;
    gboolean has_uuid;
    guint8 uuid[16];
    gboolean has_target_page_bits;
    guint32 target_page_bits;

    /* RAM section (FORMAT.md §9). */
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
    gboolean footers; /* the stream has section footers (FORMAT.md §6) */

    guint64 eof_offset;
    gboolean has_vmdesc;
    guint64 vmdesc_offset;   /* the 0x06 byte */
    guint64 vmdesc_json_offset;
    guint64 vmdesc_size;     /* JSON bytes */
    json_object *vmdesc;     /* parsed, NULL without one */

    GPtrArray *warnings; /* char*, each "PATH: offset 0x..: text" */
    /* Steps left for the device walks of mr_file_open() plus one; 0 once
     * the file is open (later walks are bounded per section only). */
    guint64 walk_budget;
} MrFile;

MrFile *mr_file_open(const char *path, const MrOpenOptions *opts, GError **err);
void mr_file_close(MrFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrFile, mr_file_close)

/* Blocks by name; NULL when absent. */
MrRamBlock *mr_file_find_block(const MrFile *f, const char *idstr);
/* Reads the whole bitmap the first time (mr-bitmap.h); check
 * mr_block_bitmap_ok() after it. */
guint64 mr_block_present_pages(const MrRamBlock *b);
/* FALSE with the error if part of the block's bitmap could not be read
 * since the file was opened (it was truncated, say): the page runs and
 * counts computed from it are not to be trusted. */
gboolean mr_block_bitmap_ok(const MrRamBlock *b, GError **err);

#endif
