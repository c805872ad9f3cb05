package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it; tests pass
// their own so that no check depends on real DNS.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolveTimeout bounds the lookup of an admin_listen host name during validation.
const resolveTimeout = 5 * time.Second

// errEveryInterface is the admin_listen problem for any address that binds every interface.
var errEveryInterface = errors.New("listens on every interface; name a loopback or other explicit address (the admin API must never be public)")

// CheckAdminListen reports why addr (host:port) must not be the admin listener's
// address: the admin listener serves /metrics and /admin/decisions/ID (subjects, client
// addresses, credential fingerprints) without authentication, so it must never bind every
// interface. Refused, besides an empty host (":9090"):
//
//   - every spelling of the unspecified address: 0.0.0.0, ::, [::], 0:0::0, the
//     IPv4-mapped [::ffff:0.0.0.0] and [::ffff:0:0] (an IPv6 socket bound to them
//     listens on every interface, IPv4 and IPv6), the IPv4-compatible [::0.0.0.0], and
//     any of them with a zone (%eth0). Addresses are unmapped and stripped of their zone
//     before the check;
//   - the numeric shorthands of inet_aton ("0", "0.0", "0x0", "017.1"), which some
//     resolvers turn into 0.0.0.0 and others refuse: write the address in full instead;
//   - a host name that does not resolve, or that resolves to any unspecified address
//     (through r; a hosts-file entry "0.0.0.0 admin.local" is the classic way there).
//
// The error is nil for an explicit address. Only the host is checked; the port is the
// caller's to check.
func CheckAdminListen(ctx context.Context, addr string, r Resolver) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port; write an address such as 127.0.0.1:9090")
	}
	if host == "" {
		return errEveryInterface
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.WithZone("").Unmap().IsUnspecified() {
			return errEveryInterface
		}
		return nil
	}
	if ip, ok := inetAton(host); ok {
		if ip.IsUnspecified() {
			return errEveryInterface
		}
		return fmt.Errorf("is a numeric shorthand that resolvers read differently; write the address in full, as %s", ip)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return errors.New("does not resolve, so it cannot be checked not to listen on every interface; name an address, such as 127.0.0.1:9090")
	}
	for _, ip := range ips {
		if ip.WithZone("").Unmap().IsUnspecified() {
			return fmt.Errorf("resolves to %s, which %w", ip, errEveryInterface)
		}
	}
	return nil
}

// inetAton parses the IPv4 forms that C's inet_aton accepts beyond dotted decimal: one to
// four parts, each decimal, octal (leading 0) or hexadecimal (0x), the last part filling
// the remaining bytes ("127.1" is 127.0.0.1, "0" is 0.0.0.0).
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0" // inet_aton reads a bare "0x" as zero
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if strings.HasPrefix(digits, "+") || strings.HasPrefix(digits, "-") {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
