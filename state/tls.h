/* Thread-local state of the (main) thread: FS/GS base, the rseq registration glibc made,
 * glibc's cached tid and the robust futex list.
 *
 * save    (checkpoint handler) tls_save
 * restore (restore core) tls_restore: FS first, before any restored code runs. */
#ifndef CKPT_TLS_H
#define CKPT_TLS_H

#include <stddef.h>

#include "../include/ckpt/image.h"

/* What the shim learnt about glibc at startup. */
struct tls_facts {
    long rseq_offset;   /* __rseq_offset: the rseq area from the thread pointer */
    unsigned rseq_size; /* __rseq_size: 0 if glibc did not register rseq */
    long tid_offset;    /* struct pthread's tid field from the thread pointer, 0 = unknown */
};

struct restore_plan;
/* The kernel writes the current CPU into the rseq area whenever the thread migrates; the
 * registration is paused while memory is written so every checksummed page stays as is. */
void tls_pause_rseq(const struct tls_facts *f);
void tls_resume_rseq(const struct tls_facts *f);
void tls_save(struct ckpt_process_record *rec, const struct tls_facts *f);
/* Returns CKPT_RESTORE_WARN_* bits for what could not be restored. */
uint32_t tls_restore(const struct restore_plan *p);

#endif
