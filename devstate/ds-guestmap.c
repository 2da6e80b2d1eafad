/* The guest-physical map (ds-guestmap.h): which machine file builds it, the
 * snapshot reads they share, the JSON and the physmem file.
 *
 * Each machine file (ds-guestmap-pc.c, -ppc.c, -mips.c) rebuilds what
 * QEMU's board code and devices put in the address space (ds-gm.h); this
 * file renders it, then lists every RAM block no rule placed, so that
 * nothing silently disappears from the map. */
#include "ds-gm.h"

#include <stdarg.h>
#include <string.h>

#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-read.h"

/* ---- machines ---- */

gboolean gm_machine_pc(GmCtx *c, GError **err);
gboolean gm_machine_40p(GmCtx *c, GError **err);
gboolean gm_machine_pegasos2(GmCtx *c, GError **err);
gboolean gm_machine_fuloong2e(GmCtx *c, GError **err);

typedef struct {
    const char *prefix; /* machine name, or its prefix when it ends in '-' */
    gboolean (*build)(GmCtx *c, GError **err);
} Machine;

static const Machine machines[] = {
    { "pc-i440fx-", gm_machine_pc },
    { "pc-q35-", gm_machine_pc },
    { "40p", gm_machine_40p },
    { "pegasos2", gm_machine_pegasos2 },
    { "fuloong2e", gm_machine_fuloong2e },
};

static const Machine *
find_machine(const char *name)
{
    for (guint i = 0; name && i < G_N_ELEMENTS(machines); i++) {
        const char *p = machines[i].prefix;
        if (g_str_has_suffix(p, "-") ? g_str_has_prefix(name, p)
                                     : g_str_equal(name, p))
            return &machines[i];
    }
    return NULL;
}

/* ---- context helpers (ds-gm.h) ---- */

gboolean
gm_section(GmCtx *c, const char *idstr, gint64 instance, json_object **out,
           const char **reason, GError **err)
{
    g_autofree char *key = g_strdup_printf("%s.%" G_GINT64_FORMAT, idstr, instance);
    json_object *dev, *decoded;
    MrSection *s;

    *out = NULL;
    if (reason)
        *reason = NULL;
    if (g_hash_table_lookup_extended(c->sections, key, NULL, (gpointer *)&dev)) {
        if (dev == NULL && reason)
            *reason = "the section cannot be decoded";
        *out = dev;
        return TRUE;
    }
    s = ds_find_section(c->f, idstr, instance);
    if (s == NULL) {
        if (reason)
            *reason = "the snapshot has no such device section";
        return TRUE;
    }
    dev = ds_decode_section(c->f, s, err);
    if (dev == NULL)
        return FALSE;
    if (!json_object_object_get_ex(dev, "decoded", &decoded) ||
        !json_object_get_boolean(decoded)) {
        /* Keep the answer: later lookups need not read it again. */
        json_object_put(dev);
        dev = NULL;
        if (reason)
            *reason = "the section cannot be decoded (no vmdesc, or too large)";
    }
    g_hash_table_insert(c->sections, g_steal_pointer(&key), dev);
    *out = dev;
    return TRUE;
}

gboolean
gm_field_uint(json_object *dev, const char *path, guint64 *value,
              guint64 *offset)
{
    json_object *leaf = ds_find_field(dev, path), *v, *off;

    if (leaf == NULL || !json_object_object_get_ex(leaf, "value", &v) ||
        !json_object_is_type(v, json_type_int) ||
        !json_object_object_get_ex(leaf, "offset", &off))
        return FALSE;
    *value = json_object_get_uint64(v);
    if (offset)
        *offset = json_object_get_uint64(off);
    return TRUE;
}

gboolean
gm_field_bytes(GmCtx *c, json_object *dev, const char *path, guint8 *buf,
               gsize n, guint64 *offset, GError **err)
{
    json_object *leaf = ds_find_field(dev, path), *off, *size;

    if (leaf == NULL || !json_object_object_get_ex(leaf, "offset", &off) ||
        !json_object_object_get_ex(leaf, "size", &size)) {
        mr_set_error(err, MR_ERROR_INVALID, c->f->path, MR_NO_OFFSET,
                     "device field \"%s\": expected %" G_GSIZE_FORMAT
                     " bytes, found no such field", path, n);
        return FALSE;
    }
    if (json_object_get_uint64(size) != n) {
        mr_set_error(err, MR_ERROR_INVALID, c->f->path,
                     json_object_get_uint64(off), "device field \"%s\": "
                     "expected %" G_GSIZE_FORMAT " bytes, found %"
                     G_GINT64_MODIFIER "u", path, n,
                     json_object_get_uint64(size));
        return FALSE;
    }
    if (offset)
        *offset = json_object_get_uint64(off);
    return mr_section_read_at(c->f, json_object_get_uint64(off), buf, n, err);
}

json_object *
gm_hex(guint64 v)
{
    g_autofree char *s = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", v);

    return json_object_new_string(s);
}

json_object *
gm_rule(const char *name, const char *source)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "rule", json_object_new_string(name));
    json_object_object_add(o, "source", json_object_new_string(source));
    return o;
}

json_object *
gm_ref(const char *section, const char *field, guint64 offset,
       json_object *value)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "section", json_object_new_string(section));
    json_object_object_add(o, "field", json_object_new_string(field));
    json_object_object_add(o, "offset", json_object_new_uint64(offset));
    json_object_object_add(o, "value", value);
    return o;
}

void
gm_note_block(GmCtx *c, const MrRamBlock *b, gboolean mapped, const char *fmt,
              ...)
{
    json_object *o = json_object_new_object();
    g_autofree char *note = NULL;
    va_list ap;

    va_start(ap, fmt);
    note = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_object_object_add(o, "mapped", json_object_new_boolean(mapped));
    json_object_object_add(o, "note", json_object_new_string(note));
    json_object_object_add(c->blocks, b->idstr, o);
}

void
gm_missing(GmCtx *c, const MrRamBlock *b, const char *what, const char *fmt,
           ...)
{
    json_object *o = json_object_new_object();
    g_autofree char *why = NULL;
    va_list ap;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_object_object_add(o, "what", json_object_new_string(what));
    json_object_object_add(o, "why", json_object_new_string(why));
    if (b)
        json_object_object_add(o, "block", json_object_new_string(b->idstr));
    json_object_array_add(c->m->missing, o);
    if (b && !json_object_object_get_ex(c->blocks, b->idstr, NULL))
        gm_note_block(c, b, FALSE, "left out: %s", why);
}

gboolean
gm_block_usable(GmCtx *c, MrRamBlock *b, const char *what)
{
    if (b->stored)
        return TRUE;
    gm_missing(c, b, what, "ram block \"%s\" is not stored in the snapshot "
               "(x-ignore-shared: its bytes stay in the shared memory "
               "backend)", b->idstr);
    return FALSE;
}

void
gm_board_block(GmCtx *c, GmSpace *space, const char *name, guint64 addr,
               guint64 size, gboolean rom, const char *source)
{
    MrRamBlock *b = mr_file_find_block(c->f, name);

    if (b == NULL) {
        gm_missing(c, NULL, name, "the snapshot has no ram block \"%s\"", name);
        return;
    }
    if (size != 0 && b->used_length != size) {
        gm_missing(c, b, name, "ram block \"%s\" has 0x%" G_GINT64_MODIFIER
                   "x bytes, the board's is 0x%" G_GINT64_MODIFIER "x", name,
                   b->used_length, size);
        return;
    }
    if (!gm_block_usable(c, b, name))
        return;
    gm_add_ram(space, addr, b->used_length, 0, b, 0, rom, gm_rule(name, source));
    gm_note_block(c, b, TRUE, "at 0x%" G_GINT64_MODIFIER "x", addr);
}

/* Blocks that are never in the guest-physical address space: fw_cfg files
 * (hw/core/loader.c rom_add_blob names them "/rom@" + the file name). */
static void
note_unplaced(GmCtx *c)
{
    for (guint i = 0; i < c->f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(c->f->blocks, i);
        if (json_object_object_get_ex(c->blocks, b->idstr, NULL))
            continue;
        if (g_str_has_prefix(b->idstr, "/rom@")) {
            gm_note_block(c, b, FALSE, "a fw_cfg file: the firmware reads "
                          "it through fw_cfg, it has no guest-physical "
                          "address");
            continue;
        }
        gm_missing(c, b, b->idstr, "no rule known here maps ram block "
                   "\"%s\" for machine %s", b->idstr,
                   c->f->machine ? c->f->machine : "(none)");
    }
}

/* A note's "mapped" is what the rendered map says, not what the rule
 * decided: a BAR may decode where nothing of its bus is visible. */
static void
set_mapped(GmCtx *c)
{
    json_object_object_foreach(c->blocks, name, note) {
        gboolean mapped = FALSE;
        for (guint i = 0; i < c->m->ranges->len && !mapped; i++)
            mapped = g_str_equal(g_array_index(c->m->ranges, DsGuestRange,
                                               i).block->idstr, name);
        json_object_object_add(note, "mapped", json_object_new_boolean(mapped));
    }
}

/* ---- the map ---- */

static void
clear_range(gpointer p)
{
    DsGuestRange *r = p;

    json_object_put(r->why);
}

static void
put_json(gpointer o)
{
    json_object_put(o);
}

static gboolean
check_ranges(const MrFile *f, const DsGuestMap *m, GError **err)
{
    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        if (r->block_offset > r->block->used_length ||
            r->length > r->block->used_length - r->block_offset) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, MR_NO_OFFSET,
                         "guest-physical 0x%" G_GINT64_MODIFIER "x+0x%"
                         G_GINT64_MODIFIER "x maps ram block \"%s\" offset "
                         "0x%" G_GINT64_MODIFIER "x, past its 0x%"
                         G_GINT64_MODIFIER "x bytes: the device state "
                         "contradicts the block sizes", r->gpa, r->length,
                         r->block->idstr, r->block_offset,
                         r->block->used_length);
            return FALSE;
        }
    }
    return TRUE;
}

DsGuestMap *
ds_guest_map_new(MrFile *f, GError **err)
{
    g_autoptr(DsGuestMap) m = g_new0(DsGuestMap, 1);
    const Machine *mach = find_machine(f->machine);
    GmCtx c = { .f = f, .m = NULL };
    gboolean ok = TRUE;

    m->ranges = g_array_new(FALSE, TRUE, sizeof(DsGuestRange));
    g_array_set_clear_func(m->ranges, clear_range);
    m->missing = json_object_new_array();
    m->machine = json_object_new_object();
    json_object_object_add(m->machine, "machine",
                           f->machine ? json_object_new_string(f->machine) : NULL);
    /* All RAM blocks together (the stream's MEM_SIZE): firmware and device
     * memory included; the machine's RAM is the machine file's to say. */
    json_object_object_add(m->machine, "ram_blocks_total",
                           json_object_new_uint64(f->ram_total));

    c.m = m;
    c.blocks = json_object_new_object();
    c.sections = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       put_json);
    c.spaces = g_ptr_array_new_with_free_func((GDestroyNotify)gm_space_free);
    if (mach == NULL) {
        gm_missing(&c, NULL, "the whole guest-physical map",
                   "machine type \"%s\" is not one whose memory map is known "
                   "here (pc-i440fx, pc-q35, 40p, pegasos2, fuloong2e)",
                   f->machine ? f->machine : "(none)");
    } else {
        ok = mach->build(&c, err);
    }
    if (ok) {
        note_unplaced(&c);
        set_mapped(&c);
        json_object_object_add(m->machine, "blocks", json_object_get(c.blocks));
        ok = check_ranges(f, m, err);
    }
    json_object_put(c.blocks);
    g_hash_table_unref(c.sections);
    g_ptr_array_unref(c.spaces);
    return ok ? g_steal_pointer(&m) : NULL;
}

void
ds_guest_map_free(DsGuestMap *m)
{
    if (m == NULL)
        return;
    if (m->ranges)
        g_array_unref(m->ranges);
    json_object_put(m->missing);
    json_object_put(m->machine);
    g_free(m);
}

static const char *
kind_name(DsRangeKind k)
{
    return k == DS_RANGE_ROM ? "rom" : "ram";
}

json_object *
ds_guest_map_json(const DsGuestMap *m)
{
    json_object *o = json_object_new_object();
    json_object *ranges = json_object_new_array();

    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "gpa", json_object_new_uint64(r->gpa));
        json_object_object_add(e, "length", json_object_new_uint64(r->length));
        json_object_object_add(e, "kind", json_object_new_string(kind_name(r->kind)));
        json_object_object_add(e, "block", json_object_new_string(r->block->idstr));
        json_object_object_add(e, "block_offset",
                               json_object_new_uint64(r->block_offset));
        json_object_object_add(e, "why", json_object_get(r->why));
        json_object_array_add(ranges, e);
    }
    json_object_object_add(o, "machine", json_object_get(m->machine));
    json_object_object_add(o, "ranges", ranges);
    json_object_object_add(o, "missing", json_object_get(m->missing));
    return o;
}

MrVfile *
ds_guest_physmem(MrFile *f, const DsGuestMap *m, GError **err)
{
    g_autoptr(MrVfile) v = mr_vfile_new(f);
    guint64 end = 0;

    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        if (!mr_vfile_add_block(v, r->gpa, r->block, r->block_offset,
                                r->length, err))
            return NULL;
        end = r->gpa + r->length;
    }
    if (!mr_vfile_set_size(v, end, err))
        return NULL;
    return g_steal_pointer(&v);
}
