//go:build !unix

package identity

import "time"

// processCPU is not measured on this platform; benchmarks then report 0 cpu-ns/op.
func processCPU() time.Duration { return 0 }
