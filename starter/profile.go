package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// startProfiles writes Go CPU and allocation profiles and an execution trace when
// LIFEBOAT_CPUPROFILE, LIFEBOAT_MEMPROFILE or LIFEBOAT_TRACE name files, for diagnosing a slow or
// memory-hungry command (`go tool pprof bin/lifeboat FILE`, `go tool trace FILE`).
func startProfiles(env config.Env) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if path, ok := env("LIFEBOAT_CPUPROFILE"); ok && path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("LIFEBOAT_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return stop, fmt.Errorf("LIFEBOAT_CPUPROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if path, ok := env("LIFEBOAT_TRACE"); ok && path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("LIFEBOAT_TRACE: %w", err)
		}
		if err := trace.Start(f); err != nil {
			return stop, fmt.Errorf("LIFEBOAT_TRACE: %w", err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if path, ok := env("LIFEBOAT_MEMPROFILE"); ok && path != "" {
		runtime.MemProfileRate = 64 << 10
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err != nil {
				return
			}
			defer f.Close()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
		})
	}
	return stop, nil
}
