/* All "cpu" sections of a snapshot, recognised and read (ds-cpustate.h). */
#include <string.h>

#include "ds-cpustate.h"
#include "mr-error.h"

/* The vmdesc entry's field names decide the architecture: QEMU registers
 * every target's CPU state under the one name "cpu". */
static gboolean
desc_has_field(const MrSection *s, const char *name, guint64 *size)
{
    json_object *fields, *f, *n, *sz;

    if (s->desc == NULL || !json_object_object_get_ex(s->desc, "fields", &fields))
        return FALSE;
    for (size_t i = 0; i < json_object_array_length(fields); i++) {
        f = json_object_array_get_idx(fields, i);
        if (json_object_object_get_ex(f, "name", &n) &&
            g_str_equal(json_object_get_string(n), name)) {
            if (size && json_object_object_get_ex(f, "size", &sz))
                *size = json_object_get_uint64(sz);
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
recognise(const MrFile *f, const MrSection *s, DsCpuArch *arch, GError **err)
{
    guint64 gpr_size = 0;

    if (s->desc == NULL) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "device section \"cpu\" instance %u: the file has no "
                     "vmdesc, so the CPU registers cannot be found by name",
                     s->instance_id);
        return FALSE;
    }
    if (desc_has_field(s, "env.hflags", NULL) &&
        desc_has_field(s, "env.segs", NULL)) {
        *arch = DS_CPU_X86;
        return TRUE;
    }
    if (desc_has_field(s, "env.gpr", &gpr_size) &&
        desc_has_field(s, "env.crf", NULL) && desc_has_field(s, "env.nip", NULL)) {
        if (gpr_size == 4) {
            *arch = DS_CPU_PPC32;
            return TRUE;
        }
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                     "device section \"cpu\" instance %u is a 64-bit PowerPC "
                     "CPU (8-byte GPRs), whose dump notes this code does not "
                     "write", s->instance_id);
        return FALSE;
    }
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                 "device section \"cpu\" instance %u is not an x86 or 32-bit "
                 "PowerPC CPU, the targets whose dump notes this code writes "
                 "(QEMU's dump-guest-memory does not support MIPS at all)",
                 s->instance_id);
    return FALSE;
}

static gint
by_index(gconstpointer a, gconstpointer b)
{
    const DsCpu *x = a, *y = b;

    return x->index < y->index ? -1 : x->index > y->index;
}

GArray *
ds_cpus_read(MrFile *f, GError **err)
{
    g_autoptr(GArray) cpus = g_array_new(FALSE, TRUE, sizeof(DsCpu));

    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        DsCpu c;

        if (!g_str_equal(s->idstr, "cpu"))
            continue;
        memset(&c, 0, sizeof(c));
        c.index = s->instance_id;
        if (!recognise(f, s, &c.arch, err))
            return NULL;
        if (cpus->len > 0 && g_array_index(cpus, DsCpu, 0).arch != c.arch) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, s->offset,
                         "device section \"cpu\" instance %u is not of the "
                         "architecture of the CPUs before it", s->instance_id);
            return NULL;
        }
        for (guint j = 0; j < cpus->len; j++) {
            if (g_array_index(cpus, DsCpu, j).index == c.index) {
                mr_set_error(err, MR_ERROR_INVALID, f->path, s->offset,
                             "device section \"cpu\" instance %u appears "
                             "twice", s->instance_id);
                return NULL;
            }
        }
        if (c.arch == DS_CPU_X86 ? !ds_cpu_x86_read(f, s, &c.x86, err)
                                 : !ds_cpu_ppc32_read(f, s, &c.ppc, err))
            return NULL;
        g_array_append_val(cpus, c);
    }
    if (cpus->len == 0) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, MR_NO_OFFSET,
                     "no \"cpu\" device section: without CPU state there are "
                     "no dump notes");
        return NULL;
    }
    /* QEMU writes the notes in cpu_index order (CPU_FOREACH). */
    g_array_sort(cpus, by_index);
    return g_steal_pointer(&cpus);
}
