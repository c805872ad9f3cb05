package issuer

import (
	"slices"
	"sync"
	"time"
)

// revocationMargin is how long past a token's expiry its revocation is kept: a verifier
// may accept a token up to its clock leeway (at most 5 minutes) after exp.
const revocationMargin = 5 * time.Minute

// pruneEvery bounds how often Revocations scans for entries past their end.
const pruneEvery = time.Minute

// Revocations is the set of revoked token ids (jti) and removed clients, each kept until
// every token it concerns has expired. It is loaded from the store when the Server starts
// and kept current from the store's change feed (and at once for revocations made by
// this process). Lookups take a shared lock and allocate nothing.
//
// It is what the gateway's `issuer: self` authenticator asks before it accepts a token;
// see OnRevoke for how that authenticator's cache stays correct.
type Revocations struct {
	now func() time.Time

	mu        sync.RWMutex
	jtis      map[string]int64 // jti -> unix ns until which the revocation matters
	clients   map[string]int64 // removed client_id -> unix ns
	nextPrune int64
	subs      []subscriber
	nextSub   int
}

func newRevocations(now func() time.Time) *Revocations {
	return &Revocations{now: now, jtis: map[string]int64{}, clients: map[string]int64{}}
}

// IsRevoked reports whether a token with this jti, issued to this client, is refused:
// the token was revoked, or the client was removed.
func (r *Revocations) IsRevoked(jti, clientID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.jtis[jti]; ok && jti != "" {
		return true
	}
	_, ok := r.clients[clientID]
	return ok && clientID != ""
}

// OnRevoke registers fn to run after every revocation or client removal this set
// learns of, once it is visible to IsRevoked, and returns a function that unregisters
// it. A verifier that caches verified tokens purges its cache in fn: any verification
// that started before the purge then fails to cache its result (or is purged), and any
// that starts after sees the revocation.
func (r *Revocations) OnRevoke(fn func()) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSub++
	id := r.nextSub
	r.subs = append(r.subs, subscriber{id, fn})
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.subs = slices.DeleteFunc(slices.Clone(r.subs), func(s subscriber) bool { return s.id == id })
	}
}

type subscriber struct {
	id int
	fn func()
}

// Len reports how many token ids and clients the set holds.
func (r *Revocations) Len() (tokens, clients int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.jtis), len(r.clients)
}

// revokeToken records jti as revoked until its token's expiry (plus the margin).
func (r *Revocations) revokeToken(jti string, expires time.Time) {
	r.add(r.jtis, jti, expires)
}

// removeClient records the client as removed until its last token's expiry.
func (r *Revocations) removeClient(id string, lastExpiry time.Time) {
	r.add(r.clients, id, lastExpiry)
}

func (r *Revocations) add(m map[string]int64, key string, expires time.Time) {
	now := r.now().UnixNano()
	until := expires.Add(revocationMargin).UnixNano()
	if until <= now || key == "" {
		return
	}
	r.mu.Lock()
	if old, ok := m[key]; !ok || old < until {
		m[key] = until
	}
	if now >= r.nextPrune {
		r.pruneLocked(now)
	}
	subs := r.subs
	r.mu.Unlock()
	for _, sub := range subs {
		sub.fn()
	}
}

func (r *Revocations) pruneLocked(now int64) {
	for k, until := range r.jtis {
		if until <= now {
			delete(r.jtis, k)
		}
	}
	for k, until := range r.clients {
		if until <= now {
			delete(r.clients, k)
		}
	}
	r.nextPrune = now + int64(pruneEvery)
}

// replace swaps in a freshly loaded set (after a reset of the change feed) and tells
// the subscribers.
func (r *Revocations) replace(jtis, clients map[string]int64) {
	r.mu.Lock()
	r.jtis, r.clients = jtis, clients
	subs := r.subs
	r.mu.Unlock()
	for _, sub := range subs {
		sub.fn()
	}
}
