package main

import "syscall"

// childProcAttr puts a child of `lifeboat dev` in its own process group, so Ctrl-C reaches only
// lifeboat, which stops the children in order; the kernel stops them too if lifeboat dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
