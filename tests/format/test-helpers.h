/* Shared pieces of the format/ unit tests: a CUnit runner, a scratch
 * directory, the reference files built with mr-writer, and the tools that
 * damage one field of such a file at an offset taken from its layout.
 *
 * The writer is the oracle of these tests, so expected values come from its
 * layout or from docs/FORMAT.md formulas computed here, never from the reader.
 */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <CUnit/CUnit.h>
#include <glib.h>

#include "mr-error.h"
#include "mr-file.h"
#include "mr-read.h"
#include "mr-writer.h"

/* ---- runner ---------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
} MrtTest;

#define MRT_TEST(fn) { #fn, fn }
#define MRT_END { NULL, NULL }

typedef struct {
    const char *name;
    const MrtTest *tests;
} MrtSuite;

/* Creates the scratch directory, runs every suite with the basic interface
 * (verbose) and returns non-zero when any assertion failed, so that meson
 * sees the failure. */
int mrt_main(int argc, char **argv, const MrtSuite *suites);

/* An assertion with a message built at run time, reported at the caller's
 * line. */
void mrt_check_at(gboolean ok, const char *file, int line, const char *fmt,
                  ...) G_GNUC_PRINTF(4, 5);
#define MRT_CHECK(ok, ...) mrt_check_at((ok), __FILE__, __LINE__, __VA_ARGS__)
#define MRT_CHECK_U64(got, want)                                              \
    do {                                                                      \
        guint64 g_ = (guint64)(got), w_ = (guint64)(want);                    \
        MRT_CHECK(g_ == w_, "%s == %s (got 0x%" G_GINT64_MODIFIER "x, want "  \
                  "0x%" G_GINT64_MODIFIER "x)", #got, #want, g_, w_);         \
    } while (0)
#define MRT_CHECK_STR(got, want)                                              \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        MRT_CHECK(g_ != NULL && g_str_equal(g_, w_), "%s == \"%s\" (got "     \
                  "\"%s\")", #got, w_, g_ ? g_ : "(null)");                   \
    } while (0)

/* ---- scratch files --------------------------------------------------- */

/* A new path in the scratch directory (made with g_dir_make_tmp, so under
 * $TMPDIR); every file there is deleted when the program ends. */
char *mrt_path(const char *name);

/* ---- reference files ------------------------------------------------- */

/* The pages each block of mrt_writer_pc() has present. */
typedef struct {
    const char *idstr;
    guint64 used_length;
    const guint64 *pages;
    gsize npages;
} MrtBlockSpec;

extern const MrtBlockSpec mrt_pc_blocks[];
extern const guint mrt_pc_nblocks;

/* The device sections of mrt_writer_pc(), in stream order. */
typedef struct {
    const char *idstr;
    guint32 instance_id;
    guint32 version_id;
    const char *desc;
    const guint8 *body;
    gsize body_len;
} MrtDeviceSpec;

extern const MrtDeviceSpec mrt_pc_devices[];
extern const guint mrt_pc_ndevices;

/* The contents of page `page` of block number `block`: a pattern that
 * differs from page to page and block to block and has no zero page. */
void mrt_fill_page(guint block, guint64 page, guint8 *buf, gsize page_size);

/* A writer set up as QEMU 10.0 saves a small `-M pc` guest: the blocks of
 * mrt_pc_blocks with their pages, the devices of mrt_pc_devices. */
MrWriter *mrt_writer_pc(void);
/* Adds the blocks (and their pages) or the devices of the tables above. */
void mrt_add_pc_blocks(MrWriter *w, guint64 page_size);
void mrt_add_pc_devices(MrWriter *w);
void mrt_add_device(MrWriter *w, const MrtDeviceSpec *d, gboolean early);

/* Writes the file; a failure is a fatal assertion. */
void mrt_write(MrWriter *w, const char *path, MrWriterLayout *layout);
/* mrt_writer_pc() written to a fresh path. */
char *mrt_write_pc(const char *name, MrWriterLayout *layout);

/* Opens with options (NULL: defaults); a failure is reported with its
 * message and returns NULL. */
MrFile *mrt_open_at(const char *file, int line, const char *path,
                    const MrOpenOptions *opts);
#define MRT_OPEN(path, opts) mrt_open_at(__FILE__, __LINE__, (path), (opts))

/* Checks that mr_file_open fails with `code`, that the message starts with
 * the path, names "offset 0x<offset>" (MRT_ANY_OFFSET: some offset;
 * MR_NO_OFFSET: none), and contains every needle of the NULL-terminated
 * list.  Returns the message (free it) for further checks. */
#define MRT_ANY_OFFSET (G_MAXUINT64 - 1)
char *mrt_open_fails_at(const char *file, int line, const char *path,
                        const MrOpenOptions *opts, MrErrorCode code,
                        guint64 offset, ...) G_GNUC_NULL_TERMINATED;
#define MRT_OPEN_FAILS(path, opts, code, offset, ...)                         \
    g_free(mrt_open_fails_at(__FILE__, __LINE__, (path), (opts), (code),      \
                             (offset), __VA_ARGS__))

/* The number of warnings containing `needle`. */
guint mrt_count_warnings(const MrFile *f, const char *needle);
/* mr_block_count_present(), its failure reported. */
#define MRT_PRESENT(b) mrt_present_at(__FILE__, __LINE__, (b))
guint64 mrt_present_at(const char *file, int line, const MrRamBlock *b);

/* docs/FORMAT.md §9.4 written out independently of mr-bitmap.c: the byte of a
 * host bitmap that holds page i (its bit is always i % 8). */
guint64 mrt_spec_bitmap_byte(MrBitmapOrder order, guint64 i);

/* ---- the model against the layout ---------------------------------- */

/* Block i of the model: name, sizes, the offsets of the writer's layout,
 * stored, and exactly `pages` present. */
void mrt_check_block(const MrFile *f, guint i, const MrWrittenBlock *wb,
                     const char *idstr, guint64 used_length,
                     guint64 page_size, const guint64 *pages, gsize npages);
/* All blocks of mrt_pc_blocks (4 KiB pages).  le32: the file was written by
 * a 32-bit little-endian host, whose bitmap the reader cannot tell from a
 * 64-bit host's when there is room: it takes the 64-bit size (§9.4). */
void mrt_check_pc_blocks_of(const MrFile *f, const MrWriterLayout *l,
                            gboolean le32);
void mrt_check_pc_blocks(const MrFile *f, const MrWriterLayout *l);
/* The first n device sections against specs and the layout. */
void mrt_check_devices(const MrFile *f, const MrWriterLayout *l,
                       const MrtDeviceSpec *specs, guint n, gboolean footers);

/* ---- damage ---------------------------------------------------------- */

void mrt_patch(const char *path, guint64 off, const void *data, gsize n);
void mrt_patch_u8(const char *path, guint64 off, guint8 v);
void mrt_patch_be16(const char *path, guint64 off, guint16 v);
void mrt_patch_be32(const char *path, guint64 off, guint32 v);
void mrt_patch_be64(const char *path, guint64 off, guint64 v);
void mrt_read(const char *path, guint64 off, void *data, gsize n);
guint64 mrt_read_be64(const char *path, guint64 off);
guint64 mrt_file_size(const char *path);
void mrt_truncate(const char *path, guint64 size);
void mrt_append(const char *path, const void *data, gsize n);
/* Removes [off, off + n) and moves everything after it back by n bytes
 * (only for small tails: it copies them through memory). */
void mrt_remove_range(const char *path, guint64 off, guint64 n);
/* Replaces the vmdesc (0x06, be32 length, JSON) at layout->vmdesc_offset by
 * one holding `json`, keeping the file otherwise unchanged. */
void mrt_replace_vmdesc(const char *path, const MrWriterLayout *layout,
                        const char *json);
/* The vmdesc of the file as parsed JSON (free with json_object_put). */
struct json_object *mrt_load_vmdesc(const char *path,
                                    const MrWriterLayout *layout);

/* Field offsets inside a MappedRamHeader (docs/FORMAT.md §9.3). */
#define MRT_HDR_VERSION 0
#define MRT_HDR_PAGE_SIZE 4
#define MRT_HDR_BITMAP_OFFSET 12
#define MRT_HDR_PAGES_OFFSET 20

/* Offsets inside records (docs/FORMAT.md §6, §9.2) that the layout does not
 * list: the first PART follows the START footer, and the footer of a PART or
 * END (type, id, EOS word) starts 13 bytes after its type byte. */
#define MRT_PART_OFFSET(l) ((l)->ram_footer_offset + 5)
#define MRT_SECTION_EOS_FOOTER 13

#define MRT_BLOCK(l, i) (&g_array_index((l)->blocks, MrWrittenBlock, (i)))
#define MRT_DEVICE(l, i) (&g_array_index((l)->devices, MrWrittenSection, (i)))

#endif
