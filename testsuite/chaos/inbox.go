package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
)

// Delivery is a webhook message the Inbox accepted.
type Delivery struct {
	// ID is the X-Lifeboat-Delivery header: the same on every try of one message.
	ID       string
	Event    string
	DedupKey string
	Level    int
	Step     string
	Title    string
	At       time.Time
}

// Key names the notification a delivery is of — its event, incident, escalation level and plan
// step — so that two deliveries with the same key and different IDs are one notification sent
// twice.
func (d Delivery) Key() string {
	return fmt.Sprintf("%s|%s|%d|%s", d.Event, d.DedupKey, d.Level, d.Step)
}

// Inbox is a webhook receiver, as an on-call tool would run one: it checks each request's
// signature, answers some with 503 to make the sender try again (FailRate), and keeps what it
// accepted.
type Inbox struct {
	// URL is where to send webhooks.
	URL string

	secret   []byte
	srv      *httptest.Server
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	accepted []Delivery
	refused  int
	bad      int
}

// NewInbox starts a receiver that verifies signatures made with secret and refuses failRate of
// requests (0 to 1) with 503, the same ones for the same seed. Close stops it.
func NewInbox(secret string, failRate float64, seed uint64) *Inbox {
	in := &Inbox{secret: []byte(secret), failRate: failRate, rng: rand.New(rand.NewPCG(seed, 0x696e626f78))}
	in.srv = httptest.NewServer(http.HandlerFunc(in.serve))
	in.URL = in.srv.URL
	return in
}

// Close stops the receiver.
func (in *Inbox) Close() { in.srv.Close() }

func (in *Inbox) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := webhook.Verify(in.secret, r.Header.Get(webhook.HeaderTimestamp), string(body), r.Header.Get(webhook.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		in.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if in.failRate > 0 && in.rng.Float64() < in.failRate {
		in.refused++
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		in.bad++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in.accepted = append(in.accepted, Delivery{ID: r.Header.Get(webhook.HeaderDelivery), Event: p.Event, DedupKey: p.DedupKey,
		Level: p.Level, Step: p.Fields["step"], Title: p.Title, At: time.Now()})
}

// Deliveries returns what the receiver accepted, in order.
func (in *Inbox) Deliveries() []Delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.accepted)
}

// Refused counts the requests answered 503 on purpose; Bad those with a bad signature or body.
func (in *Inbox) Refused() (refused, bad int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.refused, in.bad
}

// Tally sorts deliveries by notification (Delivery.Key).
type Tally struct {
	// Notifications maps each key to the distinct delivery IDs accepted for it.
	Notifications map[string][]string
	// Repeats counts deliveries whose ID had been accepted before: a receiver drops them.
	Repeats int
}

// TallyDeliveries sorts deliveries by notification.
func TallyDeliveries(ds []Delivery) Tally {
	t := Tally{Notifications: map[string][]string{}}
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.ID] {
			t.Repeats++
			continue
		}
		seen[d.ID] = true
		t.Notifications[d.Key()] = append(t.Notifications[d.Key()], d.ID)
	}
	return t
}

// Twice lists the notifications delivered under more than one ID: a side effect that ran twice.
func (t Tally) Twice() []string {
	var out []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range t.Notifications {
			if !yield(k) {
				return
			}
		}
	}) {
		if ids := t.Notifications[k]; len(ids) > 1 {
			out = append(out, fmt.Sprintf("%s (%d delivery IDs: %s)", k, len(ids), strings.Join(ids, ", ")))
		}
	}
	return out
}
