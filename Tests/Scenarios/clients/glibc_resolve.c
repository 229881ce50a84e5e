/*
 * glibc_resolve: one glibc host lookup per run, printed in a normalised, comparable form (addresses as sorted unique
 * sets, aliases sorted), so that the same call with and without an nscd daemon can be compared line for line.
 *
 *   glibc_resolve gai NAME unspec|inet|inet6 [canon]   getaddrinfo (SOCK_STREAM, AI_ADDRCONFIG [+ AI_CANONNAME])
 *                                                      OK canon=NAME|- addrs=a,b,...  or  ERR EAI_xxx
 *   glibc_resolve ghbn NAME                            gethostbyname
 *   glibc_resolve ghbn2 NAME inet|inet6                gethostbyname2
 *   glibc_resolve ghba ADDRESS                         gethostbyaddr (IPv4 or IPv6)
 *                                                      OK name=N aliases=a,b addrs=x,y  or  ERR h_errno=HOST_NOT_FOUND
 *   glibc_resolve gni ADDRESS                          getnameinfo with NI_NAMEREQD
 *                                                      OK host=N  or  ERR EAI_xxx
 *   glibc_resolve first COUNT NAME [FAMILY [canon]]    COUNT getaddrinfo calls in this one process (default AF_INET,
 *                                                      no AI_CANONNAME: glibc sends GETHOSTBYNAME then); prints
 *                                                      "FIRST addr count" per first address, then
 *                                                      "RUNS ok=K err=E [EAI_xxx=n ...]"; the environment
 *                                                      variable GAP_US spaces the calls (microseconds);
 *                                                      FAMILY ghbn makes them gethostbyname calls
 *   glibc_resolve list NAME unspec|inet|inet6|ghbn     every address one call returns, in its order, repeats kept:
 *                                                      OK n=N a b ...  or  ERR EAI_xxx / ERR h_errno=...
 *   glibc_resolve time FILE unspec|inet|ghbn            one call per name of FILE (a name a line), each timed:
 *                                                      "TIME n=N ok=K p50_us=.. p90_us=.. max_us=.. total_ms=.."
 *
 * Exit status 0 whenever the call was made (the result is in the output), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_ITEMS 512

static const char *eai_name(int rc) {
    switch (rc) {
    case EAI_BADFLAGS: return "EAI_BADFLAGS";
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_SOCKTYPE: return "EAI_SOCKTYPE";
    case EAI_SERVICE: return "EAI_SERVICE";
    case EAI_MEMORY: return "EAI_MEMORY";
    case EAI_SYSTEM: return "EAI_SYSTEM";
    case EAI_OVERFLOW: return "EAI_OVERFLOW";
    case EAI_NODATA: return "EAI_NODATA";
    case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "EAI_%d", rc);
        return buf;
    }
    }
}

static const char *herr_name(int e) {
    switch (e) {
    case NETDB_INTERNAL: return "NETDB_INTERNAL";
    case NETDB_SUCCESS: return "NETDB_SUCCESS";
    case HOST_NOT_FOUND: return "HOST_NOT_FOUND";
    case TRY_AGAIN: return "TRY_AGAIN";
    case NO_RECOVERY: return "NO_RECOVERY";
    case NO_DATA: return "NO_DATA";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "H_%d", e);
        return buf;
    }
    }
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts v in place and prints it comma-separated without duplicates ("-" when empty). */
static void print_set(char **v, int n) {
    qsort(v, n, sizeof v[0], cmp);
    int printed = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i - 1], v[i]) == 0) continue;
        printf("%s%s", printed ? "," : "", v[i]);
        printed = 1;
    }
    if (!printed) printf("-");
}

static int parse_family(const char *s) {
    if (strcmp(s, "unspec") == 0) return AF_UNSPEC;
    if (strcmp(s, "inet") == 0) return AF_INET;
    if (strcmp(s, "inet6") == 0) return AF_INET6;
    fprintf(stderr, "bad family: %s\n", s);
    exit(2);
}

static int numeric(const struct sockaddr *sa, socklen_t len, char *buf, size_t size) {
    return getnameinfo(sa, len, buf, size, NULL, 0, NI_NUMERICHOST);
}

static int do_gai(const char *name, int family, int canon) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | (canon ? AI_CANONNAME : 0);
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        if (rc == EAI_SYSTEM) printf("ERR EAI_SYSTEM errno=%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
        else printf("ERR %s\n", eai_name(rc));
        return 0;
    }
    char *v[MAX_ITEMS];
    int n = 0;
    for (struct addrinfo *ai = res; ai && n < MAX_ITEMS; ai = ai->ai_next) {
        char buf[NI_MAXHOST];
        if (numeric(ai->ai_addr, ai->ai_addrlen, buf, sizeof buf) == 0) v[n++] = strdup(buf);
    }
    printf("OK canon=%s addrs=", canon ? (res->ai_canonname ? res->ai_canonname : "(null)") : "-");
    print_set(v, n);
    printf("\n");
    for (int i = 0; i < n; i++) free(v[i]);
    freeaddrinfo(res);
    return 0;
}

static void print_hostent(const struct hostent *h) {
    char *v[MAX_ITEMS];
    int n = 0;
    printf("OK name=%s aliases=", h->h_name ? h->h_name : "(null)");
    for (char **a = h->h_aliases; a && *a && n < MAX_ITEMS; a++) v[n++] = strdup(*a);
    print_set(v, n);
    for (int i = 0; i < n; i++) free(v[i]);
    n = 0;
    printf(" addrs=");
    for (char **a = h->h_addr_list; a && *a && n < MAX_ITEMS; a++) {
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(h->h_addrtype, *a, buf, sizeof buf)) v[n++] = strdup(buf);
    }
    print_set(v, n);
    for (int i = 0; i < n; i++) free(v[i]);
    printf(" type=%s\n", h->h_addrtype == AF_INET ? "inet" : h->h_addrtype == AF_INET6 ? "inet6" : "?");
}

static int report_hostent(const struct hostent *h) {
    if (!h) printf("ERR h_errno=%s\n", herr_name(h_errno));
    else print_hostent(h);
    return 0;
}

/* Parses an IPv4 or IPv6 literal into a sockaddr; returns the family or exits. */
static int parse_address(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        *len = sizeof *s4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        *len = sizeof *s6;
        return AF_INET6;
    }
    fprintf(stderr, "not an address: %s\n", s);
    exit(2);
}

static int do_ghba(const char *s) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family = parse_address(s, &ss, &len);
    const struct hostent *h = family == AF_INET
        ? gethostbyaddr(&((struct sockaddr_in *)&ss)->sin_addr, 4, AF_INET)
        : gethostbyaddr(&((struct sockaddr_in6 *)&ss)->sin6_addr, 16, AF_INET6);
    return report_hostent(h);
}

static int do_gni(const char *s) {
    struct sockaddr_storage ss;
    socklen_t len;
    parse_address(s, &ss, &len);
    char host[NI_MAXHOST];
    int rc = getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NAMEREQD);
    if (rc != 0) printf("ERR %s\n", eai_name(rc));
    else printf("OK host=%s\n", host);
    return 0;
}

struct tally { char key[NI_MAXHOST]; int count; };

/* One lookup's addresses in the order the call returned them: getaddrinfo (SOCK_STREAM, AI_ADDRCONFIG) with the
   family, or gethostbyname for ghbn (family -1). Returns the count, or -1 with the error name in err. */
#define FAMILY_GHBN (-1)
static int ordered(const char *name, int family, char out[][INET6_ADDRSTRLEN], int max, const char **err) {
    int n = 0;
    if (family == FAMILY_GHBN) {
        const struct hostent *h = gethostbyname(name);
        if (!h) {
            static char buf[48];
            snprintf(buf, sizeof buf, "h_errno=%s", herr_name(h_errno));
            *err = buf;
            return -1;
        }
        for (char **a = h->h_addr_list; *a && n < max; a++, n++) inet_ntop(h->h_addrtype, *a, out[n], INET6_ADDRSTRLEN);
        return n;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        *err = eai_name(rc);
        return -1;
    }
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next, n++)
        if (numeric(ai->ai_addr, ai->ai_addrlen, out[n], INET6_ADDRSTRLEN) != 0) snprintf(out[n], INET6_ADDRSTRLEN, "?");
    freeaddrinfo(res);
    return n;
}

static int do_list(const char *name, int family) {
    static char out[MAX_ITEMS][INET6_ADDRSTRLEN];
    const char *err = NULL;
    int n = ordered(name, family, out, MAX_ITEMS, &err);
    if (n < 0) {
        printf("ERR %s\n", err);
        return 0;
    }
    printf("OK n=%d", n);
    for (int k = 0; k < n; k++) printf(" %s", out[k]);
    printf("\n");
    return 0;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static int do_time(const char *file, int family) {
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 2;
    }
    static long took[100000];
    static char out[MAX_ITEMS][INET6_ADDRSTRLEN];
    char line[1100];
    int n = 0, ok = 0;
    long start = now_us();
    while (n < 100000 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        const char *err = NULL;
        long t0 = now_us();
        if (ordered(line, family, out, MAX_ITEMS, &err) > 0) ok++;
        took[n++] = now_us() - t0;
    }
    fclose(f);
    long total = now_us() - start;
    qsort(took, n, sizeof took[0], cmp_long);
    printf("TIME n=%d ok=%d p50_us=%ld p90_us=%ld max_us=%ld total_ms=%ld\n", n, ok, n ? took[n / 2] : 0,
           n ? took[n * 9 / 10] : 0, n ? took[n - 1] : 0, total / 1000);
    return 0;
}

static int do_first(int runs, const char *name, int family, int canon) {
    static struct tally firsts[MAX_ITEMS], errors[64];
    int nfirst = 0, nerr = 0, ok = 0, err = 0;
    const char *gap_text = getenv("GAP_US");
    long gap_us = gap_text ? atol(gap_text) : 0;
    for (int r = 0; r < runs; r++) {
        if (gap_us > 0 && r > 0) usleep((useconds_t)gap_us);
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG | (canon ? AI_CANONNAME : 0);
        const char *key, *ghbn_error = NULL;
        char buf[NI_MAXHOST];
        int rc = 0, bad;
        if (family == FAMILY_GHBN) {
            const struct hostent *h = gethostbyname(name);
            bad = !h || !h->h_addr_list[0];
            if (!bad) inet_ntop(h->h_addrtype, h->h_addr_list[0], buf, sizeof buf);
            else ghbn_error = h ? "no-address" : herr_name(h_errno);
        } else {
            rc = getaddrinfo(name, NULL, &hints, &res);
            bad = rc != 0 || !res || numeric(res->ai_addr, res->ai_addrlen, buf, sizeof buf) != 0;
        }
        struct tally *t;
        int *nt;
        if (bad) {
            err++;
            key = ghbn_error ? ghbn_error : rc != 0 ? eai_name(rc) : "no-address";
            t = errors;
            nt = &nerr;
        } else {
            ok++;
            key = buf;
            t = firsts;
            nt = &nfirst;
        }
        int k;
        for (k = 0; k < *nt; k++)
            if (strcmp(t[k].key, key) == 0) break;
        if (k == *nt && k < (t == errors ? 64 : MAX_ITEMS)) {
            snprintf(t[k].key, sizeof t[k].key, "%s", key);
            t[k].count = 0;
            (*nt)++;
        }
        if (k < *nt) t[k].count++;
        if (res) freeaddrinfo(res);
    }
    char *keys[MAX_ITEMS];
    for (int k = 0; k < nfirst; k++) keys[k] = firsts[k].key;
    qsort(keys, nfirst, sizeof keys[0], cmp);
    for (int k = 0; k < nfirst; k++)
        for (int j = 0; j < nfirst; j++)
            if (firsts[j].key == keys[k]) printf("FIRST %s %d\n", firsts[j].key, firsts[j].count);
    printf("RUNS ok=%d err=%d", ok, err);
    for (int k = 0; k < nerr; k++) printf(" %s=%d", errors[k].key, errors[k].count);
    printf("\n");
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: glibc_resolve gai NAME unspec|inet|inet6 [canon]\n"
            "       glibc_resolve ghbn NAME | ghbn2 NAME inet|inet6\n"
            "       glibc_resolve ghba ADDRESS | gni ADDRESS\n"
            "       glibc_resolve first COUNT NAME [unspec|inet|inet6|ghbn [canon]]\n"
            "       glibc_resolve list NAME unspec|inet|inet6|ghbn\n"
            "       glibc_resolve time FILE unspec|inet|ghbn\n");
    exit(2);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) usage();
    const char *mode = argv[1];
    if (strcmp(mode, "gai") == 0 && (argc == 4 || argc == 5)) {
        if (argc == 5 && strcmp(argv[4], "canon") != 0) usage();
        return do_gai(argv[2], parse_family(argv[3]), argc == 5);
    }
    if (strcmp(mode, "ghbn") == 0 && argc == 3) return report_hostent(gethostbyname(argv[2]));
    if (strcmp(mode, "ghbn2") == 0 && argc == 4) {
        int family = parse_family(argv[3]);
        if (family == AF_UNSPEC) usage();
        return report_hostent(gethostbyname2(argv[2], family));
    }
    if (strcmp(mode, "ghba") == 0 && argc == 3) return do_ghba(argv[2]);
    if (strcmp(mode, "gni") == 0 && argc == 3) return do_gni(argv[2]);
    if (strcmp(mode, "first") == 0 && argc >= 4 && argc <= 6) {
        int runs = atoi(argv[2]);
        if (runs <= 0 || runs > 1000000) usage();
        if (argc == 6 && strcmp(argv[5], "canon") != 0) usage();
        int family = argc < 5 ? AF_INET : strcmp(argv[4], "ghbn") == 0 ? FAMILY_GHBN : parse_family(argv[4]);
        return do_first(runs, argv[3], family, argc == 6);
    }
    if (strcmp(mode, "time") == 0 && argc == 4)
        return do_time(argv[2], strcmp(argv[3], "ghbn") == 0 ? FAMILY_GHBN : parse_family(argv[3]));
    if (strcmp(mode, "list") == 0 && argc == 4)
        return do_list(argv[2], strcmp(argv[3], "ghbn") == 0 ? FAMILY_GHBN : parse_family(argv[3]));
    usage();
    return 2;
}
