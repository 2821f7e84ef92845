package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Paths the handler serves.
const (
	PathAlertmanager = "/alerts/alertmanager"
	PathWebhook      = "/alerts/webhook"
)

// Outcomes of an alert, as responses, logs and Observe report them.
const (
	// OutcomeDelivered: the alert reached its Alert workflow (a firing alert starts it if needed).
	OutcomeDelivered = "delivered"
	// OutcomeNoRule: no rule matched; nothing was started.
	OutcomeNoRule = "no rule matched"
	// OutcomeNoWorkflow: a resolved alert for which no Alert workflow runs; it is ignored.
	OutcomeNoWorkflow = "ignored: no alert workflow"
	// OutcomeFailed: Temporal did not take the alert; the request answers 503 so the sender retries.
	OutcomeFailed = "failed"
)

// Defaults and limits of requests.
const (
	// DefaultMaxBodyBytes bounds a request's body.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultTemporalTimeout bounds each call to Temporal, so the sender gets an answer quickly.
	DefaultTemporalTimeout = 10 * time.Second
	// MaxLabels and MaxAnnotations bound what an alert carries into workflow histories; labels are
	// matched in full first. Longer values are cut at MaxLabelValueLen and MaxAnnotationLen bytes.
	MaxLabels        = 64
	MaxAnnotations   = 32
	MaxLabelValueLen = 1024
	MaxAnnotationLen = 4096
	// parallel is how many alerts of one request are handed to Temporal at once.
	parallel = 4
)

// Temporal is the part of the Temporal client the intake uses; client.Client implements it.
type Temporal interface {
	// SignalWithStartWorkflow signals the workflow, starting it first when none runs under its ID.
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	// SignalWorkflow signals a running workflow; it returns a *serviceerror.NotFound when none runs.
	SignalWorkflow(ctx context.Context, workflowID string, runID string, signalName string, arg any) error
}

var _ Temporal = client.Client(nil)

// Options configure a Handler. Config and TaskQueue are required.
type Options struct {
	Config Config
	// TaskQueue is where Alert workflows run: the worker's task queue.
	TaskQueue string
	// Secrets resolves the secrets the configuration names (integrations/secrets.Static's Secret).
	// It is called for every request, so rotated secrets are picked up.
	Secrets func(ctx context.Context, name string) (string, error)
	// Logger receives a line per alert; nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called once per alert with the endpoint ("alertmanager", "webhook")
	// and its outcome, and once per refused request with the reason ("unauthorized",
	// "bad request", "too large", "replayed").
	Observe func(endpoint, outcome string)
	// MaxBodyBytes bounds a request's body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// TemporalTimeout bounds each call to Temporal (DefaultTemporalTimeout).
	TemporalTimeout time.Duration
	// Now is the clock that checks webhook timestamps; nil means time.Now.
	Now func() time.Time
}

// Handler serves the alert endpoints. Its Temporal client is set with SetClient once connected;
// until then, requests are answered 503.
type Handler struct {
	opts    Options
	rules   []*matcher
	replays *replayGuard

	mu     sync.RWMutex
	client Temporal
}

// New checks the configuration and returns a handler for it. It returns every problem with the
// configuration, and every secret it names that Secrets cannot resolve, at once.
func New(opts Options) (*Handler, error) {
	rules, err := opts.Config.compile()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if opts.TaskQueue == "" {
		errs = append(errs, errors.New("intake: no task queue"))
	}
	refs := opts.Config.SecretRefs()
	for _, field := range slices.Sorted(maps.Keys(refs)) {
		if err := notify.CheckSecret(opts.Secrets, refs[field]); err != nil {
			errs = append(errs, fmt.Errorf("intake.%s: %w", field, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.TemporalTimeout <= 0 {
		opts.TemporalTimeout = DefaultTemporalTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts, rules: rules, replays: newReplayGuard(maxReplayEntries)}, nil
}

// SetClient gives the handler its Temporal client.
func (h *Handler) SetClient(c Temporal) {
	h.mu.Lock()
	h.client = c
	h.mu.Unlock()
}

func (h *Handler) temporal() Temporal {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.client
}

// Register adds the configured endpoints to mux: POST /alerts/alertmanager when Alertmanager has
// credentials, POST /alerts/webhook when the webhook has a secret.
func (h *Handler) Register(mux *http.ServeMux) {
	if h.opts.Config.Alertmanager.Enabled() {
		mux.HandleFunc("POST "+PathAlertmanager, h.serveAlertmanager)
	}
	if h.opts.Config.Webhook.Enabled() {
		mux.HandleFunc("POST "+PathWebhook, h.serveWebhook)
	}
}

// alert is one alert from either endpoint, before matching.
type alert struct {
	Status       string
	Fingerprint  string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	Source       string
}

// Result is what became of one alert of a request.
type Result struct {
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	Name        string `json:"alertname,omitempty"`
	Rule        string `json:"rule,omitempty"`
	WorkflowID  string `json:"workflow_id,omitempty"`
	Outcome     string `json:"outcome"`
	Error       string `json:"error,omitempty"`
}

// Response is the JSON body of every answer: the result of each alert, or the error that refused
// the request.
type Response struct {
	Alerts []Result `json:"alerts,omitempty"`
	// Warnings are problems that did not refuse the request, such as alerts Alertmanager left out.
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// deliver hands each alert to its Alert workflow, a few at a time, and returns their results in
// order; failed reports whether Temporal failed to take any.
func (h *Handler) deliver(ctx context.Context, endpoint string, alerts []alert) (results []Result, failed bool) {
	results = make([]Result, len(alerts))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, a := range alerts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = h.dispatch(ctx, endpoint, a)
		}()
	}
	wg.Wait()
	for _, r := range results {
		failed = failed || r.Outcome == OutcomeFailed
	}
	return results, failed
}

// dispatch matches one alert and hands it to its Alert workflow: a firing alert with
// SignalWithStart, a resolved one with a signal to the workflow if it runs.
func (h *Handler) dispatch(ctx context.Context, endpoint string, a alert) Result {
	res := Result{Fingerprint: a.Fingerprint, Status: a.Status, Name: a.Labels["alertname"]}
	log := h.opts.Logger.With("endpoint", endpoint, "fingerprint", a.Fingerprint, "status", a.Status, "alertname", res.Name)
	defer func() {
		if h.opts.Observe != nil {
			h.opts.Observe(endpoint, res.Outcome)
		}
	}()
	m := h.match(a.Labels)
	if m == nil {
		res.Outcome = OutcomeNoRule
		log.Info("alert matched no rule", "labels", a.Labels)
		return res
	}
	res.Rule = m.Name
	res.WorkflowID = workflows.AlertWorkflowID(m.Name, a.Fingerprint)
	log = log.With("rule", m.Name, "workflow_id", res.WorkflowID)
	c := h.temporal()
	if c == nil {
		res.Outcome, res.Error = OutcomeFailed, "not connected to Temporal yet"
		log.Warn("alert not delivered", "error", res.Error)
		return res
	}
	ev := workflows.AlertEvent{
		Status: a.Status, Fingerprint: a.Fingerprint, Name: res.Name,
		Labels: bound(a.Labels, MaxLabels, MaxLabelValueLen), Annotations: bound(a.Annotations, MaxAnnotations, MaxAnnotationLen),
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: cut(a.GeneratorURL, MaxLabelValueLen),
		Source: a.Source, ReceivedAt: h.opts.Now().UTC(), Rule: m.Name,
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.TemporalTimeout)
	defer cancel()
	var err error
	if a.Status == workflows.AlertFiring {
		_, err = c.SignalWithStartWorkflow(ctx, res.WorkflowID, workflows.SignalAlert, ev, client.StartWorkflowOptions{
			ID:        res.WorkflowID,
			TaskQueue: h.opts.TaskQueue,
			// Every notification of the alert reaches the one running workflow; once it has
			// completed (resolved for its quiet period), a new firing starts a new one.
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:            alertSummary(res.Name, a.Fingerprint, m),
			TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.KindKey.ValueSet("alert"), workflows.AssetKey.ValueSet(m.Plan)),
		}, workflows.AlertWorkflow, workflows.AlertInput{
			Rule: m.Name, Fingerprint: a.Fingerprint, Plan: m.Plan, Mode: m.Mode, QuietPeriod: m.QuietPeriod,
		})
	} else {
		err = c.SignalWorkflow(ctx, res.WorkflowID, "", workflows.SignalAlert, ev)
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			res.Outcome = OutcomeNoWorkflow
			log.Info("resolved alert has no alert workflow: ignored")
			return res
		}
	}
	if err != nil {
		res.Outcome, res.Error = OutcomeFailed, err.Error()
		log.Warn("alert not delivered: the sender should retry", "error", err)
		return res
	}
	res.Outcome = OutcomeDelivered
	log.Info("alert delivered", "plan", m.Plan, "mode", m.Mode)
	return res
}

// match returns the first rule the labels match, or nil.
func (h *Handler) match(labels map[string]string) *matcher {
	for _, m := range h.rules {
		if m.matches(labels) {
			return m
		}
	}
	return nil
}

// alertSummary is the Alert workflow's one-line title in the Web UI.
func alertSummary(name, fingerprint string, m *matcher) string {
	if name == "" {
		name = fingerprint
	}
	return cut(fmt.Sprintf("Alert %s (rule %s): %s of plan %s", name, m.Name, m.Mode, m.Plan), 200)
}

// safeFingerprint is a fingerprint used as it is in workflow IDs. It has no '-', so that
// alert-RULE-FINGERPRINT splits at its last '-' and two rules' alerts never share an ID
// (rule names may contain '-').
var safeFingerprint = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:]{0,127}$`)

// fingerprint is the alert's identity in its workflow ID: the given one when it is short and plain,
// its hash when not, and a hash of the labels when none is given.
func fingerprint(given string, labels map[string]string) string {
	if given != "" && safeFingerprint.MatchString(given) {
		return given
	}
	h := sha256.New()
	if given != "" {
		h.Write([]byte(given))
	} else {
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			h.Write([]byte(k))
			h.Write([]byte{0xff})
			h.Write([]byte(labels[k]))
			h.Write([]byte{0xff})
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// bound copies m with at most n entries (by sorted key) and values cut at maxLen bytes.
func bound(m map[string]string, n, maxLen int) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(m), n))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(out) == n {
			break
		}
		out[cut(k, maxLen)] = cut(m[k], maxLen)
	}
	return out
}

// cut shortens s to at most n bytes of valid UTF-8, ending with "…" when it was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// validate checks the parts of an alert both endpoints need; it returns the problems.
func (a *alert) validate() []string {
	var problems []string
	if a.Status != workflows.AlertFiring && a.Status != workflows.AlertResolved {
		problems = append(problems, fmt.Sprintf("status %q is neither firing nor resolved", a.Status))
	}
	if len(a.Labels) == 0 {
		problems = append(problems, "no labels: rules match alerts by their labels")
	}
	return problems
}

// reply writes a JSON response.
func reply(w http.ResponseWriter, code int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "10")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// refuse answers a refused request and records why.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, endpoint string, code int, reason string, err error) {
	if h.opts.Observe != nil {
		h.opts.Observe(endpoint, reason)
	}
	h.opts.Logger.Warn("alert request refused", "endpoint", endpoint, "reason", reason, "remote", r.RemoteAddr, "error", err)
	reply(w, code, Response{Error: err.Error()})
}

// readBody reads at most MaxBodyBytes of the request's body; tooLarge reports a longer one.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, true, fmt.Errorf("body larger than %d bytes", h.opts.MaxBodyBytes)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read body: %w", err)
	}
	return body, false, nil
}

// answer writes the results of a request: 503 when Temporal failed to take any alert, so that
// the sender retries the whole request (alerts already delivered arrive again as repeats).
func answer(w http.ResponseWriter, results []Result, failed bool, warnings []string) {
	code := http.StatusOK
	resp := Response{Alerts: results, Warnings: warnings}
	if failed {
		code = http.StatusServiceUnavailable
		resp.Error = "Temporal did not take every alert: retry"
	}
	reply(w, code, resp)
}
