/* unsupported: a program with state ckpt cannot restore yet. `ckpt checkpoint` must refuse
 * it with a message naming the reason, leave no image, and the program must run on and
 * finish exactly as if nobody had asked.
 *
 * Usage: unsupported thread|child|socket|deleted [STEPS]
 *   thread  a second thread that lives to the end
 *   child   a child process that lives to the end
 *   socket  a TCP socket the program created itself
 *   deleted a file it holds open after deleting it (a temporary file): its contents exist
 *           nowhere but in the kernel, and ckpt does not store them */
#include "scenario.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile int finished;

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
        if (sock < 0 || unlink("scratch.tmp") != 0 || write(sock, "x", 1) != 1)
            fail("scratch.tmp: %s\n", strerror(errno));
    } else {
        fail("usage: unsupported thread|child|socket|deleted [STEPS]\n");
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
    if (strcmp(what, "thread") == 0) {
        finished = 1;
        pthread_join(thread, 0);
    }
    say("%s done\n", what);
    return 0;
}
