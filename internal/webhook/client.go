package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefusedAddress is returned (wrapped) when a webhook's host resolves
// to an address the node never calls: link-local (169.254.0.0/16, where
// cloud metadata services live, and fe80::/10), multicast, unspecified or
// broadcast, or the AWS IPv6 metadata address.
var ErrRefusedAddress = errors.New("webhook: refused address")

// awsMetadataV6 is the IPv6 address of the AWS instance metadata service.
var awsMetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// refusedReason says why ip may not be called, or "" if it may.
func refusedReason(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLinkLocalUnicast():
		return "link-local (cloud metadata lives there)"
	case ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case ip == awsMetadataV6:
		return "a metadata service"
	}
	return ""
}

// guardDial is a net.Dialer Control function: it runs after the host name
// is resolved, once per address tried, and refuses the addresses above. So
// a name that resolves to a metadata address, or is made to later (DNS
// rebinding), is refused too.
func guardDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrRefusedAddress, host)
	}
	if why := refusedReason(ip.WithZone("")); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefusedAddress, ip, why)
	}
	return nil
}

// NewClient returns the HTTP client deliveries use: every attempt bounded
// by timeout, addresses checked by guardDial, no proxy from the
// environment (it would hide the address), and redirects not followed.
func NewClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: guardDial}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
