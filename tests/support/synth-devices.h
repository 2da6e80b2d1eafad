/* Device sections shaped as QEMU 10 saves them, for synthetic snapshots
 * (tests/mr-synth, the CUnit tests of fs/): each a vmdesc description and
 * a body, so that devices/ and superio/ are tested without QEMU.  Values
 * are typed in from docs/FORMAT.md (§14.1 PC87312, §14.2 VIA), never computed
 * with the code under test. */
#ifndef TS_SYNTH_DEVICES_H
#define TS_SYNTH_DEVICES_H

#include <glib.h>

#include "mr-writer.h"

typedef struct {
    const char *idstr;
    guint32 instance_id;
    guint32 version_id;
    const char *desc;   /* vmdesc entry without name and instance_id */
    const guint8 *body;
    gsize len;
} TsDevice;

/* The pc87312 VMSD (docs/FORMAT.md §14.1.1): read_id_step, selected_index,
 * regs[3] (FER FAR PTR), five consecutive bytes. */
extern const char ts_pc87312_desc[];
#define TS_PC87312_BODY 5
/* The same, regs described as a 3-byte buffer, which the PC87312 view
 * cannot read (as a damaged vmdesc would say). */
extern const char ts_pc87312_buffer_desc[];
/* A UART (VMSD serial v3, §14.2.5): struct state {divider BE16, lcr}. */
extern const char ts_serial_desc[];
#define TS_SERIAL_BODY 3
/* via-isa as QEMU 10 describes it (§14.2.5): dev {version_id int32 le,
 * config[0] 256 bytes, irq_state 16 bytes}. */
extern const char ts_via_isa_desc[];
#define TS_VIA_ISA_BODY 276
#define TS_VIA_CONFIG_AT 4 /* config[0] in the body */
/* via-isa with a 64-byte config space: the VIA view needs 256 bytes. */
extern const char ts_short_via_isa_desc[];
#define TS_SHORT_VIA_ISA_BODY 68

/* A via-isa body: PCI version 2, vendor 0x1106, device_id (0x0686
 * VT82C686B, 0x8231 VT8231, §14.2.1) and its revision. */
void ts_via_isa_body(guint8 body[TS_VIA_ISA_BODY], guint16 device_id);

/* Adds d to the writer (a late section, after the RAM). */
gboolean ts_writer_add_device(MrWriter *w, const TsDevice *d, GError **err);

#endif
