/* PC87312 registers to functions and back (docs/FORMAT.md §14.1). */
#include <string.h>

#include "ds-decode.h"
#include "ds-superio.h"
#include "mr-error.h"

const char *const ds_pc87312_function_names[DS_PC_N] = {
    "parallel", "uart1", "uart2", "fdc", "ide"
};

/* COM3 and COM4 bases by the FAR address set s = FAR[7:6]. */
static const guint16 com3_base[4] = { 0x3e8, 0x338, 0x2e8, 0x220 };
static const guint16 com4_base[4] = { 0x2e8, 0x238, 0x2e0, 0x228 };

#define NOTE "QEMU places the PC87312's devices once, from its strap, and " \
    "does not move, enable or disable them when these registers change " \
    "(it logs \"unsupported device reconfiguration\"); the functions are " \
    "what the registers say, which is where the devices are only as long " \
    "as the guest did not reprogram them. Writing this file changes the " \
    "registers in the snapshot, which the guest reads back after a restore."

json_object *
ds_function_json(const DsFunction *fn)
{
    json_object *o = json_object_new_object();
    char base[8];

    g_snprintf(base, sizeof(base), "0x%x", fn->iobase);
    json_object_object_add(o, "enabled", json_object_new_boolean(fn->enabled));
    json_object_object_add(o, "iobase", json_object_new_string(base));
    if (fn->irq >= 0)
        json_object_object_add(o, "irq", json_object_new_int(fn->irq));
    if (fn->dma >= 0)
        json_object_object_add(o, "dma", json_object_new_int(fn->dma));
    return o;
}

static guint16
uart_base(guint u, guint s)
{
    switch (u) {
    case 0:
        return 0x3f8;
    case 1:
        return 0x2f8;
    case 2:
        return com3_base[s];
    default:
        return com4_base[s];
    }
}

void
ds_pc87312_decode(const DsPc87312Regs *r, DsFunction out[DS_PC_N])
{
    static const guint16 par_base[4] = { 0x378, 0x3bc, 0x278, 0x000 };
    guint p = r->far & 3, s = (r->far >> 6) & 3;

    out[DS_PC_PARALLEL] = (DsFunction){
        .enabled = r->fer & 0x01, .iobase = par_base[p], .dma = -1,
        .irq = p == 0 ? ((r->ptr & 0x08) ? 7 : 5) : p == 1 ? 7 : p == 2 ? 5 : 0,
    };
    for (guint n = 1; n <= 2; n++) {
        guint u = (r->far >> (2 * n)) & 3;
        out[DS_PC_UART1 + n - 1] = (DsFunction){
            .enabled = (r->fer >> n) & 1, .iobase = uart_base(u, s),
            .irq = (u & 1) ? 3 : 4, .dma = -1,
        };
    }
    out[DS_PC_FDC] = (DsFunction){ .enabled = (r->fer & 0x08) != 0,
                                   .iobase = (r->fer & 0x20) ? 0x370 : 0x3f0,
                                   .irq = 6, .dma = 2 };
    out[DS_PC_IDE] = (DsFunction){ .enabled = (r->fer & 0x40) != 0,
                                   .iobase = (r->fer & 0x80) ? 0x170 : 0x1f0,
                                   .irq = 14, .dma = -1 };
}

MrSection *
ds_pc87312_section(const MrFile *f)
{
    MrSection *s = ds_find_section(f, "pc87312", 0);

    return s && s->desc ? s : NULL;
}

/* What a 1-byte leaf of the pc87312 section is expected to be, or why not. */
static const char *
byte_field_problem(json_object *fld)
{
    json_object *v;

    if (fld == NULL)
        return "absent";
    if (!json_object_is_type(fld, json_type_object) ||
        !json_object_object_get_ex(fld, "offset", NULL) ||
        json_object_get_int(json_object_object_get(fld, "size")) != 1 ||
        !json_object_object_get_ex(fld, "value", &v))
        return "not a 1-byte field";
    return NULL;
}

gboolean
ds_pc87312_load(MrFile *f, MrSection *s, DsPc87312 *out, GError **err)
{
    json_object *dev, *regs, *sel, *step, *v = NULL;
    const char *why = NULL, *which = NULL;

    memset(out, 0, sizeof(*out));
    dev = ds_decode_section(f, s, err);
    if (dev == NULL)
        return FALSE;
    /* The description is untrusted: check every shape before reading a
     * value (json-c asserts on an array call on a non-array). */
    regs = ds_find_field(dev, "regs");
    sel = ds_find_field(dev, "selected_index");
    step = ds_find_field(dev, "read_id_step");
    if ((why = byte_field_problem(regs)) != NULL)
        which = "regs";
    else if ((why = byte_field_problem(sel)) != NULL)
        which = "selected_index";
    else if ((why = byte_field_problem(step)) != NULL)
        which = "read_id_step";
    else if (!json_object_object_get_ex(regs, "value", &v) ||
             !json_object_is_type(v, json_type_array) ||
             json_object_array_length(v) != 3)
        which = "regs", why = "not an array of 3 bytes";
    else if (!json_object_is_type(json_object_object_get(sel, "value"), json_type_int) ||
             !json_object_is_type(json_object_object_get(step, "value"), json_type_int))
        which = "selected_index or read_id_step", why = "not an integer";
    for (guint i = 0; which == NULL && i < 3; i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_int))
            which = "regs", why = "not an array of 3 integers";
    if (which) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "section \"pc87312\" (id %u): its vmdesc describes \"%s\" "
                     "as %s; expected the fields of QEMU's pc87312 (regs[3], "
                     "selected_index, read_id_step: 1 byte each)",
                     s->section_id, which, why);
        json_object_put(dev);
        return FALSE;
    }
    out->regs_offset = json_object_get_uint64(json_object_object_get(regs, "offset"));
    out->selected_offset = json_object_get_uint64(json_object_object_get(sel, "offset"));
    out->step_offset = json_object_get_uint64(json_object_object_get(step, "offset"));
    out->regs.fer = (guint8)json_object_get_int(json_object_array_get_idx(v, 0));
    out->regs.far = (guint8)json_object_get_int(json_object_array_get_idx(v, 1));
    out->regs.ptr = (guint8)json_object_get_int(json_object_array_get_idx(v, 2));
    out->regs.selected_index =
        (guint8)json_object_get_int(json_object_object_get(sel, "value"));
    out->regs.read_id_step =
        (guint8)json_object_get_int(json_object_object_get(step, "value"));
    out->section = s;
    json_object_put(dev);
    return TRUE;
}

static json_object *
hex8(guint8 v)
{
    char s[8];

    g_snprintf(s, sizeof(s), "0x%02x", v);
    return json_object_new_string(s);
}

json_object *
ds_pc87312_json(const DsPc87312 *p)
{
    json_object *o = json_object_new_object(), *sec = json_object_new_object();
    json_object *regs = json_object_new_object(), *fns = json_object_new_object();
    DsFunction fn[DS_PC_N];

    json_object_object_add(o, "device", json_object_new_string("pc87312"));
    json_object_object_add(sec, "name", json_object_new_string(p->section->idstr));
    json_object_object_add(sec, "instance_id", json_object_new_uint64(p->section->instance_id));
    json_object_object_add(sec, "version_id", json_object_new_uint64(p->section->version_id));
    json_object_object_add(sec, "section_id", json_object_new_uint64(p->section->section_id));
    json_object_object_add(sec, "offset", json_object_new_uint64(p->section->offset));
    json_object_object_add(sec, "registers_offset", json_object_new_uint64(p->regs_offset));
    json_object_object_add(o, "section", sec);
    json_object_object_add(regs, "fer", hex8(p->regs.fer));
    json_object_object_add(regs, "far", hex8(p->regs.far));
    json_object_object_add(regs, "ptr", hex8(p->regs.ptr));
    json_object_object_add(regs, "selected_index", json_object_new_int(p->regs.selected_index));
    json_object_object_add(regs, "read_id_step", json_object_new_int(p->regs.read_id_step));
    json_object_object_add(o, "registers", regs);
    ds_pc87312_decode(&p->regs, fn);
    for (guint i = 0; i < DS_PC_N; i++)
        json_object_object_add(fns, ds_pc87312_function_names[i], ds_function_json(&fn[i]));
    json_object_object_add(o, "functions", fns);
    json_object_object_add(o, "note", json_object_new_string(NOTE));
    return o;
}

/* ---- parsing a written document ---- */

static gboolean
bad(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
bad(GError **err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL, *text = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* The document's keys and values are the writer's bytes, and the
     * message reaches the mount's log: escaped like every message. */
    text = mr_escape_text(msg, -1);
    g_set_error_literal(err, MR_ERROR, MR_ERROR_REFUSED, text);
    return FALSE;
}

/* A number given as JSON integer or as a string "0x3f8" / "1016". */
static gboolean
get_number(json_object *v, const char *what, guint64 max, guint64 *out,
           GError **err)
{
    if (json_object_is_type(v, json_type_int)) {
        gint64 n = json_object_get_int64(v);
        if (n < 0 || (guint64)n > max)
            return bad(err, "%s: %" G_GINT64_FORMAT " is out of range", what, n);
        *out = (guint64)n;
        return TRUE;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        guint64 n = g_ascii_strtoull(s, &end, 0);
        if (*s == '\0' || *s == '-' || *end != '\0' || n > max)
            return bad(err, "%s: \"%s\" is not a number up to 0x%" G_GINT64_MODIFIER
                       "x", what, s, max);
        *out = n;
        return TRUE;
    }
    return bad(err, "%s: expected a number or a hex string", what);
}

static gboolean
check_keys(json_object *o, const char *what, const char *const *allowed,
           GError **err)
{
    if (!json_object_is_type(o, json_type_object))
        return bad(err, "%s: expected an object", what);
    json_object_object_foreach(o, key, val) {
        gboolean known = FALSE;
        (void)val;
        for (guint i = 0; allowed[i]; i++)
            known |= g_str_equal(key, allowed[i]);
        if (!known)
            return bad(err, "%s: unknown key \"%s\"", what, key);
    }
    return TRUE;
}

static gboolean
parse_registers(json_object *regs, DsPc87312Regs *r, GError **err)
{
    static const char *const keys[] = { "fer", "far", "ptr", "selected_index",
                                        "read_id_step", NULL };
    guint8 *dst[] = { &r->fer, &r->far, &r->ptr, &r->selected_index,
                      &r->read_id_step };

    if (!check_keys(regs, "registers", keys, err))
        return FALSE;
    for (guint i = 0; keys[i]; i++) {
        json_object *v;
        guint64 n;
        g_autofree char *what = g_strconcat("registers.", keys[i], NULL);
        if (!json_object_object_get_ex(regs, keys[i], &v))
            continue;
        if (!get_number(v, what, 0xff, &n, err))
            return FALSE;
        *dst[i] = (guint8)n;
    }
    return TRUE;
}

static gboolean
parse_functions(json_object *fns, const DsFunction cur[DS_PC_N],
                DsFunction want[DS_PC_N], GError **err)
{
    static const char *const fn_keys[] = { "enabled", "iobase", "irq", "dma", NULL };
    /* check_keys() stops at NULL; ds_pc87312_function_names has none. */
    static const char *const names[DS_PC_N + 1] = { "parallel", "uart1", "uart2",
                                                    "fdc", "ide", NULL };

    if (!check_keys(fns, "functions", names, err))
        return FALSE;
    memcpy(want, cur, sizeof(DsFunction) * DS_PC_N);
    for (guint i = 0; i < DS_PC_N; i++) {
        const char *name = ds_pc87312_function_names[i];
        json_object *o, *v;
        guint64 n;
        g_autofree char *w_iobase = g_strconcat("functions.", name, ".iobase", NULL);
        g_autofree char *w_irq = g_strconcat("functions.", name, ".irq", NULL);
        g_autofree char *w_dma = g_strconcat("functions.", name, ".dma", NULL);
        g_autofree char *w_fn = g_strconcat("functions.", name, NULL);

        if (!json_object_object_get_ex(fns, name, &o))
            continue;
        if (!check_keys(o, w_fn, fn_keys, err))
            return FALSE;
        if (json_object_object_get_ex(o, "enabled", &v)) {
            if (!json_object_is_type(v, json_type_boolean))
                return bad(err, "functions.%s.enabled: expected true or false", name);
            want[i].enabled = json_object_get_boolean(v);
        }
        if (json_object_object_get_ex(o, "iobase", &v)) {
            if (!get_number(v, w_iobase, 0xffff, &n, err))
                return FALSE;
            want[i].iobase = (guint16)n;
        }
        if (json_object_object_get_ex(o, "irq", &v)) {
            if (!get_number(v, w_irq, 15, &n, err))
                return FALSE;
            want[i].irq = (gint)n;
        }
        if (json_object_object_get_ex(o, "dma", &v)) {
            if (!get_number(v, w_dma, 7, &n, err))
                return FALSE;
            want[i].dma = (gint)n;
        }
    }
    return TRUE;
}

static gboolean
same_functions(const DsFunction a[DS_PC_N], const DsFunction b[DS_PC_N])
{
    for (guint i = 0; i < DS_PC_N; i++)
        if (a[i].enabled != b[i].enabled || a[i].iobase != b[i].iobase ||
            a[i].irq != b[i].irq || a[i].dma != b[i].dma)
            return FALSE;
    return TRUE;
}

/* FER/FAR/PTR for the wanted functions; bits the functions do not decide
 * (FDC 4-drive, PTR power bits, an unused COM3/4 set) come from base. */
static gboolean
encode(const DsFunction want[DS_PC_N], const DsPc87312Regs *base,
       DsPc87312Regs *r, GError **err)
{
    const DsFunction *par = &want[DS_PC_PARALLEL];
    guint p, best_s = 4;
    guint u[3] = { 0 };

    *r = *base;
    r->fer = (guint8)((base->fer & 0x10) | (par->enabled ? 0x01 : 0) |
                      (want[DS_PC_UART1].enabled ? 0x02 : 0) |
                      (want[DS_PC_UART2].enabled ? 0x04 : 0) |
                      (want[DS_PC_FDC].enabled ? 0x08 : 0) |
                      (want[DS_PC_IDE].enabled ? 0x40 : 0));
    if ((base->far & 3) == 3 && par->iobase == 0 && par->irq == 0) {
        /* FAR[1:0] = 3 is reserved (§14.1.3) but a guest can write it: keep
         * it while the document leaves the parallel port as it is. */
        p = 3;
    } else if (par->iobase == 0x378 && (par->irq == 5 || par->irq == 7)) {
        p = 0;
        r->ptr = (guint8)((base->ptr & ~0x08) | (par->irq == 7 ? 0x08 : 0));
    } else if (par->iobase == 0x3bc && par->irq == 7) {
        p = 1;
    } else if (par->iobase == 0x278 && par->irq == 5) {
        p = 2;
    } else {
        return bad(err, "functions.parallel: iobase 0x%x with irq %d is not a "
                   "PC87312 setting (0x378 irq 5 or 7, 0x3bc irq 7, 0x278 "
                   "irq 5)", par->iobase, par->irq);
    }
    /* The two UARTs share the COM3/COM4 address set: find one that gives
     * both their bases, keeping the current set when it does. */
    for (guint k = 0; k < 4 && best_s == 4; k++) {
        guint s = k == 0 ? (base->far >> 6) & 3 : k - (k <= ((base->far >> 6) & 3));
        gboolean ok = TRUE;
        for (guint n = 1; n <= 2 && ok; n++) {
            const DsFunction *fn = &want[DS_PC_UART1 + n - 1];
            ok = FALSE;
            for (guint cand = 0; cand < 4 && !ok; cand++) {
                if (uart_base(cand, s) == fn->iobase && fn->irq == ((cand & 1) ? 3 : 4)) {
                    u[n] = cand;
                    ok = TRUE;
                }
            }
        }
        if (ok)
            best_s = s;
    }
    if (best_s == 4)
        return bad(err, "functions.uart1/uart2: iobase 0x%x irq %d and 0x%x irq "
                   "%d cannot both be set (COM1 0x3f8/4, COM2 0x2f8/3, COM3 "
                   "and COM4 from one address set)",
                   want[DS_PC_UART1].iobase, want[DS_PC_UART1].irq,
                   want[DS_PC_UART2].iobase, want[DS_PC_UART2].irq);
    r->far = (guint8)(p | u[1] << 2 | u[2] << 4 | best_s << 6);
    if (want[DS_PC_FDC].iobase != 0x3f0 && want[DS_PC_FDC].iobase != 0x370)
        return bad(err, "functions.fdc.iobase: 0x%x, expected 0x3f0 or 0x370",
                   want[DS_PC_FDC].iobase);
    if (want[DS_PC_FDC].irq != 6 || want[DS_PC_FDC].dma != 2)
        return bad(err, "functions.fdc: the PC87312's FDC is on irq 6, dma 2");
    if (want[DS_PC_FDC].iobase == 0x370)
        r->fer |= 0x20;
    if (want[DS_PC_IDE].iobase != 0x1f0 && want[DS_PC_IDE].iobase != 0x170)
        return bad(err, "functions.ide.iobase: 0x%x, expected 0x1f0 or 0x170",
                   want[DS_PC_IDE].iobase);
    if (want[DS_PC_IDE].irq != 14)
        return bad(err, "functions.ide.irq: the PC87312's IDE is on irq 14");
    if (want[DS_PC_IDE].iobase == 0x170)
        r->fer |= 0x80;
    return TRUE;
}

gboolean
ds_pc87312_parse(const DsPc87312 *cur, const char *text, gsize len,
                 DsPc87312Regs *out, GError **err)
{
    static const char *const top_keys[] = { "device", "section", "registers",
                                            "functions", "note", NULL };
    static const char *const section_keys[] = { "name", "instance_id", "version_id",
                                                "section_id", "offset",
                                                "registers_offset", NULL };
    json_tokener *tok = json_tokener_new_ex(16);
    json_object *doc, *v;
    gboolean regs_changed;
    DsPc87312Regs given = cur->regs;
    DsFunction now[DS_PC_N], from_given[DS_PC_N], want[DS_PC_N];
    gboolean ok = FALSE;

    /* Strict: no comments, trailing commas, "tRue" or 015 (json-c's
     * defaults accept them). */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    doc = json_tokener_parse_ex(tok, text, (int)MIN(len, (gsize)G_MAXINT));
    if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        (gsize)json_tokener_get_parse_end(tok) < len) {
        /* Trailing white space is fine; anything else is not. */
        gsize end = (gsize)json_tokener_get_parse_end(tok);
        gboolean tail_blank = doc != NULL;
        for (gsize i = end; tail_blank && i < len; i++)
            tail_blank = g_ascii_isspace(text[i]);
        if (!tail_blank) {
            bad(err, "not a JSON document: %s",
                doc == NULL ? json_tokener_error_desc(json_tokener_get_error(tok))
                            : "text after the document");
            goto out;
        }
    }
    if (!check_keys(doc, "document", top_keys, err))
        goto out;
    if (json_object_object_get_ex(doc, "device", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         !g_str_equal(json_object_get_string(v), "pc87312"))) {
        bad(err, "device: this file describes the \"pc87312\"");
        goto out;
    }
    /* Informational, but an unknown key is a mistake all the same. */
    if (json_object_object_get_ex(doc, "section", &v) &&
        !check_keys(v, "section", section_keys, err))
        goto out;
    if (json_object_object_get_ex(doc, "registers", &v) &&
        !parse_registers(v, &given, err))
        goto out;
    ds_pc87312_decode(&cur->regs, now);
    if (!json_object_object_get_ex(doc, "functions", &v)) {
        *out = given;
        ok = TRUE;
        goto out;
    }
    /* Functions left as they were: the registers (edited or not) rule. */
    if (!parse_functions(v, now, want, err))
        goto out;
    if (same_functions(want, now)) {
        *out = given;
        ok = TRUE;
        goto out;
    }
    ds_pc87312_decode(&given, from_given);
    /* Only FER, FAR and PTR say where the functions are; the index latch
     * (selected_index, read_id_step) may change along with them. */
    regs_changed = given.fer != cur->regs.fer || given.far != cur->regs.far ||
                   given.ptr != cur->regs.ptr;
    if (regs_changed) {
        /* Both edited: fine only if they say the same. */
        if (!same_functions(want, from_given)) {
            bad(err, "registers and functions were both changed and disagree; "
                "change one of them");
            goto out;
        }
        *out = given;
        ok = TRUE;
        goto out;
    }
    if (!encode(want, &given, out, err))
        goto out;
    ds_pc87312_decode(out, from_given);
    for (guint i = 0; i < DS_PC_N; i++) {
        const DsFunction *a = &want[i], *b = &from_given[i];
        const char *key = a->enabled != b->enabled ? "enabled"
                          : a->iobase != b->iobase ? "iobase"
                          : a->irq != b->irq       ? "irq"
                          : a->dma != b->dma       ? "dma" : NULL;
        if (key) {
            bad(err, "functions.%s.%s: not expressible in the PC87312's "
                "registers", ds_pc87312_function_names[i], key);
            goto out;
        }
    }
    ok = TRUE;
out:
    json_tokener_free(tok);
    json_object_put(doc);
    return ok;
}
