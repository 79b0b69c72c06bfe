//go:build !linux

package bench

import "os/exec"

// Memory and CPU figures of the server are read from /proc: on other
// systems they are reported as zero.

func setParentDeathSignal(*exec.Cmd) {}
func procRSS(int) int64              { return 0 }
func procHWM(int) int64              { return 0 }
func procCPU(int) float64            { return 0 }
func selfCPU() float64               { return 0 }
func hostCPU() (float64, float64)    { return 0, 0 }
func cpuPressure() float64           { return 0 }
