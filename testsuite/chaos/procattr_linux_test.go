package chaos_test

import "syscall"

// dieWithParent has the kernel kill a worker if the test binary dies.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
