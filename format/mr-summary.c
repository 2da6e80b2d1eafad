#include "mr-summary.h"

#include "mr-error.h"
#include "mr-read.h"

#include <errno.h>
#include <unistd.h>

static json_object *
block_json(const MrFile *f, const MrRamBlock *b)
{
    json_object *o = json_object_new_object();
    g_autoptr(GError) err = NULL;
    guint64 present;
    gboolean counted = mr_block_count_present(b, &present, &err);

    json_object_object_add(o, "name", json_object_new_string(b->idstr));
    json_object_object_add(o, "used_length", json_object_new_uint64(b->used_length));
    json_object_object_add(o, "page_size", json_object_new_uint64(b->page_size));
    json_object_object_add(o, "num_pages", json_object_new_uint64(b->num_pages));
    /* null, and why, when the bitmap can no longer be read whole. */
    json_object_object_add(o, "present_pages",
                           counted ? json_object_new_uint64(present) : NULL);
    json_object_object_add(o, "stored_bytes", counted
                           ? json_object_new_uint64(present * b->page_size) : NULL);
    if (!counted)
        json_object_object_add(o, "error", json_object_new_string(err->message));
    json_object_object_add(o, "stored", json_object_new_boolean(b->stored));
    json_object_object_add(o, "desc_offset", json_object_new_uint64(b->desc_offset));
    json_object_object_add(o, "header_offset", json_object_new_uint64(b->header_offset));
    json_object_object_add(o, "bitmap_offset", json_object_new_uint64(b->bitmap_offset));
    json_object_object_add(o, "bitmap_size", json_object_new_uint64(b->bitmap_size));
    json_object_object_add(o, "pages_offset", json_object_new_uint64(b->pages_offset));
    if (b->has_mr_addr)
        json_object_object_add(o, "mr_addr", json_object_new_uint64(b->mr_addr));
    return o;
}

json_object *
mr_section_json(const MrSection *s)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(s->idstr));
    json_object_object_add(o, "instance_id", json_object_new_uint64(s->instance_id));
    json_object_object_add(o, "version_id", json_object_new_uint64(s->version_id));
    json_object_object_add(o, "section_id", json_object_new_uint64(s->section_id));
    json_object_object_add(o, "offset", json_object_new_uint64(s->offset));
    json_object_object_add(o, "size",
                           json_object_new_uint64(s->end_offset - s->offset));
    json_object_object_add(o, "body_offset", json_object_new_uint64(s->body_offset));
    json_object_object_add(o, "body_size", json_object_new_uint64(s->body_size));
    json_object_object_add(o, "before_ram", json_object_new_boolean(s->before_ram));
    return o;
}

static json_object *
string_array(GPtrArray *a)
{
    json_object *arr = json_object_new_array();

    for (guint i = 0; i < a->len; i++)
        json_object_array_add(arr, json_object_new_string(g_ptr_array_index(a, i)));
    return arr;
}

json_object *
mr_summary_json(const MrFile *f)
{
    json_object *o = json_object_new_object(), *arr;

    /* The file's own name may be any bytes: JSON holds UTF-8 only. */
    {
        g_autofree char *path = mr_escape_text(f->path, -1);
        json_object_object_add(o, "file", json_object_new_string(path));
    }
    json_object_object_add(o, "file_size", json_object_new_uint64(f->file_size));
    json_object_object_add(o, "stream_offset", json_object_new_uint64(f->stream_offset));
    json_object_object_add(o, "libvirt", f->libvirt ? mr_libvirt_header_json(f->libvirt)
                                                    : NULL);
    json_object_object_add(o, "machine", json_object_new_string(f->machine ? f->machine : ""));
    json_object_object_add(o, "page_size", json_object_new_uint64(f->page_size));
    json_object_object_add(o, "capabilities", string_array(f->capabilities));
    if (f->has_uuid) {
        char uuid[37];
        const guint8 *u = f->uuid;
        g_snprintf(uuid, sizeof(uuid),
                   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                   "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
                   u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                   u[14], u[15]);
        json_object_object_add(o, "uuid", json_object_new_string(uuid));
    }
    json_object_object_add(o, "bitmap_order",
                           json_object_new_string(mr_bitmap_order_name(f->bitmap_order)));
    json_object_object_add(o, "ram_total", json_object_new_uint64(f->ram_total));
    json_object_object_add(o, "ram_section_offset", json_object_new_uint64(f->ram_offset));
    arr = json_object_new_array();
    for (guint i = 0; i < f->blocks->len; i++)
        json_object_array_add(arr, block_json(f, g_ptr_array_index(f->blocks, i)));
    json_object_object_add(o, "ram_blocks", arr);
    arr = json_object_new_array();
    for (guint i = 0; i < f->devices->len; i++)
        json_object_array_add(arr, mr_section_json(g_ptr_array_index(f->devices, i)));
    json_object_object_add(o, "devices", arr);
    json_object_object_add(o, "devices_decodable", json_object_new_boolean(f->has_vmdesc));
    arr = json_object_new_array();
    for (guint i = 0; i < f->commands->len; i++) {
        const MrCommand *c = &g_array_index(f->commands, MrCommand, i);
        json_object *co = json_object_new_object();
        json_object_object_add(co, "command", json_object_new_int(c->cmd));
        json_object_object_add(co, "length", json_object_new_int(c->len));
        json_object_object_add(co, "offset", json_object_new_uint64(c->offset));
        json_object_array_add(arr, co);
    }
    json_object_object_add(o, "commands", arr);
    json_object_object_add(o, "eof_offset", json_object_new_uint64(f->eof_offset));
    if (f->has_vmdesc) {
        json_object *v = json_object_new_object();
        json_object_object_add(v, "offset", json_object_new_uint64(f->vmdesc_json_offset));
        json_object_object_add(v, "size", json_object_new_uint64(f->vmdesc_size));
        json_object_object_add(o, "vmdesc", v);
    } else {
        json_object_object_add(o, "vmdesc", NULL);
    }
    json_object_object_add(o, "warnings", string_array(f->warnings));
    return o;
}

gint64
mr_block_allocated_bytes(const MrFile *f, const MrRamBlock *b)
{
    guint64 pos, end, total = 0;

    if (!b->stored)
        return 0;
    pos = b->pages_offset;
    end = b->pages_offset + b->used_length;
    while (pos < end) {
        off_t data = lseek(f->fd, (off_t)pos, SEEK_DATA), hole;
        if (data < 0)
            return errno == ENXIO ? (gint64)total : -1;
        if ((guint64)data >= end)
            break;
        hole = lseek(f->fd, data, SEEK_HOLE);
        if (hole < 0)
            return -1;
        total += MIN((guint64)hole, end) - (guint64)data;
        pos = (guint64)hole;
    }
    return (gint64)total;
}
