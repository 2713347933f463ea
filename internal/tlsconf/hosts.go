package tlsconf

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// Loopback reports whether a server listening on addr (host:port) can be
// reached from this machine only. An empty host, 0.0.0.0 and :: listen on
// every interface; a host name counts as loopback only if every address
// it resolves to is a loopback one. A name that does not resolve is an
// error.
func Loopback(ctx context.Context, addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}

// leafNames returns the names an Auto leaf must cover: localhost,
// 127.0.0.1, ::1, the host of addr (the machine's host name when addr
// listens on every interface) and hosts, without repeats.
func leafNames(addr string, hosts []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ = os.Hostname() // "" when unknown: then only --tls-host adds names
	}
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range append(append(names, host), hosts...) {
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		} else {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
		}
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// checkHostName accepts an IP address or a DNS name (letters, digits,
// hyphens and dots; a leading "*." for a wildcard).
func checkHostName(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	name := strings.TrimPrefix(strings.TrimSuffix(h, "."), "*.")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a host name or IP address", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name or IP address", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a host name or IP address", h)
			}
		}
	}
	return nil
}

// hostIsLocalhost reports whether host is localhost or a name under it.
func hostIsLocalhost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
