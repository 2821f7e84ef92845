package slack

import (
	"container/heap"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers Slack signs its requests with.
const (
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	HeaderSignature = "X-Slack-Signature"
)

// Defaults of the HTTP handler's checks.
const (
	// DefaultTolerance is how far a request's timestamp may be from now, either way: Slack's own
	// recommendation.
	DefaultTolerance = 5 * time.Minute
	// DefaultReplayMemory is how many signatures the handler remembers to refuse replays.
	DefaultReplayMemory = 100_000
)

// Why a request's signature is refused; every error of verifier.verify wraps one of them.
var (
	// ErrUnsigned is a request without the signature headers, or with malformed ones.
	ErrUnsigned = errors.New("slack: request is not signed")
	// ErrForged is a request whose signature does not match.
	ErrForged = errors.New("slack: signature does not match")
	// ErrStale is a request whose timestamp is too far from now.
	ErrStale = errors.New("slack: request timestamp is too far from now")
	// ErrReplayed is a request whose signature was seen before.
	ErrReplayed = errors.New("slack: request was already received")
)

// Sign returns the X-Slack-Signature value Slack sends for a request with the given timestamp
// header and body: "v0=" and the hex HMAC-SHA256, keyed with the signing secret, of
// "v0:{timestamp}:{body}".
func Sign(secret []byte, timestamp string, body []byte) string {
	return "v0=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("v0:"))
	h.Write([]byte(timestamp))
	h.Write([]byte{':'})
	h.Write(body)
	return h.Sum(nil)
}

// verifier checks signed requests and remembers the signatures it accepted until their timestamp
// leaves the tolerance, so that the same request is taken once. It is safe for concurrent use.
type verifier struct {
	tolerance time.Duration
	now       func() time.Time

	mu   sync.Mutex
	max  int
	seen map[string]time.Time // signature → when it can be forgotten
	exp  expiryHeap
}

func newVerifier(tolerance time.Duration, memory int, now func() time.Time) *verifier {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if memory <= 0 {
		memory = DefaultReplayMemory
	}
	if now == nil {
		now = time.Now
	}
	return &verifier{tolerance: tolerance, now: now, max: memory, seen: map[string]time.Time{}}
}

// verify checks a request's signature headers against body, exactly as Slack documents: the
// signature must match (compared in constant time), the timestamp must be within the tolerance of
// now, and the signature must not have been accepted before.
func (v *verifier) verify(secret []byte, timestamp, signature string, body []byte) error {
	if timestamp == "" || signature == "" {
		return fmt.Errorf("%w: %s or %s missing", ErrUnsigned, HeaderTimestamp, HeaderSignature)
	}
	digest, ok := strings.CutPrefix(signature, "v0=")
	got, err := hex.DecodeString(digest)
	if !ok || err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not v0= and 64 hex digits", ErrUnsigned, HeaderSignature)
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrUnsigned, HeaderTimestamp, timestamp)
	}
	if len(secret) == 0 {
		return fmt.Errorf("%w: no signing secret to check it with", ErrForged)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrForged
	}
	now := v.now()
	sent := time.Unix(secs, 0)
	if skew := now.Sub(sent); skew > v.tolerance || skew < -v.tolerance {
		return fmt.Errorf("%w: %s away, more than %s", ErrStale, skew.Abs().Round(time.Second), v.tolerance)
	}
	key := hex.EncodeToString(got)
	v.mu.Lock()
	defer v.mu.Unlock()
	for len(v.exp) > 0 && !v.exp[0].at.After(now) {
		delete(v.seen, heap.Pop(&v.exp).(expiry).key)
	}
	if _, dup := v.seen[key]; dup {
		return ErrReplayed
	}
	if len(v.seen) >= v.max {
		// Full of live signatures: forget the one closest to leaving the tolerance anyway.
		delete(v.seen, heap.Pop(&v.exp).(expiry).key)
	}
	forget := sent.Add(v.tolerance + time.Second)
	v.seen[key] = forget
	heap.Push(&v.exp, expiry{key: key, at: forget})
	return nil
}

// remembered returns how many signatures the verifier holds.
func (v *verifier) remembered() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}

// expiry is when a remembered signature can be forgotten.
type expiry struct {
	key string
	at  time.Time
}

// expiryHeap is a min-heap of expiries, soonest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
