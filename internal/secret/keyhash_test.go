package secret

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestKeyHashIsSHA256OfBodyWithoutPepper(t *testing.T) {
	h, err := NewKeyHasher(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ParseAPIKey(vector)
	want := sha256.Sum256([]byte(vector[:len(vector)-KeyChecksumLen]))
	if got := h.Hash(k); !bytes.Equal(got, want[:]) {
		t.Errorf("Hash = %x, want SHA-256 of the body %x", got, want)
	}
	if h.Alg() != "sha256" {
		t.Errorf("Alg = %q", h.Alg())
	}
}

func TestKeyHashIsHMACWithPepper(t *testing.T) {
	pepper := []byte(strings.Repeat("pepper!!", 4))
	h, err := NewKeyHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ParseAPIKey(vector)
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(vector[:len(vector)-KeyChecksumLen]))
	if got := h.Hash(k); !bytes.Equal(got, m.Sum(nil)) {
		t.Errorf("Hash = %x, want HMAC-SHA256", got)
	}
	if !strings.HasPrefix(h.Alg(), "hmac-sha256/") || strings.Contains(h.Alg(), "pepper") {
		t.Errorf("Alg = %q", h.Alg())
	}
	other, _ := NewKeyHasher([]byte(strings.Repeat("other!!!", 4)))
	if other.Alg() == h.Alg() {
		t.Error("two peppers share an algorithm id")
	}
}

func TestKeyHasherRefusesShortPepper(t *testing.T) {
	_, err := NewKeyHasher([]byte("short"))
	if err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("NewKeyHasher(short) = %v; want a refusal that does not echo the pepper", err)
	}
}

func TestVerify(t *testing.T) {
	plain, _ := NewKeyHasher(nil)
	peppered, _ := NewKeyHasher([]byte(strings.Repeat("p", 32)))
	k, _ := NewAPIKey("live")
	other, _ := NewAPIKeyWithID("live", k.ID)
	for _, h := range []*KeyHasher{plain, peppered} {
		stored := h.Hash(k)
		if ok, err := h.Verify(k, h.Alg(), stored); !ok || err != nil {
			t.Errorf("%s: Verify(right key) = %v, %v", h.Alg(), ok, err)
		}
		if ok, err := h.Verify(other, h.Alg(), stored); ok || err != nil {
			t.Errorf("%s: Verify(same id, other secret) = %v, %v", h.Alg(), ok, err)
		}
		if ok, _ := h.Verify(k, h.Alg(), stored[:16]); ok {
			t.Errorf("%s: a truncated stored hash verified", h.Alg())
		}
	}
	if _, err := peppered.Verify(k, plain.Alg(), plain.Hash(k)); !errors.Is(err, ErrHashAlgMismatch) {
		t.Errorf("verifying a plain hash with a peppered hasher = %v, want ErrHashAlgMismatch", err)
	}
}

func TestVerifyIsSafeConcurrentlyAndAllocationFree(t *testing.T) {
	h, _ := NewKeyHasher([]byte(strings.Repeat("p", 32)))
	k, _ := NewAPIKey("live")
	stored := h.Hash(k)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if ok, _ := h.Verify(k, h.Alg(), stored); !ok {
					t.Error("concurrent Verify failed")
					return
				}
			}
		}()
	}
	wg.Wait()
	if raceEnabled {
		return
	}
	for _, hh := range []*KeyHasher{h, must(NewKeyHasher(nil))} {
		stored := hh.Hash(k)
		if n := testing.AllocsPerRun(200, func() { hh.Verify(k, hh.Alg(), stored) }); n != 0 {
			t.Errorf("%s: Verify allocates %.0f times", hh.Alg(), n)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestEqual(t *testing.T) {
	if !Equal([]byte("abc"), []byte("abc")) || Equal([]byte("abc"), []byte("abd")) || Equal([]byte("abc"), []byte("ab")) {
		t.Error("Equal")
	}
}

func TestSHA256String(t *testing.T) {
	s := strings.Repeat("token", 100)
	if SHA256String(s) != sha256.Sum256([]byte(s)) {
		t.Error("SHA256String differs from sha256.Sum256")
	}
	if n := testing.AllocsPerRun(100, func() { SHA256String(s) }); n != 0 {
		t.Errorf("SHA256String allocates %.0f times", n)
	}
}
