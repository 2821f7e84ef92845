package notifytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// Request is what a Receiver saw of one request.
type Request struct {
	Header http.Header
	Body   []byte
}

// Receiver is an HTTP server that records every request, such as a webhook receiver, and answers
// the nth (from 1) with respond's answer: 200 with no body when respond is nil.
type Receiver struct {
	*httptest.Server
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []Request
}

// NewReceiver starts a Receiver that stops when the test ends.
func NewReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *Receiver {
	t.Helper()
	rcv := &Receiver{respond: respond}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.reqs = append(rcv.reqs, Request{r.Header.Clone(), body})
		n := len(rcv.reqs)
		rcv.mu.Unlock()
		if rcv.respond != nil {
			rcv.respond(n, w, r)
		}
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// Requests returns the requests received so far.
func (rcv *Receiver) Requests() []Request {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.reqs)
}
