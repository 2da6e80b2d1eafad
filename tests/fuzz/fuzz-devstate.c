/* fuzz-devstate: devstate/ on device descriptions and bodies from the
 * fuzzer.
 *
 * Input: JSON text, a NUL byte, then the section bodies.  The JSON is one
 * vmdesc device entry ({"name", "instance_id", "vmsd_name", "version",
 * "fields", ...}), an array of them, or {"machine": M, "footers": B,
 * "vmdesc": B, "devices": [...]}.  An entry may add "early": true (an
 * early-setup section, before the ram section).  With n devices, each of the
 * first n-1 bodies is a be16 length and that many bytes; the last device
 * takes the rest.  The writer (tests/support/mr-writer.h) makes a file of these
 * sections around an empty ram section; whatever opens is decoded with
 * ds_decode_section() section by section, ds_pc87312_load()/_json(),
 * ds_via_json() and the guest-physical map (ds_guest_map_new, _json,
 * ds_guest_physmem), and every JSON made must print as valid JSON.  The
 * object form may add "blocks": [{"name": N, "size": S}] (RAM blocks with
 * their first page present, S at most 64 GiB) for the map to place.  The
 * "cpu" sections are read as guest/vmcore reads them (ds_cpus_read) and
 * turned into dump notes, a vmcoreinfo section's note is looked for, and
 * the core is built over a map of the file's blocks laid end to end.
 *
 * The whole input, and its JSON part alone, are also given to
 * ds_pc87312_parse() as a document written to superio/pc87312.json; a node
 * printed by ds_pc87312_json() must parse back to the same registers.
 */
#include <stdio.h>
#include <string.h>

#include "ds-cpustate.h"
#include "ds-decode.h"
#include "ds-guestmap.h"
#include "ds-superio.h"
#include "ds-vmcore.h"
#include "fuzz.h"
#include "mr-error.h"
#include "mr-file.h"
#include "mr-writer.h"

#define MAX_DEVICES 64

/* The PC87312 of 40p.mig (docs/FORMAT.md §10): FER 0f, FAR 10, PTR 00. */
static const DsPc87312Regs regs_40p = { 0x0f, 0x10, 0x00, 0, 0 };

static void
parse_document(const DsPc87312 *cur, const guint8 *text, gsize len)
{
    DsPc87312Regs out;
    g_autoptr(GError) err = NULL;

    if (ds_pc87312_parse(cur, (const char *)text, len, &out, &err)) {
        DsFunction fn[DS_PC_N];
        FUZZ_CHECK(err == NULL, "parse succeeded with an error set");
        ds_pc87312_decode(&out, fn);
        for (guint i = 0; i < DS_PC_N; i++)
            json_object_put(ds_function_json(&fn[i]));
    } else {
        FUZZ_CHECK(err != NULL && err->message[0], "parse failed without an error");
    }
}

/* The node as the mount prints it must read back as "nothing changed". */
static void
check_node(const DsPc87312 *p)
{
    json_object *node = ds_pc87312_json(p);
    const char *text = json_object_to_json_string_ext(node, JSON_C_TO_STRING_PRETTY);
    DsPc87312Regs out;
    g_autoptr(GError) err = NULL;

    FUZZ_CHECK(ds_pc87312_parse(p, text, strlen(text), &out, &err),
               "the printed node does not parse back: %s\n%s",
               err ? err->message : "?", text);
    FUZZ_CHECK(memcmp(&out, &p->regs, sizeof(out)) == 0,
               "the printed node parses back to other registers");
    fuzz_check_json(node, "pc87312 node");
}

static const char *
str_member(json_object *o, const char *key, const char *dflt)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return dflt;
}

static guint32
u32_member(json_object *o, const char *key)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_int))
        return (guint32)json_object_get_int64(v);
    return 0;
}

static gboolean
bool_member(json_object *o, const char *key, gboolean dflt)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_boolean))
        return json_object_get_boolean(v);
    return dflt;
}

/* Adds entry as a device; its body comes off the front of *body. */
static void
add_device(MrWriter *w, json_object *entry, gboolean last,
           const guint8 **body, gsize *left)
{
    g_autofree char *name = g_strndup(str_member(entry, "name", "dev"), 255);
    json_object *desc = json_object_new_object();
    gsize n = *left;
    g_autoptr(GError) err = NULL;

    if (!last) {
        n = *left >= 2 ? (gsize)((*body)[0] << 8 | (*body)[1]) : 0;
        *body += MIN(*left, (gsize)2);
        *left -= MIN(*left, (gsize)2);
        n = MIN(n, *left);
    }
    json_object_object_foreach(entry, key, val) {
        if (!g_str_equal(key, "name") && !g_str_equal(key, "instance_id") &&
            !g_str_equal(key, "early"))
            json_object_object_add(desc, key, json_object_get(val));
    }
    /* The writer takes the name from idstr; an empty one would not be a
     * section QEMU writes, but the reader must refuse it, not the writer. */
    mr_writer_add_device(w, *name ? name : "dev", u32_member(entry, "instance_id"),
                         u32_member(entry, "version"),
                         json_object_to_json_string_ext(desc, JSON_C_TO_STRING_PLAIN),
                         *body, n, bool_member(entry, "early", FALSE), &err);
    json_object_put(desc);
    *body += n;
    *left -= n;
}

/* guest/vmcore's CPU notes and guest note: no crash, an error or notes. */
static void
vmcore_notes(MrFile *f)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) cpus = ds_cpus_read(f, &err);
    g_autoptr(GBytes) guest = NULL;
    DsGuestMap m = { .ranges = g_array_new(FALSE, TRUE, sizeof(DsGuestRange)) };
    guint64 gpa = 0;

    if (cpus == NULL) {
        FUZZ_CHECK(err != NULL && err->message[0], "cpus_read failed without an error");
        g_array_unref(m.ranges);
        return;
    }
    FUZZ_CHECK(cpus->len > 0, "cpus_read gave no CPU");
    for (guint i = 0; i < f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        DsGuestRange r = { .gpa = gpa, .length = b->used_length, .block = b };
        if (b->stored && b->used_length) {
            g_array_append_val(m.ranges, r);
            gpa += b->used_length;
        }
    }
    DsElfKind k = ds_elf_kind((DsCpu *)cpus->data, cpus->len, gpa);
    GByteArray *notes = ds_elf_cpu_notes(&k, (DsCpu *)cpus->data, cpus->len);
    FUZZ_CHECK(notes->len > 0 && notes->len % 4 == 0, "notes of %u bytes",
               notes->len);
    g_byte_array_unref(notes);
    if (ds_vmcore_guest_note(f, &m, &k, &guest, &err))
        FUZZ_CHECK(err == NULL, "guest note with an error set");
    else
        FUZZ_CHECK(err != NULL && guest == NULL, "guest note failed oddly");
    g_clear_error(&err);
    MrVfile *v = ds_vmcore_new(f, &m, &err);
    FUZZ_CHECK((v != NULL) == (err == NULL), "vmcore: a core and an error");
    if (v != NULL)
        FUZZ_CHECK(mr_vfile_size(v) >= 52, "vmcore of %" G_GUINT64_FORMAT
                   " bytes", mr_vfile_size(v));
    mr_vfile_free(v);
    g_array_unref(m.ranges);
}

/* The map never overlaps itself, stays inside its blocks, and physmem
 * builds from it. */
static void
check_guest_map(MrFile *f)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DsGuestMap) m = ds_guest_map_new(f, &err);
    g_autoptr(MrVfile) v = NULL;

    if (m == NULL) {
        FUZZ_CHECK(err != NULL, "guest map failed without an error");
        return;
    }
    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        FUZZ_CHECK(r->length > 0 && r->block_offset + r->length <=
                   r->block->used_length, "range %u outside its block", i);
        if (i > 0) {
            const DsGuestRange *p = &g_array_index(m->ranges, DsGuestRange, i - 1);
            FUZZ_CHECK(p->gpa + p->length <= r->gpa, "ranges %u and %u "
                       "overlap or are out of order", i - 1, i);
        }
    }
    if (fuzz_verbose())
        fprintf(stderr, "  guest map: %u ranges, %zu missing\n", m->ranges->len,
                json_object_array_length(m->missing));
    fuzz_check_json(ds_guest_map_json(m), "guest map");
    v = ds_guest_physmem(f, m, &err);
    FUZZ_CHECK(v != NULL, "physmem: %s", err ? err->message : "?");
}

static void
decode_all(MrFile *f)
{
    DsPc87312 p;
    const char *node_name = NULL;
    json_object *via;
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        json_object *dev = ds_decode_section(f, s, &err);
        if (fuzz_verbose())
            fprintf(stderr, "  %s: %s\n", s->idstr, dev ? "decoded" : err->message);
        if (dev == NULL) {
            FUZZ_CHECK(err != NULL, "decode failed without an error");
            g_clear_error(&err);
            continue;
        }
        FUZZ_CHECK(err == NULL, "decode succeeded with an error set");
        FUZZ_CHECK(ds_find_section(f, s->idstr, s->instance_id) != NULL,
                   "find_section");
        (void)ds_find_field(dev, "state/divider");
        (void)ds_find_field(dev, "dev/config[0]");
        fuzz_check_json(dev, "device section");
    }
    if (ds_pc87312_section(f) && ds_pc87312_load(f, ds_pc87312_section(f), &p, &err)) {
        if (fuzz_verbose())
            fprintf(stderr, "  pc87312 loaded\n");
        FUZZ_CHECK(err == NULL && p.section != NULL, "pc87312_load");
        check_node(&p);
    }
    FUZZ_CHECK(ds_pc87312_section(f) == NULL || p.section != NULL || err != NULL,
               "pc87312_load failed without an error");
    g_clear_error(&err);
    via = ds_via_section(f) ? ds_via_json(f, ds_via_section(f), &node_name, &err) : NULL;
    FUZZ_CHECK(ds_via_section(f) == NULL || via != NULL || err != NULL,
               "ds_via_json failed without an error");
    if (fuzz_verbose() && (via || err))
        fprintf(stderr, "  via: %s\n", via ? node_name : err->message);
    if (via != NULL)
        FUZZ_CHECK(node_name != NULL, "via node without a name");
    fuzz_check_json(via, "via node");
    check_guest_map(f);
    vmcore_notes(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const guint8 *nul = memchr(data, 0, size);
    gsize jlen = nul ? (gsize)(nul - data) : size;
    const guint8 *body = nul ? nul + 1 : data + size;
    gsize left = (gsize)(data + size - body);
    DsPc87312 fixed = { .regs = regs_40p };
    json_tokener *tok;
    json_object *doc, *devs = NULL, *cfg = NULL, *blocks;
    g_autoptr(MrWriter) w = NULL;
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GError) err = NULL;
    gsize n;

    parse_document(&fixed, data, size);
    if (jlen != size)
        parse_document(&fixed, data, jlen);

    tok = json_tokener_new_ex(32);
    doc = json_tokener_parse_ex(tok, (const char *)data, (int)MIN(jlen, (gsize)G_MAXINT));
    if (json_tokener_get_error(tok) != json_tokener_success)
        g_clear_pointer(&doc, json_object_put);
    json_tokener_free(tok);
    if (json_object_is_type(doc, json_type_array)) {
        devs = doc;
    } else if (json_object_is_type(doc, json_type_object)) {
        if (json_object_object_get_ex(doc, "devices", &devs) &&
            json_object_is_type(devs, json_type_array))
            cfg = doc;
        else
            devs = NULL;
    }
    if (!json_object_is_type(doc, json_type_object) && devs == NULL) {
        json_object_put(doc);
        return 0;
    }

    w = mr_writer_new(str_member(cfg, "machine", "pc-i440fx-10.0"));
    if (cfg && json_object_object_get_ex(cfg, "blocks", &blocks) &&
        json_object_is_type(blocks, json_type_array)) {
        static guint8 page[4096];
        memset(page, 0xa5, sizeof(page));
        for (gsize i = 0; i < MIN(json_object_array_length(blocks), (gsize)16); i++) {
            json_object *b = json_object_array_get_idx(blocks, i), *sz;
            guint64 bsize = 4096;
            if (json_object_object_get_ex(b, "size", &sz) &&
                json_object_is_type(sz, json_type_int))
                bsize = (guint64)json_object_get_int64(sz);
            bsize = CLAMP(bsize & ~(guint64)4095, 4096, 64ull << 30);
            mr_writer_set_page(w, mr_writer_add_block(
                w, str_member(b, "name", "ram"), bsize), 0, page);
        }
    }
    mr_writer_set_footers(w, bool_member(cfg, "footers", TRUE));
    mr_writer_set_vmdesc(w, bool_member(cfg, "vmdesc", TRUE));
    if (devs == NULL) {
        add_device(w, doc, TRUE, &body, &left);
    } else {
        n = MIN(json_object_array_length(devs), (gsize)MAX_DEVICES);
        for (gsize i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(devs, i);
            if (json_object_is_type(e, json_type_object))
                add_device(w, e, i + 1 == n, &body, &left);
        }
    }
    json_object_put(doc);

    if (!mr_writer_write(w, fuzz_path(), NULL, &err))
        fuzz_fail(__FILE__, __LINE__, "writer: %s", err->message);
    /* FUZZ_SAVE=PATH keeps the file, e.g. for corpus/open. */
    if (g_getenv("FUZZ_SAVE") && !mr_writer_write(w, g_getenv("FUZZ_SAVE"), NULL, &err))
        fuzz_fail(__FILE__, __LINE__, "writer: %s", err->message);
    f = mr_file_open(fuzz_path(), NULL, &err);
    if (fuzz_verbose())
        fprintf(stderr, "  %s\n", f ? "opens" : err->message);
    if (f == NULL)
        return 0;
    decode_all(f);
    return 0;
}
