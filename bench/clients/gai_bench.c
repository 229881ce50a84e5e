/* getaddrinfo load generator for bench/nscd-door.sh.
 *
 *   gcc -O2 -pthread -o gai_bench gai_bench.c
 *   gai_bench -n NAMES_FILE [-t THREADS] [-d SECONDS] [-f inet|unspec] [-a] [-o]
 *
 * NAMES_FILE has one "name expected-ipv4" pair per line. Each thread loops getaddrinfo(name, NULL,
 * {family, SOCK_STREAM}) over the names for D seconds (or at most MAX_CALLS calls), timing every call with
 * clock_gettime(CLOCK_MONOTONIC) into a 1 us histogram. A call counts as ok only when it succeeds and returns
 * exactly the expected IPv4 address (and nothing else); otherwise it is a failure (error) or wrong (other data).
 * -o: one pass over every name on one thread (warm-up / check), ignoring -d and -t.
 * -a: add AI_ADDRCONFIG to the hints.
 *
 * Prints one line: calls=N ok=N fail=N wrong=N secs=S cps=OK_PER_SECOND p50=US p99=US max=US
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 100000
#define MAX_THREADS 64
#define HIST_US 200000 /* 1 us buckets up to 200 ms; slower calls go in the last bucket */
#define MAX_CALLS 50000000ULL

struct name { char *host; struct in_addr want; };
static struct name names[MAX_NAMES];
static size_t name_count;
static int family = AF_INET;
static int flags = 0;
static double duration = 5.0;

struct worker {
    pthread_t thread;
    size_t start;
    uint64_t calls, ok, fail, wrong;
    uint64_t max_ns;
    uint32_t *hist;
    struct timespec end;
    int once;
};

static pthread_barrier_t barrier;
static struct timespec t0;

static inline uint64_t ns_of(const struct timespec *t) { return (uint64_t)t->tv_sec * 1000000000ULL + t->tv_nsec; }

static int check(const struct addrinfo *res, const struct in_addr *want) {
    int seen = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET) return 0;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        if (sin->sin_addr.s_addr != want->s_addr) return 0;
        seen = 1;
    }
    return seen;
}

static void *run(void *arg) {
    struct worker *w = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    pthread_barrier_wait(&barrier);
    uint64_t deadline = ns_of(&t0) + (uint64_t)(duration * 1e9);
    uint64_t limit = w->once ? name_count : MAX_CALLS;
    size_t i = w->start;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uint64_t n = 0; n < limit; n++) {
        const struct name *nm = &names[i];
        if (++i == name_count) i = 0;
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(nm->host, NULL, &hints, &res);
        clock_gettime(CLOCK_MONOTONIC, &b);
        uint64_t dt = ns_of(&b) - ns_of(&a);
        w->calls++;
        if (rc != 0) w->fail++;
        else if (check(res, &nm->want)) w->ok++;
        else w->wrong++;
        if (res) freeaddrinfo(res);
        uint64_t us = dt / 1000;
        w->hist[us < HIST_US ? us : HIST_US - 1]++;
        if (dt > w->max_ns) w->max_ns = dt;
        if (!w->once && ns_of(&b) >= deadline) break;
        a = b;
    }
    w->end = b;
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: gai_bench -n NAMES_FILE [-t THREADS] [-d SECONDS] [-f inet|unspec] [-a] [-o]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *file = NULL;
    int threads = 1, once = 0, opt;
    while ((opt = getopt(argc, argv, "n:t:d:f:ao")) != -1) {
        switch (opt) {
        case 'n': file = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'f':
            if (!strcmp(optarg, "inet")) family = AF_INET;
            else if (!strcmp(optarg, "unspec")) family = AF_UNSPEC;
            else usage();
            break;
        case 'a': flags |= AI_ADDRCONFIG; break;
        case 'o': once = 1; break;
        default: usage();
        }
    }
    if (!file || threads < 1 || threads > MAX_THREADS || duration <= 0 || duration > 600) usage();
    if (once) threads = 1;

    FILE *f = fopen(file, "r");
    if (!f) { perror(file); return 1; }
    char host[256], ip[64];
    while (name_count < MAX_NAMES && fscanf(f, "%255s %63s", host, ip) == 2) {
        names[name_count].host = strdup(host);
        if (inet_pton(AF_INET, ip, &names[name_count].want) != 1) { fprintf(stderr, "bad address %s\n", ip); return 1; }
        name_count++;
    }
    fclose(f);
    if (name_count == 0) { fprintf(stderr, "%s: no names\n", file); return 1; }

    struct worker w[MAX_THREADS];
    memset(w, 0, sizeof w);
    pthread_barrier_init(&barrier, NULL, threads + 1);
    for (int t = 0; t < threads; t++) {
        w[t].start = (name_count * t) / threads;
        w[t].once = once;
        w[t].hist = calloc(HIST_US, sizeof(uint32_t));
        if (!w[t].hist || pthread_create(&w[t].thread, NULL, run, &w[t]) != 0) { perror("thread"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_barrier_wait(&barrier);

    uint64_t calls = 0, ok = 0, fail = 0, wrong = 0, max_ns = 0, end = 0;
    static uint64_t hist[HIST_US];
    for (int t = 0; t < threads; t++) {
        pthread_join(w[t].thread, NULL);
        calls += w[t].calls; ok += w[t].ok; fail += w[t].fail; wrong += w[t].wrong;
        if (w[t].max_ns > max_ns) max_ns = w[t].max_ns;
        if (ns_of(&w[t].end) > end) end = ns_of(&w[t].end);
        for (size_t k = 0; k < HIST_US; k++) hist[k] += w[t].hist[k];
    }
    double secs = (double)(end - ns_of(&t0)) / 1e9;
    long p50 = -1, p99 = -1;
    uint64_t seen = 0, n50 = (calls + 1) / 2, n99 = calls - calls / 100;
    for (size_t k = 0; k < HIST_US && calls; k++) {
        seen += hist[k];
        if (p50 < 0 && seen >= n50) p50 = (long)k;
        if (p99 < 0 && seen >= n99) { p99 = (long)k; break; }
    }
    printf("calls=%llu ok=%llu fail=%llu wrong=%llu secs=%.3f cps=%.0f p50=%ld p99=%ld max=%llu\n",
           (unsigned long long)calls, (unsigned long long)ok, (unsigned long long)fail, (unsigned long long)wrong,
           secs, secs > 0 ? ok / secs : 0.0, p50, p99, (unsigned long long)(max_ns / 1000));
    return 0;
}
