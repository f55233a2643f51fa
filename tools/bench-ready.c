/*
 * bench-ready - the ready time of a daemon for scripts/bench.sh (`make bench`): starts PROGRAM
 * in its own session (as scripts/stack.sh does: stdin /dev/null, stdout and stderr appended to
 * --log), writes its pid to --pid-file at once, and polls --url every --interval-ms until it
 * answers HTTP 200; prints the time from the fork/exec to that answer and leaves the daemon
 * running (the stack's `down` stops it through the pid file). The environment is passed on.
 *
 * usage: bench-ready --url URL --pid-file FILE --log FILE [--deadline S(30)]
 *                    [--interval-ms MS(2)] -- PROGRAM [ARG...]
 * Prints one machine line on stdout:  READY ms=… pid=… polls=…
 * Exit 0 when ready, 1 when the program exited or was not ready within --deadline seconds (it
 * is then left running for the caller to stop), 2 on bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ready_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Prints the usage to @fp and exits with @status (0 for --help, 2 for a usage error). */
static void ready_usage(FILE *fp, int status)
{
    fprintf(fp, "usage: bench-ready --url URL --pid-file FILE --log FILE [--deadline S]\n"
                "                   [--interval-ms MS] -- PROGRAM [ARG...]\n"
                "  starts PROGRAM in its own session and prints the milliseconds until URL\n"
                "  answers 200 (READY ms=... pid=... polls=...)\n");
    exit(status);
}

static size_t ready_discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    (void)arg;
    return size * nmemb;
}

/* The child: own session, stdin /dev/null, output appended to @log, then exec. */
static void ready_exec(const char *log, char **argv)
{
    int in = open("/dev/null", O_RDONLY), out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    close(in);
    close(out);
    setsid();
    execv(argv[0], argv);
    _exit(127);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *pid_file = NULL, *log = NULL;
    long deadline_s = 30, interval_ms = 2, polls = 0;
    double t0, deadline;
    char **prog = NULL;
    struct timespec gap;
    CURL *c;
    FILE *fp;
    pid_t pid;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            ready_usage(stdout, 0);
        if (strcmp(a, "--") == 0) {
            prog = argv + i + 1;
            break;
        }
        if (!v)
            ready_usage(stderr, 2);
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--pid-file") == 0)
            pid_file = v;
        else if (strcmp(a, "--log") == 0)
            log = v;
        else if (strcmp(a, "--deadline") == 0)
            deadline_s = atol(v);
        else if (strcmp(a, "--interval-ms") == 0)
            interval_ms = atol(v);
        else
            ready_usage(stderr, 2);
        i++;
    }
    if (!url || !pid_file || !log || !prog || !prog[0] || deadline_s <= 0 || interval_ms <= 0)
        ready_usage(stderr, 2);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(c = curl_easy_init()))
        return 1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ready_discard);
    gap.tv_sec = interval_ms / 1000;
    gap.tv_nsec = (interval_ms % 1000) * 1000000L;

    t0 = ready_now_ms();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench-ready: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0)
        ready_exec(log, prog);
    if (!(fp = fopen(pid_file, "w")) || fprintf(fp, "%ld\n", (long)pid) < 0 || fclose(fp) != 0)
        fprintf(stderr, "bench-ready: cannot write %s\n", pid_file);
    deadline = t0 + (double)deadline_s * 1000.0;
    while (ready_now_ms() < deadline) {
        long code = 0;
        int status;
        polls++;
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200) {
            printf("READY ms=%.1f pid=%ld polls=%ld\n", ready_now_ms() - t0, (long)pid, polls);
            curl_easy_cleanup(c);
            curl_global_cleanup();
            return 0;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench-ready: %s exited (status %d) before it was ready\n", prog[0],
                    status);
            return 1;
        }
        nanosleep(&gap, NULL);
    }
    fprintf(stderr, "bench-ready: %s not ready at %s within %ld s\n", prog[0], url, deadline_s);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return 1;
}
