package repo

import "syscall"

// dieWithParent has the kernel kill the service if the test binary dies.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
