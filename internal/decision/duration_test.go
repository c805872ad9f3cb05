package decision

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{400 * time.Millisecond, "0s"},
		{3 * time.Second, "3s"},
		{-40 * time.Second, "40s"},
		{59*time.Second + 600*time.Millisecond, "1m"},
		{4*time.Minute + 12*time.Second, "4m12s"},
		{12 * time.Minute, "12m"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour + 4*time.Minute + 12*time.Second, "1h4m"},
		{3 * time.Hour, "3h"},
		{23*time.Hour + 59*time.Minute + 40*time.Second, "1d"},
		{50 * time.Hour, "2d2h"},
		{72 * time.Hour, "3d"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
