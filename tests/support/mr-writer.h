/* A writer of mapped-ram files laid out as QEMU 10 writes them (docs/FORMAT.md
 * §3-§9), for the cases QEMU cannot produce: chosen pages, huge sparse
 * blocks, big-endian-host bitmaps, early-setup sections, stale slots.  The
 * layout it returns lets a test damage one field at a known offset.
 */
#ifndef MR_WRITER_H
#define MR_WRITER_H

#include <glib.h>

#include "mr-bitmap.h"

typedef struct MrWriter MrWriter;

typedef struct {
    guint64 desc_offset;   /* idstr length byte */
    guint64 used_length_offset;
    guint64 header_offset; /* MappedRamHeader */
    guint64 bitmap_offset;
    guint64 bitmap_size;
    guint64 pages_offset;
    guint64 end_offset;    /* where the stream resumes */
} MrWrittenBlock;

typedef struct {
    guint32 section_id;
    guint64 offset;        /* record type byte */
    guint64 body_offset;
    guint64 footer_offset; /* G_MAXUINT64 without footers */
    guint64 end_offset;
} MrWrittenSection;

typedef struct {
    guint64 config_offset;
    guint64 ram_offset;      /* SECTION_START of ram */
    guint64 mem_size_offset; /* the MEM_SIZE word */
    guint64 ram_eos_offset;  /* EOS word of the START body */
    guint64 ram_footer_offset;
    guint64 end_section_offset;
    guint64 command_offset;  /* SWITCHOVER_START, G_MAXUINT64 if none */
    GArray *blocks;          /* MrWrittenBlock */
    GArray *devices;         /* MrWrittenSection */
    guint64 eof_offset;
    guint64 vmdesc_offset;   /* the 0x06 byte, G_MAXUINT64 if none */
    guint64 vmdesc_json_offset;
    guint64 file_size;
} MrWriterLayout;

MrWriter *mr_writer_new(const char *machine);
void mr_writer_free(MrWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrWriter, mr_writer_free)

/* Stream options; the defaults are what QEMU 10.0 writes for -M pc. */
void mr_writer_set_capabilities(MrWriter *w, const char *const *caps);
void mr_writer_set_page_size(MrWriter *w, guint64 page_size);
void mr_writer_set_target_page_bits(MrWriter *w, guint32 bits);
void mr_writer_set_uuid(MrWriter *w, const guint8 uuid[16]);
void mr_writer_set_stream_offset(MrWriter *w, guint64 offset);
void mr_writer_set_bitmap_layout(MrWriter *w, MrBitmapOrder order,
                                 unsigned long_bits);
void mr_writer_set_footers(MrWriter *w, gboolean on);
void mr_writer_set_vmdesc(MrWriter *w, gboolean on);
void mr_writer_set_configuration(MrWriter *w, gboolean on);
void mr_writer_set_switchover(MrWriter *w, gboolean on);
void mr_writer_set_parts(MrWriter *w, guint parts);
void mr_writer_set_multifd_flushes(MrWriter *w, guint n);
void mr_writer_set_eof(MrWriter *w, gboolean on);

guint mr_writer_add_block(MrWriter *w, const char *idstr, guint64 used_length);
void mr_writer_block_set_mr_addr(MrWriter *w, guint block, guint64 addr);
/* An x-ignore-shared block QEMU 11 skips: offsets (0,0), no data. */
void mr_writer_block_set_skipped(MrWriter *w, guint block);
/* Page data (page_size bytes) with its bit set. */
void mr_writer_set_page(MrWriter *w, guint block, guint64 page,
                        const guint8 *data);
/* Bytes in the page's slot with its bit clear: what QEMU leaves behind when
 * a page turned zero during a live save (docs/FORMAT.md §9.9). */
void mr_writer_set_stale(MrWriter *w, guint block, guint64 page,
                         const guint8 *data);

/* A device section.  desc_json is its vmdesc entry without "name" and
 * "instance_id" (e.g. {"vmsd_name":..,"version":1,"fields":[..]}); the body
 * is copied verbatim.  early: before the ram section (early_setup). */
gboolean mr_writer_add_device(MrWriter *w, const char *idstr,
                              guint32 instance_id, guint32 version_id,
                              const char *desc_json, const guint8 *body,
                              gsize body_len, gboolean early, GError **err);

/* Writes the file (creating or truncating it).  layout may be NULL;
 * otherwise free it with mr_writer_layout_clear(). */
gboolean mr_writer_write(MrWriter *w, const char *path, MrWriterLayout *layout,
                         GError **err);
void mr_writer_layout_clear(MrWriterLayout *layout);

#endif
