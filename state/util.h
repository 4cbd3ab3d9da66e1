/* Small libc-free helpers shared by the checkpoint handler, restore-run and the restore
 * core: strings, number parsing and formatting, whole-file reads, and error messages.
 * Raw syscalls only; no allocation, no errno, no TLS. */
#ifndef CKPT_UTIL_H
#define CKPT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define CK_PAGE 4096UL
#define CK_PAGE_DOWN(x) ((uint64_t)(x) & ~(CK_PAGE - 1))
#define CK_PAGE_UP(x) (((uint64_t)(x) + CK_PAGE - 1) & ~(CK_PAGE - 1))
#define CK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

size_t ck_strlen(const char *s);
int ck_streq(const char *a, const char *b);
int ck_starts_with(const char *s, const char *prefix);
int ck_ends_with(const char *s, const char *suffix);
/* Copies at most cap-1 bytes and terminates; returns -1 if s did not fit. */
int ck_strlcpy(char *dst, const char *s, size_t cap);
void ck_memcpy(void *dst, const void *src, size_t n);
void ck_memset(void *dst, int c, size_t n);
int ck_memcmp(const void *a, const void *b, size_t n);

/* Parses an unsigned number in the given base at *p and advances *p past it. */
uint64_t ck_parse_uint(const char **p, unsigned base);

/* printf subset: %s %c %d %u %x %p with l/ll/z, a width and the '0' flag, and %%.
 * Always terminates;
 * returns the length it would have had. */
size_t ck_vformat(char *buf, size_t cap, const char *fmt, va_list ap);
size_t ck_format(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Short description of an errno value (positive), e.g. "No space left on device", as the C
 * library words it; "Unknown error N" for a number Linux does not use. Returned by value
 * (nothing static: the restore core has no writable data), so ck_strerror's pointer lives
 * until the end of the full expression, as an argument to ck_fail or ck_format. */
struct ck_errtext {
    char s[56];
};
struct ck_errtext ck_errtext(int err);
#define ck_strerror(err) (ck_errtext(err).s)

/* Reads a whole (proc) file into buf, terminated; returns its length, -EFBIG if it did not
 * fit, or -errno. */
long ck_read_file(const char *path, char *buf, size_t cap);

/* Is pid gone: no such process, or a zombie waiting for its parent to reap it (it stays
 * in /proc)? A process whose /proc/PID/stat cannot be read for another reason counts as
 * there. */
int ck_process_gone(long pid);

/* Names removed while their files stay open: removing the last name of a large image then
 * costs nothing, and freeing its blocks — seconds on a file system mounted with discard,
 * 2.2 s for 4 GiB on ext4 — waits for ck_close_held. */
#define CK_HELD_MAX 16
struct ck_held {
    int fd[CK_HELD_MAX];
    int n;
};
/* unlinkat(dirfd, path, 0), first holding an O_PATH descriptor of what it names (a link is
 * held itself, never followed; a FIFO is never opened). Returns unlinkat's result. */
long ck_unlink_holding(struct ck_held *h, int dirfd, const char *path);
/* Closes what h holds: the files without a name are freed now. */
void ck_close_held(struct ck_held *h);

/* Reads a directory's entries with getdents64 (no allocation). */
struct ck_dir {
    int fd;
    long len, pos;
    char buf[2048];
};
/* Returns 0 or -errno. */
int ck_dir_open(struct ck_dir *d, const char *path);
/* The next entry's name, "." and ".." skipped; NULL at the end or on an error. */
const char *ck_dir_next(struct ck_dir *d);
void ck_dir_close(struct ck_dir *d);

/* The directory part of path into dir ("." for none, "/" for a file in /). */
void ck_directory_of(const char *path, char *dir, size_t cap);
/* The file name part of path (after its last '/'). */
const char *ck_file_name(const char *path);

/* Writes all of buf, retrying short writes; returns 0 or -errno. */
long ck_write_all(int fd, const void *buf, size_t n);

/* An error message built where the failure is found and printed once, by the caller that
 * knows which tool is speaking. */
struct ck_error {
    int code; /* -errno, or -1 for a failed check */
    char msg[1024];
};
/* Records the message and returns code, so callers can write `return ck_fail(err, ...)`. */
int ck_fail(struct ck_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "prefix: msg\n" to fd 2 with raw syscalls. */
void ck_print_error(const char *prefix, const struct ck_error *err);

/* Writes "tool: subject: message\n" to fd and exits with status 1 (raw syscalls). */
__attribute__((noreturn, format(printf, 4, 5))) void
ck_die(int fd, const char *tool, const char *subject, const char *fmt, ...);

/* May dir hold the images of a process running as uid? Only if nobody else can remove,
 * rename or swap its files: owned by uid or by root, and writable by others only with the
 * sticky bit (as /tmp). Returns 0, or fails with err saying why not. */
int ck_check_image_directory(const char *dir, uint32_t uid, struct ck_error *err);

/* A raw thread of this process, for a writer child only (never in the program, whose libc
 * knows nothing of it): it runs fn(arg) on the stack below stack_top (16-aligned) and exits.
 * It keeps the caller's FS base (code built with the stack protector, as libzstd is, reads
 * its canary there) and signal mask. *tid holds its tid until it has ended: the kernel clears
 * it and wakes its futex then (CLONE_CHILD_CLEARTID). Returns the tid or -errno. */
long ck_thread_start(char *stack_top, uint32_t *tid, void (*fn)(void *), void *arg);
/* Waits until the thread that ck_thread_start gave tid has ended. */
void ck_thread_join(uint32_t *tid);

#endif
