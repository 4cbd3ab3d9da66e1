/* unsupported: a program with state ckpt cannot restore yet. `ckpt checkpoint` must refuse
 * it with a message naming the reason, leave no image, and the program must run on and
 * finish exactly as if nobody had asked.
 *
 * Usage: unsupported thread|child|socket|deleted|tidword [STEPS]
 *   thread  a second thread that lives to the end
 *   child   a child process that lives to the end
 *   socket  a TCP socket the program created itself
 *   deleted a file it holds open after deleting the name it opened it by, while another
 *           hard link to it remains: ckpt cannot tell which name to reopen (a file with no
 *           name left is stored and restored: the memfiles scenario)
 *   tidword glibc's cached thread id (struct pthread's tid, found with libthread_db's
 *           descriptor) holds another number while the steps run: the restore would write
 *           the new tid where it cannot tell what it overwrites */
#include "scenario.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile int finished;

/* glibc's tid word of this thread, from the descriptor libc.so.6 exports for debuggers. */
static volatile int *tid_word(void)
{
    const uint32_t *desc = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");
    if (!desc || desc[0] != 32 || desc[1] != 1)
        fail("libc.so.6 has no usable _thread_db_pthread_tid\n");
    volatile int *word = (volatile int *)((char *)pthread_self() + desc[2]);
    if (*word != gettid())
        fail("the tid word does not hold the tid\n");
    return word;
}

static void *idle_thread(void *arg)
{
    (void)arg;
    while (!finished)
        pace();
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    long steps = argc > 2 ? atol(argv[2]) : 60;
    scenario_started();
    pthread_t thread;
    pid_t child = -1;
    int sock = -1; /* the socket, or the deleted file */
    volatile int *tid = NULL;
    if (strcmp(what, "thread") == 0) {
        if (pthread_create(&thread, 0, idle_thread, 0) != 0)
            fail("pthread_create\n");
    } else if (strcmp(what, "child") == 0) {
        child = fork();
        if (child < 0)
            fail("fork\n");
        if (child == 0) {
            for (;;)
                pause();
        }
    } else if (strcmp(what, "socket") == 0) {
        sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
            fail("socket\n");
    } else if (strcmp(what, "deleted") == 0) {
        sock = open("scratch.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        unlink("scratch.link");
        if (sock < 0 || link("scratch.tmp", "scratch.link") != 0 || unlink("scratch.tmp") != 0 ||
            write(sock, "x", 1) != 1)
            fail("scratch.tmp: %s\n", strerror(errno));
    } else if (strcmp(what, "tidword") == 0) {
        tid = tid_word();
        *tid = -12345; /* nothing in the steps asks glibc for the thread's id */
    } else {
        fail("usage: unsupported thread|child|socket|deleted|tidword [STEPS]\n");
    }
    unsigned long long hash = FNV_START;
    for (long i = 1; i <= steps; i++) {
        hash = fnv_mix(hash, (unsigned long long)i);
        say("%s step %ld hash %016llx\n", what, i, hash);
        pace();
    }
    if (child > 0) {
        int status;
        kill(child, SIGTERM);
        if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status))
            fail("the child did not end as expected\n");
    }
    if (sock >= 0)
        close(sock);
    if (tid)
        *tid = gettid();
    if (strcmp(what, "thread") == 0) {
        finished = 1;
        pthread_join(thread, 0);
    }
    say("%s done\n", what);
    return 0;
}
