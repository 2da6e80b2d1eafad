/* The guest-physical map of the PC machines, pc-i440fx-* and pc-q35-*, as
 * a QEMU 10.0 restored from the snapshot lays it out.
 *
 * Sources (QEMU 10.0.2): hw/i386/pc_piix.c pc_init1 and hw/i386/pc_q35.c
 * pc_q35_init (RAM split, creation order); hw/i386/pc.c pc_memory_init
 * ("ram-below-4g", "ram-above-4g", "pc.rom" at 0xc0000 in the PCI space,
 * the AMD 1 TiB relocation), pc_pci_as_mapping_init (the PCI space under
 * everything, priority -1), pc_cmos_init (the split in the CMOS);
 * hw/i386/x86-common.c x86_bios_rom_init, x86_isa_bios_init and
 * hw/i386/pc_sysfw.c (firmware at 4 GiB - size, its last 128 KiB below
 * 1 MiB); hw/pci-host/i440fx.c, q35.c and pam.c (PAM, SMRAM, TSEG,
 * SMBASE, MMCONFIG); hw/i386/vapic.c (the kvmvapic option ROM made
 * writable); hw/intc/ioapic.c, hw/timer/hpet.c, hw/intc/apic.c (register
 * windows at 0xfec00000, 0xfed00000, 0xfee00000). */
#include "ds-gm-pcmach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr-read.h"

gboolean gm_machine_pc(GmCtx *c, GError **err);

/* "pc-q35-9.2", "pc-i440fx-10.0", "pc-q35-4.0.1": 9.0 to 10.x. */
static gboolean
version_supported(const char *machine, guint *major, guint *minor)
{
    const char *v = strrchr(machine, '-') + 1;
    char *end;

    *major = (guint)strtoul(v, &end, 10);
    if (*end != '.')
        return FALSE;
    *minor = (guint)strtoul(end + 1, &end, 10);
    if (*end != '\0' && *end != '.')
        return FALSE;
    return *major == 9 || *major == 10;
}

/* pc.bios / pflash, isa-bios and pc.rom in the PCI space. */
static void
add_firmware(Pc *pc, guint major, guint minor)
{
    GmCtx *c = pc->c;
    MrRamBlock *bios = mr_file_find_block(c->f, "pc.bios");
    MrRamBlock *rom = mr_file_find_block(c->f, "pc.rom");
    MrRamBlock *isa = mr_file_find_block(c->f, "isa-bios");
    MrRamBlock *fl0 = mr_file_find_block(c->f, "system.flash0");
    MrRamBlock *fl1 = mr_file_find_block(c->f, "system.flash1");
    json_object *why;

    if (bios && gm_block_usable(c, bios, "pc.bios")) {
        guint64 isa_size = MIN(bios->used_length, 128 * 1024);
        why = gm_rule("pc.bios", "hw/i386/x86-common.c x86_bios_rom_init");
        gm_add_ram(pc->pci, 4 * GiB - bios->used_length, bios->used_length,
                   0, bios, 0, TRUE, why);
        why = gm_rule("isa-bios", "hw/i386/x86-common.c x86_isa_bios_init");
        json_object_object_add(why, "note", json_object_new_string(
            "the last 128 KiB of pc.bios below 1 MiB"));
        gm_add_ram(pc->pci, MiB - isa_size, isa_size, 1, bios,
                   bios->used_length - isa_size, TRUE, why);
        gm_note_block(c, bios, TRUE, "firmware at 4 GiB - its size, its "
                      "last 128 KiB also below 1 MiB");
    }
    if (fl0) {
        /* A flash device is ROM device memory, not RAM: QEMU's dump leaves
         * it out, and its read mode is device state. */
        guint64 at = 4 * GiB - fl0->used_length;
        gm_add_rom_device(pc->system, at, fl0->used_length, 0, "system.flash0 "
                       "(pflash)", "a pflash device, not RAM: its contents "
                       "are guest-visible only in its array-read mode, and "
                       "QEMU's dump-guest-memory leaves it out");
        gm_note_block(c, fl0, FALSE, "a pflash device at 0x%"
                      G_GINT64_MODIFIER "x, not RAM (see missing)", at);
        if (fl1) {
            gm_add_rom_device(pc->system, at - fl1->used_length,
                              fl1->used_length, 0, "system.flash1 (pflash)",
                              "a pflash device, not RAM");
            gm_note_block(c, fl1, FALSE, "a pflash device at 0x%"
                          G_GINT64_MODIFIER "x, not RAM (see missing)",
                          at - fl1->used_length);
        }
        if (!isa) {
            /* 9.1 and later alias the flash itself below 1 MiB. */
            guint64 isa_size = MIN(fl0->used_length, 128 * 1024);
            gm_add_rom_device(pc->pci, MiB - isa_size, isa_size, 1,
                              "isa-bios (pflash alias)", "an alias of the "
                              "pflash device (hw/i386/pc_sysfw.c), not RAM");
        }
    }
    if (isa && gm_block_usable(c, isa, "isa-bios")) {
        /* 9.0 with pflash: a RAM copy of the flash's last 128 KiB. */
        why = gm_rule("isa-bios", "hw/i386/pc_sysfw.c pc_isa_bios_init");
        gm_add_ram(pc->pci, MiB - isa->used_length, isa->used_length, 1, isa,
                   0, TRUE, why);
        gm_note_block(c, isa, TRUE, "a copy of the flash's last 128 KiB "
                      "below 1 MiB (machine version %u.%u)", major, minor);
    }
    if (rom && gm_block_usable(c, rom, "pc.rom")) {
        why = gm_rule("pc.rom", "hw/i386/pc.c pc_memory_init");
        gm_add_ram(pc->pci, 0xc0000, rom->used_length, 1, rom, 0, TRUE, why);
        gm_note_block(c, rom, TRUE, "option ROM area at 0xc0000 in the PCI "
                      "space, seen where the PAM registers select PCI");
    }
}

static void
add_pam(Pc *pc)
{
    guint pam0 = pc->q35 ? 0x90 : 0x59;
    const guint8 *regs = pc->host->config + pam0;

    for (guint i = 0; i < GM_PAM_REGIONS; i++) {
        guint32 start, size;
        guint reg, mode = gm_pam_mode(regs, i);
        gboolean high;
        static const char *const names[4] = { "pam-pci", "pam-rom",
                                              "pam-ram-wo", "pam-ram" };
        json_object *why = gm_rule(names[mode], "hw/pci-host/pam.c init_pam, "
                                "pam_update");

        gm_pam_region(i, &start, &size, &reg, &high);
        json_object_object_add(why, "pam_register", gm_pci_cfg_ref(pc->host, pam0 + reg, 1));
        json_object_object_add(why, "nibble", json_object_new_string(
            high ? "high" : "low"));
        json_object_object_add(why, "mode", json_object_new_int(mode));
        if (mode == 0)
            gm_add_alias(pc->system, start, size, 1, pc->pci, start, why);
        else
            gm_add_ram(pc->system, start, size, 1, pc->ram, start, mode == 1,
                       why);
    }
}

/* i440fx: the SMRAM register only opens or closes the window. */
static void
add_smram_i440fx(Pc *pc)
{
    guint8 smram = pc->host->config[0x72];
    json_object *why = gm_rule("smram-region", "hw/pci-host/i440fx.c "
                            "i440fx_update_memory_mappings");

    json_object_object_add(why, "smram_register", gm_pci_cfg_ref(pc->host, 0x72, 1));
    if (smram & 0x40) { /* D_OPEN: the RAM below shows */
        json_object_put(why);
        return;
    }
    gm_add_alias(pc->system, 0xa0000, 0x20000, 1, pc->pci, 0xa0000, why);
}

static void
add_smram_q35(Pc *pc)
{
    GmCtx *c = pc->c;
    const guint8 *cfg = pc->host->config;
    guint8 smram = cfg[0x9d], esmramc = cfg[0x9e];
    /* A restore re-applies D_LCK, which clears D_OPEN (mch_update_smram). */
    gboolean open = (smram & 0x40) && !(smram & 0x10);
    gboolean h_smrame = esmramc & 0x80;
    json_object *why;

    if ((smram & 7) != 2) {
        /* No SMM ranges (smm=off): the register stays 0 after reset. */
        json_object_object_add(c->m->machine, "smm_ranges",
                               json_object_new_boolean(FALSE));
        return;
    }
    if (!open || h_smrame) {
        why = gm_rule("smram-region", "hw/pci-host/q35.c mch_update_smram");
        json_object_object_add(why, "smram_register", gm_pci_cfg_ref(pc->host, 0x9d, 1));
        json_object_object_add(why, "esmramc_register", gm_pci_cfg_ref(pc->host, 0x9e, 1));
        gm_add_alias(pc->system, 0xa0000, 0x20000, 1, pc->pci, 0xa0000, why);
    }
    if (open && h_smrame) {
        why = gm_rule("smram-open-high", "hw/pci-host/q35.c mch_update_smram");
        json_object_object_add(why, "smram_register", gm_pci_cfg_ref(pc->host, 0x9d, 1));
        json_object_object_add(why, "esmramc_register", gm_pci_cfg_ref(pc->host, 0x9e, 1));
        gm_add_ram(pc->system, 0xfeda0000, 0x20000, 1, pc->ram, 0xa0000,
                   FALSE, why);
    }
    if ((esmramc & 1) && (smram & 0x08) && pc->split_known) {
        guint64 tseg = 0;
        switch (esmramc & 6) {
        case 0: tseg = 1 * MiB; break;
        case 2: tseg = 2 * MiB; break;
        case 4: tseg = 8 * MiB; break;
        default: {
            guint16 ext = cfg[0x50] | cfg[0x51] << 8;
            if (ext == 0xffff) {
                /* At most 0xfff MiB (MCH_HOST_BRIDGE_EXT_TSEG_MBYTES_MAX)
                 * below the top of low RAM. */
                guint64 most = MIN(pc->split.below, 0xfffull * MiB);
                gm_add_unknown(pc->system, pc->split.below - most, most, 1, "TSEG",
                               "TSEG uses extended-tseg-mbytes, a property "
                               "the guest never read back (the register "
                               "still holds the query value 0xffff)");
                return;
            }
            tseg = (guint64)ext * MiB;
        }
        }
        if (tseg > pc->split.below)
            tseg = pc->split.below;
        gm_add_io(pc->system, pc->split.below - tseg, tseg, 1, "tseg-blackhole");
    }
    /* The SMBASE lock (F_SMBASE) does not survive a restore: the
     * destination's write mask is the reset one, so mch_update_smbase_smram
     * clears the register and the blackhole at 0x30000 stays off. */
    json_object_object_add(c->m->machine, "f_smbase", gm_pci_cfg_ref(pc->host, 0x9c, 1));
}

static void
add_mmcfg(Pc *pc)
{
    const guint8 *p = pc->host->config + 0x60;
    guint64 bar = 0, mask = 0xff0000000ull, len; /* bits 35:28 */

    for (int i = 7; i >= 0; i--)
        bar = bar << 8 | p[i];
    switch (bar & 6) {
    case 0: len = 256 * MiB; break;
    case 2: len = 128 * MiB; mask |= 0x06000000; break;
    case 4: len = 64 * MiB; mask |= 0x02000000; break;
    default: return; /* reserved: QEMU leaves the mapping alone */
    }
    if (bar & 1)
        gm_add_io(pc->system, bar & mask, len, 0, "pcie-mmcfg-mmio");
}

static gboolean
add_vapic(Pc *pc, GError **err)
{
    GmCtx *c = pc->c;
    json_object *dev, *why;
    guint64 state, paddr, state_off, paddr_off, rom_paddr, size;
    guint8 blocks;

    if (!gm_section(c, "kvm-tpr-opt", 0, &dev, NULL, err))
        return FALSE;
    if (dev == NULL)
        return TRUE;
    if (!gm_field_uint(dev, "state", &state, &state_off) ||
        !gm_field_uint(dev, "rom_state_paddr", &paddr, &paddr_off)) {
        gm_add_unknown(pc->system, 0xc0000, 0x40000, 1000, "kvmvapic ROM",
                       "the kvm-tpr-opt section lacks state or "
                       "rom_state_paddr");
        return TRUE;
    }
    if (state == 0 && paddr == 0)
        return TRUE; /* VAPIC_INACTIVE: nothing is mapped */
    rom_paddr = paddr & ~511ull;
    if (rom_paddr + 2 >= pc->ram_size)
        return TRUE; /* vapic_map_rom_writable refuses: the restore fails */
    if (!mr_block_read(c->f, pc->ram, &blocks, rom_paddr + 2, 1, err))
        return FALSE;
    size = (guint64)blocks * 512;
    if (size == 0)
        return TRUE;
    size += rom_paddr & 0xfff;
    rom_paddr &= ~0xfffull;
    size = (size + 0xfff) & ~0xfffull;
    why = gm_rule("kvmvapic-rom", "hw/i386/vapic.c vapic_post_load, "
               "vapic_map_rom_writable");
    json_object_object_add(why, "state", gm_ref("kvm-tpr-opt", "state",
                                                state_off, gm_hex(state)));
    json_object_object_add(why, "rom_state_paddr",
                           gm_ref("kvm-tpr-opt", "rom_state_paddr", paddr_off,
                                  gm_hex(paddr)));
    json_object_object_add(why, "rom_blocks", json_object_new_int(blocks));
    json_object_object_add(why, "note", json_object_new_string(
        "the ROM's size byte (its third) is read from the RAM"));
    gm_add_ram(pc->system, rom_paddr, size, 1000, pc->ram, rom_paddr, FALSE,
               why);
    return TRUE;
}

/* Hyper-V SynIC pages (hw/hyperv/hyperv.c synic_realize, synic_update;
 * target/i386/kvm/hyperv.c hyperv_x86_synic_update, run on a restore by
 * the cpu section's "cpu/msr_hyperv_synic" post_load): the RAM blocks
 * "synic-N-msg-page" and "synic-N-event-page" of vCPU N overlay guest RAM
 * at the page its SIMP / SIEFP MSR names when that MSR's enable bit is
 * set, added after the RAM at its priority (0), so they win. */
static gboolean
add_synic(Pc *pc, GError **err)
{
    GmCtx *c = pc->c;

    for (guint i = 0; i < c->f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(c->f->blocks, i);
        static const char *const kinds[2] = { "msg-page", "event-page" };
        static const char *const msrs[2] = { "env.msr_hv_synic_msg_page",
                                             "env.msr_hv_synic_evt_page" };
        json_object *cpu, *subs, *sub, *why;
        guint64 msr, off, page;
        guint vp, k;
        char tail[16];

        if (sscanf(b->idstr, "synic-%u-%15s", &vp, tail) != 2)
            continue;
        for (k = 0; k < 2 && !g_str_equal(tail, kinds[k]); k++)
            ;
        if (k == 2)
            continue;
        if (!gm_section(c, "cpu", vp, &cpu, NULL, err))
            return FALSE;
        if (cpu == NULL || !json_object_object_get_ex(cpu, "subsections", &subs) ||
            !json_object_object_get_ex(subs, "cpu/msr_hyperv_synic", &sub)) {
            gm_note_block(c, b, FALSE, "vCPU %u has no SynIC MSRs in the "
                          "snapshot: the page is not mapped", vp);
            continue;
        }
        if (json_object_is_type(sub, json_type_array))
            sub = json_object_array_get_idx(sub, 0);
        if (!gm_field_uint(sub, msrs[k], &msr, &off)) {
            gm_missing(c, b, b->idstr, "the cpu section of vCPU %u lacks %s",
                       vp, msrs[k]);
            continue;
        }
        if (!(msr & 1)) {
            gm_note_block(c, b, FALSE, "vCPU %u's %s (0x%" G_GINT64_MODIFIER
                          "x) has its enable bit clear", vp, msrs[k], msr);
            continue;
        }
        if (!gm_block_usable(c, b, b->idstr))
            continue;
        why = gm_rule("hyperv-synic", "hw/hyperv/hyperv.c synic_update; "
                      "target/i386/kvm/hyperv.c hyperv_x86_synic_update");
        json_object_object_add(why, "msr", gm_ref("cpu", msrs[k], off,
                                                  gm_hex(msr)));
        json_object_object_add(why, "vcpu", json_object_new_int((gint)vp));
        page = msr & ~(guint64)0xfff;
        gm_add_ram(pc->system, page, b->used_length, 0, b, 0, FALSE, why);
        gm_note_block(c, b, TRUE, "vCPU %u's SynIC %s at 0x%"
                      G_GINT64_MODIFIER "x", vp, kinds[k], page);
    }
    return TRUE;
}

/* A TPM's memory (hw/tpm/tpm_crb.c tpm_crb_realize; hw/tpm/tpm_ppi.c
 * tpm_ppi_init): the CRB's command buffer, RAM block "tpm-crb-cmd", right
 * after its 0x80 bytes of registers at 0xfed40000, 0xf80 bytes; the
 * physical presence page "tpm-ppi" (CRB or TIS with ppi=on) at 0xfed45000,
 * 0x400 bytes of RAM device memory, which QEMU's dump leaves out. */
static void
add_tpm(Pc *pc)
{
    GmCtx *c = pc->c;
    MrRamBlock *cmd = mr_file_find_block(c->f, "tpm-crb-cmd");
    MrRamBlock *ppi = mr_file_find_block(c->f, "tpm-ppi");

    if (cmd && cmd->used_length >= 0xf80 && gm_block_usable(c, cmd, cmd->idstr)) {
        gm_add_ram(pc->system, 0xfed40080, 0xf80, 0, cmd, 0, FALSE,
                   gm_rule("tpm-crb-cmd", "hw/tpm/tpm_crb.c tpm_crb_realize"));
        gm_note_block(c, cmd, TRUE, "the TPM CRB command buffer at 0xfed40080");
    }
    if (ppi && ppi->used_length >= 0x400) {
        gm_add_rom_device(pc->system, 0xfed45000, 0x400, 0, "tpm-ppi",
                          "the TPM physical presence page is RAM device "
                          "memory (hw/tpm/tpm_ppi.c), not RAM: QEMU's "
                          "dump-guest-memory leaves it out");
        gm_note_block(c, ppi, FALSE, "the TPM physical presence page at "
                      "0xfed45000: RAM device memory (see missing)");
    }
}

gboolean
gm_machine_pc(GmCtx *c, GError **err)
{
    Pc pc = { .c = c, .q35 = g_str_has_prefix(c->f->machine, "pc-q35-") };
    GmPciBus bus;
    guint major, minor;
    g_autoptr(GError) e = NULL;
    gboolean ok = FALSE;

    if (!version_supported(c->f->machine, &major, &minor)) {
        gm_missing(c, NULL, "the whole guest-physical map", "machine version "
                   "\"%s\": the rules here are those of machine versions "
                   "9.0 to 10.x", c->f->machine);
        return TRUE;
    }
    json_object_object_add(c->m->machine, "family",
                           json_object_new_string(pc.q35 ? "pc-q35" : "pc-i440fx"));
    pc.ram = gm_pc_machine_ram(&pc);
    if (pc.ram == NULL) {
        gm_missing(c, NULL, "the machine's RAM", "no block \"pc.ram\" and no "
                   "single memory backend standing in for it (NUMA nodes "
                   "or several backends are not modelled)");
        return TRUE;
    }
    if (!gm_block_usable(c, pc.ram, "the machine's RAM"))
        return TRUE;
    pc.ram_size = pc.ram->used_length;
    json_object_object_add(c->m->machine, "ram_block",
                           json_object_new_string(pc.ram->idstr));
    json_object_object_add(c->m->machine, "machine_ram_size",
                           json_object_new_uint64(pc.ram_size));
    if (!gm_pci_find(c, "0000:00:00.0", &pc.host, &e)) {
        g_propagate_error(err, g_steal_pointer(&e));
        return FALSE;
    }
    if (pc.host == NULL || pc.host->config_size < 0xa0 ||
        !g_str_equal(pc.host->vmsd, pc.q35 ? "mch" : "I440FX")) {
        gm_missing(c, NULL, "the whole guest-physical map", "the host bridge "
                   "0000:00:00.0 (%s) has no readable device section",
                   pc.q35 ? "mch" : "I440FX");
        ok = TRUE;
        goto out;
    }
    if (!gm_pc_read_split(&pc, err))
        goto out;

    pc.system = gm_space_new("system", G_MAXUINT64);
    pc.pci = gm_space_new("pci", G_MAXUINT64);
    /* Regions go in in QEMU's order: it decides ties of priority. */
    if (pc.q35) {
        if (!gm_pc_add_ram(&pc, err))
            goto out;
        add_firmware(&pc, major, minor);
    }
    gm_add_alias(pc.system, 0, G_MAXUINT64, -1, pc.pci, 0,
                 gm_rule("pci", "hw/i386/pc.c pc_pci_as_mapping_init"));
    if (pc.q35) {
        add_mmcfg(&pc);
        add_pam(&pc);
        add_smram_q35(&pc);
    } else {
        add_smram_i440fx(&pc);
        add_pam(&pc);
        if (!gm_pc_add_ram(&pc, err))
            goto out;
        add_firmware(&pc, major, minor);
    }
    gm_note_block(c, pc.ram, TRUE, "the machine's RAM: below_4g_mem_size "
                  "bytes at 0, the rest at 4 GiB (machine.split)");
    gm_add_io(pc.system, 0xfec00000, 0x1000, 0, "ioapic");
    if (ds_find_section(c->f, "hpet", -1))
        gm_add_io(pc.system, 0xfed00000, 0x400, 0, "hpet");
    gm_add_io(pc.system, 0xfee00000, 0x100000, 4096, "apic-msi");
    if (!add_vapic(&pc, err) || !add_synic(&pc, err))
        goto out;
    add_tpm(&pc);

    bus = (GmPciBus){ .bus = "0000:00", .space = pc.pci };
    if (!gm_pci_place(c, &bus, 1, err))
        goto out;
    gm_render(pc.system, c->m);
    ok = TRUE;
out:
    gm_space_free(pc.system);
    gm_space_free(pc.pci);
    gm_pci_dev_free(pc.host);
    return ok;
}
