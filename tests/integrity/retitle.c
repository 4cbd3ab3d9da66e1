/* retitle: overwrites its whole environment block, as programs that set their process title
 * do (redis-server, nginx and postgres write their title over argv and environ), then
 * prints "count N" every 20 ms. `ckpt checkpoint` must find the shim all the same.
 *
 * Usage: retitle STEPS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The environment block's bounds: /proc/self/stat fields 50 and 51 (env_start, env_end). */
static int environment_block(unsigned long *start, unsigned long *end)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3 */
    for (int field = 3; field < 50; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    return sscanf(p, "%lu %lu", start, end) == 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 100;
    unsigned long start, end;
    if (environment_block(&start, &end) != 0 || end <= start) {
        fprintf(stderr, "retitle: cannot find the environment block\n");
        return 1;
    }
    memset((char *)start, 'x', end - start - 1); /* one long title, no variables left */
    printf("retitled %lu bytes\n", end - start);
    fflush(stdout);
    for (long i = 1; i <= steps; i++) {
        printf("count %ld\n", i);
        fflush(stdout);
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return 0;
}
