/* The VIA VT82C686B / VT8231 south bridge node (docs/FORMAT.md §14.2).
 *
 * QEMU 10 saves the via-isa PCI function (config space: the gate of the
 * Super I/O configuration ports, PCI interrupt routing) and the child
 * devices' own registers, but not the Super I/O register file that says
 * which function is enabled at which base (§14.2.5).  The node shows what
 * is stored, says what is not, and adds the values the machine's reset or
 * board code programs only under "assumed". */
#include <string.h>

#include "ds-decode.h"
#include "ds-superio.h"
#include "mr-cursor.h"
#include "mr-error.h"
#include "mr-summary.h"

typedef enum { CHIP_686B, CHIP_8231 } Chip;

typedef struct {
    const char *name;      /* "VT82C686B" */
    const char *node;      /* "vt82c686b.json" */
    guint gate_reg, gate_bit;
    guint serial_ports;
} ChipInfo;

static const ChipInfo chips[] = {
    [CHIP_686B] = { "VT82C686B", "vt82c686b.json", 0x85, 1, 2 },
    [CHIP_8231] = { "VT8231", "vt8231.json", 0x50, 2, 1 },
};

/* Functions from a Super I/O register file (§14.2.3, §14.2.4). */
static void
decode_superio(Chip chip, const guint8 *regs, DsFunction *par, DsFunction ser[2],
               DsFunction *fdc)
{
    if (chip == CHIP_686B) {
        guint8 sel = regs[0xe2] & 0x1f;
        *par = (DsFunction){ (sel & 3) != 3, (guint16)(regs[0xe6] << 2), 7, -1 };
        ser[0] = (DsFunction){ (sel & 0x04) != 0, (guint16)((regs[0xe7] & 0xfe) << 2), 4, -1 };
        ser[1] = (DsFunction){ (sel & 0x08) != 0, (guint16)((regs[0xe8] & 0xfe) << 2), 3, -1 };
        *fdc = (DsFunction){ (sel & 0x10) != 0, (guint16)((regs[0xe3] & 0xfc) << 2), 6, 2 };
    } else {
        guint8 sel = regs[0xf2] & 0x17;
        *par = (DsFunction){ (sel & 3) != 3, (guint16)(regs[0xf6] << 2), 7, -1 };
        ser[0] = (DsFunction){ (sel & 0x04) != 0, (guint16)((regs[0xf4] & 0xfe) << 2), 4, -1 };
        *fdc = (DsFunction){ (sel & 0x10) != 0, (guint16)((regs[0xf7] & 0xfc) << 2), 6, 2 };
    }
}

static json_object *
functions_json(Chip chip, const guint8 *regs)
{
    json_object *o = json_object_new_object();
    DsFunction par, ser[2], fdc;

    decode_superio(chip, regs, &par, ser, &fdc);
    json_object_object_add(o, "parallel", ds_function_json(&par));
    json_object_object_add(o, "serial0", ds_function_json(&ser[0]));
    if (chips[chip].serial_ports > 1)
        json_object_object_add(o, "serial1", ds_function_json(&ser[1]));
    json_object_object_add(o, "fdc", ds_function_json(&fdc));
    return o;
}

/* What a machine programs at reset (not migrated, §14.2.6, §14.2.7). */
static json_object *
assumed_json(Chip chip, const char *machine)
{
    guint8 regs[256] = { 0 };
    const char *source;
    json_object *o = json_object_new_object();

    if (chip == CHIP_686B) {
        regs[0xe2] = 0x0f, regs[0xe3] = 0xfc, regs[0xe6] = 0xde;
        regs[0xe7] = 0xfe, regs[0xe8] = 0xbe;
        source = "QEMU 10 reset values of the VT82C686B Super I/O";
    } else if (machine && g_str_equal(machine, "pegasos2")) {
        regs[0xf2] = 0x14, regs[0xf4] = 0xbe, regs[0xf6] = 0xef, regs[0xf7] = 0xfc;
        source = "what QEMU's pegasos2 board code programs at reset when it "
                 "runs without -bios (VOF); real firmware may program others";
    } else {
        regs[0xf2] = 0x03, regs[0xf4] = 0xfe, regs[0xf6] = 0xde, regs[0xf7] = 0xfc;
        source = "QEMU 10 reset values of the VT8231 Super I/O";
    }
    json_object_object_add(o, "source", json_object_new_string(source));
    json_object_object_add(o, "migrated", json_object_new_boolean(FALSE));
    json_object_object_add(o, "functions", functions_json(chip, regs));
    return o;
}

/* Where a leaf of n bytes lies in the section, from the decoded field;
 * FALSE when the field is absent or of another size. */
static gboolean
field_of_size(json_object *field, gsize n, guint64 *offset)
{
    json_object *off, *size;

    if (field == NULL || !json_object_object_get_ex(field, "offset", &off) ||
        !json_object_object_get_ex(field, "size", &size) ||
        json_object_get_uint64(size) != n)
        return FALSE;
    *offset = json_object_get_uint64(off);
    return TRUE;
}

/* The integer leaves of a child device's state (its first struct level),
 * as the stream carries them. */
static void
add_leaves(json_object *out, json_object *fields, const char *strip)
{
    json_object_object_foreach(fields, key, val) {
        json_object *type, *value;
        const char *name = key;
        if (!json_object_is_type(val, json_type_object) ||
            !json_object_object_get_ex(val, "type", &type) ||
            !json_object_object_get_ex(val, "value", &value))
            continue;
        if (!json_object_is_type(value, json_type_int) &&
            !json_object_is_type(value, json_type_boolean))
            continue;
        if (strip && g_str_has_prefix(name, strip))
            name += strlen(strip);
        json_object_object_add(out, name, json_object_get(value));
    }
}

/* The child device of section s; NULL only with the error. */
static json_object *
child_json(MrFile *f, MrSection *s, GError **err)
{
    const char *idstr = s->idstr;
    json_object *o, *dev, *regs, *st;

    o = json_object_new_object();
    json_object_object_add(o, "section", mr_section_json(s));
    if (s->desc == NULL)
        return o;
    dev = ds_decode_section(f, s, err);
    if (dev == NULL) {
        json_object_put(o);
        return NULL;
    }
    regs = json_object_new_object();
    st = ds_find_field(dev, "state");
    if (st && json_object_object_get_ex(st, "fields", &st))
        add_leaves(regs, st, NULL);
    else
        add_leaves(regs, json_object_object_get(dev, "fields"), "state.");
    if (g_str_equal(idstr, "serial")) {
        json_object *div;
        if (json_object_object_get_ex(regs, "divider", &div) &&
            json_object_get_int(div) > 0)
            json_object_object_add(o, "baud",
                                   json_object_new_int(115200 / json_object_get_int(div)));
    }
    json_object_object_add(o, "registers", regs);
    json_object_put(dev);
    return o;
}

/* A section a later QEMU might add for the Super I/O register file: *out
 * is its node, or NULL when the stream has none. */
static gboolean
stored_superio(MrFile *f, Chip chip, json_object **out, GError **err)
{
    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        json_object *dev, *regs, *o;
        guint8 buf[256];
        guint64 at;

        if (strstr(s->idstr, "superio") == NULL || s->desc == NULL)
            continue;
        dev = ds_decode_section(f, s, err);
        if (dev == NULL)
            return FALSE;
        regs = ds_find_field(dev, "regs");
        /* Another shape is not a register file we know. */
        if (!field_of_size(regs, sizeof(buf), &at)) {
            json_object_put(dev);
            continue;
        }
        if (!mr_section_read(f, s, at, buf, sizeof(buf), err)) {
            json_object_put(dev);
            return FALSE;
        }
        o = json_object_new_object();
        json_object_object_add(o, "section", mr_section_json(s));
        json_object_object_add(o, "functions", functions_json(chip, buf));
        json_object_put(dev);
        *out = o;
        return TRUE;
    }
    *out = NULL;
    return TRUE;
}

static json_object *
pirq_json(const guint8 *cfg)
{
    static const char *const names[] = { "INTA", "INTB", "INTC", "INTD" };
    guint8 irq[4] = { cfg[0x55] >> 4, cfg[0x56] & 0x0f, cfg[0x56] >> 4, cfg[0x57] >> 4 };
    json_object *o = json_object_new_object();

    for (guint i = 0; i < 4; i++)
        json_object_object_add(o, names[i], irq[i] ? json_object_new_int(irq[i]) : NULL);
    return o;
}

MrSection *
ds_via_section(const MrFile *f)
{
    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        if (g_str_has_suffix(s->idstr, "/via-isa") && s->desc)
            return s;
    }
    return NULL;
}

json_object *
ds_via_json(MrFile *f, MrSection *s, const char **node_name, GError **err)
{
    json_object *dev, *o, *pci, *gate, *fns, *stored;
    guint8 cfg[256];
    GError *local = NULL;
    guint16 device_id;
    guint64 cfg_at;
    Chip chip;
    char hex[8];

    dev = ds_decode_section(f, s, err);
    if (dev == NULL)
        return NULL;
    if (!field_of_size(ds_find_field(dev, "dev/config[0]"), sizeof(cfg), &cfg_at)) {
        json_object *size = json_object_object_get(ds_find_field(dev, "dev/config[0]"),
                                                   "size");
        g_autofree char *found = size ? g_strdup_printf(
            "%" G_GUINT64_FORMAT " bytes", json_object_get_uint64(size))
                                      : g_strdup("none");
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "section \"%s\": expected a 256-byte PCI config space "
                     "(dev.config[0]) in its vmdesc, found %s", s->idstr, found);
        json_object_put(dev);
        return NULL;
    }
    if (!mr_section_read(f, s, cfg_at, cfg, sizeof(cfg), err)) {
        json_object_put(dev);
        return NULL;
    }
    device_id = (guint16)(cfg[2] | cfg[3] << 8);
    chip = device_id == 0x8231 ? CHIP_8231 : CHIP_686B;
    *node_name = chips[chip].node;

    o = json_object_new_object();
    json_object_object_add(o, "device", json_object_new_string("via-isa"));
    json_object_object_add(o, "chip", json_object_new_string(chips[chip].name));
    json_object_object_add(o, "section", mr_section_json(s));
    pci = json_object_new_object();
    json_object_object_add(pci, "offset", json_object_get(json_object_object_get(
        ds_find_field(dev, "dev/config[0]"), "offset")));
    g_snprintf(hex, sizeof(hex), "0x%04x", (guint)(cfg[0] | cfg[1] << 8));
    json_object_object_add(pci, "vendor_id", json_object_new_string(hex));
    g_snprintf(hex, sizeof(hex), "0x%04x", device_id);
    json_object_object_add(pci, "device_id", json_object_new_string(hex));
    g_snprintf(hex, sizeof(hex), "0x%02x", cfg[8]);
    json_object_object_add(pci, "revision", json_object_new_string(hex));
    json_object_object_add(o, "pci_config", pci);

    gate = json_object_new_object();
    g_snprintf(hex, sizeof(hex), "0x%02x", chips[chip].gate_reg);
    json_object_object_add(gate, "register", json_object_new_string(hex));
    json_object_object_add(gate, "bit", json_object_new_int((int)chips[chip].gate_bit));
    json_object_object_add(o, "config_ports_enabled", json_object_new_boolean(
        (cfg[chips[chip].gate_reg] >> chips[chip].gate_bit) & 1));
    json_object_object_add(o, "config_ports_gate", gate);
    json_object_object_add(o, "pci_interrupt_routing", pirq_json(cfg));

    fns = json_object_new_object();
    {
        const struct { const char *key, *idstr; guint32 inst; } kids[] = {
            { "parallel", "parallel_isa", 0 }, { "serial0", "serial", 0 },
            { "serial1", "serial", 1 }, { "fdc", "fdc", 0 },
        };
        for (guint i = 0; i < G_N_ELEMENTS(kids); i++) {
            MrSection *cs = ds_find_section(f, kids[i].idstr, kids[i].inst);
            json_object *k;

            if (g_str_equal(kids[i].key, "serial1") && chips[chip].serial_ports < 2)
                continue;
            /* A child that is not in the stream: null. */
            k = cs ? child_json(f, cs, &local) : NULL;
            if (cs && k == NULL) {
                g_propagate_error(err, local);
                json_object_put(fns);
                json_object_put(o);
                json_object_put(dev);
                return NULL;
            }
            json_object_object_add(fns, kids[i].key, k);
        }
    }
    json_object_object_add(o, "functions_in_stream", fns);
    if (!stored_superio(f, chip, &stored, &local)) {
        g_propagate_error(err, local);
        json_object_put(o);
        json_object_put(dev);
        return NULL;
    }
    json_object_object_add(o, "superio_registers", stored);
    if (stored == NULL)
        json_object_object_add(o, "superio_registers_note", json_object_new_string(
            "not stored: QEMU 10 does not save the Super I/O function-select "
            "and base-address registers, so which function is enabled at "
            "which I/O base is not in the snapshot; a restored VM keeps its "
            "own reset configuration"));
    json_object_object_add(o, "assumed", assumed_json(chip, f->machine));
    json_object_put(dev);
    return o;
}
