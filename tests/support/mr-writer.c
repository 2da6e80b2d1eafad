#include "mr-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "mr-error.h"
#include "mr-file.h"

typedef struct {
    guint64 page;
    gboolean present;
    guint8 *data;
} PageWrite;

typedef struct {
    char *idstr;
    guint64 used_length;
    guint64 mr_addr;
    gboolean skipped;
    GArray *pages; /* PageWrite, applied in order */
} BlockSpec;

typedef struct {
    char *idstr;
    guint32 instance_id;
    guint32 version_id;
    json_object *desc;
    GBytes *body;
    gboolean early;
} DeviceSpec;

struct MrWriter {
    char *machine;
    GPtrArray *caps;
    guint64 page_size;
    guint32 target_page_bits;
    gboolean has_uuid;
    guint8 uuid[16];
    guint64 stream_offset;
    MrBitmapOrder order;
    unsigned long_bits;
    gboolean footers, vmdesc, configuration, switchover, eof;
    guint parts, multifd_flushes;
    GPtrArray *blocks;
    GPtrArray *devices;
};

/* The stream is built in memory between jumps over page areas. */
typedef struct {
    int fd;
    const char *path;
    GByteArray *buf;
    guint64 base; /* file offset of buf->data[0] */
} Out;

static void
block_spec_free(gpointer p)
{
    BlockSpec *b = p;

    for (guint i = 0; i < b->pages->len; i++)
        g_free(g_array_index(b->pages, PageWrite, i).data);
    g_array_unref(b->pages);
    g_free(b->idstr);
    g_free(b);
}

static void
device_spec_free(gpointer p)
{
    DeviceSpec *d = p;

    g_free(d->idstr);
    json_object_put(d->desc);
    g_bytes_unref(d->body);
    g_free(d);
}

MrWriter *
mr_writer_new(const char *machine)
{
    static const char *const default_caps[] = { "mapped-ram", NULL };
    MrWriter *w = g_new0(MrWriter, 1);

    w->machine = g_strdup(machine);
    w->caps = g_ptr_array_new_with_free_func(g_free);
    mr_writer_set_capabilities(w, default_caps);
    w->page_size = 4096;
    w->order = MR_BITMAP_LE;
    w->long_bits = 64;
    w->footers = w->vmdesc = w->configuration = w->switchover = w->eof = TRUE;
    w->blocks = g_ptr_array_new_with_free_func(block_spec_free);
    w->devices = g_ptr_array_new_with_free_func(device_spec_free);
    return w;
}

void
mr_writer_free(MrWriter *w)
{
    if (w == NULL)
        return;
    g_free(w->machine);
    g_ptr_array_unref(w->caps);
    g_ptr_array_unref(w->blocks);
    g_ptr_array_unref(w->devices);
    g_free(w);
}

void
mr_writer_set_capabilities(MrWriter *w, const char *const *caps)
{
    g_ptr_array_set_size(w->caps, 0);
    for (; caps && *caps; caps++)
        g_ptr_array_add(w->caps, g_strdup(*caps));
}

void mr_writer_set_page_size(MrWriter *w, guint64 ps) { w->page_size = ps; }
void mr_writer_set_target_page_bits(MrWriter *w, guint32 b) { w->target_page_bits = b; }
void mr_writer_set_stream_offset(MrWriter *w, guint64 o) { w->stream_offset = o; }
void mr_writer_set_footers(MrWriter *w, gboolean on) { w->footers = on; }
void mr_writer_set_vmdesc(MrWriter *w, gboolean on) { w->vmdesc = on; }
void mr_writer_set_configuration(MrWriter *w, gboolean on) { w->configuration = on; }
void mr_writer_set_switchover(MrWriter *w, gboolean on) { w->switchover = on; }
void mr_writer_set_parts(MrWriter *w, guint parts) { w->parts = parts; }
void mr_writer_set_multifd_flushes(MrWriter *w, guint n) { w->multifd_flushes = n; }
void mr_writer_set_eof(MrWriter *w, gboolean on) { w->eof = on; }

void
mr_writer_set_uuid(MrWriter *w, const guint8 uuid[16])
{
    w->has_uuid = TRUE;
    memcpy(w->uuid, uuid, sizeof(w->uuid));
}

void
mr_writer_set_bitmap_layout(MrWriter *w, MrBitmapOrder order, unsigned long_bits)
{
    w->order = order;
    w->long_bits = long_bits;
}

guint
mr_writer_add_block(MrWriter *w, const char *idstr, guint64 used_length)
{
    BlockSpec *b = g_new0(BlockSpec, 1);

    b->idstr = g_strdup(idstr);
    b->used_length = used_length;
    b->pages = g_array_new(FALSE, TRUE, sizeof(PageWrite));
    g_ptr_array_add(w->blocks, b);
    return w->blocks->len - 1;
}

void
mr_writer_block_set_mr_addr(MrWriter *w, guint block, guint64 addr)
{
    ((BlockSpec *)g_ptr_array_index(w->blocks, block))->mr_addr = addr;
}

void
mr_writer_block_set_skipped(MrWriter *w, guint block)
{
    ((BlockSpec *)g_ptr_array_index(w->blocks, block))->skipped = TRUE;
}

static void
add_page(MrWriter *w, guint block, guint64 page, const guint8 *data,
         gboolean present)
{
    BlockSpec *b = g_ptr_array_index(w->blocks, block);
    PageWrite pw = { .page = page, .present = present,
                     .data = g_memdup2(data, w->page_size) };

    g_array_append_val(b->pages, pw);
}

void
mr_writer_set_page(MrWriter *w, guint block, guint64 page, const guint8 *data)
{
    add_page(w, block, page, data, TRUE);
}

void
mr_writer_set_stale(MrWriter *w, guint block, guint64 page, const guint8 *data)
{
    add_page(w, block, page, data, FALSE);
}

gboolean
mr_writer_add_device(MrWriter *w, const char *idstr, guint32 instance_id,
                     guint32 version_id, const char *desc_json,
                     const guint8 *body, gsize body_len, gboolean early,
                     GError **err)
{
    json_object *desc = json_tokener_parse(desc_json);
    DeviceSpec *d;

    if (desc == NULL || !json_object_is_type(desc, json_type_object)) {
        g_set_error(err, MR_ERROR, MR_ERROR_INVALID,
                    "device \"%s\": description is not a JSON object", idstr);
        json_object_put(desc);
        return FALSE;
    }
    d = g_new0(DeviceSpec, 1);
    d->idstr = g_strdup(idstr);
    d->instance_id = instance_id;
    d->version_id = version_id;
    d->desc = desc;
    d->body = g_bytes_new(body, body_len);
    d->early = early;
    g_ptr_array_add(w->devices, d);
    return TRUE;
}

static void
put_u8(Out *o, guint8 v)
{
    g_byte_array_append(o->buf, &v, 1);
}

static void
put_be16(Out *o, guint16 v)
{
    v = GUINT16_TO_BE(v);
    g_byte_array_append(o->buf, (guint8 *)&v, 2);
}

static void
put_be32(Out *o, guint32 v)
{
    v = GUINT32_TO_BE(v);
    g_byte_array_append(o->buf, (guint8 *)&v, 4);
}

static void
put_be64(Out *o, guint64 v)
{
    v = GUINT64_TO_BE(v);
    g_byte_array_append(o->buf, (guint8 *)&v, 8);
}

static void
put_counted(Out *o, const char *s)
{
    gsize n = strlen(s);

    put_u8(o, (guint8)n);
    g_byte_array_append(o->buf, (const guint8 *)s, (guint)n);
}

static guint64
here(const Out *o)
{
    return o->base + o->buf->len;
}

static gboolean
pwrite_all(int fd, const char *path, const void *data, gsize n, guint64 off,
           GError **err)
{
    const guint8 *p = data;

    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            mr_set_error(err, MR_ERROR_IO, path, off, "write: %s",
                         g_strerror(errno));
            return FALSE;
        }
        p += r;
        n -= (gsize)r;
        off += (guint64)r;
    }
    return TRUE;
}

/* Flushes the stream bytes and continues the stream at `to`. */
static gboolean
jump(Out *o, guint64 to, GError **err)
{
    if (!pwrite_all(o->fd, o->path, o->buf->data, o->buf->len, o->base, err))
        return FALSE;
    g_byte_array_set_size(o->buf, 0);
    o->base = to;
    return TRUE;
}

static void
put_footer(MrWriter *w, Out *o, guint32 id, MrWrittenSection *ws)
{
    if (ws)
        ws->footer_offset = w->footers ? here(o) : G_MAXUINT64;
    if (!w->footers)
        return;
    put_u8(o, 0x7e);
    put_be32(o, id);
}

static void
put_configuration(MrWriter *w, Out *o)
{
    put_u8(o, 0x07);
    put_be32(o, (guint32)strlen(w->machine));
    g_byte_array_append(o->buf, (const guint8 *)w->machine,
                        (guint)strlen(w->machine));
    if (w->target_page_bits) {
        put_u8(o, 0x05);
        put_counted(o, "configuration/target-page-bits");
        put_be32(o, 1);
        put_be32(o, w->target_page_bits);
    }
    if (w->caps->len) {
        put_u8(o, 0x05);
        put_counted(o, "configuration/capabilities");
        put_be32(o, 1);
        put_be32(o, w->caps->len);
        for (guint i = 0; i < w->caps->len; i++)
            put_counted(o, g_ptr_array_index(w->caps, i));
    }
    if (w->has_uuid) {
        put_u8(o, 0x05);
        put_counted(o, "configuration/uuid");
        put_be32(o, 1);
        g_byte_array_append(o->buf, w->uuid, sizeof(w->uuid));
    }
}

static void
put_device(MrWriter *w, Out *o, DeviceSpec *d, guint32 id, GArray *layout)
{
    MrWrittenSection ws = { .section_id = id, .offset = here(o) };
    gsize n;
    const guint8 *body = g_bytes_get_data(d->body, &n);

    put_u8(o, 0x04);
    put_be32(o, id);
    put_counted(o, d->idstr);
    put_be32(o, d->instance_id);
    put_be32(o, d->version_id);
    ws.body_offset = here(o);
    g_byte_array_append(o->buf, body, (guint)n);
    put_footer(w, o, id, &ws);
    ws.end_offset = here(o);
    g_array_append_val(layout, ws);
}

static gboolean
has_cap(MrWriter *w, const char *cap)
{
    for (guint i = 0; i < w->caps->len; i++)
        if (g_str_equal(g_ptr_array_index(w->caps, i), cap))
            return TRUE;
    return FALSE;
}

static gboolean
put_block(MrWriter *w, Out *o, BlockSpec *b, MrWrittenBlock *wb, GError **err)
{
    guint64 num_pages = b->used_length / w->page_size;
    g_autoptr(GByteArray) bits = NULL;
    MrBitmap *bm;

    wb->desc_offset = here(o);
    put_counted(o, b->idstr);
    wb->used_length_offset = here(o);
    put_be64(o, b->used_length);
    if (has_cap(w, "x-ignore-shared"))
        put_be64(o, b->mr_addr);
    wb->header_offset = here(o);
    if (b->skipped) {
        put_be32(o, 1);
        put_be64(o, w->page_size);
        put_be64(o, 0);
        put_be64(o, 0);
        wb->end_offset = here(o);
        return TRUE;
    }
    wb->bitmap_offset = wb->header_offset + MR_MAPPED_RAM_HEADER_SIZE;
    wb->bitmap_size = mr_bitmap_reserved_bytes(num_pages, w->long_bits);
    wb->pages_offset = (wb->bitmap_offset + wb->bitmap_size +
                        MR_PAGES_ALIGNMENT - 1) & ~(guint64)(MR_PAGES_ALIGNMENT - 1);
    wb->end_offset = wb->pages_offset + b->used_length;
    put_be32(o, 1);
    put_be64(o, w->page_size);
    put_be64(o, wb->bitmap_offset);
    put_be64(o, wb->pages_offset);

    bm = mr_bitmap_new(num_pages);
    for (guint i = 0; i < b->pages->len; i++) {
        PageWrite *pw = &g_array_index(b->pages, PageWrite, i);
        if (pw->page >= num_pages)
            continue;
        if (pw->present)
            mr_bitmap_set(bm, pw->page);
        else
            mr_bitmap_clear(bm, pw->page);
        if (!pwrite_all(o->fd, o->path, pw->data, w->page_size,
                        wb->pages_offset + pw->page * w->page_size, err)) {
            mr_bitmap_free(bm);
            return FALSE;
        }
    }
    bits = g_byte_array_sized_new((guint)wb->bitmap_size);
    for (guint64 i = 0; i < wb->bitmap_size; i += 8) {
        guint8 word[8];
        mr_bitmap_file_word(bm, w->order, i * 8, word);
        g_byte_array_append(bits, word, (guint)MIN(8, wb->bitmap_size - i));
    }
    mr_bitmap_free(bm);
    g_byte_array_append(o->buf, bits->data, bits->len);
    return jump(o, wb->end_offset, err);
}

static void
put_ram_eos(MrWriter *w, Out *o, gboolean flushes)
{
    for (guint i = 0; flushes && i < w->multifd_flushes; i++)
        put_be64(o, 0x200);
    put_be64(o, 0x10);
}

static gboolean
put_ram(MrWriter *w, Out *o, MrWriterLayout *l, GError **err)
{
    const guint32 id = 2;
    guint64 total = 0;

    for (guint i = 0; i < w->blocks->len; i++)
        total += ((BlockSpec *)g_ptr_array_index(w->blocks, i))->used_length;
    l->ram_offset = here(o);
    put_u8(o, 0x01);
    put_be32(o, id);
    put_counted(o, "ram");
    put_be32(o, 0);
    put_be32(o, 4);
    l->mem_size_offset = here(o);
    put_be64(o, total | 0x4);
    for (guint i = 0; i < w->blocks->len; i++) {
        MrWrittenBlock wb = { 0 };
        if (!put_block(w, o, g_ptr_array_index(w->blocks, i), &wb, err))
            return FALSE;
        g_array_append_val(l->blocks, wb);
    }
    l->ram_eos_offset = here(o);
    put_ram_eos(w, o, FALSE);
    l->ram_footer_offset = here(o);
    put_footer(w, o, id, NULL);
    for (guint i = 0; i < w->parts; i++) {
        put_u8(o, 0x02);
        put_be32(o, id);
        put_ram_eos(w, o, i == 0);
        put_footer(w, o, id, NULL);
    }
    l->command_offset = G_MAXUINT64;
    if (w->switchover) {
        l->command_offset = here(o);
        put_u8(o, 0x08);
        put_be16(o, 11);
        put_be16(o, 0);
    }
    l->end_section_offset = here(o);
    put_u8(o, 0x03);
    put_be32(o, id);
    put_ram_eos(w, o, FALSE);
    put_footer(w, o, id, NULL);
    return TRUE;
}

static char *
vmdesc_json(MrWriter *w)
{
    json_object *top = json_object_new_object(), *devs = json_object_new_array();
    char *s;

    json_object_object_add(top, "page_size", json_object_new_uint64(w->page_size));
    /* Stream order: early-setup sections first. */
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < w->devices->len; i++) {
            DeviceSpec *d = g_ptr_array_index(w->devices, i);
            json_object *o;
            if (d->early != (pass == 0))
                continue;
            o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(d->idstr));
            json_object_object_add(o, "instance_id",
                                   json_object_new_uint64(d->instance_id));
            json_object_object_foreach(d->desc, key, val)
                json_object_object_add(o, key, json_object_get(val));
            json_object_array_add(devs, o);
        }
    }
    json_object_object_add(top, "devices", devs);
    s = g_strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN));
    json_object_put(top);
    return s;
}

gboolean
mr_writer_write(MrWriter *w, const char *path, MrWriterLayout *layout,
                GError **err)
{
    MrWriterLayout local = { 0 };
    MrWriterLayout *l = layout ? layout : &local;
    Out o = { .path = path, .base = 0 };
    gboolean ok = FALSE;
    guint32 next_id = 10;

    memset(l, 0, sizeof(*l));
    l->blocks = g_array_new(FALSE, TRUE, sizeof(MrWrittenBlock));
    l->devices = g_array_new(FALSE, TRUE, sizeof(MrWrittenSection));
    l->vmdesc_offset = G_MAXUINT64;
    o.fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    if (o.fd < 0) {
        mr_set_error(err, MR_ERROR_IO, path, MR_NO_OFFSET, "create: %s",
                     g_strerror(errno));
        goto out;
    }
    o.buf = g_byte_array_new();
    /* Whatever precedes an offset= stream (libvirt's header). */
    for (guint64 i = 0; i < w->stream_offset; i++)
        put_u8(&o, (guint8)"LIBVIRT-HEADER\n"[i % 15]);
    put_be32(&o, MR_FILE_MAGIC);
    put_be32(&o, MR_FILE_VERSION);
    l->config_offset = here(&o);
    if (w->configuration)
        put_configuration(w, &o);
    for (guint i = 0; i < w->devices->len; i++) {
        DeviceSpec *d = g_ptr_array_index(w->devices, i);
        if (d->early)
            put_device(w, &o, d, next_id++, l->devices);
    }
    if (!put_ram(w, &o, l, err))
        goto out;
    for (guint i = 0; i < w->devices->len; i++) {
        DeviceSpec *d = g_ptr_array_index(w->devices, i);
        if (!d->early)
            put_device(w, &o, d, next_id++, l->devices);
    }
    l->eof_offset = here(&o);
    if (w->eof)
        put_u8(&o, 0x00);
    if (w->vmdesc) {
        g_autofree char *json = vmdesc_json(w);
        l->vmdesc_offset = here(&o);
        put_u8(&o, 0x06);
        put_be32(&o, (guint32)strlen(json));
        l->vmdesc_json_offset = here(&o);
        g_byte_array_append(o.buf, (const guint8 *)json, (guint)strlen(json));
    }
    l->file_size = here(&o);
    if (!jump(&o, l->file_size, err))
        goto out;
    /* The page areas of the last blocks may reach past the last stream byte
     * written only when a block is empty; make the size explicit. */
    if (ftruncate(o.fd, (off_t)l->file_size) < 0) {
        mr_set_error(err, MR_ERROR_IO, path, MR_NO_OFFSET, "truncate: %s",
                     g_strerror(errno));
        goto out;
    }
    ok = TRUE;
out:
    if (o.buf)
        g_byte_array_unref(o.buf);
    if (o.fd >= 0)
        close(o.fd);
    if (l == &local)
        mr_writer_layout_clear(&local);
    return ok;
}

void
mr_writer_layout_clear(MrWriterLayout *l)
{
    if (l->blocks)
        g_array_unref(l->blocks);
    if (l->devices)
        g_array_unref(l->devices);
    l->blocks = l->devices = NULL;
}
