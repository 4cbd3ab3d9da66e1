/* The vDSO and its data pages ([vvar], [vvar_vclock]).
 *
 * save:    memory_save stores the old [vdso] pages and the [vvar*] addresses (no data).
 * check:   restorer/vdso_elf.c (phase 1, libelf) compares the running kernel's vDSO with the
 *          saved one and plans either a plain move or a proxy.
 * restore: vdso_restore moves the running kernel's mappings to where the program expects
 *          them; as a proxy, the old vDSO is rebuilt at its address with each entry point
 *          jumping to the new vDSO's function of the same name. */
#ifndef CKPT_VDSO_H
#define CKPT_VDSO_H

struct restore_plan;
void vdso_restore(const struct restore_plan *p);

#endif
