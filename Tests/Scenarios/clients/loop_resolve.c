/*
 * loop_resolve: getaddrinfo in a loop, for the pod scenarios' fault tests. Builds with gcc (glibc: the nscd door) and
 * musl-gcc -static (musl: the DNS door).
 *
 *   loop_resolve [-f unspec|inet] [-i INTERVAL_MS] [-n MAX_LOOKUPS] [-t SECONDS] [-s STARTFILE] NAME...
 *
 * Looks the names up in turn (SOCK_STREAM, AI_ADDRCONFIG), sleeping INTERVAL_MS (default 20) between lookups, until
 * MAX_LOOKUPS (default 100000) or SECONDS (default 10) have passed: bounded in count and in time. With -s, waits
 * (at most 30 s) for STARTFILE to exist before the first lookup, so that many processes can start at once.
 * Prints, with times in ms of CLOCK_REALTIME (comparable with `date +%s%3N`):
 *   START <ms>
 *   FAIL <ms> <latency_ms> <name> <EAI_xxx>          one line per failed lookup
 *   SLOW <ms> <latency_ms> <name> OK                  one line per successful lookup slower than 1 s
 *   END <ms> lookups=N ok=K err=E max_ms=M last_fail_ms=T|- first_ok_after_fail_ms=T|- [EAI_xxx=n ...]
 * Exit status 0 when the loop ran (the outcome is in the output), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *eai_name(int rc) {
    switch (rc) {
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_MEMORY: return "EAI_MEMORY";
    case EAI_SYSTEM: return "EAI_SYSTEM";
#ifdef EAI_NODATA
    case EAI_NODATA: return "EAI_NODATA";
#endif
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "EAI_%d", rc);
        return buf;
    }
    }
}

#define MAX_CODES 16

int main(int argc, char **argv) {
    int family = AF_UNSPEC, opt;
    long interval_ms = 20, max_lookups = 100000, seconds = 10;
    const char *startfile = NULL;
    while ((opt = getopt(argc, argv, "f:i:n:t:s:")) != -1) {
        switch (opt) {
        case 'f':
            if (strcmp(optarg, "inet") == 0) family = AF_INET;
            else if (strcmp(optarg, "unspec") == 0) family = AF_UNSPEC;
            else return 2;
            break;
        case 'i': interval_ms = atol(optarg); break;
        case 'n': max_lookups = atol(optarg); break;
        case 't': seconds = atol(optarg); break;
        case 's': startfile = optarg; break;
        default: return 2;
        }
    }
    if (optind >= argc || interval_ms < 0 || max_lookups <= 0 || max_lookups > 1000000 || seconds <= 0 ||
        seconds > 600) {
        fprintf(stderr, "usage: loop_resolve [-f unspec|inet] [-i MS] [-n MAX] [-t SECONDS] [-s STARTFILE] NAME...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (startfile) {
        for (int i = 0; i < 30000 && access(startfile, F_OK) != 0; i++) usleep(1000);
    }
    const char *codes[MAX_CODES];
    long counts[MAX_CODES];
    int ncodes = 0;
    long lookups = 0, ok = 0, err = 0;
    long long max_us = 0, last_fail = -1, first_ok_after_fail = -1;
    long long start_us = mono_us(), end_us = start_us + (long long)seconds * 1000000;
    printf("START %lld\n", now_ms());
    for (int i = optind; lookups < max_lookups && mono_us() < end_us; i = i + 1 < argc ? i + 1 : optind) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        long long t0 = mono_us();
        int rc = getaddrinfo(argv[i], NULL, &hints, &res);
        long long took = mono_us() - t0;
        lookups++;
        if (took > max_us) max_us = took;
        if (rc == 0 && res) {
            ok++;
            freeaddrinfo(res);
            if (last_fail >= 0 && first_ok_after_fail < 0) first_ok_after_fail = now_ms();
            if (took > 1000000) printf("SLOW %lld %lld %s OK\n", now_ms(), took / 1000, argv[i]);
        } else {
            const char *code = rc == 0 ? "NO_ADDRESSES" : eai_name(rc);
            err++;
            last_fail = now_ms();
            first_ok_after_fail = -1;
            printf("FAIL %lld %lld %s %s\n", last_fail, took / 1000, argv[i], code);
            int k;
            for (k = 0; k < ncodes; k++)
                if (strcmp(codes[k], code) == 0) break;
            if (k == ncodes && ncodes < MAX_CODES) {
                codes[ncodes] = strdup(code);
                counts[ncodes++] = 0;
            }
            if (k < ncodes) counts[k]++;
        }
        if (interval_ms > 0) usleep((useconds_t)interval_ms * 1000);
    }
    printf("END %lld lookups=%ld ok=%ld err=%ld max_ms=%lld", now_ms(), lookups, ok, err, max_us / 1000);
    if (last_fail >= 0) printf(" last_fail_ms=%lld", last_fail); else printf(" last_fail_ms=-");
    if (first_ok_after_fail >= 0) printf(" first_ok_after_fail_ms=%lld", first_ok_after_fail);
    else printf(" first_ok_after_fail_ms=-");
    for (int k = 0; k < ncodes; k++) printf(" %s=%ld", codes[k], counts[k]);
    printf("\n");
    return 0;
}
