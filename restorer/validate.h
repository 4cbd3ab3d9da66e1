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
    /* After image_expand: fd and base are the expanded copy (a memfd), source_fd the image
     * file itself (restore-run's lock is on it); else -1. */
    int source_fd;
};

/* Opens path, refuses it unless it is a regular file owned by the calling user and not
 * writable by group or others, maps it, and checks structure, the header and metadata
 * checksums, with verify_pages every page checksum (reading all the data), and the
 * addresses the restore core will use. Returns 0, or -1 with err filled (nothing left open
 * or mapped). */
int validate_image_file(const char *path, int verify_pages, struct image_file *f,
                        struct image_view *v, struct ck_error *err);
void image_file_close(struct image_file *f);

/* An image with compressed page runs (v->ncompressed) is replaced, in f and v, by a copy in
 * memory (a memfd) with every run decompressed and the view opened on it again, so that the
 * rest of phase 1, the core and ckpt verify read plain runs. Each compressed frame's stored
 * checksum is checked before it is decompressed, and it must give exactly its run's length;
 * the pages' own checksums are checked where plain runs' are (place.c, image_verify_data).
 * Nothing else changes. Returns 0 (also for an image without compressed runs), or -1 with
 * err filled and f, v as they were. restorer/expand.c. */
int image_expand(struct image_file *f, struct image_view *v, struct ck_error *err);
/* Decompresses the compressed run c (CKPT_RECF_ZSTD) of view v into dst, exactly
 * c->run.extent.length bytes, after checking its stored checksum; g is its region (for
 * messages). The one reader of compressed page data: 0, or -1 with err filled. */
int image_read_compressed_run(const struct image_view *v,
                              const struct ckpt_compressed_run_record *c,
                              const struct ckpt_region_record *g, void *dst, struct ck_error *err);

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
void address_map_free(struct address_map *m);

/* This process's own mappings, read once from /proc/self/maps (restore-run at its start,
 * ckpt verify alike) and passed on to whatever needs them: the address ranges restore-run
 * occupies, its stack, and where the kernel's vDSO and vvar pages are. */
struct own_mappings {
    struct address_map all;
    uint64_t stack_start, stack_end;                             /* [stack]; 0, 0 if none */
    uint64_t special_start[VDSO_NMAPS], special_len[VDSO_NMAPS]; /* len 0 = absent */
};
int own_mappings_read(struct own_mappings *m, struct ck_error *err);
void own_mappings_free(struct own_mappings *m);

/* ---- the plan: one builder for restore-run and ckpt verify ------------------------------ */

/* What restore-run and ckpt verify give plan_build: all that differs between them. */
struct plan_setting {
    const struct image_view *view; /* validated, at the address the core reads it from */
    uint64_t image_len;            /* bytes of the image's mapping */
    uint64_t area_start, area_len; /* the core area, which the proxy vDSO avoids; 0, 0: none */
    const struct own_mappings *own;
    const uint8_t *startup_fds; /* descriptors 0..1023 restore-run was given (bitmap), or
                                 * NULL: every inherited descriptor counts as given */
    const char *image_path;     /* for messages */
    int allow_running;          /* see struct restore_plan */
    int cut_appended;
};

/* Bytes the plan for view takes: struct restore_plan and its region and descriptor arrays,
 * which plan_build puts right after it. */
uint64_t plan_size(const struct image_view *view);
/* Builds the plan in p (plan_size bytes) and checks the world against it: working
 * directory, every file opened or mapped (opened and kept in the plan), the limits, the
 * vDSO; then finds the program's executable. Returns 0, or -1 with err filled (what it
 * opened is closed). err_fd and image_fd are -1, the core's scratch and parking unset. */
int plan_build(struct restore_plan *p, const struct plan_setting *s, struct ck_error *err);
/* Closes the descriptors plan_build opened. */
void plan_close_files(struct restore_plan *p);

#endif
