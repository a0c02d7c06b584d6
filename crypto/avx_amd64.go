//go:build amd64

package crypto

import "golang.org/x/sys/cpu"

// circl's AVX2 code for ML-KEM (pke/kyber/internal/common/amd64.s, as of
// v1.6.5) returns with the upper halves of the YMM registers dirty: it
// never executes VZEROUPPER. Every legacy-SSE instruction that runs after
// it until something clears them — SHA-NI in the HPKE key schedule and the
// header MAC, AES-NI in the TLS records around the upload — pays an
// SSE/AVX transition penalty, which on this project's machines made the
// three HMACs of the key schedule cost 90 µs instead of 10
// (BenchmarkWrap's keyschedule-ns; the mixed benchmark in
// PERFORMANCE.md). leaveAVX clears them after every call into circl's
// ML-KEM.

var hasAVX = cpu.X86.HasAVX

// vzeroupper executes VZEROUPPER; only call it when the CPU has AVX.
//
//go:noescape
func vzeroupper()

// leaveAVX clears the upper halves of the YMM registers after AVX code
// that left them dirty.
func leaveAVX() {
	if hasAVX {
		vzeroupper()
	}
}
