/*
 * map_client: getaddrinfo in a loop, for the shared-map scenario (shared-map-glibc.sh).
 *
 *   map_client spread FAMILY NAME EXPECTED N DURATION_MS
 *       N lookups spread evenly over DURATION_MS. Every answer's IPv4 set (sorted, comma-separated) must equal
 *       EXPECTED. Prints "calls= ok= wrong= errors= first=ADDR:COUNT,..." (first = first IPv4 address returned).
 *   map_client watch FAMILY NAME EXPECTED SECONDS INTERVAL_US
 *       Lookups every INTERVAL_US for SECONDS; prints the same line (and the first wrong answer, if any).
 *   map_client flood SOCKET N
 *       Opens N connections to the nscd SOCKET, sends GETFDHST on each and never reads; closes them all after 1 s.
 *
 * FAMILY: inet (AF_INET: glibc sends GETHOSTBYNAME) or unspec (AF_UNSPEC: GETAI). AI_ADDRCONFIG is set, as
 * applications usually do. Exit status 0 when the run completed, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIRST 16

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static char first_names[MAX_FIRST][INET_ADDRSTRLEN];
static long first_counts[MAX_FIRST];
static long calls, ok, wrong, errors;
static char first_wrong[256];

/* One lookup: 0 ok, 1 wrong, 2 error. */
static int lookup(int family, const char *name, const char *expected) {
    struct addrinfo hints = {0}, *result = NULL;
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    calls++;
    int rc = getaddrinfo(name, NULL, &hints, &result);
    if (rc != 0) {
        errors++;
        if (!first_wrong[0]) snprintf(first_wrong, sizeof first_wrong, "ERR %s", gai_strerror(rc));
        return 2;
    }
    uint32_t addrs[64];
    int n = 0;
    char first[INET_ADDRSTRLEN] = "";
    for (struct addrinfo *ai = result; ai && n < 64; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET) continue;
        struct in_addr a = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if (n == 0) inet_ntop(AF_INET, &a, first, sizeof first);
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= addrs[i] == ntohl(a.s_addr);
        if (!seen) addrs[n++] = ntohl(a.s_addr);
    }
    freeaddrinfo(result);
    qsort(addrs, n, sizeof addrs[0], cmp_u32);
    char set[512] = "";
    for (int i = 0; i < n; i++) {
        char text[INET_ADDRSTRLEN];
        struct in_addr a = {htonl(addrs[i])};
        inet_ntop(AF_INET, &a, text, sizeof text);
        if (i) strncat(set, ",", sizeof set - strlen(set) - 1);
        strncat(set, text, sizeof set - strlen(set) - 1);
    }
    if (strcmp(set, expected) != 0) {
        wrong++;
        if (!first_wrong[0]) snprintf(first_wrong, sizeof first_wrong, "%s", set);
        return 1;
    }
    ok++;
    for (int i = 0; i < MAX_FIRST; i++) {
        if (!first_names[i][0]) strcpy(first_names[i], first);
        if (strcmp(first_names[i], first) == 0) {
            first_counts[i]++;
            break;
        }
    }
    return 0;
}

static void report(void) {
    printf("calls=%ld ok=%ld wrong=%ld errors=%ld first=", calls, ok, wrong, errors);
    for (int i = 0; i < MAX_FIRST && first_names[i][0]; i++) printf("%s%s:%ld", i ? "," : "", first_names[i], first_counts[i]);
    printf(" first_bad=%s\n", first_wrong[0] ? first_wrong : "-");
}

static void sleep_until(int64_t t) {
    int64_t d = t - now_ns();
    if (d <= 0) return;
    struct timespec ts = {d / 1000000000, d % 1000000000};
    nanosleep(&ts, NULL);
}

static int flood(const char *path, long n) {
    int *fds = calloc((size_t)n, sizeof(int));
    long opened = 0;
    for (long i = 0; i < n && fds; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) break;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            break;
        }
        /* request_header: version 2, type GETFDHST (13), key length 6, then "hosts\0". */
        int32_t header[3] = {2, 13, 6};
        char request[18];
        memcpy(request, header, 12);
        memcpy(request + 12, "hosts", 6);
        if (write(fd, request, sizeof request) != (ssize_t)sizeof request) {
            close(fd);
            break;
        }
        fds[opened++] = fd;
    }
    sleep(1);
    for (long i = 0; i < opened; i++) close(fds[i]);
    printf("flooded=%ld\n", opened);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "flood") == 0) return flood(argv[2], atol(argv[3]));
    if (argc != 7) {
        fprintf(stderr, "usage: map_client spread|watch inet|unspec NAME EXPECTED N|SECONDS DURATION_MS|INTERVAL_US\n");
        return 2;
    }
    int family = strcmp(argv[2], "inet") == 0 ? AF_INET : strcmp(argv[2], "unspec") == 0 ? AF_UNSPEC : -1;
    if (family < 0) return 2;
    const char *name = argv[3], *expected = argv[4];
    long a = atol(argv[5]), b = atol(argv[6]);
    int64_t start = now_ns();
    if (strcmp(argv[1], "spread") == 0) {
        if (a <= 0 || b <= 0) return 2;
        for (long i = 0; i < a; i++) {
            sleep_until(start + (int64_t)b * 1000000 * i / a);
            lookup(family, name, expected);
        }
    } else if (strcmp(argv[1], "watch") == 0) {
        if (a <= 0 || a > 600 || b < 0) return 2;
        int64_t end = start + (int64_t)a * 1000000000;
        for (long i = 0; now_ns() < end && i < 100000000; i++) {
            lookup(family, name, expected);
            if (b > 0) usleep((useconds_t)b);
        }
    } else {
        return 2;
    }
    report();
    return 0;
}
