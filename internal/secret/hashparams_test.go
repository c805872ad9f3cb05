package secret

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

func TestDummyHashHasTheParametersOfTheHashItImitatesAndMatchesNothing(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	cheap, err := HashPasswordWith(Argon2Params{Memory: 64, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, real := range []string{string(bc), cheap} {
		t.Run(HashKind(real), func(t *testing.T) {
			want, err := ParseHashParams(real)
			if err != nil {
				t.Fatal(err)
			}
			dummy, err := want.DummyHash()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseHashParams(dummy)
			if err != nil {
				t.Fatalf("the dummy %q is not an accepted hash: %v", dummy, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dummy parameters (-want +got):\n%s", diff)
			}
			for _, pw := range []string{"pw", "", "dummy"} {
				if ok, err := VerifyPassword(dummy, pw); ok || err != nil {
					t.Errorf("VerifyPassword(dummy, %q) = %v, %v; want false, nil", pw, ok, err)
				}
			}
			again, _ := want.DummyHash()
			if again == dummy {
				t.Error("two dummies are equal: the salt is not random")
			}
		})
	}
}

func TestWorkOrdersHashesAcrossFamilies(t *testing.T) {
	bcrypt := func(c int) HashParams { return HashParams{Family: "bcrypt", BcryptCost: c} }
	argon := func(m, t uint32) HashParams {
		return HashParams{Family: "argon2id", Argon2: Argon2Params{Memory: m, Time: t, Threads: 1}}
	}
	def := HashParams{Family: "argon2id", Argon2: DefaultArgon2}
	// Ordered cheapest first, from measurements on one core.
	order := []HashParams{bcrypt(4), bcrypt(5), argon(19*1024, 1), def, bcrypt(8), argon(64*1024, 3), bcrypt(12)}
	for i := 1; i < len(order); i++ {
		if order[i-1].Work() >= order[i].Work() {
			t.Errorf("%s (work %d) is not cheaper than %s (work %d)", order[i-1], order[i-1].Work(), order[i], order[i].Work())
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	weak, _ := HashPasswordWith(Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw")
	current, _ := HashPassword("pw")
	tests := []struct {
		name string
		hash string
		want bool
	}{
		{"Bcrypt", string(bc), true},
		{"WeakArgon2id", weak, true},
		{"CurrentArgon2id", current, false},
		{"Unusable", "$apr1$x$y", false},
	}
	for _, tc := range tests {
		if got := NeedsRehash(tc.hash); got != tc.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseHashParams: a stored hash (an imported htpasswd line) never panics the
// parser, and every hash it accepts yields a dummy of the same parameters that
// verifies without error and matches nothing.
func FuzzParseHashParams(f *testing.F) {
	f.Add("$2y$04$abcdefghijklmnopqrstuuJ0VvJ0oQpZ1vJrWvnYz0m3qJ2x8mWmy")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$apr1$salt$hash")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseHashParams(h)
		if err != nil {
			return
		}
		if p.Family == "argon2id" && p.Work() > 64*1024 {
			return // verifying would be slow; the parameters were checked
		}
		d, err := p.DummyHash()
		if err != nil {
			t.Fatalf("DummyHash of accepted %s: %v", p, err)
		}
		q, err := ParseHashParams(d)
		if err != nil || q.Family != p.Family || q.Work() != p.Work() {
			t.Fatalf("dummy %q of %s parses as %s, %v", d, p, q, err)
		}
		if p.Family == "bcrypt" && p.BcryptCost > 6 {
			return
		}
		if ok, err := VerifyPassword(d, "pw"); ok || err != nil {
			t.Fatalf("VerifyPassword(dummy) = %v, %v", ok, err)
		}
	})
}
