package config

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table; a name it does not hold does not resolve. It
// records the names asked, so a test can see that addresses are not looked up.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	asked []string
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, host)
	addrs, ok := f.hosts[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// TestAdminListenNeverBindsEveryInterface blocks every spelling of "all interfaces" in
// admin_listen, which would expose the unauthenticated /metrics and /admin/decisions/ID.
func TestAdminListenNeverBindsEveryInterface(t *testing.T) {
	r := &fakeResolver{hosts: map[string][]string{
		"localhost":          {"127.0.0.1", "::1"},
		"admin.internal":     {"10.1.2.3"},
		"wild.internal":      {"10.1.2.3", "0.0.0.0"},
		"mapped-wild.local":  {"::ffff:0.0.0.0"},
		"v6-wild.local":      {"::"},
		"zoned-wild.local":   {"::%eth0"},
		"localhost.":         {"127.0.0.1"},
		"empty-answer.local": {},
	}}
	tests := []struct {
		addr string
		want string // substring of the error; "" for none
	}{
		// Explicit addresses are fine.
		{"127.0.0.1:9090", ""},
		{"[::1]:9090", ""},
		{"10.1.2.3:9090", ""},
		{"[::ffff:127.0.0.1]:9090", ""},
		{"[fe80::1%eth0]:9090", ""},
		{"127.0.0.1:0", ""},
		// The unspecified address, every spelling.
		{":9090", "listens on every interface"},
		{"0.0.0.0:9090", "listens on every interface"},
		{"[::]:9090", "listens on every interface"},
		{"[0:0::0]:9090", "listens on every interface"},
		{"[0000:0000:0000:0000:0000:0000:0000:0000]:9090", "listens on every interface"},
		{"[::ffff:0.0.0.0]:9090", "listens on every interface"},
		{"[::ffff:0:0]:9090", "listens on every interface"},
		{"[::FFFF:0000:0000]:9090", "listens on every interface"},
		{"[::0.0.0.0]:9090", "listens on every interface"},
		{"[::%eth0]:9090", "listens on every interface"},
		{"[::ffff:0.0.0.0%lo]:9090", "listens on every interface"},
		{"[::%25eth0]:9090", "listens on every interface"},
		// inet_aton shorthands.
		{"0:9090", "listens on every interface"},
		{"0.0:9090", "listens on every interface"},
		{"0x0:9090", "listens on every interface"},
		{"00.0.0:9090", "listens on every interface"},
		{"127.1:9090", "numeric shorthand"},
		{"0177.0.0.1:9090", "write the address in full, as 127.0.0.1"},
		{"2130706433:9090", "numeric shorthand"},
		// Host names, through the resolver.
		{"localhost:9090", ""},
		{"localhost.:9090", ""},
		{"admin.internal:9090", ""},
		{"wild.internal:9090", "resolves to 0.0.0.0, which listens on every interface"},
		{"mapped-wild.local:9090", "resolves to ::ffff:0.0.0.0, which listens on every interface"},
		{"v6-wild.local:9090", "resolves to ::, which listens on every interface"},
		{"zoned-wild.local:9090", "listens on every interface"},
		{"nowhere.invalid:9090", "does not resolve"},
		{"empty-answer.local:9090", "does not resolve"},
		// Not host:port.
		{"9090", "is not host:port"},
		{"[::ffff:0.0.0.0]", "is not host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAdminListen(context.Background(), tt.addr, r)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckAdminListen(%q) = %v, want nil", tt.addr, err)
			case tt.want != "" && err == nil:
				t.Errorf("CheckAdminListen(%q) = nil, want an error with %q", tt.addr, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("CheckAdminListen(%q) = %v, want %q in it", tt.addr, err, tt.want)
			}
		})
	}
	for _, h := range r.asked {
		if _, err := netip.ParseAddr(h); err == nil || strings.Trim(h, "0123456789abcdefxABCDEFX.:") == "" {
			t.Errorf("the resolver was asked about %q, an address, not a name", h)
		}
	}
}

// TestAdminListenMappedWildcardIsAConfigProblem checks the rule end to end through the
// loader: the IPv4-mapped wildcard, which bound every interface, is refused with its line.
func TestAdminListenMappedWildcardIsAConfigProblem(t *testing.T) {
	for _, addr := range []string{"[::ffff:0.0.0.0]:9090", "[::ffff:0:0]:9090", "0:9090", "[::%eth0]:9090"} {
		_, err := Parse([]byte(base+"admin_listen: \""+addr+"\"\n"), t.TempDir(), func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "3: admin_listen: \""+addr+"\" listens on every interface") {
			t.Errorf("admin_listen %s: got %v, want a problem at line 3 saying it listens on every interface", addr, err)
		}
	}
}

// wildResolver answers every name with the IPv4 wildcard, so that only an address
// literal can pass.
type wildResolver struct{}

func (wildResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.IPv4Unspecified()}, nil
}

// FuzzCheckAdminListen: whatever the text, CheckAdminListen never panics, and what it
// accepts (with every name resolving to the wildcard) is an address literal that is not
// the unspecified address in any spelling. Seeds are in testdata/fuzz/FuzzCheckAdminListen.
func FuzzCheckAdminListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9090", "[::ffff:0.0.0.0]:9090", "0:1", "[::%eth0]:0", "0x7f.1:80", "localhost:9090"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if CheckAdminListen(context.Background(), addr, wildResolver{}) != nil {
			return
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("accepted %q, which is not host:port", addr)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("accepted %q: the host is neither an address nor a name that was resolved", addr)
		}
		if ip.WithZone("").Unmap().IsUnspecified() {
			t.Fatalf("accepted %q, the unspecified address", addr)
		}
	})
}
