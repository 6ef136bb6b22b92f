/*
 * bv-init: PID 1 of every node container (static, no dependencies, works FROM scratch).
 *
 *   bv-init PROGRAM [ARGS...]
 *
 * Supervises PROGRAM (the babel agent): starts it, restarts it one second after it exits,
 * and reaps every orphan (job runners run in their own sessions and outlive babel restarts,
 * so they are re-parented here). SIGHUP restarts the agent at once (used by the host to
 * install a fresh agent binary). SIGTERM/SIGINT: forward SIGTERM to every process in the
 * container, wait up to BV_INIT_GRACE seconds (default 10) for them, then exit; the kernel
 * kills whatever is left when PID 1 exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t spawn(char **argv, const sigset_t *old) {
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, old, NULL);
        execv(argv[0], argv);
        fprintf(stderr, "bv-init: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0) fprintf(stderr, "bv-init: fork: %s\n", strerror(errno));
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bv-init PROGRAM [ARGS...]\n");
        return 2;
    }
    int grace = 10;
    const char *g = getenv("BV_INIT_GRACE");
    if (g && atoi(g) > 0) grace = atoi(g);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t agent = spawn(argv + 1, &old);
    time_t respawn_at = 0;
    time_t deadline = 0;
    int terminating = 0;

    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        time_t now = time(NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!terminating) {
                terminating = 1;
                deadline = now + grace;
                kill(-1, SIGTERM);
            }
        } else if (sig == SIGHUP) {
            if (agent > 0) kill(agent, SIGTERM);
            respawn_at = now;
        }
        for (;;) {
            int status;
            pid_t done = waitpid(-1, &status, WNOHANG);
            if (done <= 0) {
                if (done < 0 && errno == ECHILD && terminating) return 0;
                break;
            }
            if (done == agent) {
                agent = 0;
                if (!respawn_at) respawn_at = now + 1;
                fprintf(stderr, "bv-init: agent exited (status %d)\n", status);
            }
        }
        if (terminating) {
            if (now >= deadline) return 0;
            continue;
        }
        if (agent == 0 && respawn_at && now >= respawn_at) {
            respawn_at = 0;
            agent = spawn(argv + 1, &old);
        }
    }
}
