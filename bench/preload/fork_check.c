// fork() from a threaded program: three threads malloc and free without a
// pause while the main thread forks; each child mallocs and frees too, then
// exits. `fork_check single` forks from a program that never had a second
// thread instead (see single()). A child that does not exit within 5 s is
// hung -- it inherited an allocator lock held by a thread that does not
// exist in it -- and is killed and counted. Prints one line;
// bench/preload-check.sh runs it on glibc and on librvslab.so and requires
// the same line.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORKS     1000
#define MAX_HUNG  3 // then stop: each costs the whole timeout
#define TIMEOUT_S 5

static volatile int stop;

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

// One of 64 held blocks replaced by a new one of 8 bytes to 64 KiB: every
// lock of the allocator gets taken (slab caches, refills and flushes, whole
// frames from the buddy allocator).
static void churn_step(uint64_t *x, void **held)
{
    uint64_t r = next(x);
    unsigned k = r % 64;
    free(held[k]);
    held[k] = malloc(8 + (r >> 8) % ((r & 0x10000) ? 65536 : 512));
    if (held[k])
        memset(held[k], 1, 8);
}

static void *churn(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    void *held[64] = {0};
    while (!stop)
        churn_step(&x, held);
    for (unsigned k = 0; k < 64; k++)
        free(held[k]);
    return NULL;
}

static void child(void)
{
    void *p[32];
    for (int i = 0; i < 32; i++)
        p[i] = malloc(16 << (i % 12));
    for (int i = 0; i < 32; i++)
        free(p[i]);
    _exit(0);
}

// Wait for pid for up to TIMEOUT_S; true if it exited cleanly.
static int reaped(pid_t pid)
{
    struct timespec t0, now, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= TIMEOUT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return 0;
        }
        nanosleep(&nap, NULL);
    }
}

// fork_check single: a process that never had a second thread forks (an
// allocator may then skip its fork locks) while it holds live blocks of
// every size; each child frees those it inherited, mallocs and frees.
static int single(void)
{
    uint64_t x = 12345;
    void *held[64] = {0};
    int forks = 0, hung = 0;
    while (forks < FORKS / 5 && hung < MAX_HUNG) {
        for (int step = 0; step < 200; step++)
            churn_step(&x, held);
        pid_t pid = fork();
        if (pid == 0) {
            for (unsigned k = 0; k < 64; k++)
                free(held[k]);
            child();
        }
        if (pid < 0)
            break;
        forks++;
        hung += !reaped(pid);
    }
    for (unsigned k = 0; k < 64; k++)
        free(held[k]);
    printf("fork_check: %d forks from a single-threaded program, %d children hung or failed\n",
           forks, hung);
    return hung != 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "single") == 0)
        return single();
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    int forks = 0, hung = 0;
    while (forks < FORKS && hung < MAX_HUNG) {
        pid_t pid = fork();
        if (pid == 0)
            child();
        if (pid < 0)
            break;
        forks++;
        hung += !reaped(pid);
    }
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("fork_check: %d forks from a threaded program, %d children hung or failed\n", forks,
           hung);
    return hung != 0;
}
