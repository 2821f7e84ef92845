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
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// DefaultRoute is the route of messages sent to no route in particular.
const DefaultRoute = "default"

// Delivery reports what one notifier did with a message.
type Delivery struct {
	// Notifier is the notifier's Name.
	Notifier string `json:"notifier"`
	// Route is the first of the requested routes that reached the notifier.
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

// Router sends messages to the notifiers of named routes, such as "default", "dba" or "on-call". It
// is safe for concurrent use.
type Router struct {
	routes map[string][]Notifier
}

// NewRouter returns a router over routes, which it copies. Every route needs a name and at least one
// notifier, and no notifier may be nil.
func NewRouter(routes map[string][]Notifier) (*Router, error) {
	r := &Router{routes: make(map[string][]Notifier, len(routes))}
	var errs []error
	for _, name := range sortedKeys(routes) {
		ns := routes[name]
		switch {
		case name == "":
			errs = append(errs, errors.New("notify: a route has an empty name"))
		case len(ns) == 0:
			errs = append(errs, fmt.Errorf("notify: route %q has no notifiers", name))
		case slices.Contains(ns, nil):
			errs = append(errs, fmt.Errorf("notify: route %q has a nil notifier", name))
		}
		r.routes[name] = slices.Clone(ns)
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

// Notify delivers m to every notifier of the named routes at once (DefaultRoute when routes is
// empty), each notifier once even when two routes share it, and returns one Delivery per notifier, in
// the order of the routes and of their notifiers. A message with a zero Time gets the current time.
//
// A notifier that fails does not make Notify fail: its Delivery says why. Notify returns an error when
// no notifier accepted the message, joining every failure (permanent when all of them are), so that an
// alert is never dropped without a caller knowing. It also returns a permanent error, after delivering
// to the routes it knows, when a route is unknown; when it knows none of them, it delivers to
// DefaultRoute instead. An invalid message is a permanent error, delivered nowhere.
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

	type target struct {
		route string
		n     Notifier
	}
	var targets []target
	for _, route := range known {
		for _, n := range r.routes[route] {
			if !slices.ContainsFunc(targets, func(t target) bool { return sameNotifier(t.n, n) }) {
				targets = append(targets, target{route, n})
			}
		}
	}
	if len(targets) == 0 {
		return nil, routeErr
	}

	deliveries := make([]Delivery, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			ctx, attempts := withAttemptCounter(ctx)
			start := time.Now()
			err := notifySafely(ctx, t.n, m)
			d := Delivery{
				Notifier: t.n.Name(),
				Route:    t.route,
				Attempts: max(int(attempts.n.Load()), 1),
				Duration: units.Duration(time.Since(start)),
			}
			if err != nil {
				d.Err = err.Error()
				errs[i] = fmt.Errorf("route %q: %w", t.route, err)
			}
			deliveries[i] = d
		})
	}
	wg.Wait()

	if slices.Contains(errs, nil) {
		return deliveries, routeErr
	}
	noneErr := fmt.Errorf("notify: no notifier accepted %s %q: %w", m.Event, m.Title, errors.Join(errs...))
	if routeErr != nil {
		return deliveries, errors.Join(routeErr, noneErr)
	}
	return deliveries, noneErr
}

// notifySafely turns a notifier's panic into an error, so that one broken channel cannot stop the
// others.
func notifySafely(ctx context.Context, n Notifier, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", n.Name(), p)
		}
	}()
	return n.Notify(ctx, m)
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
