package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

func TestOutageReportsTransitionsOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	o := NewOutage(30*time.Second, func() time.Time { return now })
	var events []error
	o.OnChange = func(err error) { events = append(events, err) }

	reports := []error{
		nil,
		fmt.Errorf("read: %w", ErrNotFound), // an answer, not an outage
		fmt.Errorf("read: %w", ErrLocked),   // begins the outage
		fmt.Errorf("read: %w", ErrUnavailable),
		context.DeadlineExceeded,
		context.Canceled, // a client that went away ends nothing
		nil,              // ends it
		nil,
		errors.New("plain"), // not classified as an outage
	}
	for _, err := range reports {
		o.Report(err)
		now = now.Add(time.Second)
	}
	if len(events) != 2 || events[0] == nil || events[1] != nil {
		t.Fatalf("transitions = %v, want [down, up]", events)
	}
}

func TestOutageGrace(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	o := NewOutage(30*time.Second, func() time.Time { return now })
	if o.Refusal() != nil || o.InGrace() {
		t.Fatal("an up store refuses or is in grace")
	}
	o.Report(ErrUnavailable)
	o.Report(fmt.Errorf("read: %w", context.Canceled)) // a client that went away ends nothing
	for _, c := range []struct {
		at      time.Duration
		refused bool
	}{{0, false}, {29 * time.Second, false}, {30 * time.Second, true}, {time.Hour, true}} {
		now = start.Add(c.at)
		f := o.Refusal()
		if (f != nil) != c.refused || o.InGrace() == c.refused {
			t.Errorf("at +%v: refusal %v, in grace %v; want refused=%v", c.at, f, o.InGrace(), c.refused)
		}
		if f != nil && (f.Reason != decision.AuthenticatorUnavailable || f.RetryAfter != OutageRetryAfter) {
			t.Errorf("refusal = %+v, want authenticator_unavailable with Retry-After", f)
		}
	}
	if down, since := o.Down(); !down || !since.Equal(start) {
		t.Errorf("Down = %v %v, want true since the first failure", down, since)
	}
	o.Report(nil)
	if o.Refusal() != nil {
		t.Error("refuses after recovery")
	}
}

func TestOutageNilIsAlwaysUp(t *testing.T) {
	var o *Outage
	o.Report(ErrUnavailable)
	if o.Refusal() != nil || o.InGrace() {
		t.Error("a nil Outage refuses")
	}
	if f := o.Unavailable(ErrUnavailable); f.Reason != decision.AuthenticatorUnavailable {
		t.Errorf("Unavailable = %v", f)
	}
}

func TestZeroGraceRefusesAtOnce(t *testing.T) {
	o := NewOutage(0, nil)
	o.Report(ErrUnavailable)
	if o.Refusal() == nil || o.InGrace() {
		t.Error("grace 0 still serves cached answers during an outage")
	}
}
