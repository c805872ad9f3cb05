package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// AccessTokenType is the JOSE typ of an RFC 9068 access token.
const AccessTokenType = "at+jwt"

// NewAccessTokenSigner returns a Signer whose tokens carry typ "at+jwt" (RFC 9068
// section 2.1), the key's alg and its kid.
func NewAccessTokenSigner(key *SigningKey) (*Signer, error) {
	if key.ID == "" {
		return nil, errors.New("access token signer: the key has no key id; RFC 9068 tokens carry a kid")
	}
	s, err := newJoseSigner(key, map[string]any{"typ": AccessTokenType})
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, signer: s}, nil
}

// KeyRing is a Keys whose key set is replaced while it is in use: the token service
// swaps in a new set when it adds or retires a signing key, and verifiers holding the
// ring see the new set on their next Verify. The zero KeyRing holds no key.
type KeyRing struct {
	set atomic.Pointer[KeySet]
}

// NewKeyRing returns a ring holding set (which may be nil: no key).
func NewKeyRing(set *KeySet) *KeyRing {
	r := &KeyRing{}
	r.set.Store(set)
	return r
}

// Set replaces the key set.
func (r *KeyRing) Set(set *KeySet) { r.set.Store(set) }

// KeySet returns the current key set (nil when none was set).
func (r *KeyRing) KeySet() *KeySet { return r.set.Load() }

func (r *KeyRing) keyFor(kid, alg string) (any, error) { return r.set.Load().keyFor(kid, alg) }

// VerifyAccessToken is Verify for RFC 9068 access tokens: after the signature checks
// out, the header's typ must be "at+jwt" (or "application/at+jwt", in any case), so a
// JWT of another kind signed by the same issuer (an ID token, say) is not taken for an
// access token. A wrong typ is ErrMalformed with Cause "typ_not_at_jwt".
func VerifyAccessToken(token string, algs Algorithms, keys Keys) (*Token, error) {
	t, err := Verify(token, algs, keys)
	if err != nil {
		return nil, err
	}
	h, _, _ := strings.Cut(token, ".")
	raw, err := b64strict(h)
	var hdr struct {
		Typ *string `json:"typ"`
	}
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		e := malformed("header_not_json", "the header segment is not a JSON object")
		e.Algorithm, e.KeyID = t.Algorithm, safe(t.KeyID)
		return nil, e
	}
	typ := ""
	if hdr.Typ != nil {
		typ = strings.ToLower(*hdr.Typ)
	}
	if typ != AccessTokenType && typ != "application/"+AccessTokenType {
		e := malformed("typ_not_at_jwt", "the token is not an access token: its header typ is %s, and access tokens carry %q (RFC 9068)", quoteSafe(typ), AccessTokenType)
		if hdr.Typ == nil {
			e.Detail = fmt.Sprintf("the token is not an access token: its header has no typ, and access tokens carry %q (RFC 9068)", AccessTokenType)
		}
		e.Algorithm, e.KeyID = t.Algorithm, safe(t.KeyID)
		return nil, e
	}
	return t, nil
}
