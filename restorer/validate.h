/* Everything restore-run checks before its point of no return, as one piece of code that
 * restore-run (phase 1) and `ckpt verify` both run: the image file (ownership, mode,
 * structure, every checksum, addresses) and the world it is restored into (working
 * directory, every file the program had open or mapped, the vDSO). libc allowed. */
#ifndef CKPT_VALIDATE_H
#define CKPT_VALIDATE_H

#include "plan.h"
#include "vdso_elf.h"

/* An image file mapped read-only. */
struct image_file {
    int fd;
    void *base;
    uint64_t size;
};

/* Opens path, refuses it unless it is a regular file owned by the calling user and not
 * writable by group or others, maps it, and checks structure, the header and metadata
 * checksums, with verify_pages every page checksum (reading all the data), and the
 * addresses the restore core will use. Returns 0, or -1 with err filled (nothing left open
 * or mapped). */
int validate_image_file(const char *path, int verify_pages, struct image_file *f,
                        struct image_view *v, struct ck_error *err);
void image_file_close(struct image_file *f);

/* Bytes of the program's memory regions (the kernel's own left out). */
uint64_t image_memory_bytes(const struct image_view *v);
/* Raises the soft RLIMIT_NOFILE and RLIMIT_AS to the hard ones: restore-run's own work may
 * need all the hard limits allow (validate_environment checks that they do; the restored
 * program gets its recorded limits back at the end), and ckpt verify judges alike. */
void validate_raise_soft_limits(void);
/* This process's address space now, from /proc/self/statm. */
uint64_t validate_own_address_space(void);
/* Refuses, naming RLIMIT_AS, when need bytes of address space (what for) exceed it. */
int validate_address_space(uint64_t need, const char *what, struct ck_error *err);

/* Refuses to run with other rights than the real user's (setuid or setgid). */
int validate_own_rights(struct ck_error *err);

/* Bytes plan_records needs at fds: the fd_plans, then the file_plans. */
uint64_t plan_fds_bytes(const struct image_view *v);
/* Points p->regions and p->fds (caller-provided: view->nregions entries, and
 * plan_fds_bytes at fds) at the image's records, each descriptor at its FILE; p->view must
 * be set. */
void plan_records(struct restore_plan *p, struct region_plan *regions, struct fd_plan *fds);

/* Checks the world: working directory, every file opened or mapped (opened and kept in
 * the plan), and plans the vDSO. Returns 0 or -1 with err filled. */
int validate_environment(struct restore_plan *p, gap_finder find_gap, void *ctx,
                         struct ck_error *err);
/* Closes the descriptors validate_environment opened. */
void plan_close_files(struct restore_plan *p);
/* The highest descriptor number restore-run needs, plus one: the program's highest, then
 * every file validate_environment opened, then restore-run's own. */
uint64_t plan_descriptors_needed(const struct restore_plan *p);

/* Free address ranges: intervals occupied so far, and the lowest gap among them. */
struct address_map {
    struct {
        uint64_t start, end;
    } * v;
    size_t n, cap;
    int out_of_memory;
};
void address_map_occupy(struct address_map *m, uint64_t start, uint64_t end);
void address_map_occupy_regions(struct address_map *m, const struct image_view *v);
/* Lowest free range of len bytes (with a guard page on each side) between 4 GiB and the
 * top of user space; 0 if none. */
uint64_t address_map_find_gap(struct address_map *m, uint64_t len);
uint64_t address_map_gap_finder(uint64_t len, void *map); /* a gap_finder over a map */
void address_map_free(struct address_map *m);

#endif
