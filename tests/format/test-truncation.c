/* Files cut at every record boundary (docs/FORMAT.md §15): mr_file_open never
 * crashes and fails cleanly, or the cut leaves a file that is valid.
 */
#include <stdio.h>
#include <string.h>

#include "test-helpers.h"

static gint
cmp_u64(gconstpointer a, gconstpointer b)
{
    guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

    return x < y ? -1 : x > y;
}

static void
add_cut(GArray *cuts, guint64 at, guint64 size)
{
    static const gint64 around[] = { 0, 1, 3 };

    for (gsize i = 0; i < G_N_ELEMENTS(around); i++) {
        guint64 c = at + (guint64)around[i];
        if (at != G_MAXUINT64 && c < size)
            g_array_append_val(cuts, c);
    }
}

/* Opens a file cut at `cut` and expects a clean failure: an MR_ERROR with
 * the path and an offset (UNSUPPORTED too: an early-setup section left
 * without its vmdesc).  A cut can leave a valid file in two ways, both
 * allowed and counted: right after the EOF byte (a file without vmdesc,
 * §8.2), or, since a file without vmdesc cannot bound its device sections,
 * anywhere among the devices where the last byte left happens to be 0x00
 * (the EOF byte as far as the reader can tell). */
static void
check_cut(const char *path, const char *name, guint64 cut,
          const MrWriterLayout *l, guint *accepted)
{
    guint64 first_device = G_MAXUINT64;
    g_autoptr(GError) err = NULL;
    MrFile *f;
    guint8 last = 0xff;

    for (guint i = 0; i < l->devices->len; i++)
        if (MRT_DEVICE(l, i)->offset > l->ram_offset) {
            first_device = MRT_DEVICE(l, i)->offset;
            break;
        }
    if (cut > 0)
        mrt_read(path, cut - 1, &last, 1);
    f = mr_file_open(path, NULL, &err);
    if (f == NULL) {
        MRT_CHECK(err != NULL && err->domain == MR_ERROR &&
                  (err->code == MR_ERROR_TRUNCATED ||
                   err->code == MR_ERROR_INVALID ||
                   err->code == MR_ERROR_UNSUPPORTED) &&
                  strstr(err->message, path) != NULL &&
                  strstr(err->message, "offset 0x") != NULL,
                  "%s cut at 0x%" G_GINT64_MODIFIER "x fails cleanly: %s",
                  name, cut, err ? err->message : "(no error)");
        return;
    }
    (*accepted)++;
    MRT_CHECK((cut == l->eof_offset + 1 && f->devices_bounded) ||
              (!f->devices_bounded && last == 0x00 && cut > first_device),
              "%s cut at 0x%" G_GINT64_MODIFIER "x opens only as a file "
              "without vmdesc (last byte 0x%02x)", name, cut, last);
    MRT_CHECK(!f->has_vmdesc && (f->devices->len == 0 || f->devices_bounded),
              "%s cut at 0x%" G_GINT64_MODIFIER "x: no vmdesc", name, cut);
    MRT_CHECK(f->devices_bounded || mrt_count_warnings(f, "no vmdesc") == 1,
              "%s cut at 0x%" G_GINT64_MODIFIER "x: the missing vmdesc is "
              "a warning", name, cut);
    mr_file_close(f);
}

/* Every record boundary (and 1 and 3 bytes in), each on a fresh file. */
static void
cut_at_record_boundaries(MrWriter *w, const char *name, guint *accepted)
{
    g_autofree char *path = mrt_path(name);
    g_autoptr(GArray) cuts = g_array_new(FALSE, FALSE, sizeof(guint64));
    MrWriterLayout l;
    guint64 size;

    mrt_write(w, path, &l);
    size = l.file_size;
    add_cut(cuts, l.config_offset, size);
    add_cut(cuts, l.config_offset + 5, size);
    add_cut(cuts, l.ram_offset, size);
    add_cut(cuts, l.mem_size_offset, size);
    for (guint i = 0; i < l.blocks->len; i++) {
        const MrWrittenBlock *b = MRT_BLOCK(&l, i);
        add_cut(cuts, b->desc_offset, size);
        add_cut(cuts, b->used_length_offset, size);
        add_cut(cuts, b->header_offset, size);
        add_cut(cuts, b->header_offset + MRT_HDR_PAGE_SIZE, size);
        add_cut(cuts, b->header_offset + MRT_HDR_BITMAP_OFFSET, size);
        add_cut(cuts, b->header_offset + MRT_HDR_PAGES_OFFSET, size);
        add_cut(cuts, b->bitmap_offset, size);
        add_cut(cuts, b->pages_offset, size);
        add_cut(cuts, b->end_offset - 1, size);
        add_cut(cuts, b->end_offset, size);
    }
    add_cut(cuts, l.ram_eos_offset, size);
    add_cut(cuts, l.ram_footer_offset, size);
    add_cut(cuts, l.command_offset, size);
    add_cut(cuts, l.end_section_offset, size);
    for (guint i = 0; i < l.devices->len; i++) {
        const MrWrittenSection *s = MRT_DEVICE(&l, i);
        add_cut(cuts, s->offset, size);
        add_cut(cuts, s->body_offset, size);
        add_cut(cuts, s->footer_offset, size);
        add_cut(cuts, s->end_offset, size);
    }
    add_cut(cuts, l.eof_offset, size);
    add_cut(cuts, l.vmdesc_offset, size);
    add_cut(cuts, l.vmdesc_json_offset, size);
    add_cut(cuts, size - 1, size);
    g_array_sort(cuts, cmp_u64);
    for (guint k = 0; k < cuts->len; k++) {
        guint64 cut = g_array_index(cuts, guint64, k);

        if (k > 0 && cut == g_array_index(cuts, guint64, k - 1))
            continue;
        mr_writer_layout_clear(&l);
        mrt_write(w, path, &l);
        mrt_truncate(path, cut);
        check_cut(path, name, cut, &l, accepted);
    }
    mr_writer_layout_clear(&l);
}

/* Every byte of the stream outside the page areas: from 0 to the first
 * page area (a fresh file each time) and from the end of the last one to
 * the end of the file (the cut-off tail is put back after each cut). */
static void
cut_at_every_stream_byte(MrWriter *w, const char *name, guint *accepted)
{
    g_autofree char *path = mrt_path(name);
    g_autofree guint8 *tail = NULL;
    MrWriterLayout l;
    guint64 head_end, tail_start, size;

    mrt_write(w, path, &l);
    size = l.file_size;
    /* The head: header, configuration, ram START and the first block's
     * descriptor, header and the start of its bitmap. */
    CU_ASSERT_FATAL(l.blocks->len > 0);
    head_end = MRT_BLOCK(&l, 0)->bitmap_offset + 64;
    tail_start = MRT_BLOCK(&l, l.blocks->len - 1)->end_offset;
    tail = g_malloc(size - tail_start);
    mrt_read(path, tail_start, tail, size - tail_start);
    for (guint64 cut = tail_start; cut < size; cut++) {
        mrt_truncate(path, cut);
        check_cut(path, name, cut, &l, accepted);
        mrt_patch(path, cut, tail + (cut - tail_start), size - cut);
    }
    for (guint64 cut = 0; cut < head_end; cut++) {
        mr_writer_layout_clear(&l);
        mrt_write(w, path, &l);
        mrt_truncate(path, cut);
        check_cut(path, name, cut, &l, accepted);
    }
    mr_writer_layout_clear(&l);
}

/* The writers cut: the -M pc file with 2 PART sections, a file without
 * devices, and one without footers with an early-setup section. */
static void
for_each_writer(void (*cut)(MrWriter *, const char *, guint *))
{
    g_autoptr(MrWriter) pc = mrt_writer_pc();
    g_autoptr(MrWriter) bare = mr_writer_new("pc");
    g_autoptr(MrWriter) nofoot = mrt_writer_pc();
    guint accepted = 0;

    mr_writer_set_parts(pc, 2);
    cut(pc, "cut-pc.mig", &accepted);
    mrt_add_pc_blocks(bare, 4096);
    cut(bare, "cut-bare.mig", &accepted);
    mr_writer_set_footers(nofoot, FALSE);
    mrt_add_device(nofoot, &mrt_pc_devices[0], TRUE);
    cut(nofoot, "cut-nofoot.mig", &accepted);
    printf("\n    (%u cuts opened as files without vmdesc) ", accepted);
}

static void
test_truncation_at_every_record_boundary_fails_cleanly(void)
{
    for_each_writer(cut_at_record_boundaries);
}

static void
test_truncation_at_every_stream_byte_fails_cleanly(void)
{
    for_each_writer(cut_at_every_stream_byte);
}

static const MrtTest tests[] = {
    MRT_TEST(test_truncation_at_every_record_boundary_fails_cleanly),
    MRT_TEST(test_truncation_at_every_stream_byte_fails_cleanly),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "truncation", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
