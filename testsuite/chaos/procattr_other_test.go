//go:build !linux

package chaos_test

import "syscall"

// dieWithParent does nothing where the kernel cannot kill a child with its parent.
func dieWithParent(*syscall.SysProcAttr) {}
