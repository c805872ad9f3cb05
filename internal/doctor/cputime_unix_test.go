//go:build unix

package doctor

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so far; a benchmark
// reports it beside the wall time, which a busy machine inflates.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
