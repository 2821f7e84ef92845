package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/email"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/lognotify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/pagerduty"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/twilio"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
)

// Config configures one route: the channels that messages sent to it reach, which messages
// each channel wants, and whether the channels get a message all at once or one after another.
type Config struct {
	// Name is what messages are routed by, such as "dba" or "on-call". The route named "default"
	// receives messages sent to no route in particular.
	Name string `yaml:"name" json:"name"`
	// Log writes messages to the worker's log.
	Log bool `yaml:"log" json:"log,omitempty"`
	// Webhooks receive messages as signed JSON.
	Webhooks []webhook.Config `yaml:"webhooks" json:"webhooks,omitempty"`
	// Slack posts messages to Slack channels.
	Slack []SlackChannel `yaml:"slack" json:"slack,omitempty"`
	// SMS texts messages to phones through Twilio.
	SMS []twilio.SMSConfig `yaml:"sms" json:"sms,omitempty"`
	// Voice calls phones through Twilio; by default only for critical messages of escalation level 1
	// or more.
	Voice []twilio.VoiceConfig `yaml:"voice" json:"voice,omitempty"`
	// Email sends messages over SMTP.
	Email []email.Config `yaml:"email" json:"email,omitempty"`
	// PagerDuty triggers, acknowledges and resolves PagerDuty alerts.
	PagerDuty []pagerduty.Config `yaml:"pagerduty" json:"pagerduty,omitempty"`
	// Plans, when set, limits the route to messages about these recovery plans; messages about no
	// plan (a failed backup) then pass it by.
	Plans []string `yaml:"plans" json:"plans,omitempty"`
	// Delivery is all (the default: every channel at once) or fallback (one after another, in Order,
	// until one accepts).
	Delivery notify.DeliveryMode `yaml:"delivery" json:"delivery,omitempty"`
	// Order is the order in which a fallback route tries its kinds of channel, such as [slack, sms,
	// email]; it must name every kind the route has. Empty means DefaultFallbackOrder.
	Order []string `yaml:"order" json:"order,omitempty"`
}

// SlackChannel is a Slack channel of a route, with the messages it wants.
type SlackChannel struct {
	slack.Config  `yaml:",inline"`
	notify.Filter `yaml:",inline"`
}

// Validate returns every problem with the Slack channel, prefixed with path, joined, or nil.
func (c SlackChannel) Validate(path string) error {
	return errors.Join(c.Config.Validate(path), c.Filter.Validate(path))
}

// The kinds of channel, as Config's keys name them and Order lists them.
const (
	KindLog       = "log"
	KindWebhooks  = "webhooks"
	KindSlack     = "slack"
	KindPagerDuty = "pagerduty"
	KindEmail     = "email"
	KindSMS       = "sms"
	KindVoice     = "voice"
)

// DefaultFallbackOrder is the order of a fallback route without Order: the channels people read at
// their desk first, then those that wake them up, and the log, which always accepts, last.
var DefaultFallbackOrder = []string{KindSlack, KindWebhooks, KindPagerDuty, KindEmail, KindSMS, KindVoice, KindLog}

// allOrder is the order of the deliveries of a route that delivers to all its channels.
var allOrder = []string{KindLog, KindWebhooks, KindSlack, KindPagerDuty, KindEmail, KindSMS, KindVoice}

// kinds returns the kinds of channel the route has, in the order of allOrder.
func (r Config) kinds() []string {
	var ks []string
	for _, k := range allOrder {
		if r.count(k) > 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// count returns how many channels of a kind the route has.
func (r Config) count(kind string) int {
	switch kind {
	case KindLog:
		if r.Log {
			return 1
		}
	case KindWebhooks:
		return len(r.Webhooks)
	case KindSlack:
		return len(r.Slack)
	case KindPagerDuty:
		return len(r.PagerDuty)
	case KindEmail:
		return len(r.Email)
	case KindSMS:
		return len(r.SMS)
	case KindVoice:
		return len(r.Voice)
	}
	return 0
}

// order returns the kinds of channel in the order the route delivers to them.
func (r Config) order() []string {
	order := allOrder
	if r.Delivery == notify.DeliverFallback {
		order = DefaultFallbackOrder
		if len(r.Order) > 0 {
			order = r.Order
		}
	}
	var ks []string
	for _, k := range order {
		if r.count(k) > 0 && !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

var routeNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate returns every problem with the routes, each prefixed with its route's path
// ("notify.routes[1] (dba).webhooks[0].url: …" for path "notify.routes"), joined, or nil.
func Validate(path string, routes []Config) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range routes {
		p := fmt.Sprintf("%s[%d]", path, i)
		if r.Name != "" {
			p += " (" + r.Name + ")"
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: also the name of %s[%d]", p, path, j))
		}
		seen[r.Name] = i
		if err := r.Validate(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate returns every problem with the route, prefixed with path, joined, or nil.
func (r Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if !routeNamePattern.MatchString(r.Name) {
		bad(".name", "%q: use 1-63 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", r.Name)
	}
	if len(r.kinds()) == 0 {
		bad("", "no channel: set log, or add a webhooks, slack, sms, voice, email or pagerduty channel")
	}
	for i, p := range r.Plans {
		switch {
		case p == "":
			bad(fmt.Sprintf(".plans[%d]", i), "empty; name a recovery plan")
		case slices.Index(r.Plans, p) < i:
			bad(fmt.Sprintf(".plans[%d]", i), "%q is listed twice", p)
		}
	}
	if !r.Delivery.Valid() {
		bad(".delivery", "%q is not %s or %s", r.Delivery, notify.DeliverAll, notify.DeliverFallback)
	}
	if len(r.Order) > 0 && r.Delivery != notify.DeliverFallback {
		bad(".order", "only a route with delivery: fallback tries its channels in an order; set delivery: fallback or remove order")
	}
	for i, k := range r.Order {
		switch {
		case !slices.Contains(allOrder, k):
			bad(fmt.Sprintf(".order[%d]", i), "%q is not a kind of channel (%s)", k, strings.Join(DefaultFallbackOrder, ", "))
		case slices.Index(r.Order, k) < i:
			bad(fmt.Sprintf(".order[%d]", i), "%q is listed twice", k)
		}
	}
	if len(r.Order) > 0 {
		for _, k := range r.kinds() {
			if !slices.Contains(r.Order, k) {
				bad(".order", "leaves out %s, which the route has: add it where it should be tried, or remove the channel", k)
			}
		}
	}
	validate := func(kind string, i int, v interface{ Validate(string) error }) {
		if err := v.Validate(fmt.Sprintf("%s.%s[%d]", path, kind, i)); err != nil {
			errs = append(errs, err)
		}
	}
	for i, c := range r.Webhooks {
		validate(KindWebhooks, i, c)
	}
	for i, c := range r.Slack {
		validate(KindSlack, i, c)
	}
	for i, c := range r.SMS {
		validate(KindSMS, i, c)
	}
	for i, c := range r.Voice {
		validate(KindVoice, i, c)
	}
	for i, c := range r.Email {
		validate(KindEmail, i, c)
	}
	for i, c := range r.PagerDuty {
		validate(KindPagerDuty, i, c)
	}
	return errors.Join(errs...)
}

// SecretRefs returns the worker secrets the route names, by field ("webhooks[0].secret",
// "sms[1].auth_token").
func (r Config) SecretRefs() map[string]string {
	refs := map[string]string{}
	add := func(kind string, i int, field, name string) {
		if name != "" {
			refs[fmt.Sprintf("%s[%d].%s", kind, i, field)] = name
		}
	}
	for i, c := range r.Webhooks {
		add(KindWebhooks, i, "secret", c.SecretRef)
	}
	for i, c := range r.Slack {
		add(KindSlack, i, "token", c.TokenRef)
	}
	for i, c := range r.SMS {
		add(KindSMS, i, "auth_token", c.AuthTokenRef)
	}
	for i, c := range r.Voice {
		add(KindVoice, i, "auth_token", c.AuthTokenRef)
	}
	for i, c := range r.Email {
		add(KindEmail, i, "password", c.PasswordRef)
	}
	for i, c := range r.PagerDuty {
		add(KindPagerDuty, i, "routing_key", c.RoutingKeyRef)
	}
	return refs
}

// Build returns a router with the configured routes, after checking them (every problem with the
// routes, every secret that resolve cannot find and every CA file that cannot be read is reported at
// once). resolve looks secrets up by name (integrations/secrets.Resolver's Secret); it is called once
// per secret here, to fail early, and again for every message, so that a rotated secret is picked up.
// A secret that resolve reports as secrets.ErrNotFound at that point is a permanent error. Log
// channels write to logger (nil means slog.Default()).
//
// Channels configured the same way in several routes (same kind and settings, filters aside) share
// one notifier, so a message sent to several of those routes reaches the channel once. A
// configuration without a "default" route gets one that logs, so no message is ever sent nowhere.
func Build(routes []Config, resolve func(ctx context.Context, name string) (string, error), logger *slog.Logger) (*notify.Router, error) {
	built, err := build(routes, resolve, logger)
	if err != nil {
		return nil, err
	}
	return notify.NewRouterFrom(built)
}

// build returns the routes of Build.
func build(routes []Config, resolve func(ctx context.Context, name string) (string, error), logger *slog.Logger) ([]notify.Route, error) {
	if err := Validate("routes", routes); err != nil {
		return nil, err
	}
	b := &builder{resolve: resolve, log: &lognotify.Notifier{Logger: logger}, shared: map[string]notify.Notifier{}}
	var built []notify.Route
	for i, rc := range routes {
		path := fmt.Sprintf("routes[%d] (%s)", i, rc.Name)
		route := notify.Route{Name: rc.Name, Delivery: rc.Delivery, Plans: slices.Clone(rc.Plans)}
		for _, kind := range rc.order() {
			route.Channels = append(route.Channels, b.channels(path, rc, kind)...)
		}
		built = append(built, route)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if !slices.ContainsFunc(built, func(r notify.Route) bool { return r.Name == notify.DefaultRoute }) {
		built = append(built, notify.Route{Name: notify.DefaultRoute, Channels: []notify.RouteChannel{{Notifier: b.log}}})
	}
	return built, nil
}

// builder makes the notifiers of Build, sharing those configured the same way, and collects every
// problem with secrets and files.
type builder struct {
	resolve func(context.Context, string) (string, error)
	log     *lognotify.Notifier
	shared  map[string]notify.Notifier
	errs    []error
}

// channels returns the route's channels of one kind.
func (b *builder) channels(path string, rc Config, kind string) []notify.RouteChannel {
	var out []notify.RouteChannel
	add := func(i int, settings any, filter notify.Filter, secretField, secretRef string, build func(secret notify.SecretFunc) notify.Notifier) {
		field := fmt.Sprintf("%s.%s[%d]", path, kind, i)
		key, err := json.Marshal(settings) // map keys sorted: equal settings, equal keys
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", field, err))
			return
		}
		n, ok := b.shared[kind+" "+string(key)]
		if !ok {
			var secret notify.SecretFunc
			if secretRef != "" {
				if err := notify.CheckSecret(b.resolve, secretRef); err != nil {
					b.errs = append(b.errs, fmt.Errorf("%s.%s: %w", field, secretField, err))
				}
				secret = notify.ResolvedSecret(b.resolve, secretRef)
			}
			n = build(secret)
			b.shared[kind+" "+string(key)] = n
		}
		out = append(out, notify.RouteChannel{Notifier: n, Filter: filter})
	}
	switch kind {
	case KindLog:
		out = append(out, notify.RouteChannel{Notifier: b.log})
	case KindWebhooks:
		for i, c := range rc.Webhooks {
			filter := c.Filter
			c.Filter = notify.Filter{}
			add(i, c, filter, "secret", c.SecretRef, func(secret notify.SecretFunc) notify.Notifier { return webhook.New(c, secret) })
		}
	case KindSlack:
		for i, c := range rc.Slack {
			add(i, c.Config, c.Filter, "token", c.TokenRef, func(secret notify.SecretFunc) notify.Notifier { return slack.New(c.Config, secret) })
		}
	case KindSMS:
		for i, c := range rc.SMS {
			add(i, c.Config, c.Filter, "auth_token", c.AuthTokenRef, func(secret notify.SecretFunc) notify.Notifier { return twilio.NewSMS(c.Config, secret) })
		}
	case KindVoice:
		for i, c := range rc.Voice {
			filter := c.Filter.WithDefaults(notify.Critical, twilio.DefaultVoiceMinLevel)
			c.Filter = notify.Filter{}
			add(i, c, filter, "auth_token", c.AuthTokenRef, func(secret notify.SecretFunc) notify.Notifier { return twilio.NewVoice(c, secret) })
		}
	case KindEmail:
		for i, c := range rc.Email {
			if _, err := c.RootCAs(); err != nil {
				b.errs = append(b.errs, fmt.Errorf("%s.%s[%d].%w", path, kind, i, err))
			}
			filter := c.Filter
			c.Filter = notify.Filter{}
			add(i, c, filter, "password", c.PasswordRef, func(secret notify.SecretFunc) notify.Notifier { return email.New(c, secret) })
		}
	case KindPagerDuty:
		for i, c := range rc.PagerDuty {
			filter := c.Filter
			c.Filter = notify.Filter{}
			add(i, c, filter, "routing_key", c.RoutingKeyRef, func(secret notify.SecretFunc) notify.Notifier { return pagerduty.New(c, secret) })
		}
	}
	return out
}
