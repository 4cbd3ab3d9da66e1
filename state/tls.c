/* Thread-local state; see tls.h. */
#include "tls.h"
#include "sys.h"
#include "util.h"
#include "plan.h"

#define CK_ARCH_SET_GS 0x1001
#define CK_ARCH_SET_FS 0x1002
#define CK_ARCH_GET_FS 0x1003
#define CK_ARCH_GET_GS 0x1004
#define CK_RSEQ_SIG 0x53053053u /* glibc's signature for abort handlers on x86 */
#define CK_RSEQ_AREA_LEN 32     /* the original struct rseq; every kernel accepts it */

/* ---- save side: checkpoint signal handler, raw syscalls only -------------------------- */

static void *rseq_area(const struct tls_facts *f)
{
    unsigned long fs = 0;
    sys_arch_prctl(CK_ARCH_GET_FS, (unsigned long)&fs);
    return (void *)(fs + (unsigned long)f->rseq_offset);
}

void tls_pause_rseq(const struct tls_facts *f)
{
    if (f->rseq_size > 0)
        sys_rseq(rseq_area(f), CK_RSEQ_AREA_LEN, 1 /* RSEQ_FLAG_UNREGISTER */, CK_RSEQ_SIG);
}

void tls_resume_rseq(const struct tls_facts *f)
{
    if (f->rseq_size > 0)
        sys_rseq(rseq_area(f), CK_RSEQ_AREA_LEN, 0, CK_RSEQ_SIG);
}

void tls_save(struct ckpt_process_record *rec, const struct tls_facts *f)
{
    unsigned long fs = 0, gs = 0;
    sys_arch_prctl(CK_ARCH_GET_FS, (unsigned long)&fs);
    sys_arch_prctl(CK_ARCH_GET_GS, (unsigned long)&gs);
    rec->fs_base = fs;
    rec->gs_base = gs;
    if (f->rseq_size > 0) {
        rec->rseq_addr = fs + (unsigned long)f->rseq_offset;
        rec->rseq_len = CK_RSEQ_AREA_LEN;
        rec->rseq_sig = CK_RSEQ_SIG;
    }
    if (f->tid_offset > 0)
        rec->tid_addr = fs + (unsigned long)f->tid_offset;
    void *head = 0;
    size_t len = 0;
    if (sys_get_robust_list(0, &head, &len) == 0) {
        rec->robust_list = (uint64_t)head;
        rec->robust_list_len = len;
    }
}

/* ---- restore side: restore core ------------------------------------------------------- */

uint32_t tls_restore(const struct restore_plan *p)
{
    const struct ckpt_process_record *r = p->proc;
    uint32_t warnings = 0;
    if (sys_arch_prctl(CK_ARCH_SET_FS, r->fs_base) < 0)
        core_die(p, "setting the FS base to %lx", (unsigned long)r->fs_base);
    if (r->gs_base)
        sys_arch_prctl(CK_ARCH_SET_GS, r->gs_base);
    if (r->rseq_addr && sys_rseq((void *)r->rseq_addr, r->rseq_len, 0, r->rseq_sig) < 0)
        warnings |= CKPT_RESTORE_WARN_RSEQ;
    if (r->tid_addr) {
        /* glibc keeps the thread id in struct pthread; the kernel clears it at exit. */
        long tid = sys_set_tid_address((void *)r->tid_addr);
        *(volatile int *)r->tid_addr = (int)tid;
    }
    if (r->robust_list)
        sys_set_robust_list((void *)r->robust_list, r->robust_list_len);
    return warnings;
}
