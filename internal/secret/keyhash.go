package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"unsafe"
)

// MinPepperBytes is the shortest pepper KeyHasher accepts.
const MinPepperBytes = 32

// ErrHashAlgMismatch means a stored key hash was made with another algorithm or pepper
// than the one this gateway is configured with: a deployment problem, not a bad key.
var ErrHashAlgMismatch = errors.New("stored key hash uses another algorithm or pepper")

// KeyHasher hashes API keys for storage and verifies them. Without a pepper it is
// SHA-256 of the key's body; with one, HMAC-SHA256 keyed by the pepper, so a stolen
// database alone does not let anyone test guesses. The algorithm name recorded with each
// hash includes a short identifier of the pepper (not the pepper), so a gateway started
// with the wrong pepper says so instead of refusing every key as invalid.
//
// A KeyHasher is safe for concurrent use; Verify allocates nothing.
type KeyHasher struct {
	pepper []byte
	alg    string
	pool   sync.Pool // of *hmacState
}

type hmacState struct {
	mac hash.Hash
	in  []byte
	sum []byte
}

// NewKeyHasher returns a hasher for pepper; an empty pepper means plain SHA-256. A
// non-empty pepper shorter than MinPepperBytes is refused.
func NewKeyHasher(pepper []byte) (*KeyHasher, error) {
	if len(pepper) == 0 {
		return &KeyHasher{alg: "sha256"}, nil
	}
	if len(pepper) < MinPepperBytes {
		return nil, fmt.Errorf("key hasher: the pepper is %d bytes; at least %d are needed", len(pepper), MinPepperBytes)
	}
	h := &KeyHasher{pepper: append([]byte(nil), pepper...)}
	idMAC := hmac.New(sha256.New, h.pepper)
	idMAC.Write([]byte("gatehouse pepper id"))
	h.alg = "hmac-sha256/" + hex.EncodeToString(idMAC.Sum(nil)[:4])
	h.pool.New = func() any {
		return &hmacState{mac: hmac.New(sha256.New, h.pepper), in: make([]byte, 0, 128), sum: make([]byte, 0, sha256.Size)}
	}
	return h, nil
}

// Alg names the algorithm, stored beside each hash: "sha256" or "hmac-sha256/<pepper id>".
func (h *KeyHasher) Alg() string { return h.alg }

// Hash returns the hash of k to store.
func (h *KeyHasher) Hash(k APIKey) []byte {
	var sum [sha256.Size]byte
	h.sum(&sum, k.body())
	return sum[:]
}

// Verify reports, in constant time, whether k hashes to stored. A stored hash made under
// another algorithm or pepper is ErrHashAlgMismatch.
func (h *KeyHasher) Verify(k APIKey, alg string, stored []byte) (bool, error) {
	if alg != h.alg {
		return false, ErrHashAlgMismatch
	}
	var sum [sha256.Size]byte
	h.sum(&sum, k.body())
	return subtle.ConstantTimeCompare(sum[:], stored) == 1, nil
}

func (h *KeyHasher) sum(out *[sha256.Size]byte, body string) {
	if h.pepper == nil {
		// A stack copy: []byte(body) would allocate for anything over 32 bytes.
		var buf [128]byte
		if len(body) <= len(buf) {
			n := copy(buf[:], body)
			*out = sha256.Sum256(buf[:n])
			clear(buf[:n])
		} else {
			*out = sha256.Sum256([]byte(body))
		}
		return
	}
	st := h.pool.Get().(*hmacState)
	st.mac.Reset()
	st.in = append(st.in[:0], body...)
	st.mac.Write(st.in)
	st.sum = st.mac.Sum(st.sum[:0])
	copy(out[:], st.sum)
	clear(st.in)
	h.pool.Put(st)
}

// Equal reports whether a and b are equal, in time that depends only on their lengths.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// SHA256String returns the SHA-256 of s without copying s (a []byte conversion would
// allocate on every cache lookup keyed by a token hash).
func SHA256String(s string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}
