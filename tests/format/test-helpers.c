#include "test-helpers.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- runner ---------------------------------------------------------- */

static char *scratch_dir;
static guint64 bios_pages[64]; /* pc.bios: every page present */
/* CUnit keeps pointers to the condition strings of failures until it
 * prints the summary, so they live until the program ends. */
static GPtrArray *messages;

void
mrt_check_at(gboolean ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(messages, msg);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, file,
                            "", CU_FALSE);
}

static void
remove_scratch_dir(void)
{
    GDir *d;
    const char *name;

    if (scratch_dir == NULL)
        return;
    d = g_dir_open(scratch_dir, 0, NULL);
    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(scratch_dir, name, NULL);
        g_unlink(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(scratch_dir);
    g_clear_pointer(&scratch_dir, g_free);
}

int
mrt_main(int argc, char **argv, const MrtSuite *suites)
{
    g_autoptr(GError) err = NULL;
    unsigned failures;

    messages = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < G_N_ELEMENTS(bios_pages); i++)
        bios_pages[i] = i;
    scratch_dir = g_dir_make_tmp("mramfs-format-XXXXXX", &err);
    if (scratch_dir == NULL) {
        g_printerr("%s: cannot make a scratch directory: %s\n", argv[0],
                   err->message);
        return 2;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (const MrtSuite *s = suites; s->name; s++) {
        CU_pSuite cs = CU_add_suite(s->name, NULL, NULL);
        if (cs == NULL)
            return 2;
        for (const MrtTest *t = s->tests; t->name; t++)
            if (CU_add_test(cs, t->name, t->fn) == NULL)
                return 2;
    }
    /* An optional argument runs only the tests whose name contains it. */
    if (argc > 1) {
        for (CU_pSuite cs = CU_get_registry()->pSuite; cs; cs = cs->pNext)
            for (CU_pTest ct = cs->pTest; ct; ct = ct->pNext)
                if (strstr(ct->pName, argv[1]) == NULL)
                    CU_set_test_active(ct, CU_FALSE);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() +
               CU_get_number_of_tests_failed();
    if (CU_get_error() != CUE_SUCCESS)
        failures++;
    CU_cleanup_registry();
    remove_scratch_dir();
    g_ptr_array_unref(messages);
    return failures ? 1 : 0;
}

char *
mrt_path(const char *name)
{
    return g_build_filename(scratch_dir, name, NULL);
}

/* ---- reference files ------------------------------------------------- */

/* Runs that start and end on both sides of 64-bit word boundaries, a full
 * block and an empty one (docs/FORMAT.md §9.4). */
static const guint64 pc_ram_pages[] = { 0, 1, 2, 63, 64, 65, 127, 128, 1000,
                                        2047 };
static const guint64 acpi_pages[] = { 0, 1, 2 };

const MrtBlockSpec mrt_pc_blocks[] = {
    { "pc.ram", 0x800000, pc_ram_pages, G_N_ELEMENTS(pc_ram_pages) },
    { "/rom@etc/acpi/tables", 0x20000, acpi_pages, G_N_ELEMENTS(acpi_pages) },
    { "pc.bios", 0x40000, bios_pages, G_N_ELEMENTS(bios_pages) },
    { "pc.rom", 0x20000, NULL, 0 },
};
const guint mrt_pc_nblocks = G_N_ELEMENTS(mrt_pc_blocks);

static const guint8 timer_body[24] = {
    0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, /* cpu_ticks_offset */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* unused */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* cpu_clock_offset */
};
static const guint8 slirp_body[12] = { 'o', 'l', 'd', '-', 's', 't', 'y',
                                       'l', 'e', '!', 0x01, 0x55 };
static const guint8 globalstate_body[36] = {
    0x00, 0x00, 0x00, 0x08, 'r', 'u', 'n', 'n', 'i', 'n', 'g',
};

const MrtDeviceSpec mrt_pc_devices[] = {
    { "timer", 0, 2,
      "{\"vmsd_name\":\"timer\",\"version\":2,\"fields\":["
      "{\"name\":\"cpu_ticks_offset\",\"type\":\"int64\",\"size\":8},"
      "{\"name\":\"unused\",\"type\":\"unused_buffer\",\"size\":8},"
      "{\"name\":\"cpu_clock_offset\",\"type\":\"int64\",\"size\":8}]}",
      timer_body, sizeof(timer_body) },
    /* An old-style (non-VMSD) saver: a size and one buffer (§13.4). */
    { "slirp", 0, 4,
      "{\"size\":12,\"fields\":[{\"name\":\"data\",\"type\":\"buffer\","
      "\"size\":12}]}",
      slirp_body, sizeof(slirp_body) },
    { "globalstate", 0, 1,
      "{\"vmsd_name\":\"globalstate\",\"version\":1,\"fields\":["
      "{\"name\":\"size\",\"type\":\"uint32\",\"size\":4},"
      "{\"name\":\"runstate\",\"type\":\"buffer\",\"size\":32}]}",
      globalstate_body, sizeof(globalstate_body) },
};
const guint mrt_pc_ndevices = G_N_ELEMENTS(mrt_pc_devices);

void
mrt_fill_page(guint block, guint64 page, guint8 *buf, gsize page_size)
{
    for (gsize k = 0; k < page_size; k++)
        buf[k] = (guint8)(0x11 * (block + 1) + page * 7 + k * 13) | 0x01;
}

void
mrt_add_pc_blocks(MrWriter *w, guint64 page_size)
{
    g_autofree guint8 *page = g_malloc(page_size);

    for (guint b = 0; b < mrt_pc_nblocks; b++) {
        const MrtBlockSpec *s = &mrt_pc_blocks[b];
        guint id = mr_writer_add_block(w, s->idstr, s->used_length);
        for (gsize i = 0; i < s->npages; i++) {
            mrt_fill_page(b, s->pages[i], page, page_size);
            mr_writer_set_page(w, id, s->pages[i], page);
        }
    }
}

void
mrt_add_device(MrWriter *w, const MrtDeviceSpec *d, gboolean early)
{
    g_autoptr(GError) err = NULL;
    gboolean ok = mr_writer_add_device(w, d->idstr, d->instance_id,
                                       d->version_id, d->desc, d->body,
                                       d->body_len, early, &err);

    MRT_CHECK(ok, "writer accepts device \"%s\": %s", d->idstr,
              err ? err->message : "");
}

void
mrt_add_pc_devices(MrWriter *w)
{
    for (guint i = 0; i < mrt_pc_ndevices; i++)
        mrt_add_device(w, &mrt_pc_devices[i], FALSE);
}

MrWriter *
mrt_writer_pc(void)
{
    MrWriter *w = mr_writer_new("pc-i440fx-10.0");

    mrt_add_pc_blocks(w, 4096);
    mrt_add_pc_devices(w);
    return w;
}

void
mrt_write(MrWriter *w, const char *path, MrWriterLayout *layout)
{
    g_autoptr(GError) err = NULL;
    gboolean ok = mr_writer_write(w, path, layout, &err);

    if (!ok)
        MRT_CHECK(FALSE, "writing %s: %s", path, err->message);
    CU_ASSERT_FATAL(ok);
}

char *
mrt_write_pc(const char *name, MrWriterLayout *layout)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    char *path = mrt_path(name);

    mrt_write(w, path, layout);
    return path;
}

MrFile *
mrt_open_at(const char *file, int line, const char *path,
            const MrOpenOptions *opts)
{
    g_autoptr(GError) err = NULL;
    MrFile *f = mr_file_open(path, opts, &err);

    mrt_check_at(f != NULL, file, line, "mr_file_open(%s) succeeds: %s", path,
                 err ? err->message : "");
    return f;
}

char *
mrt_open_fails_at(const char *file, int line, const char *path,
                  const MrOpenOptions *opts, MrErrorCode code, guint64 offset,
                  ...)
{
    g_autoptr(GError) err = NULL;
    MrFile *f = mr_file_open(path, opts, &err);
    const char *needle;
    va_list ap;
    char *msg;

    if (f != NULL) {
        mrt_check_at(FALSE, file, line, "mr_file_open(%s) fails (it opened, "
                     "with %u warnings)", path, f->warnings->len);
        mr_file_close(f);
        return g_strdup("");
    }
    mrt_check_at(err != NULL, file, line, "a failed open sets the error");
    if (err == NULL)
        return g_strdup("");
    msg = g_strdup(err->message);
    mrt_check_at(err->domain == MR_ERROR && err->code == (gint)code, file,
                 line, "error code %d, want %d: %s", err->code, code, msg);
    mrt_check_at(strstr(msg, path) != NULL, file, line,
                 "message names the file: %s", msg);
    if (offset == MRT_ANY_OFFSET) {
        mrt_check_at(strstr(msg, "offset 0x") != NULL, file, line,
                     "message names an offset: %s", msg);
    } else if (offset == MR_NO_OFFSET) {
        mrt_check_at(strstr(msg, "offset 0x") == NULL, file, line,
                     "message names no offset: %s", msg);
    } else {
        g_autofree char *want = g_strdup_printf("offset 0x%" G_GINT64_MODIFIER
                                                "x:", offset);
        mrt_check_at(strstr(msg, want) != NULL, file, line,
                     "message names \"%s\": %s", want, msg);
    }
    va_start(ap, offset);
    while ((needle = va_arg(ap, const char *)) != NULL)
        mrt_check_at(strstr(msg, needle) != NULL, file, line,
                     "message contains \"%s\": %s", needle, msg);
    va_end(ap);
    return msg;
}

guint64
mrt_present_at(const char *file, int line, const MrRamBlock *b)
{
    g_autoptr(GError) err = NULL;
    guint64 n;

    mrt_check_at(mr_block_count_present(b, &n, &err), file, line,
                 "present pages of %s: %s", b->idstr, err ? err->message : "");
    return n;
}

guint
mrt_count_warnings(const MrFile *f, const char *needle)
{
    guint n = 0;

    for (guint i = 0; i < f->warnings->len; i++)
        if (strstr(g_ptr_array_index(f->warnings, i), needle))
            n++;
    return n;
}

guint64
mrt_spec_bitmap_byte(MrBitmapOrder order, guint64 i)
{
    switch (order) {
    case MR_BITMAP_BE64:
        return 8 * (i / 64) + 7 - (i % 64) / 8;
    case MR_BITMAP_BE32:
        return 4 * (i / 32) + 3 - (i % 32) / 8;
    case MR_BITMAP_LE:
    default:
        return i / 8;
    }
}

/* ---- the model against the layout ---------------------------------- */

void
mrt_check_block(const MrFile *f, guint i, const MrWrittenBlock *wb,
                const char *idstr, guint64 used_length, guint64 page_size,
                const guint64 *pages, gsize npages)
{
    const MrRamBlock *b;

    MRT_CHECK(i < f->blocks->len, "block %u exists", i);
    if (i >= f->blocks->len)
        return;
    b = g_ptr_array_index(f->blocks, i);
    MRT_CHECK_STR(b->idstr, idstr);
    MRT_CHECK_U64(b->used_length, used_length);
    MRT_CHECK_U64(b->page_size, page_size);
    MRT_CHECK_U64(b->num_pages, used_length / page_size);
    MRT_CHECK_U64(b->desc_offset, wb->desc_offset);
    MRT_CHECK_U64(b->header_offset, wb->header_offset);
    MRT_CHECK_U64(b->bitmap_offset, wb->bitmap_offset);
    MRT_CHECK_U64(b->pages_offset, wb->pages_offset);
    MRT_CHECK_U64(b->bitmap_size, wb->bitmap_size);
    MRT_CHECK(b->stored, "block %s is stored", idstr);
    MRT_CHECK_U64(MRT_PRESENT(b), npages);
    for (gsize k = 0; k < npages && b->bitmap; k++)
        MRT_CHECK(mr_bitmap_test(b->bitmap, pages[k]), "block %s: page %"
                  G_GUINT64_FORMAT " present", idstr, pages[k]);
    MRT_CHECK(mr_file_find_block(f, idstr) == b, "find_block(%s)", idstr);
}

void
mrt_check_pc_blocks_of(const MrFile *f, const MrWriterLayout *l, gboolean le32)
{
    MRT_CHECK_U64(f->blocks->len, mrt_pc_nblocks);
    for (guint i = 0; i < mrt_pc_nblocks; i++) {
        const MrtBlockSpec *s = &mrt_pc_blocks[i];
        MrWrittenBlock wb = *MRT_BLOCK(l, i);
        if (le32)
            wb.bitmap_size = mr_bitmap_reserved_bytes(s->used_length / 4096, 64);
        mrt_check_block(f, i, &wb, s->idstr, s->used_length, 4096, s->pages,
                        s->npages);
    }
}

void
mrt_check_pc_blocks(const MrFile *f, const MrWriterLayout *l)
{
    mrt_check_pc_blocks_of(f, l, FALSE);
}

void
mrt_check_devices(const MrFile *f, const MrWriterLayout *l,
                  const MrtDeviceSpec *specs, guint n, gboolean footers)
{
    MRT_CHECK_U64(f->devices->len, n);
    for (guint i = 0; i < n && i < f->devices->len; i++) {
        const MrSection *s = g_ptr_array_index(f->devices, i);
        const MrWrittenSection *ws = MRT_DEVICE(l, i);
        MRT_CHECK_STR(s->idstr, specs[i].idstr);
        MRT_CHECK_U64(s->instance_id, specs[i].instance_id);
        MRT_CHECK_U64(s->version_id, specs[i].version_id);
        MRT_CHECK_U64(s->section_id, ws->section_id);
        MRT_CHECK_U64(s->offset, ws->offset);
        MRT_CHECK_U64(s->body_offset, ws->body_offset);
        MRT_CHECK_U64(s->body_size, specs[i].body_len);
        MRT_CHECK_U64(s->end_offset, ws->end_offset);
        MRT_CHECK(s->has_footer == footers, "device %s footer", s->idstr);
        MRT_CHECK(s->desc != NULL, "device %s has its vmdesc entry", s->idstr);
    }
}

/* ---- damage ---------------------------------------------------------- */

static int
open_or_die(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);

    if (fd < 0)
        MRT_CHECK(FALSE, "open %s: %s", path, g_strerror(errno));
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

void
mrt_patch(const char *path, guint64 off, const void *data, gsize n)
{
    int fd = open_or_die(path, O_WRONLY);
    ssize_t r = pwrite(fd, data, n, (off_t)off);

    close(fd);
    MRT_CHECK(r == (ssize_t)n, "patch %zu bytes at 0x%" G_GINT64_MODIFIER "x",
              n, off);
}

void
mrt_patch_u8(const char *path, guint64 off, guint8 v)
{
    mrt_patch(path, off, &v, 1);
}

void
mrt_patch_be16(const char *path, guint64 off, guint16 v)
{
    v = GUINT16_TO_BE(v);
    mrt_patch(path, off, &v, 2);
}

void
mrt_patch_be32(const char *path, guint64 off, guint32 v)
{
    v = GUINT32_TO_BE(v);
    mrt_patch(path, off, &v, 4);
}

void
mrt_patch_be64(const char *path, guint64 off, guint64 v)
{
    v = GUINT64_TO_BE(v);
    mrt_patch(path, off, &v, 8);
}

void
mrt_read(const char *path, guint64 off, void *data, gsize n)
{
    int fd = open_or_die(path, O_RDONLY);
    ssize_t r = pread(fd, data, n, (off_t)off);

    close(fd);
    MRT_CHECK(r == (ssize_t)n, "read %zu bytes at 0x%" G_GINT64_MODIFIER "x",
              n, off);
}

guint64
mrt_read_be64(const char *path, guint64 off)
{
    guint64 v = 0;

    mrt_read(path, off, &v, 8);
    return GUINT64_FROM_BE(v);
}

guint64
mrt_file_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return 0;
    return (guint64)st.st_size;
}

void
mrt_truncate(const char *path, guint64 size)
{
    MRT_CHECK(truncate(path, (off_t)size) == 0, "truncate %s", path);
}

void
mrt_append(const char *path, const void *data, gsize n)
{
    mrt_patch(path, mrt_file_size(path), data, n);
}

void
mrt_remove_range(const char *path, guint64 off, guint64 n)
{
    guint64 size = mrt_file_size(path);
    gsize tail = (gsize)(size - off - n);
    g_autofree guint8 *buf = g_malloc(MAX(tail, 1));

    mrt_read(path, off + n, buf, tail);
    mrt_patch(path, off, buf, tail);
    mrt_truncate(path, size - n);
}

void
mrt_replace_vmdesc(const char *path, const MrWriterLayout *layout,
                   const char *json)
{
    gsize n = strlen(json);

    mrt_truncate(path, layout->vmdesc_offset);
    mrt_patch_u8(path, layout->vmdesc_offset, 0x06);
    mrt_patch_be32(path, layout->vmdesc_offset + 1, (guint32)n);
    mrt_patch(path, layout->vmdesc_offset + 5, json, n);
}

struct json_object *
mrt_load_vmdesc(const char *path, const MrWriterLayout *layout)
{
    gsize n = (gsize)(mrt_file_size(path) - layout->vmdesc_json_offset);
    g_autofree char *json = g_malloc0(n + 1);

    mrt_read(path, layout->vmdesc_json_offset, json, n);
    return json_tokener_parse(json);
}
