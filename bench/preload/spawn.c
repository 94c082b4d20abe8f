// A fork+exec chain, for any allocator (LD_PRELOAD is inherited):
//
//   spawn N
//
// Each process makes a few small blocks, as a short-lived program would,
// then forks and execs itself with N-1 and waits; the first prints the CPU
// seconds (user + system) and the page faults of the whole chain, from
// getrusage.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0;
    void *keep[32];
    for (int i = 0; i < 32; i++)
        memset(keep[i] = malloc((size_t)(16 << (i % 8))), i, 16);
    if (n > 0) {
        pid_t pid = fork();
        if (pid == 0) {
            char arg[24];
            snprintf(arg, sizeof(arg), "%ld", n - 1);
            execl("/proc/self/exe", argv[0], arg, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
    }
    for (int i = 0; i < 32; i++)
        free(keep[i]);
    if (argc > 2) { // the first: the whole chain's CPU time
        struct rusage self, kids;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        double s = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                            kids.ru_stime.tv_sec) +
                   (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                            kids.ru_stime.tv_usec) / 1e6;
        printf("spawn: %ld processes, cpu %.3f s, %ld page faults\n", n + 1, s,
               self.ru_minflt + self.ru_majflt + kids.ru_minflt + kids.ru_majflt);
    }
    return 0;
}
