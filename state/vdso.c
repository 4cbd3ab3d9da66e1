/* vDSO placement; see vdso.h. Restore core only: raw syscalls. */
#include "vdso.h"
#include "sys.h"
#include "util.h"
#include "plan.h"

#include <asm/errno.h>
#include <linux/mman.h>

static void move_mapping(const struct restore_plan *p, uint64_t from, uint64_t len, uint64_t to)
{
    void *r = sys_mremap((void *)from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
    if (sys_mmap_failed(r))
        core_die(p, "moving the vDSO mapping %lx to %lx: %s", (unsigned long)from,
                 (unsigned long)to, ck_strerror((int)-(long)r));
}

/* movabs $target, %rax; jmp *%rax */
static void write_jump(uint8_t *at, uint64_t target)
{
    at[0] = 0x48, at[1] = 0xb8;
    ck_memcpy(at + 2, &target, 8);
    at[10] = 0xff, at[11] = 0xe0;
}

/* mov $-ENOSYS, %rax; ret — for a function the new kernel no longer offers. */
static void write_enosys(uint8_t *at)
{
    static const uint8_t code[] = {0x48, 0xc7, 0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3};
    ck_memcpy(at, code, sizeof code);
}

static void rebuild_old_vdso(const struct restore_plan *p)
{
    const struct vdso_plan *v = &p->vdso;
    void *at = sys_mmap((void *)v->old_start, v->old_len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (sys_mmap_failed(at))
        core_die(p, "mapping the vDSO proxy at %lx: %s", (unsigned long)v->old_start,
                 ck_strerror((int)-(long)at));
    ck_memcpy(at, v->old_bytes, v->old_len);
    for (uint32_t i = 0; i < v->npatches; i++) {
        uint8_t *entry = (uint8_t *)v->patches[i].at;
        if (v->patches[i].target)
            write_jump(entry, v->patches[i].target);
        else
            write_enosys(entry);
    }
    sys_mprotect(at, v->old_len, PROT_READ | PROT_EXEC);
}

void vdso_restore(const struct restore_plan *p)
{
    const struct vdso_plan *v = &p->vdso;
    uint64_t parked[VDSO_NMAPS], park = v->parking;
    /* Through the parking area first: a live mapping may overlap another's destination. */
    for (int i = 0; i < VDSO_NMAPS; i++) {
        if (!v->live_len[i])
            continue;
        move_mapping(p, v->live_start[i], v->live_len[i], park);
        parked[i] = park;
        park += v->live_len[i];
    }
    for (int i = 0; i < VDSO_NMAPS; i++)
        if (v->live_len[i])
            move_mapping(p, parked[i], v->live_len[i], v->target_start[i]);
    if (v->proxy)
        rebuild_old_vdso(p);
}
