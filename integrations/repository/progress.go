package repository

import (
	"sync"
	"time"
)

// reportEvery calls report(false) every interval (default one second) until the returned stop is
// called, which then calls report once more with its argument: whether the operation completed.
// Without report it does nothing.
func reportEvery(interval time.Duration, report func(done bool)) (stop func(done bool)) {
	if report == nil {
		return func(bool) {}
	}
	if interval <= 0 {
		interval = time.Second
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report(false)
			}
		}
	}()
	return func(done bool) {
		close(quit)
		wg.Wait()
		report(done)
	}
}
