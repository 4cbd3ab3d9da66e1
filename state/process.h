/* Process-wide state: mm layout (brk, stack, arguments, environment, auxv), working
 * directory, umask, name, resource limits and interval timers.
 *
 * save    (checkpoint handler) process_save
 * check   (restore-run phase 1) process_check
 * restore (restore core) process_restore_mm right after memory (brk, cmdline, environ),
 *         process_restore_rest at the end (cwd, umask, name, limits, timers). */
#ifndef CKPT_PROCESS_H
#define CKPT_PROCESS_H

#include "../include/ckpt/image.h"
#include "util.h"

struct restore_plan;
/* own_children: nown children of the shim's, not the program's (ignored; 0s are none). */
int process_save(struct ckpt_process_record *rec, const long *own_children, int nown,
                 struct ck_error *err);
/* Checks what the core will need of the machine (cwd, mmap_min_addr, RLIMIT_DATA, auxv) and
 * refuses, unless p->allow_running, when the checkpointed process still runs (sets
 * p->original_runs). */
int process_check(struct restore_plan *p, struct ck_error *err);
uint32_t process_restore_mm(const struct restore_plan *p);
void process_restore_rest(const struct restore_plan *p);

#endif
