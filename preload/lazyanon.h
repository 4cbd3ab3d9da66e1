/* After restore-run --lazy: private anonymous memory mapped from an image keeps the
 * kernel's anonymous-memory semantics for the program's madvise calls (lazyanon.c). */
#ifndef CKPT_LAZYANON_H
#define CKPT_LAZYANON_H

#include <stddef.h>

/* At each restore, before the threads go back into the program: the core's list is new. */
void lazyanon_after_restore(void);

/* 1 if madvise(addr, len, advice) may touch memory a lazy restore mapped from an image as
 * anonymous memory, where that advice means something else on a file mapping. Cheap. */
int lazyanon_concerns(void *addr, size_t len, int advice);

/* madvise for such a call: the kernel's answer, with the listed parts of [addr, addr+len)
 * still mapped from an image made anonymous memory (zeros for MADV_DONTNEED and MADV_FREE,
 * the same contents for MADV_WIPEONFORK), as the advice expects. Raw syscalls only. */
int lazyanon_madvise(void *addr, size_t len, int advice, int (*real)(void *, size_t, int));

#endif
