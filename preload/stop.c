/* The stop protocol; see stop.h.
 *
 * ================ NO LIBC IN THIS FILE (signal handler context) ================
 *
 * Shared state: `door` packs the stop's generation (upper half, 0 when closed) with the
 * number of slots handed out (lower half, the leader's slot 0 included). A follower enters
 * with one compare-and-swap that checks the generation and takes the next slot, so once the
 * leader has closed the door (generation 0) nobody can take a slot any more, and the leader
 * knows exactly how many captures it must wait for before it may free the arena the slots
 * live in. `arrived` counts the completed captures (the leader's counts from the start);
 * followers park on `release` until it holds their generation. */
#include "stop.h"
#include "shim.h"
#include "sigroute.h"
#include "sys.h"

#include <asm/errno.h>
#include <ucontext.h>

int ckpt_context_save(struct ckpt_cpu_context *ctx) __attribute__((returns_twice));

#define WAIT_SLICE_NS 10000000u /* how long the leader sleeps between listings */
#define JOIN_SLICE_NS 1000000u  /* how often a would-be leader looks for the stop's door */
/* How often a thread that has not arrived is sent its request again. A standard signal does
 * not queue: while one is pending for the thread (the program's own pthread_kill of it, as
 * the JVM suspends threads with SIGUSR2), the kernel drops ours and still returns 0. */
#define RESEND_NS 100000000u

static struct {
    uint32_t leader;     /* the leading thread's tid, 0 when none leads */
    uint32_t generation; /* of the last stop */
    uint64_t door;       /* generation << 32 | slots handed out */
    uint32_t arrived;    /* futex word: captures complete */
    uint32_t release;    /* futex word: the generation released last */
    struct thread_capture *slots;
    uint32_t *ready;
    int32_t failed; /* a follower's capture failed: error holds why */
    struct ck_error error;
} stop;

/* FUTEX_WAIT with a relative timeout. */
static void futex_wait_for(uint32_t *word, uint32_t seen, uint64_t ns)
{
    struct {
        int64_t sec, nsec;
    } t = {(int64_t)(ns / 1000000000u), (int64_t)(ns % 1000000000u)};
    sys_call4(__NR_futex, (long)word, CK_FUTEX_WAIT_PRIVATE, seen, (long)&t);
}

static void futex_wake_all(uint32_t *word)
{
    sys_futex(word, CK_FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

int stop_claim(void)
{
    uint32_t none = 0;
    return __atomic_compare_exchange_n(&stop.leader, &none, (uint32_t)sys_gettid(), 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void stop_unclaim(void)
{
    __atomic_store_n(&stop.leader, 0, __ATOMIC_RELEASE);
    futex_wake_all(&stop.leader); /* would-be leaders waiting in stop_join */
}

/* ---- follower ------------------------------------------------------------------------- */

/* Takes a slot of stop gen if its door is open: 1 with *slot set, else 0 (a stale request). */
static int enter(uint32_t gen, uint32_t *slot)
{
    uint64_t door = __atomic_load_n(&stop.door, __ATOMIC_ACQUIRE);
    do {
        if ((uint32_t)(door >> 32) != gen || gen == 0)
            return 0;
    } while (!__atomic_compare_exchange_n(&stop.door, &door, door + 1, 0, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    *slot = (uint32_t)door;
    return 1;
}

static void fail_follower(const struct ck_error *err)
{
    int32_t none = 0;
    if (__atomic_compare_exchange_n(&stop.failed, &none, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        stop.error = *err;
}

static void capture_into(uint32_t slot, const void *uc, const struct ckpt_cpu_context *ctx,
                         int rseq_paused)
{
    struct ck_error err;
    if (slot >= CKPT_THREADS_MAX) {
        ck_fail(&err, -1, "the program has more than %d threads", CKPT_THREADS_MAX);
        fail_follower(&err);
    } else if (thread_save_self(&stop.slots[slot], uc, ctx, &ckpt_shim.glibc, rseq_paused, NULL,
                                &err)) {
        fail_follower(&err);
    }
    /* The slot's tid says it is complete; a failed one counts as arrived all the same. */
    if (slot < CKPT_THREADS_MAX)
        __atomic_store_n(&stop.ready[slot], (uint32_t)sys_gettid(), __ATOMIC_RELEASE);
    __atomic_add_fetch(&stop.arrived, 1, __ATOMIC_ACQ_REL);
    sys_futex(&stop.arrived, CK_FUTEX_WAKE_PRIVATE, 1);
}

static void park(uint32_t gen)
{
    uint32_t seen;
    while ((seen = __atomic_load_n(&stop.release, __ATOMIC_ACQUIRE)) != gen)
        sys_futex(&stop.release, CK_FUTEX_WAIT_PRIVATE, seen);
}

int stop_follow(const void *uc, uint32_t gen)
{
    uint32_t slot;
    if (!enter(gen, &slot))
        return 0;
    int rseq_paused = thread_pause_rseq(&ckpt_shim.glibc);
    struct ckpt_cpu_context ctx;
    if (ckpt_context_save(&ctx) != 0)
        return 1; /* restored: the core registered rseq again */
    capture_into(slot, uc, &ctx, rseq_paused);
    park(gen);
    thread_resume_rseq(&ckpt_shim.glibc, rseq_paused);
    return 0;
}

int stop_join(const void *uc)
{
    while (__atomic_load_n(&stop.leader, __ATOMIC_ACQUIRE) != 0) {
        uint32_t gen = (uint32_t)(__atomic_load_n(&stop.door, __ATOMIC_ACQUIRE) >> 32);
        if (gen && stop_follow(uc, gen))
            return 1;
        if (!gen) {
            uint32_t leader = __atomic_load_n(&stop.leader, __ATOMIC_ACQUIRE);
            if (leader)
                futex_wait_for(&stop.leader, leader, JOIN_SLICE_NS);
        }
    }
    return 0;
}

/* ---- leader --------------------------------------------------------------------------- */

/* The index of tid in the sorted r->known, or where it would go. */
static uint32_t known_at(const struct stop_run *r, uint32_t tid)
{
    uint32_t lo = 0, hi = r->nknown;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->known[mid].tid < tid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* tid's entry, added if new; 0 when the table is full. */
static struct stop_tid *known_entry(struct stop_run *r, uint32_t tid)
{
    uint32_t i = known_at(r, tid);
    if (i < r->nknown && r->known[i].tid == tid)
        return &r->known[i];
    if (r->nknown >= CKPT_THREADS_MAX)
        return 0;
    __builtin_memmove(&r->known[i + 1], &r->known[i], (r->nknown - i) * sizeof r->known[0]);
    r->nknown++;
    r->known[i] = (struct stop_tid){tid, 0, 0, {0, 0}};
    return &r->known[i];
}

/* Marks the tids of the completed slots as arrived. */
static void take_arrivals(struct stop_run *r)
{
    uint32_t handed = (uint32_t)__atomic_load_n(&stop.door, __ATOMIC_ACQUIRE);
    for (uint32_t i = 1; i < handed && i < CKPT_THREADS_MAX; i++) {
        uint32_t tid = __atomic_load_n(&stop.ready[i], __ATOMIC_ACQUIRE);
        struct stop_tid *k = tid ? known_entry(r, tid) : 0;
        if (k)
            k->arrived = 1;
    }
}

static long send_stop(uint32_t tid, uint32_t gen)
{
    siginfo_t info;
    __builtin_memset(&info, 0, sizeof info);
    long pid = sys_getpid();
    info.si_signo = ckpt_shim.signal;
    info.si_code = SI_QUEUE;
    info.si_pid = (int)pid;
    info.si_uid = (unsigned)sys_getuid();
    uint64_t value = sigroute_own_value(ckpt_shim.sigroute_cookie, SIGROUTE_TAG_STOP, gen);
    info.si_value.sival_ptr = (void *)(uintptr_t)value;
    return sys_call4(__NR_rt_tgsigqueueinfo, pid, tid, ckpt_shim.signal, (long)&info);
}

/* One pass: every thread listed now that has not arrived is sent its request if it has
 * none yet, or again with resend. Returns how many listed threads have not arrived (0: the
 * fixed point), with *first_missing the first of them, or -1 with err. A request a thread
 * gets twice finds the stop over the second time (stale), as the thread has parked in its
 * handler, every signal blocked, until the release. */
static long signal_missing(struct stop_run *r, int resend, uint32_t *first_missing,
                           struct ck_error *err)
{
    struct ck_dir dir;
    int rc = ck_dir_open(&dir, "/proc/self/task");
    if (rc < 0)
        return ck_fail(err, rc, "listing /proc/self/task: %s", ck_strerror(-rc));
    uint32_t self = (uint32_t)sys_gettid();
    long missing = 0;
    const char *name;
    while ((name = ck_dir_next(&dir))) {
        uint32_t tid = (uint32_t)ck_parse_uint(&name, 10);
        if (tid == self)
            continue;
        struct stop_tid *k = known_entry(r, tid);
        if (!k) {
            ck_dir_close(&dir);
            return ck_fail(err, -1, "the program has more than %d threads", CKPT_THREADS_MAX);
        }
        if (k->arrived)
            continue;
        if (!k->signalled || resend) {
            long s = send_stop(tid, r->gen);
            if (s == -ESRCH)
                continue;                 /* it has just exited */
            if (s < 0 && !k->signalled) { /* a repeat may find the queue full: no matter */
                ck_dir_close(&dir);
                return ck_fail(err, (int)s, "sending the stop request to thread %u: %s", tid,
                               ck_strerror((int)-s));
            }
            k->signalled = 1;
        }
        if (missing++ == 0)
            *first_missing = tid;
    }
    ck_dir_close(&dir);
    return missing;
}

/* A "Key:\tvalue" line of a status file: the value up to the line's end, copied to out. */
static void status_field(const char *status, const char *key, char *out, size_t cap)
{
    size_t len = ck_strlen(key);
    out[0] = 0;
    for (const char *p = status; *p; p++)
        if ((p == status || p[-1] == '\n') && ck_starts_with(p, key) && p[len] == ':') {
            const char *v = p + len + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            size_t n = 0;
            while (v[n] && v[n] != '\n' && n + 1 < cap)
                n++;
            __builtin_memcpy(out, v, n);
            out[n] = 0;
            return;
        }
}

/* Why tid did not stop, from its /proc status: the most specific reason known. */
static int fail_missing(const struct stop_run *r, uint32_t tid, long missing, struct ck_error *err)
{
    char path[64], status[4096], name[32], state[32], blocked[32];
    ck_format(path, sizeof path, "/proc/self/task/%u/status", tid);
    long n = ck_read_file(path, status, sizeof status);
    if (n < 0)
        n = 0;
    status[n < (long)sizeof status ? n : (long)sizeof status - 1] = 0;
    status_field(status, "Name", name, sizeof name);
    status_field(status, "State", state, sizeof state);
    status_field(status, "SigBlk", blocked, sizeof blocked);
    const char *b = blocked;
    uint64_t mask = ck_parse_uint(&b, 16);
    char why[128];
    if (mask & (1ULL << (ckpt_shim.signal - 1)))
        ck_format(why, sizeof why,
                  "it blocks signal %d, the checkpoint signal (with a raw rt_sigprocmask: the "
                  "C library's calls cannot block it)",
                  ckpt_shim.signal);
    else if (state[0] == 'D')
        ck_format(why, sizeof why, "it is in uninterruptible sleep (state %s)", state);
    else if (state[0] == 'Z' || state[0] == 'X')
        ck_format(why, sizeof why, "it has exited but is still listed (state %s)", state);
    else if (state[0] == 'T' || state[0] == 't')
        ck_format(why, sizeof why, "it is stopped (state %s)", state);
    else
        ck_format(why, sizeof why, "it did not answer (state %s)", state[0] ? state : "unknown");
    uint64_t ms = r->timeout_ns / 1000000u;
    return ck_fail(err, -ETIMEDOUT, "thread %u (%s) did not stop within %lu.%03lu s: %s%s", tid,
                   name[0] ? name : "?", (unsigned long)(ms / 1000), (unsigned long)(ms % 1000),
                   why, missing > 1 ? " (and other threads did not stop either)" : "");
}

/* No more slots are handed out; waits until every slot handed out is complete. Returns the
 * number of slots. */
static uint32_t close_door(void)
{
    __atomic_store_n(&ckpt_shim.sigroute_stop_generation, 0, __ATOMIC_RELEASE);
    uint64_t door = __atomic_load_n(&stop.door, __ATOMIC_ACQUIRE);
    while (!__atomic_compare_exchange_n(&stop.door, &door, (uint64_t)(uint32_t)door, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
    uint32_t handed = (uint32_t)door, seen;
    while ((seen = __atomic_load_n(&stop.arrived, __ATOMIC_ACQUIRE)) < handed)
        futex_wait_for(&stop.arrived, seen, WAIT_SLICE_NS);
    return handed;
}

static void open_door(struct stop_run *r)
{
    if (++stop.generation == 0)
        stop.generation = 1;
    r->gen = stop.generation;
    r->nknown = 0;
    stop.slots = r->slots;
    stop.ready = r->ready;
    stop.failed = 0;
    __atomic_store_n(&stop.arrived, 1, __ATOMIC_RELEASE); /* the leader's own slot */
    __atomic_store_n(&ckpt_shim.sigroute_stop_generation, r->gen, __ATOMIC_RELEASE);
    __atomic_store_n(&stop.door, (uint64_t)r->gen << 32 | 1, __ATOMIC_RELEASE);
}

int stop_all(struct stop_run *r, struct ck_error *err)
{
    open_door(r);
    uint64_t now = sys_monotonic_ns(), deadline = now + r->timeout_ns, resend_at = now + RESEND_NS;
    for (;;) {
        uint32_t seen = __atomic_load_n(&stop.arrived, __ATOMIC_ACQUIRE), first = 0;
        take_arrivals(r);
        int resend = (now = sys_monotonic_ns()) >= resend_at;
        if (resend)
            resend_at = now + RESEND_NS;
        long missing = signal_missing(r, resend, &first, err);
        if (missing == 0)
            break;
        if (missing < 0 || now >= deadline) {
            if (missing > 0)
                fail_missing(r, first, missing, err);
            r->nslots = close_door();
            stop_release(r->gen);
            return -1;
        }
        futex_wait_for(&stop.arrived, seen, WAIT_SLICE_NS);
    }
    r->nslots = close_door();
    if (__atomic_load_n(&stop.failed, __ATOMIC_ACQUIRE)) {
        *err = stop.error;
        stop_release(r->gen);
        return -1;
    }
    return 0;
}

void stop_release(uint32_t gen)
{
    __atomic_store_n(&stop.release, gen, __ATOMIC_RELEASE);
    futex_wake_all(&stop.release);
}
/* ========================= end of the no-libc section ========================= */
