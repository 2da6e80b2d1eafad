#include "fst-helpers.h"

#include <string.h>

static const guint8 pc87312_body[TS_PC87312_BODY] = { 0x02, 0x01, 0x0f, 0x10, 0x00 };
static const guint8 serial_body[TS_SERIAL_BODY] = { 0x00, 0x0c, 0x03 };
static const guint8 short_via_body[TS_SHORT_VIA_ISA_BODY];

const TsDevice fst_pc_devices[] = {
    { "serial", 0, 3, ts_serial_desc, serial_body, sizeof(serial_body) },
    { "pc87312", 0, 1, ts_pc87312_desc, pc87312_body, sizeof(pc87312_body) },
    { NULL, 0, 0, NULL, NULL, 0 },
};

const TsDevice fst_pc87312_buffer_devices[] = {
    { "serial", 0, 3, ts_serial_desc, serial_body, sizeof(serial_body) },
    { "pc87312", 0, 1, ts_pc87312_buffer_desc, pc87312_body, sizeof(pc87312_body) },
    { NULL, 0, 0, NULL, NULL, 0 },
};

const TsDevice fst_short_via_devices[] = {
    { "pci:05.0/via-isa", 0, 1, ts_short_via_isa_desc, short_via_body,
      sizeof(short_via_body) },
    { NULL, 0, 0, NULL, NULL, 0 },
};

char *
fst_write_snapshot(const char *name, const char *const *blocks,
                   const TsDevice *devs, MrWriterLayout *layout)
{
    g_autoptr(MrWriter) w = mr_writer_new("40p");
    char *path = mrt_path(name);
    guint8 page[FST_PS];

    for (guint i = 0; blocks[i]; i++) {
        guint b = mr_writer_add_block(w, blocks[i], 0x10000);
        mrt_fill_page(i, 1, page, FST_PS);
        mr_writer_set_page(w, b, 1, page);
    }
    mr_writer_set_vmdesc(w, TRUE);
    for (guint i = 0; devs && devs[i].idstr; i++) {
        g_autoptr(GError) err = NULL;
        MRT_CHECK(ts_writer_add_device(w, &devs[i], &err),
                  "writer accepts \"%s\": %s", devs[i].idstr,
                  err ? err->message : "");
    }
    mrt_write(w, path, layout);
    return path;
}

MfsTree *
fst_tree_of(MrFile *f)
{
    g_autoptr(GError) err = NULL;
    MfsTree *t = mfs_tree_new(f, &err);

    MRT_CHECK(t != NULL, "the tree is built: %s", err ? err->message : "");
    return t;
}

char *
fst_read_all(MfsFs *fs, const MfsNode *n, gsize *size)
{
    GByteArray *out = g_byte_array_new();

    for (;;) {
        guint8 chunk[1000];
        gsize got = 0;
        int r = n->ops->read(fs, n, chunk, out->len, sizeof(chunk), &got);

        MRT_CHECK(r == 0, "read of %s at %u: %d", n->name, out->len, r);
        g_byte_array_append(out, chunk, (guint)got);
        if (r != 0 || got < sizeof(chunk))
            break;
    }
    if (size)
        *size = out->len;
    g_byte_array_append(out, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(out, FALSE);
}

json_object *
fst_read_json(MfsFs *fs, const char *path)
{
    MfsNode *n = mfs_tree_resolve(fs->tree, path);
    g_autofree char *text = NULL;
    json_object *o;

    MRT_CHECK(n != NULL && !MFS_NODE_IS_DIR(n), "%s is a file", path);
    if (n == NULL || MFS_NODE_IS_DIR(n))
        return NULL;
    text = fst_read_all(fs, n, NULL);
    o = json_tokener_parse(text);
    MRT_CHECK(o != NULL, "%s parses as JSON", path);
    return o;
}

const char *
fst_str(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

gboolean
fst_rw_open(FstRwTree *m, const char *name)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    MrOpenOptions opts = { .writable = TRUE };

    memset(m, 0, sizeof(*m));
    m->path = fst_write_snapshot(name, blocks, fst_pc_devices, &m->layout);
    m->file = MRT_OPEN(m->path, &opts);
    if (m->file == NULL)
        return FALSE;
    m->tree = fst_tree_of(m->file);
    if (m->tree == NULL)
        return FALSE;
    m->fs.tree = m->tree;
    m->fs.updater = mr_updater_new(m->file, FALSE);
    g_mutex_init(&m->fs.doc_lock);
    g_rw_lock_init(&m->fs.model_lock);
    return TRUE;
}

void
fst_rw_close(FstRwTree *m)
{
    mr_updater_free(m->fs.updater);
    g_mutex_clear(&m->fs.doc_lock);
    g_rw_lock_clear(&m->fs.model_lock);
    mfs_tree_free(m->tree);
    mr_file_close(m->file);
    mr_writer_layout_clear(&m->layout);
    g_free(m->path);
}
