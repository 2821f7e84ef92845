//go:build !linux

package repo

import "syscall"

// dieWithParent cannot ask the kernel for it here: services outlive a killed test binary.
func dieWithParent(*syscall.SysProcAttr) {}
