// go_loop: the pure-Go resolver in a loop, for the pod scenarios (build with CGO_ENABLED=0: it reads
// /etc/resolv.conf and talks DNS itself, to the DNS door). The same flags and output as loop_resolve.c:
//
//	go_loop [-f unspec|inet] [-i INTERVAL_MS] [-n MAX_LOOKUPS] [-t SECONDS] [-s STARTFILE] [-first N] NAME...
//
// Looks the names up in turn until MAX_LOOKUPS or SECONDS have passed, sleeping INTERVAL_MS between lookups. Prints
// START, FAIL/SLOW and END lines (times in ms of the real-time clock). With -first N: N lookups of the first NAME
// only, printing "FIRST addr count" per first address and "RUNS ok=K err=E" (round-robin distribution).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"time"
)

func code(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return "NOTFOUND"
		case dnsErr.IsTimeout:
			return "TIMEOUT"
		case dnsErr.IsTemporary:
			return "TEMPORARY"
		}
		return "DNSERROR"
	}
	return "ERROR"
}

func nowMS() int64 { return time.Now().UnixNano() / 1e6 }

func main() {
	family := flag.String("f", "unspec", "unspec or inet")
	interval := flag.Int("i", 20, "ms between lookups")
	maxLookups := flag.Int("n", 100000, "lookups at most")
	seconds := flag.Int("t", 10, "seconds at most")
	startFile := flag.String("s", "", "wait for this file before starting")
	first := flag.Int("first", 0, "first-address distribution over N lookups of the first name")
	flag.Parse()
	names := flag.Args()
	network := map[string]string{"unspec": "ip", "inet": "ip4"}[*family]
	if len(names) == 0 || network == "" || *maxLookups <= 0 || *maxLookups > 1000000 || *seconds <= 0 || *seconds > 600 {
		fmt.Fprintln(os.Stderr, "usage: go_loop [-f unspec|inet] [-i MS] [-n MAX] [-t SECONDS] [-s FILE] [-first N] NAME...")
		os.Exit(2)
	}
	r := &net.Resolver{PreferGo: true}
	if *startFile != "" {
		for i := 0; i < 30000; i++ {
			if _, err := os.Stat(*startFile); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(time.Duration(*seconds) * time.Second)
	lookup := func(name string) ([]net.IP, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.LookupIP(ctx, network, name)
	}

	if *first > 0 {
		counts := map[string]int{}
		ok, failed := 0, 0
		for i := 0; i < *first && i < *maxLookups && time.Now().Before(deadline); i++ {
			ips, err := lookup(names[0])
			if err != nil || len(ips) == 0 {
				failed++
				continue
			}
			ok++
			counts[ips[0].String()]++
		}
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("FIRST %s %d\n", k, counts[k])
		}
		fmt.Printf("RUNS ok=%d err=%d\n", ok, failed)
		return
	}

	codes := map[string]int{}
	var order []string
	lookups, ok, failed := 0, 0, 0
	var maxTook time.Duration
	lastFail, firstOKAfterFail := int64(-1), int64(-1)
	fmt.Printf("START %d\n", nowMS())
	for i := 0; lookups < *maxLookups && time.Now().Before(deadline); i = (i + 1) % len(names) {
		t0 := time.Now()
		ips, err := lookup(names[i])
		took := time.Since(t0)
		lookups++
		if took > maxTook {
			maxTook = took
		}
		if err == nil && len(ips) > 0 {
			ok++
			if lastFail >= 0 && firstOKAfterFail < 0 {
				firstOKAfterFail = nowMS()
			}
			if took > time.Second {
				fmt.Printf("SLOW %d %d %s OK\n", nowMS(), took.Milliseconds(), names[i])
			}
		} else {
			c := "NO_ADDRESSES"
			if err != nil {
				c = code(err)
			}
			failed++
			lastFail = nowMS()
			firstOKAfterFail = -1
			fmt.Printf("FAIL %d %d %s %s\n", lastFail, took.Milliseconds(), names[i], c)
			if codes[c] == 0 {
				order = append(order, c)
			}
			codes[c]++
		}
		time.Sleep(time.Duration(*interval) * time.Millisecond)
	}
	fmt.Printf("END %d lookups=%d ok=%d err=%d max_ms=%d", nowMS(), lookups, ok, failed, maxTook.Milliseconds())
	if lastFail >= 0 {
		fmt.Printf(" last_fail_ms=%d", lastFail)
	} else {
		fmt.Printf(" last_fail_ms=-")
	}
	if firstOKAfterFail >= 0 {
		fmt.Printf(" first_ok_after_fail_ms=%d", firstOKAfterFail)
	} else {
		fmt.Printf(" first_ok_after_fail_ms=-")
	}
	for _, c := range order {
		fmt.Printf(" %s=%d", c, codes[c])
	}
	fmt.Println()
}
