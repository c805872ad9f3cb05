package secret

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordIsPHCArgon2id(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id with the default parameters", h)
	}
	parts := strings.Split(h, "$")
	if len(parts) != 6 || strings.ContainsAny(parts[4]+parts[5], "=") {
		t.Errorf("not a PHC string with unpadded base64: %q", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt?")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if ok, err := VerifyPassword(h, pw); ok != want || err != nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestVerifyPasswordAcceptsBcryptVariants(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pässwörd"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		variant := prefix + string(h[4:])
		if ok, err := VerifyPassword(variant, "pässwörd"); !ok || err != nil {
			t.Errorf("%s: VerifyPassword = %v, %v", prefix, ok, err)
		}
		if ok, err := VerifyPassword(variant, "password"); ok || err != nil {
			t.Errorf("%s: wrong password = %v, %v", prefix, ok, err)
		}
	}
}

func TestVerifyPasswordRefusesWeakAndBrokenHashes(t *testing.T) {
	tests := []struct {
		name, hash string
		want       error
	}{
		{"APR1", "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", ErrHashUnsupported},
		{"SHA1", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", ErrHashUnsupported},
		{"MD5Crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", ErrHashUnsupported},
		{"DESCrypt", "rqXexS6ZhobKA", ErrHashUnsupported},
		{"SHA512Crypt", "$6$salt$abc", ErrHashUnsupported},
		{"Argon2i", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashUnsupported},
		{"PlainText", "password", ErrHashUnsupported},
		{"Empty", "", ErrHashUnsupported},
		{"Argon2OldVersion", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2HugeMemory", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2HugeTime", "$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2ZeroThreads", "$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2PaddedBase64", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2ShortSalt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"Argon2MissingPart", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ", ErrHashInvalid},
		{"Argon2UnknownParam", "$argon2id$v=19$m=64,t=1,x=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrHashInvalid},
		{"BcryptCost31", "$2y$31$abcdefghijklmnopqrstuu5Ve3lCNq/l2Qzv0O3gTj0gnIuW1A0Ky", ErrHashInvalid},
		{"BcryptTruncated", "$2y$10$abcdefghijklmnop", ErrHashInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			ok, err := VerifyPassword(tc.hash, "password")
			if ok || !errors.Is(err, tc.want) {
				t.Errorf("VerifyPassword = %v, %v; want %v", ok, err, tc.want)
			}
			if err := CheckPasswordHash(tc.hash); !errors.Is(err, tc.want) {
				t.Errorf("CheckPasswordHash = %v; want %v", err, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusing took %v; parameters must be checked before hashing", d)
			}
		})
	}
}

func TestPasswordLengthLimit(t *testing.T) {
	long := strings.Repeat("x", MaxPasswordBytes+1)
	if _, err := HashPasswordWith(cheap, long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("HashPassword(too long) = %v", err)
	}
	h, _ := HashPasswordWith(cheap, "x")
	start := time.Now()
	if _, err := VerifyPassword(h, strings.Repeat("x", 1<<20)); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("VerifyPassword(1 MB) = %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("refusing a 1 MB password took %v", d)
	}
	if _, err := HashPasswordWith(cheap, strings.Repeat("x", MaxPasswordBytes)); err != nil {
		t.Errorf("a password of exactly MaxPasswordBytes: %v", err)
	}
}

func TestDummyHashIsStableArgon2idWithDefaults(t *testing.T) {
	d := DummyHash()
	if d != DummyHash() {
		t.Error("DummyHash changes between calls")
	}
	if !strings.HasPrefix(d, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("DummyHash = %q", d)
	}
	if err := CheckPasswordHash(d); err != nil {
		t.Errorf("DummyHash does not check: %v", err)
	}
}

func TestPasswordVerifierBoundsConcurrencyAndHonoursContext(t *testing.T) {
	v := NewPasswordVerifier(1)
	v.sem <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	h, _ := HashPasswordWith(cheap, "pw")
	if _, err := v.Verify(ctx, h, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify with no free slot = %v, want the context's error", err)
	}
	<-v.sem
	if ok, err := v.Verify(context.Background(), h, "pw"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
}

func FuzzCheckPasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$2y$10$abcdefghijklmnopqrstuu5Ve3lCNq/l2Qzv0O3gTj0gnIuW1A0Ky")
	f.Add("$apr1$x$y")
	f.Add("{SHA}x")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, h string) {
		err := CheckPasswordHash(h)
		if err == nil {
			kind := HashKind(h)
			if kind != "argon2id" && kind != "bcrypt" {
				t.Fatalf("accepted a %s hash", kind)
			}
			if kind == "argon2id" {
				a, _ := parseArgon2id(h)
				if a.p.Memory > maxArgon2Memory || a.p.Time > maxArgon2Time {
					t.Fatalf("accepted out-of-bounds parameters %+v", a.p)
				}
			}
			return
		}
		if !errors.Is(err, ErrHashUnsupported) && !errors.Is(err, ErrHashInvalid) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func BenchmarkHashPasswordDefault(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
