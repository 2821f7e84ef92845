//go:build !linux

package main

import "syscall"

// childProcAttr puts a child of `lifeboat dev` in its own process group, so Ctrl-C reaches only
// lifeboat, which stops the children in order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
