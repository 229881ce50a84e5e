// go_resolve: resolve names with Go's pure-Go resolver (build with
// CGO_ENABLED=0, so it reads /etc/resolv.conf and talks DNS itself).
//
//	go_resolve NAME...           one line per name, from LookupHost, cross-checked with LookupIPAddr:
//	                               NAME OK addr1,addr2,...   (numeric, sorted, unique)
//	                               NAME ERR <error>
//	go_resolve -cname NAME...    one line per name: NAME CNAME <canonical> | NAME ERR <error>
//
// Exit status 1 if any name failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

func describe(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "no such host (" + dnsErr.Err + ")"
		}
		if dnsErr.IsTimeout {
			return "timeout (" + dnsErr.Err + ")"
		}
		return dnsErr.Err
	}
	return err.Error()
}

func unique(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func lookup(r *net.Resolver, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hosts, err := r.LookupHost(ctx, name)
	if err != nil {
		fmt.Printf("%s ERR %s\n", name, describe(err))
		return false
	}
	hosts = unique(hosts)
	ipAddrs, err := r.LookupIPAddr(ctx, name)
	if err != nil {
		fmt.Printf("%s ERR LookupIPAddr failed after LookupHost succeeded: %s\n", name, describe(err))
		return false
	}
	var fromIP []string
	for _, a := range ipAddrs {
		fromIP = append(fromIP, a.IP.String())
	}
	fromIP = unique(fromIP)
	if strings.Join(hosts, ",") != strings.Join(fromIP, ",") {
		fmt.Printf("%s ERR LookupHost %s != LookupIPAddr %s\n", name, strings.Join(hosts, ","), strings.Join(fromIP, ","))
		return false
	}
	fmt.Printf("%s OK %s\n", name, strings.Join(hosts, ","))
	return true
}

func cname(r *net.Resolver, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := r.LookupCNAME(ctx, name)
	if err != nil {
		fmt.Printf("%s ERR %s\n", name, describe(err))
		return false
	}
	fmt.Printf("%s CNAME %s\n", name, c)
	return true
}

func main() {
	args := os.Args[1:]
	mode := lookup
	if len(args) > 0 && args[0] == "-cname" {
		mode = cname
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go_resolve [-cname] NAME...")
		os.Exit(2)
	}
	r := net.DefaultResolver
	r.PreferGo = true
	failed := false
	for _, name := range args {
		if !mode(r, name) {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
