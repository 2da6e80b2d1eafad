/* Internal to format/: the pieces of mr_file_open(), one file per record kind. */
#ifndef MR_PARSE_H
#define MR_PARSE_H

#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-file.h"

/* QEMU's record types (docs/FORMAT.md §4). */
enum {
    MR_REC_EOF = 0x00,
    MR_REC_SECTION_START = 0x01,
    MR_REC_SECTION_PART = 0x02,
    MR_REC_SECTION_END = 0x03,
    MR_REC_SECTION_FULL = 0x04,
    MR_REC_SUBSECTION = 0x05,
    MR_REC_VMDESCRIPTION = 0x06,
    MR_REC_CONFIGURATION = 0x07,
    MR_REC_COMMAND = 0x08,
    MR_REC_SECTION_FOOTER = 0x7e,
};

/* FALSE with the error if part of the block's bitmap could not be read
 * since the file was opened: what was computed from it is not to be
 * trusted.  Users outside format/ get it from the queries of mr-read.h. */
gboolean mr_block_bitmap_ok(const MrRamBlock *b, GError **err);

void mr_file_warn(MrFile *f, guint64 offset, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
gboolean mr_is_printable(const char *s, gsize len);

/* mr-config.c: the body after the 0x07 byte. */
gboolean mr_parse_config(MrFile *f, MrCursor *c, GError **err);
/* mr-ram.c: the START body (after the section header) and the body of a
 * PART/END section (EOS words only). */
gboolean mr_parse_ram_start(MrFile *f, MrCursor *c, GError **err);
gboolean mr_parse_ram_eos(MrFile *f, MrCursor *c, const char *what,
                          GError **err);
/* The block's present-page bitmap, read lazily from f (bits past its last
 * page are counted in a warning of f). */
MrBitmap *mr_block_open_bitmap(MrFile *f, const MrRamBlock *b, GError **err);
/* mr-vmdesc.c: finds the vmdesc from the end of the file (docs/FORMAT.md §8.1)
 * and parses it. */
gboolean mr_vmdesc_load(MrFile *f, GError **err);
/* mr-devscan.c: device sections of a file without vmdesc, by footers. */
gboolean mr_scan_devices_by_footer(MrFile *f, GError **err);
/* mr-libvirt.c: libvirt's header at offset 0, if the file starts with its
 * magic: fills f->libvirt and f->stream_offset, or refuses an image mramfs
 * cannot read (mr-libvirt.h). */
gboolean mr_libvirt_probe(MrFile *f, const MrOpenOptions *opts, GError **err);
/* mr-foreign.c: what a file that is no migration stream is, from its first
 * bytes (qcow2, compressed, a memory dump); NULL when unknown. */
const char *mr_foreign_describe(const guint8 *head, gsize n);
/* FALSE with an error naming it when the file is one of those. */
gboolean mr_refuse_foreign(MrFile *f, GError **err);
/* mr-file.c: the optional footer after a section body (docs/FORMAT.md §6). */
gboolean mr_parse_footer(MrFile *f, MrCursor *c, guint32 section_id,
                         const char *what, gboolean *has_footer, GError **err);

#endif
