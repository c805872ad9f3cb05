package store

import (
	"testing"
	"time"
)

func TestSigningKeyStatusFollowsItsTimes(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	current := SigningKey{CreatedAt: t0, ActivatesAt: t0}
	delayed := SigningKey{CreatedAt: t0, ActivatesAt: t0.Add(time.Hour)}
	retired := SigningKey{CreatedAt: t0, ActivatesAt: t0, RetiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(2 * time.Hour)}
	superseded := SigningKey{CreatedAt: t0, ActivatesAt: t0.Add(time.Hour), RetiresAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Minute)}
	tests := []struct {
		name string
		key  SigningKey
		at   time.Time
		want SigningKeyStatus
	}{
		{"CurrentKeyIsActive", current, t0, SigningKeyActive},
		{"DelayedKeyIsPendingBeforeActivation", delayed, t0.Add(59 * time.Minute), SigningKeyPending},
		{"DelayedKeyIsActiveFromActivation", delayed, t0.Add(time.Hour), SigningKeyActive},
		{"RetiredKeyIsActiveUntilRetirement", retired, t0.Add(time.Hour - time.Nanosecond), SigningKeyActive},
		{"RetiredKeyIsRetiredWhilePublished", retired, t0.Add(time.Hour), SigningKeyRetired},
		{"RetiredKeyExpiresAtItsExpiry", retired, t0.Add(2 * time.Hour), SigningKeyExpired},
		{"SupersededPendingKeyExpires", superseded, t0.Add(time.Minute), SigningKeyExpired},
		{"SupersededPendingKeyIsNotPendingBeforeItsExpiry", superseded, t0, SigningKeyRetired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.Status(tc.at); got != tc.want {
				t.Errorf("Status = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChangeKindsOfTheTokenServiceAreNotKeyOrUserChanges(t *testing.T) {
	for _, k := range []ChangeKind{ChangeClientCreated, ChangeClientRemoved, ChangeTokenRevoked, ChangeSigningKeyAdded} {
		if k.IsKey() || k.IsUser() {
			t.Errorf("%s reads as an API key or user change: the api_key and basic caches would drop entries for it", k)
		}
	}
	if !ChangeClientRemoved.IsClient() || !ChangeSigningKeyAdded.IsSigningKey() || ChangeTokenRevoked.IsClient() {
		t.Error("IsClient/IsSigningKey misclassify")
	}
}
