// Package explain keeps the gateway's recent decisions so that "why was request X
// refused?" is one command: a bounded ring of the last N decisions keyed by request id
// (Ring, fed by gateway.Options.Observe), the admin API that answers
// GET /admin/decisions/{id} from it (Handler), and the fix for each reason code in plain
// words (Fix), which `gatehouse explain` prints.
//
// The ring holds what gateway.Event holds, which by contract is no credential: only a
// fingerprint, the client-safe detail and the log-only cause. Free-text fields are
// truncated so that the memory the ring uses is bounded by N, whatever the requests.
package explain

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// MaxFieldBytes is the most bytes of each free-text field (detail, cause, subject,
// fingerprint) an entry keeps; longer values are cut on a UTF-8 boundary and end in
// "...".
const MaxFieldBytes = 512

// Entry is one kept decision, as the admin API serves it.
type Entry struct {
	// RequestID is the gateway's own id for the request, the key of the ring.
	RequestID string `json:"request_id"`
	// ClientRequestID is the X-Request-Id the client sent (when it had the accepted
	// shape), for the client's correlation; several entries may share one.
	ClientRequestID string `json:"client_request_id"`
	// Time is when the gateway started handling the request.
	Time          time.Time       `json:"time"`
	Route         string          `json:"route"`
	Authenticator string          `json:"authenticator"`
	Allow         bool            `json:"allow"`
	Status        int             `json:"status"`
	Reason        decision.Reason `json:"reason"`
	// Detail is what the client was told; Cause the finer, log-only classification.
	Detail      string `json:"detail"`
	Cause       string `json:"cause"`
	Subject     string `json:"subject"`
	Fingerprint string `json:"fingerprint"`
	// Client is the client's address as the gateway determined it (the socket peer, or
	// what a trusted proxy named).
	Client string `json:"client"`
	// DecisionMS is how long the decision (extraction, verification, authorization) took,
	// in milliseconds.
	DecisionMS float64 `json:"decision_ms"`
	// Fix is Fix(Reason): what to do about the outcome, in plain words.
	Fix string `json:"fix"`
}

// Ring keeps the last N decisions by request id. It is safe for concurrent use. Observe,
// which runs for every request, only copies the event into the next slot under a short
// mutex section; Lookup, which runs when an operator asks, scans the ring from the
// newest decision back (tens of microseconds for DefaultSize), so that no index has to
// be kept up to date on the request path. The zero value is not usable; call New.
type Ring struct {
	mu    sync.Mutex
	slots []gateway.Event
	next  int // the slot the next event overwrites (the oldest)
}

// DefaultSize is a reasonable N for New: at a few hundred bytes an event, 10000
// decisions cost a few megabytes.
const DefaultSize = 10000

// New returns a Ring keeping the last n decisions; n below 1 is taken as 1.
func New(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{slots: make([]gateway.Event, n)}
}

// Size is the number of decisions the ring keeps.
func (r *Ring) Size() int { return len(r.slots) }

// Observe records ev, evicting the oldest decision when the ring is full. The gateway
// gives every request an id of its own, which no client can choose, so one request's
// entry cannot be taken over by another's; should an id be seen twice all the same, it
// is looked up as its latest decision (the older one stays in its slot, shadowed, until
// it is evicted). Events without a request id are ignored. Its signature fits
// gateway.Options.Observe.
func (r *Ring) Observe(ev gateway.Event) {
	if ev.RequestID == "" || len(ev.RequestID) > 128 {
		// The gateway only issues 1-128 character ids; a longer one can never be looked
		// up through the admin API, so it is not worth a slot.
		return
	}
	ev.Detail = truncate(ev.Detail)
	ev.Cause = truncate(ev.Cause)
	ev.Subject = truncate(ev.Subject)
	ev.Fingerprint = truncate(ev.Fingerprint)
	ev.ClientRequestID = truncate(ev.ClientRequestID)
	r.mu.Lock()
	r.slots[r.next] = ev
	r.next++
	if r.next == len(r.slots) {
		r.next = 0
	}
	r.mu.Unlock()
}

// Lookup returns the latest kept decision for request id, with its fix.
func (r *Ring) Lookup(id string) (Entry, bool) {
	if id == "" {
		return Entry{}, false
	}
	r.mu.Lock()
	var ev gateway.Event
	found := false
	for i, n := r.next-1, len(r.slots); n > 0; i, n = i-1, n-1 {
		if i < 0 {
			i = len(r.slots) - 1
		}
		if r.slots[i].RequestID == id {
			ev, found = r.slots[i], true
			break
		}
	}
	r.mu.Unlock()
	if !found {
		return Entry{}, false
	}
	return entryOf(ev), true
}

// Len reports how many slots hold a decision (at most Size).
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range r.slots {
		if r.slots[i].RequestID != "" {
			n++
		}
	}
	return n
}

func entryOf(ev gateway.Event) Entry {
	e := Entry{
		RequestID:       ev.RequestID,
		ClientRequestID: ev.ClientRequestID,
		Time:            ev.Started,
		Route:           ev.Route,
		Authenticator:   ev.Authenticator,
		Allow:           ev.Allow,
		Status:          ev.Status,
		Reason:          ev.Reason,
		Detail:          ev.Detail,
		Cause:           ev.Cause,
		Subject:         ev.Subject,
		Fingerprint:     ev.Fingerprint,
		DecisionMS:      float64(ev.Decision.Nanoseconds()) / 1e6,
	}
	if ev.Client.IsValid() {
		e.Client = ev.Client.String()
	}
	if ev.Allow {
		e.Fix = FixAllowed
	} else {
		e.Fix = Fix(ev.Reason)
	}
	return e
}

// truncate bounds a free-text field to MaxFieldBytes, on a rune boundary.
func truncate(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	cut := MaxFieldBytes - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
