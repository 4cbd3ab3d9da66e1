/* Phase-1 planning of the vDSO (libc and libelf allowed). */
#ifndef CKPT_VDSO_ELF_H
#define CKPT_VDSO_ELF_H

#include "plan.h"

/* Finds a free range of len bytes for the proxy's new vDSO block. */
typedef uint64_t (*gap_finder)(uint64_t len, void *ctx);

/* Fills p->vdso, whose live_start and live_len say where the running kernel's vDSO and
 * vvar pages are (restore-run's own mappings): a plain move when the running vDSO is the
 * saved one, else (or when force_proxy) a proxy whose entry points jump to the new vDSO's
 * functions, matched by name with libelf. */
int vdso_plan_build(struct restore_plan *p, int force_proxy, gap_finder find_gap, void *ctx,
                    struct ck_error *err);

/* Offset from the vDSO's start of its function `name`, read with libelf from a copy of
 * the vDSO's len bytes: -1 if it has no such function, -2 if its symbols cannot be read.
 * (`ckpt check` asks this of the running kernel's vDSO.) */
int64_t vdso_elf_function_offset(const void *bytes, size_t len, const char *name);

#endif
