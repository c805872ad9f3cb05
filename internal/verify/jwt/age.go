package jwt

import "time"

// KeySetAge reports how long ago the issuer last confirmed the key set (a fetch
// answered 200 or 304), for the gatehouse_jwks_age_seconds metric. ok is false for an
// authenticator without jwks_url, and before the first successful fetch.
func (a *Authenticator) KeySetAge() (age time.Duration, ok bool) {
	if a.remote == nil {
		return 0, false
	}
	st := a.remote.state.Load()
	if st == nil {
		return 0, false
	}
	return a.remote.now().Sub(st.fetchedAt), true
}
