/* Structure-aware fuzzing of an image's record fields, with every checksum made right, so
 * that each mutation reaches the checks behind them. For each of COUNT mutants of a real
 * image (one field of one record set to a value picked from a deterministic seed):
 *
 *   - `ckpt verify` and `restore-run` (with CKPT_TEST_STOP_BEFORE_RESTORE=1, which stops it
 *     just before its point of no return) both end normally, with 0 or 1 and a message;
 *   - they agree: `ckpt verify` says ok exactly when restore-run gets to its point of no
 *     return ("verify ok => restore passes its point of no return", and nothing restore-run
 *     refuses is passed by verify);
 *   - for the first REAL mutants that pass and change a field the restore core itself uses
 *     (not a saved register or handler address, which only the restored program follows),
 *     a real restore runs: the core must never fail after its point of no return (no
 *     "restore-run:" message, no exit 1); the restored program is killed after a moment.
 *
 * Usage: fuzz_fields IMAGE COUNT SEED REAL CKPT RESTORE-RUN WORKDIR
 *        fuzz_fields IMAGE --set=NAME=VALUE CKPT RESTORE-RUN WORKDIR
 * The second form makes one mutant (NAME as the first prints them, region[heap] and
 * region[stack] for those regions; VALUE a number, or +N / -N from the old value) that both
 * must refuse: the regressions the fuzzer found. Exit 0 if every mutant behaved, 1 with the
 * mutant's description otherwise. Needs no libFuzzer: it runs a fixed number of inputs, the
 * same ones for the same seed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "image_io.h"

#define MAX_FIELDS 8192

struct field {
    size_t at;   /* offset in the file */
    size_t size; /* 4 or 8 bytes, or a string's capacity */
    char name[64];
    int core_uses; /* the restore core uses it (a real restore may be tried) */
    int is_string;
    int alias; /* a second name for a field (for --set), not picked at random */
    /* Page data (of the stored vDSO, which restore-run parses): the run's checksum at
     * sum_at is made right over [data_at, data_at + data_len) after the change. */
    size_t sum_at, data_at, data_len;
};

static struct field fields[MAX_FIELDS];
static size_t nfields;
static uint64_t rng_state;

static uint64_t next_random(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static void add_field(size_t at, size_t size, int core_uses, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_field(size_t at, size_t size, int core_uses, const char *fmt, ...)
{
    if (nfields == MAX_FIELDS)
        return;
    struct field *f = &fields[nfields++];
    f->at = at;
    f->size = size;
    f->core_uses = core_uses;
    f->is_string = size > 8;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->name, sizeof f->name, fmt, ap);
    va_end(ap);
}

#define PROC_FIELD(member, core)                                                                   \
    add_field(base + offsetof(struct ckpt_process_record, member),                                 \
              sizeof(((struct ckpt_process_record *)0)->member), core, "process." #member)

static void process_fields(size_t base)
{
    PROC_FIELD(context.rip, 0);
    PROC_FIELD(context.rsp, 0);
    PROC_FIELD(restore_info_addr, 1);
    PROC_FIELD(fs_base, 1);
    PROC_FIELD(gs_base, 1);
    PROC_FIELD(rseq_addr, 1);
    PROC_FIELD(rseq_len, 1);
    PROC_FIELD(rseq_sig, 1);
    PROC_FIELD(tid_addr, 1);
    PROC_FIELD(robust_list, 1);
    PROC_FIELD(robust_list_len, 1);
    PROC_FIELD(start_code, 1);
    PROC_FIELD(end_code, 1);
    PROC_FIELD(start_data, 1);
    PROC_FIELD(end_data, 1);
    PROC_FIELD(start_brk, 1);
    PROC_FIELD(brk, 1);
    PROC_FIELD(start_stack, 1);
    PROC_FIELD(arg_start, 1);
    PROC_FIELD(arg_end, 1);
    PROC_FIELD(env_start, 1);
    PROC_FIELD(env_end, 1);
    PROC_FIELD(auxv_words, 1);
    PROC_FIELD(umask, 1);
    PROC_FIELD(checkpoint_signal, 1);
    PROC_FIELD(sigmask, 1);
    PROC_FIELD(sigpending, 0); /* a raised signal runs the program's handler */
    PROC_FIELD(cwd, 1);
    PROC_FIELD(exe, 1);
    for (int i = 0; i < 3; i++) {
        size_t t = base + offsetof(struct ckpt_process_record, itimers) +
                   (size_t)i * sizeof(struct ckpt_itimer);
        add_field(t + offsetof(struct ckpt_itimer, interval_usec), 8, 1, "itimer[%d].interval_usec",
                  i);
        add_field(t + offsetof(struct ckpt_itimer, value_sec), 8, 1, "itimer[%d].value_sec", i);
    }
    for (int i = 0; i < CKPT_NRLIMITS; i++) {
        size_t l = base + offsetof(struct ckpt_process_record, rlimits) +
                   (size_t)i * sizeof(struct ckpt_rlimit);
        add_field(l, 8, 1, "rlimit[%d].cur", i);
        add_field(l + 8, 8, 1, "rlimit[%d].max", i);
    }
    static const int sigs[] = {2, 9, 10, 12, 14, 17, 19, 33, 64};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        size_t a = base + offsetof(struct ckpt_process_record, sigactions) +
                   (size_t)(sigs[i] - 1) * sizeof(struct ckpt_sigaction);
        add_field(a + offsetof(struct ckpt_sigaction, handler), 8, 0, "sigaction[%d].handler",
                  sigs[i]);
        add_field(a + offsetof(struct ckpt_sigaction, flags), 8, 1, "sigaction[%d].flags", sigs[i]);
        add_field(a + offsetof(struct ckpt_sigaction, restorer), 8, 0, "sigaction[%d].restorer",
                  sigs[i]);
        add_field(a + offsetof(struct ckpt_sigaction, mask), 8, 1, "sigaction[%d].mask", sigs[i]);
    }
}

static void region_fields(size_t base, const char *name)
{
#define REGION_FIELD(member)                                                                       \
    add_field(base + offsetof(struct ckpt_region_record, member),                                  \
              sizeof(((struct ckpt_region_record *)0)->member), 1, "region[%s]." #member, name)
    REGION_FIELD(start);
    REGION_FIELD(end);
    REGION_FIELD(prot);
    REGION_FIELD(kind);
    REGION_FIELD(file_offset);
    REGION_FIELD(nruns);
}

/* region[N], and for the heap and the stack also region[heap] and region[stack]. */
static void region_names(const struct ckpt_region_record *g, size_t base, unsigned n)
{
    char index[16];
    snprintf(index, sizeof index, "%u", n);
    region_fields(base, index);
    if (g->kind != CKPT_REGION_HEAP && g->kind != CKPT_REGION_STACK)
        return;
    size_t first = nfields;
    region_fields(base, g->kind == CKPT_REGION_HEAP ? "heap" : "stack");
    for (size_t i = first; i < nfields; i++)
        fields[i].alias = 1;
}

static void run_fields(size_t base, unsigned n)
{
    add_field(base + offsetof(struct ckpt_run_record, addr), 8, 1, "run[%u].addr", n);
    add_field(base + offsetof(struct ckpt_run_record, extent.length), 8, 1, "run[%u].length", n);
    add_field(base + offsetof(struct ckpt_run_record, extent.file_offset), 8, 1,
              "run[%u].file_offset", n);
}

#define RECORD_FIELD(type, label, member)                                                          \
    add_field(base + offsetof(struct type, member), sizeof(((struct type *)0)->member), 1,         \
              label "[%u]." #member, n)

static void file_fields(size_t base, unsigned n)
{
    RECORD_FIELD(ckpt_file_record, "file", kind);
    RECORD_FIELD(ckpt_file_record, "file", flags);
    RECORD_FIELD(ckpt_file_record, "file", offset);
}

static void fd_fields(size_t base, unsigned n)
{
    RECORD_FIELD(ckpt_fd_record, "fd", fd);
    RECORD_FIELD(ckpt_fd_record, "fd", file);
    RECORD_FIELD(ckpt_fd_record, "fd", cloexec);
    RECORD_FIELD(ckpt_fd_record, "fd", origin);
}

/* Words of the stored vDSO's ELF headers, program headers, and a spread of the rest (its
 * symbol and string tables): what libelf reads when restore-run builds the vDSO proxy. */
static void vdso_fields(const struct ckpt_run_record *u, size_t run_at)
{
    const struct ckpt_extent *e = &u->extent;
    for (uint64_t off = 0; off < e->length; off += off < 512 ? 8 : 200) {
        add_field(e->file_offset + off, 8, 0, "vdso byte %lu", (unsigned long)off);
        struct field *f = &fields[nfields - 1];
        f->sum_at = run_at + offsetof(struct ckpt_run_record, extent.checksum);
        f->data_at = e->file_offset;
        f->data_len = e->length;
    }
}

static void collect_fields(const struct image_view *v)
{
    unsigned nregion = 0, nrun = 0, nfile = 0, nfd = 0;
    const struct ckpt_region_record *region = NULL;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        size_t base = (size_t)((const unsigned char *)r - v->base);
        if (r->kind == CKPT_REC_REGION)
            region = (const void *)r;
        if (r->kind == CKPT_REC_RUN && region && region->kind == CKPT_REGION_VDSO)
            vdso_fields((const void *)r, base);
        if (r->kind == CKPT_REC_PROCESS)
            process_fields(base);
        else if (r->kind == CKPT_REC_REGION)
            region_names((const void *)r, base, nregion++);
        else if (r->kind == CKPT_REC_RUN && nrun++ % 4 == 0)
            run_fields(base, nrun - 1);
        else if (r->kind == CKPT_REC_FILE)
            file_fields(base, nfile++);
        else if (r->kind == CKPT_REC_FD)
            fd_fields(base, nfd++);
    }
}

/* A value for a numeric field: boundaries of the address space and of the field's type,
 * the old value moved a little, another field's value, random bits. */
static uint64_t pick_value(const unsigned char *image, uint64_t old)
{
    static const uint64_t special[] = {0,
                                       1,
                                       2,
                                       3,
                                       8,
                                       0x20,
                                       0x7f,
                                       0xfff,
                                       0x1000,
                                       0xffff,
                                       0x10000,
                                       999999,
                                       1000000,
                                       0x7fffffff,
                                       0x80000000,
                                       0xffffffff,
                                       0x100000000ULL,
                                       0x7ffffffff000ULL,
                                       0x7ffffffffff8ULL,
                                       0x800000000000ULL,
                                       0xffff800000000000ULL,
                                       0x7fffffffffffffffULL,
                                       0x8000000000000000ULL,
                                       ~0ULL - 0xfff,
                                       ~0ULL};
    uint64_t r = next_random();
    switch (r % 8) {
    case 0:
    case 1:
        return special[(r >> 8) % (sizeof special / sizeof special[0])];
    case 2:
        return old + ((r >> 8) % 64) - 32;
    case 3:
        return old + (((r >> 8) % 9) - 4) * 0x1000;
    case 4:
        return old ^ (1ULL << ((r >> 8) % 64));
    case 5:
        return old - ((r >> 8) % 0x100000);
    case 6: { /* another field's value, often an address of the same image */
        const struct field *f = &fields[(r >> 8) % nfields];
        uint64_t v = 0;
        if (!f->is_string)
            memcpy(&v, image + f->at, f->size);
        return v;
    }
    default:
        return r >> ((r >> 6) % 64);
    }
}

static const char *pick_string(void)
{
    static const char *const strings[] = {"/", "/nonexistent-ckpt-dir", "relative/dir",
                                          "",  "/proc/self/fd/0",       "/etc/passwd"};
    return strings[next_random() % (sizeof strings / sizeof strings[0])];
}

static void fix_checksums(unsigned char *image, uint64_t size)
{
    struct ckpt_file_header *h = (void *)image;
    if (h->meta_offset <= size && h->meta_length <= size - h->meta_offset)
        h->meta_checksum = ck_hash64(image + h->meta_offset, h->meta_length);
    h->header_checksum = ck_hash64(h, offsetof(struct ckpt_file_header, header_checksum));
}

static int write_file(const char *path, const void *data, size_t size)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, size);
    close(fd);
    return n == (ssize_t)size ? 0 : -1;
}

static void read_text(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Runs argv with stdout and stderr to out and err, stdin from /dev/null; with stop_env,
 * restore-run stops before its point of no return. wait_ms > 0: the restored program is
 * killed after so long. Returns the wait status. */
static int run(char *const argv[], const char *out, const char *err, int stop_env, int wait_ms)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fuzz_fields: fork");
        exit(1);
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        if (stop_env)
            setenv("CKPT_TEST_STOP_BEFORE_RESTORE", "1", 1);
        else
            unsetenv("CKPT_TEST_STOP_BEFORE_RESTORE");
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    for (int waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, &status, wait_ms > 0 ? WNOHANG : 0);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR) {
            perror("fuzz_fields: waitpid");
            exit(1);
        }
        if (wait_ms > 0 && waited >= wait_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1; /* still running: it was restored */
        }
        if (wait_ms > 0)
            usleep(5000);
    }
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status)
                             : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

struct settings {
    const char *ckpt, *restore, *dir;
    char mutant[4096], out[4096], err[4096];
};

static int fail_mutant(const char *what, const char *desc, const char *detail)
{
    fprintf(stderr, "fuzz_fields: FAIL: %s: %s\n  %s\n", desc, what, detail);
    return 1;
}

/* One mutant: the checks of the header comment. Returns 0, or 1 on a failure. */
static int try_mutant(struct settings *s, const char *desc, int real, int *real_left)
{
    char verify_err[2048], restore_err[2048], restore_out[2048];
    char *verify_argv[] = {(char *)s->ckpt, "verify", s->mutant, NULL};
    char *restore_argv[] = {(char *)s->restore, s->mutant, NULL};
    int vs = run(verify_argv, s->out, s->err, 0, 0);
    read_text(s->err, verify_err, sizeof verify_err);
    int rs = run(restore_argv, s->out, s->err, 1, 0);
    read_text(s->err, restore_err, sizeof restore_err);
    read_text(s->out, restore_out, sizeof restore_out);
    int v = exit_code(vs), r = exit_code(rs);
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "restore-run: %s: ", s->mutant);
    if (v != 0 && v != 1)
        return fail_mutant("ckpt verify did not end with 0 or 1", desc, verify_err);
    if (r != 0 && r != 1)
        return fail_mutant("restore-run did not end with 0 or 1", desc, restore_err);
    if (v == 1 && !strstr(verify_err, "ckpt: "))
        return fail_mutant("ckpt verify refused without a message", desc, verify_err);
    if (r == 1 && strncmp(restore_err, prefix, strlen(prefix)))
        return fail_mutant("restore-run refused without a 'restore-run: IMAGE: why' message", desc,
                           restore_err);
    if (r == 0 && !strstr(restore_out, "stopped before the point of no return"))
        return fail_mutant("restore-run exited 0 without reaching its point of no return", desc,
                           restore_out);
    if (v == 0 && r != 0)
        return fail_mutant("ckpt verify said ok, but restore-run refused", desc, restore_err);
    if (v != 0 && r == 0)
        return fail_mutant("restore-run would restore what ckpt verify refuses", desc, verify_err);
    if (v != 0 || !real || *real_left <= 0)
        return 0;
    (*real_left)--;
    int status = run(restore_argv, s->out, s->err, 0, 300);
    read_text(s->err, restore_err, sizeof restore_err);
    if (strstr(restore_err, "restore-run: ") && !strstr(restore_err, ": warning: "))
        return fail_mutant("the restore core failed after its point of no return", desc,
                           restore_err);
    if (status != -1 && exit_code(status) == 1)
        return fail_mutant("the restore exited 1", desc, restore_err);
    return 0;
}

/* Sets fld in copy to val (a numeric field), or to str; makes a stored page's checksum
 * right; describes it in desc. */
static void set_field(unsigned char *copy, const unsigned char *image, const struct field *fld,
                      uint64_t val, const char *str, char *desc, size_t cap, long i)
{
    if (fld->is_string) {
        snprintf((char *)copy + fld->at, fld->size, "%s", str);
        snprintf(desc, cap, "mutant %ld: %s = \"%s\"", i, fld->name, str);
    } else {
        uint64_t old = 0;
        memcpy(&old, image + fld->at, fld->size);
        memcpy(copy + fld->at, &val, fld->size);
        val = fld->size == 4 ? (uint32_t)val : val;
        snprintf(desc, cap, "mutant %ld: %s = %#llx (was %#llx)", i, fld->name,
                 (unsigned long long)val, (unsigned long long)old);
    }
    if (fld->data_len) {
        uint64_t sum = ck_hash64(copy + fld->data_at, fld->data_len);
        memcpy(copy + fld->sum_at, &sum, sizeof sum);
    }
}

static int write_mutant(const struct settings *s, unsigned char *copy, long size)
{
    fix_checksums(copy, (uint64_t)size);
    if (write_file(s->mutant, copy, (size_t)size) == 0)
        return 0;
    fprintf(stderr, "fuzz_fields: writing %s: %s\n", s->mutant, strerror(errno));
    return -1;
}

/* --set=NAME=VALUE: one mutant, which verify and restore-run must both refuse. */
static int set_mode(struct settings *s, const unsigned char *image, unsigned char *copy, long size,
                    const char *spec)
{
    const char *eq = strchr(spec, '=');
    const struct field *fld = NULL;
    for (size_t i = 0; eq && i < nfields; i++)
        if (strlen(fields[i].name) == (size_t)(eq - spec) &&
            !strncmp(fields[i].name, spec, (size_t)(eq - spec)))
            fld = &fields[i];
    if (!fld || fld->is_string) {
        fprintf(stderr, "fuzz_fields: no numeric field %s in the image\n", spec);
        return 1;
    }
    uint64_t old = 0, val = strtoull(eq + 1 + (eq[1] == '+' || eq[1] == '-'), NULL, 0);
    memcpy(&old, image + fld->at, fld->size);
    val = eq[1] == '+' ? old + val : eq[1] == '-' ? old - val : val;
    char desc[256];
    memcpy(copy, image, (size_t)size);
    set_field(copy, image, fld, val, NULL, desc, sizeof desc, 0);
    if (write_mutant(s, copy, size))
        return 1;
    int none = 0;
    if (try_mutant(s, desc, 0, &none))
        return 1;
    char verify_err[2048];
    char *verify_argv[] = {(char *)s->ckpt, "verify", s->mutant, NULL};
    if (exit_code(run(verify_argv, s->out, s->err, 0, 0)) != 1)
        return fail_mutant("ckpt verify did not refuse it", desc, "");
    read_text(s->err, verify_err, sizeof verify_err);
    printf("fuzz_fields: %s: refused by both: %s", desc, verify_err);
    return 0;
}

int main(int argc, char **argv)
{
    int set = argc == 6 && !strncmp(argv[2], "--set=", 6);
    if (argc != 8 && !set) {
        fprintf(stderr, "usage: fuzz_fields IMAGE COUNT SEED REAL CKPT RESTORE-RUN WORKDIR\n"
                        "       fuzz_fields IMAGE --set=NAME=VALUE CKPT RESTORE-RUN WORKDIR\n");
        return 2;
    }
    struct settings s = {
        .ckpt = argv[set ? 3 : 5], .restore = argv[set ? 4 : 6], .dir = argv[set ? 5 : 7]};
    long count = set ? 0 : atol(argv[2]), real = set ? 0 : atol(argv[4]);
    rng_state = set ? 1 : strtoull(argv[3], NULL, 0) | 1;
    snprintf(s.mutant, sizeof s.mutant, "%s/mutant.ckpt", s.dir);
    snprintf(s.out, sizeof s.out, "%s/out", s.dir);
    snprintf(s.err, sizeof s.err, "%s/err", s.dir);

    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "fuzz_fields: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *image = malloc((size_t)size), *copy = malloc((size_t)size);
    if (!image || !copy || fread(image, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "fuzz_fields: reading %s failed\n", argv[1]);
        return 1;
    }
    fclose(f);
    struct image_view v;
    struct ck_error err;
    if (image_open_view(&v, image, (uint64_t)size, &err)) {
        fprintf(stderr, "fuzz_fields: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    collect_fields(&v);
    if (set)
        return set_mode(&s, image, copy, size, argv[2] + 6);

    int real_left = (int)real, failures = 0;
    long passed = 0;
    for (long i = 0; i < count && failures == 0; i++) {
        memcpy(copy, image, (size_t)size);
        const struct field *fld;
        do
            fld = &fields[next_random() % nfields];
        while (fld->alias);
        uint64_t old = 0;
        if (!fld->is_string)
            memcpy(&old, image + fld->at, fld->size);
        char desc[256];
        set_field(copy, image, fld, fld->is_string ? 0 : pick_value(image, old),
                  fld->is_string ? pick_string() : NULL, desc, sizeof desc, i);
        int changed = memcmp(copy, image, (size_t)size) != 0;
        if (write_mutant(&s, copy, size))
            return 1;
        int before = real_left;
        failures += try_mutant(&s, desc, changed && fld->core_uses, &real_left);
        if (getenv("FUZZ_FIELDS_VERBOSE"))
            fprintf(stderr, "%s%s\n", desc, before != real_left ? " (restored)" : "");
        passed++;
    }
    if (failures)
        return 1;
    printf("fuzz_fields: %ld mutants of %zu fields (seed %s): verify and restore-run agreed; "
           "%ld real restores passed their point of no return\n",
           passed, nfields, argv[3], real - real_left);
    return 0;
}
