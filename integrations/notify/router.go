package notify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// DefaultRoute is the route of messages sent to no route in particular.
const DefaultRoute = "default"

// Delivery reports one try of one notifier to deliver a message (a notifier that retries within its
// Notify call makes one Delivery, counting its tries in Attempts).
type Delivery struct {
	// Notifier is the notifier's Name.
	Notifier string `json:"notifier"`
	// Route is the route that delivered to the notifier: the first of the requested routes that
	// delivers to all its channels and has it, or else the fallback route that reached it first.
	Route string `json:"route"`
	// Attempts is how many tries the notifier made (see CountAttempt); a notifier that does not count
	// its tries made one.
	Attempts int `json:"attempts"`
	// Err is why the notifier did not accept the message; empty when it did.
	Err string `json:"error,omitempty"`
	// Duration is how long the notifier took.
	Duration units.Duration `json:"duration"`
	// Ref is what the channel returned to find the message again (a Slack channel and timestamp), for
	// Message.Refs of later messages of the same incident; empty for channels that have none.
	Ref string `json:"ref,omitempty"`
}

// Referrer is implemented by notifiers that return a reference to what they delivered.
type Referrer interface {
	// NotifyRef is Notify that also returns the delivered message's reference.
	NotifyRef(ctx context.Context, m Message) (ref string, err error)
}

// OK reports whether the notifier accepted the message.
func (d Delivery) OK() bool { return d.Err == "" }

// DeliveryMode says how a route delivers a message to its channels.
type DeliveryMode string

// The delivery modes.
const (
	// DeliverAll delivers to every channel that wants the message, all at once. It is the default.
	DeliverAll DeliveryMode = "all"
	// DeliverFallback tries the channels that want the message one after another, in the route's
	// order, the next only when the previous failed after its own retries, and stops at the first
	// that accepts: Slack, then SMS when Slack is down, then email.
	DeliverFallback DeliveryMode = "fallback"
)

// Valid reports whether d is DeliverAll, DeliverFallback or empty (DeliverAll).
func (d DeliveryMode) Valid() bool { return d == "" || d == DeliverAll || d == DeliverFallback }

// Route is a named route of a Router: the channels that messages sent to it reach.
type Route struct {
	// Name is what messages are routed by, such as "default", "dba" or "on-call".
	Name string
	// Channels are the route's notifiers, each with the messages it wants, in the order DeliverFallback
	// tries them.
	Channels []RouteChannel
	// Delivery is DeliverAll (also when empty) or DeliverFallback.
	Delivery DeliveryMode
	// Plans, when set, limits the route to messages about one of these recovery plans (Message.Plan);
	// the route wants no message without a plan.
	Plans []string
}

// RouteChannel is a notifier of a route and the messages it wants there. One notifier may be a
// channel of several routes, with a different filter in each.
type RouteChannel struct {
	Notifier Notifier
	Filter   Filter
}

// wants reports whether the route takes m at all: m is about one of its plans, if it has any.
func (r Route) wants(m Message) bool {
	return len(r.Plans) == 0 || slices.Contains(r.Plans, m.Plan)
}

// Router sends messages to the channels of named routes, such as "default", "dba" or "on-call". It
// is safe for concurrent use.
type Router struct {
	routes map[string]Route
}

// NewRouter returns a router over routes, which it copies: each route delivers every message to all
// its notifiers at once. Every route needs a name and at least one notifier, and no notifier may be
// nil.
func NewRouter(routes map[string][]Notifier) (*Router, error) {
	rs := make([]Route, 0, len(routes))
	for _, name := range sortedKeys(routes) {
		r := Route{Name: name}
		for _, n := range routes[name] {
			r.Channels = append(r.Channels, RouteChannel{Notifier: n})
		}
		rs = append(rs, r)
	}
	return NewRouterFrom(rs)
}

// NewRouterFrom returns a router over routes, which it copies. Every route needs a unique name, at
// least one channel and a valid delivery mode; no notifier may be nil and every filter must be valid.
// It reports every problem at once.
func NewRouterFrom(routes []Route) (*Router, error) {
	r := &Router{routes: make(map[string]Route, len(routes))}
	var errs []error
	for i, rt := range routes {
		switch {
		case rt.Name == "":
			errs = append(errs, fmt.Errorf("notify: a route (number %d) has an empty name", i+1))
		case len(rt.Channels) == 0:
			errs = append(errs, fmt.Errorf("notify: route %q has no notifiers", rt.Name))
		case slices.ContainsFunc(rt.Channels, func(c RouteChannel) bool { return c.Notifier == nil }):
			errs = append(errs, fmt.Errorf("notify: route %q has a nil notifier", rt.Name))
		}
		if _, dup := r.routes[rt.Name]; dup && rt.Name != "" {
			errs = append(errs, fmt.Errorf("notify: two routes are named %q", rt.Name))
		}
		if !rt.Delivery.Valid() {
			errs = append(errs, fmt.Errorf("notify: route %q: delivery %q is not %s or %s", rt.Name, rt.Delivery, DeliverAll, DeliverFallback))
		}
		for j, c := range rt.Channels {
			if err := c.Filter.Validate(fmt.Sprintf("notify: route %q: channel %d", rt.Name, j)); err != nil {
				errs = append(errs, err)
			}
		}
		rt.Channels = slices.Clone(rt.Channels)
		rt.Plans = slices.Clone(rt.Plans)
		r.routes[rt.Name] = rt
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Routes returns the names of the routes, sorted.
func (r *Router) Routes() []string { return sortedKeys(r.routes) }

// Has reports whether the router has a route of that name.
func (r *Router) Has(route string) bool {
	_, ok := r.routes[route]
	return ok
}

// Notify delivers m through the named routes (DefaultRoute when routes is empty) and returns one
// Delivery per try of a notifier, failed ones included, in the order of the routes and of their
// channels. A message with a zero Time gets the current time.
//
// Each route takes m only when it is about one of the route's plans (if the route lists plans), and
// gives it only to the channels whose filter wants it. A DeliverAll route delivers to those channels at
// once; a DeliverFallback route tries them one after another until one accepts. Routes run at the same
// time. A notifier gets m at most once, even when two routes share it: a fallback route that reaches
// a notifier another route already sends to waits for that delivery and counts its outcome, without a
// Delivery of its own.
//
// A message that no channel wants is not an error: Notify returns no deliveries and nil. A notifier
// that fails does not make Notify fail either: its Delivery says why. Notify returns an error when
// channels wanted the message but none accepted it, joining every failure (permanent when all of them
// are), so that an alert is never dropped without a caller knowing. It also returns a permanent
// error, after delivering to the routes it knows, when a route is unknown; when it knows none of them,
// it delivers to DefaultRoute instead. An invalid message is a permanent error, delivered nowhere.
func (r *Router) Notify(ctx context.Context, routes []string, m Message) ([]Delivery, error) {
	if err := m.Validate(); err != nil {
		return nil, Permanent(fmt.Errorf("notify: invalid message: %w", err))
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if len(routes) == 0 {
		routes = []string{DefaultRoute}
	}
	var known, unknown []string
	for _, name := range routes {
		switch {
		case slices.Contains(known, name) || slices.Contains(unknown, name):
		case r.Has(name):
			known = append(known, name)
		default:
			unknown = append(unknown, name)
		}
	}
	var routeErr error
	if len(unknown) > 0 {
		msg := fmt.Sprintf("notify: unknown route %s (routes: %s)", quoteAll(unknown), quoteAll(r.Routes()))
		if len(known) == 0 && r.Has(DefaultRoute) {
			known = []string{DefaultRoute}
			msg += "; sent to the default route instead"
		}
		routeErr = Permanent(errors.New(msg))
	}

	plan := r.plan(known, m)
	if len(plan.jobs) == 0 {
		return nil, routeErr
	}
	results := make([][]attempt, len(plan.jobs))
	var wg sync.WaitGroup
	for i, j := range plan.jobs {
		wg.Go(func() { results[i] = plan.run(ctx, j, m) })
	}
	wg.Wait()

	var (
		deliveries []Delivery
		errs       []error
		accepted   bool
	)
	for _, as := range results {
		for _, a := range as {
			deliveries = append(deliveries, a.delivery)
			if a.err == nil {
				accepted = true
			} else {
				errs = append(errs, fmt.Errorf("route %q: %w", a.delivery.Route, a.err))
			}
		}
	}
	if accepted || len(errs) == 0 {
		return deliveries, routeErr
	}
	noneErr := fmt.Errorf("notify: no notifier accepted %s %q: %w", m.Event, m.Title, errors.Join(errs...))
	if routeErr != nil {
		return deliveries, errors.Join(routeErr, noneErr)
	}
	return deliveries, noneErr
}

// job is what one goroutine of Notify does: deliver to one notifier of a DeliverAll route, or try
// the notifiers of a DeliverFallback route in turn.
type job struct {
	route    string
	fallback bool
	slots    []*slot
}

// slot is one notifier's delivery of the message being sent. Whoever claims it first delivers; the
// others wait for the outcome.
type slot struct {
	n       Notifier
	claimed atomic.Bool
	done    chan struct{}
	err     error
}

// attempt is one try of a notifier, as reported and as an error.
type attempt struct {
	delivery Delivery
	err      error
}

// deliveryPlan is the work of one Notify call.
type deliveryPlan struct {
	jobs  []job
	slots []*slot
}

// plan works out which notifiers of the known routes want m, and how each route delivers to them.
func (r *Router) plan(known []string, m Message) deliveryPlan {
	var p deliveryPlan
	for _, name := range known {
		rt := r.routes[name]
		if !rt.wants(m) {
			continue
		}
		var chain []*slot
		for _, c := range rt.Channels {
			if !c.Filter.Wants(m) {
				continue
			}
			s := p.slot(c.Notifier)
			switch {
			case rt.Delivery == DeliverFallback:
				if !slices.Contains(chain, s) {
					chain = append(chain, s)
				}
			case !s.claimed.Load():
				// The first DeliverAll route that reaches a notifier delivers to it, even when a
				// fallback route listed it first: that route waits for the outcome.
				s.claimed.Store(true)
				p.jobs = append(p.jobs, job{route: name, slots: []*slot{s}})
			}
		}
		if len(chain) > 0 {
			p.jobs = append(p.jobs, job{route: name, fallback: true, slots: chain})
		}
	}
	return p
}

// slot returns the slot of n, made on first use.
func (p *deliveryPlan) slot(n Notifier) *slot {
	for _, s := range p.slots {
		if sameNotifier(s.n, n) {
			return s
		}
	}
	s := &slot{n: n, done: make(chan struct{})}
	p.slots = append(p.slots, s)
	return s
}

// run does a job and returns its tries.
func (p *deliveryPlan) run(ctx context.Context, j job, m Message) []attempt {
	if !j.fallback {
		a := deliver(ctx, j.route, j.slots[0].n, m)
		j.slots[0].finish(a.err)
		return []attempt{a}
	}
	var out []attempt
	for _, s := range j.slots {
		var err error
		if s.claimed.CompareAndSwap(false, true) {
			a := deliver(ctx, j.route, s.n, m)
			s.finish(a.err)
			out = append(out, a)
			err = a.err
		} else {
			<-s.done
			err = s.err
		}
		if err == nil {
			break
		}
	}
	return out
}

func (s *slot) finish(err error) {
	s.err = err
	close(s.done)
}

// deliver makes one notifier deliver m, and reports how it went.
func deliver(ctx context.Context, route string, n Notifier, m Message) attempt {
	ctx, attempts := WithAttemptCount(ctx)
	start := time.Now()
	ref, err := notifySafely(ctx, n, m)
	d := Delivery{
		Notifier: n.Name(),
		Route:    route,
		Attempts: max(attempts(), 1),
		Duration: units.Duration(time.Since(start)),
	}
	if err != nil {
		d.Err = err.Error()
	} else {
		d.Ref = ref
	}
	return attempt{delivery: d, err: err}
}

// notifySafely calls NotifyRef when n implements Referrer, Notify otherwise, and turns a notifier's
// panic into an error, so that one broken channel cannot stop the others.
func notifySafely(ctx context.Context, n Notifier, m Message) (ref string, err error) {
	defer func() {
		if p := recover(); p != nil {
			ref, err = "", fmt.Errorf("%s: panic: %v", n.Name(), p)
		}
	}()
	if rn, ok := n.(Referrer); ok {
		return rn.NotifyRef(ctx, m)
	}
	return "", n.Notify(ctx, m)
}

// sameNotifier reports whether a and b are the same notifier: equal pointers, or equal comparable
// values. Values that cannot be compared are never the same.
func sameNotifier(a, b Notifier) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() || !va.Comparable() || !vb.Comparable() {
		return false
	}
	return a == b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteAll(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
