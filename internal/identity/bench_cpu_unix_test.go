//go:build unix

package identity

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used: wall-clock ns/op on a shared
// machine measures the neighbours too, CPU time per op much less so.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
