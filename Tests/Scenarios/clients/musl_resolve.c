/*
 * musl_resolve: resolve names through the system stub resolver (built with
 * `musl-gcc -static`, so this is musl's resolver reading /etc/resolv.conf).
 *
 *   musl_resolve NAME...             one line per name:
 *                                      NAME OK addr1,addr2,...   (numeric, sorted, unique)
 *                                      NAME ERR <gai_strerror>
 *   musl_resolve -c NAME...          same, plus "NAME CNAME <canonical>" (AI_CANONNAME)
 *   musl_resolve -n COUNT NAME       call getaddrinfo COUNT times and print how often
 *                                    each address came first: "NAME FIRST addr count"
 *                                    and a final "NAME RUNS ok=K err=E"
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define MAX_ADDRS 256

static int numeric(const struct addrinfo *ai, char *buf, size_t len) {
    return getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, len, NULL, 0, NI_NUMERICHOST);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int resolve(const char *name, int canon) {
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (canon) hints.ai_flags |= AI_CANONNAME;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        printf("%s ERR %s\n", name, gai_strerror(rc));
        return 1;
    }
    char *list[MAX_ADDRS];
    int n = 0;
    for (ai = res; ai && n < MAX_ADDRS; ai = ai->ai_next) {
        char buf[NI_MAXHOST];
        if (numeric(ai, buf, sizeof buf) != 0) continue;
        list[n++] = strdup(buf);
    }
    qsort(list, n, sizeof list[0], cmp);
    printf("%s OK ", name);
    const char *prev = NULL;
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (prev && strcmp(prev, list[i]) == 0) continue;
        printf("%s%s", first ? "" : ",", list[i]);
        first = 0;
        prev = list[i];
    }
    printf("\n");
    if (canon) printf("%s CNAME %s\n", name, res->ai_canonname ? res->ai_canonname : "-");
    for (int i = 0; i < n; i++) free(list[i]);
    freeaddrinfo(res);
    return 0;
}

struct tally { char addr[NI_MAXHOST]; int count; };

static int distribution(const char *name, int runs) {
    struct tally t[MAX_ADDRS];
    int kinds = 0, ok = 0, err = 0;
    for (int r = 0; r < runs; r++) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(name, NULL, &hints, &res) != 0 || !res) { err++; continue; }
        char buf[NI_MAXHOST];
        if (numeric(res, buf, sizeof buf) == 0) {
            int k;
            for (k = 0; k < kinds; k++)
                if (strcmp(t[k].addr, buf) == 0) break;
            if (k == kinds && kinds < MAX_ADDRS) {
                snprintf(t[kinds].addr, sizeof t[kinds].addr, "%s", buf);
                t[kinds++].count = 0;
            }
            if (k < kinds) t[k].count++;
        }
        ok++;
        freeaddrinfo(res);
    }
    for (int k = 0; k < kinds; k++) printf("%s FIRST %s %d\n", name, t[k].addr, t[k].count);
    printf("%s RUNS ok=%d err=%d\n", name, ok, err);
    return err ? 1 : 0;
}

int main(int argc, char **argv) {
    int canon = 0, i = 1;
    if (i < argc && strcmp(argv[i], "-n") == 0) {
        if (argc != 4) { fprintf(stderr, "usage: %s -n COUNT NAME\n", argv[0]); return 2; }
        return distribution(argv[3], atoi(argv[2]));
    }
    if (i < argc && strcmp(argv[i], "-c") == 0) { canon = 1; i++; }
    if (i >= argc) { fprintf(stderr, "usage: %s [-c] NAME... | -n COUNT NAME\n", argv[0]); return 2; }
    int failures = 0;
    for (; i < argc; i++) failures += resolve(argv[i], canon);
    fflush(stdout);
    return failures ? 1 : 0;
}
