package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// DefaultAPIURL is where the Slack Web API lives.
const DefaultAPIURL = "https://slack.com/api/"

// DefaultTimeout bounds each call to the Slack Web API.
const DefaultTimeout = 10 * time.Second

// The identifiers of the interactive parts of a Slack message, which the interactivity endpoint
// (integrations/slack) reads back from a click.
const (
	// ActionApprove is the action_id of an approve/reject gate's Approve button.
	ActionApprove = "lifeboat_approve"
	// ActionReject is the action_id of every gate's Reject button.
	ActionReject = "lifeboat_reject"
	// ActionChoose, followed by the option's index from 0, is the action_id of a decision
	// gate's option buttons ("lifeboat_choose:1"); the button's value names the option.
	ActionChoose = "lifeboat_choose:"
	// ActionLink is the action_id of the button that opens Message.Link.
	ActionLink = "lifeboat_link"
	// GateBlock, followed by the gate's name, is the block_id of the actions block that holds
	// a gate's buttons.
	GateBlock = "lifeboat_gate:"
	// MaxButtonValue is the longest value Slack accepts on a button.
	MaxButtonValue = 2000
)

// Config configures a Slack channel of a route.
type Config struct {
	// Channel is the Slack channel ID (C0123…) or name (#dr-war-room) messages are posted to.
	Channel string `yaml:"channel" json:"channel"`
	// TokenRef names the worker secret holding the bot token (xoxb-…).
	TokenRef string `yaml:"token" json:"token"`
	// APIURL replaces https://slack.com/api/ (for a proxy, or a test server).
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
	// Timeout bounds each call to the Web API (default 10s).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries of each Web API call per message, 1 to notify.MaxAttempts (default
	// notify.DefaultAttempts).
	Attempts int `yaml:"attempts" json:"attempts,omitempty"`
}

// Validate returns every problem with the Slack channel, prefixed with path, joined, or nil.
func (c Config) Validate(path string) error {
	var errs []error
	switch {
	case c.Channel == "":
		errs = append(errs, fmt.Errorf("%s.channel: required: a channel ID such as C0123ABCD, or a name such as #dr-war-room", path))
	case strings.ContainsAny(c.Channel, " \t\r\n"):
		errs = append(errs, fmt.Errorf("%s.channel: %q contains white space", path, c.Channel))
	}
	if c.TokenRef == "" {
		errs = append(errs, fmt.Errorf("%s.token: required: the name of the secret holding the bot token", path))
	}
	if c.APIURL != "" {
		if _, err := notify.ParseHTTPURL(c.APIURL); err != nil {
			errs = append(errs, fmt.Errorf("%s.api_url: %w", path, err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: %s is negative", path, c.Timeout))
	}
	if err := notify.ValidateAttempts(path, c.Attempts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Button is the value of an approval button: what a click needs to reach the gate. It is sent
// as compact JSON, at most MaxButtonValue bytes.
type Button struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	Gate       string `json:"gate"`
	// Choice is the option of a decision gate's option button; empty on Approve and Reject.
	Choice string `json:"choice,omitempty"`
}

// ParseButton reads a button's value, refusing one without a workflow or a gate.
func ParseButton(value string) (Button, error) {
	var b Button
	if len(value) > MaxButtonValue {
		return b, fmt.Errorf("slack: button value: %d bytes, at most %d", len(value), MaxButtonValue)
	}
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("slack: button value: %w", err)
	}
	if b.WorkflowID == "" || b.Gate == "" {
		return b, errors.New("slack: button value: workflow_id and gate are required")
	}
	return b, nil
}

// Option changes how a notifier calls the Web API.
type Option func(*Notifier)

// WithHTTPClient makes the notifier send its requests through c.
func WithHTTPClient(c *http.Client) Option {
	return func(s *Notifier) { s.client = c }
}

// WithBackoff sets the wait after a failed try (doubled after each further one, default
// notify.DefaultBackoff) and the longest wait, including one a rate limit asks for (default
// notify.DefaultMaxWait).
func WithBackoff(backoff, maxWait time.Duration) Option {
	return func(s *Notifier) { s.retry.Backoff, s.retry.MaxWait = backoff, maxWait }
}

// Notifier posts messages to a Slack channel with the bot token, as Block Kit: a header with the
// severity and the title, the text, the fields, a context line and a button to the link. An
// approval request also gets buttons that decide its gate (see Button), answered by the
// interactivity endpoint of integrations/slack.
//
// Messages of one incident stay in one place: when notify.Message.Refs holds this notifier's
// reference from an earlier delivery, the earlier message is updated in place to show the new one,
// and the new one is also posted in its thread, so that the thread is the incident's timeline.
//
// Each Web API call is tried up to Attempts times: again after a network error, a timeout, a 5xx
// status or a rate limit (waiting as long as Retry-After asks, up to the longest wait). Slack's
// errors about the request itself (invalid_auth, channel_not_found, not_in_channel, is_archived,
// invalid_blocks and the like) are permanent.
type Notifier struct {
	cfg    Config
	token  notify.SecretFunc
	client *http.Client
	retry  notify.RetryPolicy
}

var (
	_ notify.Notifier = (*Notifier)(nil)
	_ notify.Referrer = (*Notifier)(nil)
)

// New returns the notifier of cfg; token returns the bot token.
func New(cfg Config, token notify.SecretFunc, opts ...Option) *Notifier {
	s := &Notifier{cfg: cfg, token: token, retry: notify.RetryPolicy{Attempts: cfg.Attempts}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Name implements notify.Notifier.
func (s *Notifier) Name() string { return "slack " + s.cfg.Channel }

// Notify implements notify.Notifier.
func (s *Notifier) Notify(ctx context.Context, m notify.Message) error {
	_, err := s.NotifyRef(ctx, m)
	return err
}

// NotifyRef implements notify.Referrer. The reference is "<channel ID>:<message ts>" of the message
// that shows the incident: the one posted now, or the earlier one of m.Refs that it updated. Each try
// of each Web API call counts as an attempt (notify.CountAttempt), so an update in place with its
// thread reply makes at least two.
//
// When the earlier message cannot be updated (deleted, or in a channel the bot left), m is posted
// as a new message and its reference returned. When the update worked but the thread reply did not,
// NotifyRef returns the reference with the error.
func (s *Notifier) NotifyRef(ctx context.Context, m notify.Message) (string, error) {
	name := s.Name()
	if err := m.Validate(); err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: invalid message: %w", name, err))
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	api := s.cfg.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	if _, err := notify.ParseHTTPURL(api); err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: api_url: %w", name, err))
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	if s.token == nil {
		return "", notify.Permanent(fmt.Errorf("%s: no bot token configured", name))
	}
	token, err := s.token(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: bot token: %w", name, err)
	}
	if len(token) == 0 {
		return "", notify.Permanent(fmt.Errorf("%s: bot token is empty", name))
	}
	c := slackCall{s: s, api: api, token: string(token)}
	text := slackFallbackText(m)
	blocks := Blocks(m)

	if channel, ts, ok := parseSlackRef(m.Refs[name]); ok {
		_, err := c.do(ctx, "chat.update", slackChatRequest{Channel: channel, TS: ts, Text: text, Blocks: blocks})
		if err == nil {
			reply := slackChatRequest{Channel: channel, ThreadTS: ts, Text: text, Blocks: slackBlocks(m, false)}
			if _, err := c.do(ctx, "chat.postMessage", reply); err != nil {
				return slackRef(channel, ts), fmt.Errorf("%s: updated the message %s but could not reply in its thread: %w", name, ts, err)
			}
			return slackRef(channel, ts), nil
		}
		if !notify.IsPermanent(err) {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		// The earlier message is gone or out of reach: post the incident anew.
		resp, postErr := c.do(ctx, "chat.postMessage", slackChatRequest{Channel: s.cfg.Channel, Text: text, Blocks: blocks})
		if postErr != nil {
			return "", fmt.Errorf("%s: %w", name, errors.Join(
				fmt.Errorf("update the earlier message %s: %w", ts, err), postErr))
		}
		return slackRef(resp.Channel, resp.TS), nil
	}
	resp, err := c.do(ctx, "chat.postMessage", slackChatRequest{Channel: s.cfg.Channel, Text: text, Blocks: blocks})
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return slackRef(resp.Channel, resp.TS), nil
}

// slackRef joins a channel ID and a message timestamp into a reference.
func slackRef(channel, ts string) string { return channel + ":" + ts }

// parseSlackRef splits a reference made by slackRef.
func parseSlackRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	return channel, ts, ok && channel != "" && ts != ""
}

// slackChatRequest is the JSON body of chat.postMessage and chat.update.
type slackChatRequest struct {
	Channel  string        `json:"channel"`
	TS       string        `json:"ts,omitempty"`
	ThreadTS string        `json:"thread_ts,omitempty"`
	Text     string        `json:"text"`
	Blocks   []slack.Block `json:"blocks"`
	// UnfurlLinks is false so that the link to the Web UI does not add a preview.
	UnfurlLinks bool `json:"unfurl_links"`
}

// slackResponse is what the Web API answers.
type slackResponse struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// APIError is an error the Slack Web API returned ({"ok": false, "error": code}).
type APIError struct {
	// Method is the Web API method called, such as "chat.postMessage".
	Method string
	// Code is Slack's error code, such as "channel_not_found".
	Code string
}

func (e *APIError) Error() string { return "api error " + e.Code }

// slackRetryable lists the Slack error codes that can go away on a later try.
var slackRetryable = []string{"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

// slackCall makes Web API calls for one Notify.
type slackCall struct {
	s     *Notifier
	api   string
	token string
}

// do calls method with body as JSON, trying again as Notifier's doc comment says.
func (c slackCall) do(ctx context.Context, method string, body slackChatRequest) (slackResponse, error) {
	payload, err := marshalJSON(body)
	if err != nil {
		return slackResponse{}, notify.Permanent(fmt.Errorf("%s: encode request: %w", method, err))
	}
	var resp slackResponse
	err = c.s.retry.Do(ctx, method, func(ctx context.Context) (time.Duration, error) {
		r, retryAfter, err := c.try(ctx, method, payload)
		resp = r
		return retryAfter, err
	})
	return resp, err
}

// try makes one call. It returns the wait a Retry-After header asks for, or -1.
func (c slackCall) try(ctx context.Context, method string, payload []byte) (slackResponse, time.Duration, error) {
	timeout := c.s.cfg.Timeout.Or(DefaultTimeout)
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodPost, c.api+method, bytes.NewReader(payload))
	if err != nil {
		return slackResponse{}, -1, notify.Permanent(fmt.Errorf("cannot make a request for %s", method))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "lifeboat")
	client := c.s.client
	if client == nil {
		client = notify.NoRedirectClient()
	}
	httpResp, err := client.Do(req)
	if err != nil {
		return slackResponse{}, -1, notify.RequestError(ctx, tryCtx, timeout, err)
	}
	defer httpResp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(httpResp.Body, 1<<20))
	if err != nil {
		return slackResponse{}, -1, fmt.Errorf("read response: %w", notify.RequestError(ctx, tryCtx, timeout, err))
	}
	code := httpResp.StatusCode
	retryAfter := time.Duration(-1)
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if d, ok := notify.ParseRetryAfter(httpResp.Header.Get("Retry-After"), time.Now()); ok {
			retryAfter = d
		}
	}
	var resp slackResponse
	jsonErr := json.Unmarshal(raw, &resp)
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return resp, retryAfter, &notify.StatusError{StatusCode: code, Status: httpResp.Status, Body: notify.Snippet(raw)}
	case code != http.StatusOK:
		return resp, -1, notify.Permanent(&notify.StatusError{StatusCode: code, Status: httpResp.Status, Body: notify.Snippet(raw)})
	case jsonErr != nil:
		// A proxy's error page, most likely: worth another try.
		return resp, -1, fmt.Errorf("response is not Slack's JSON: %s", notify.Snippet(raw))
	case !resp.OK:
		apiErr := &APIError{Method: method, Code: resp.Error}
		if resp.Error == "" {
			apiErr.Code = "unknown error"
		}
		if slices.Contains(slackRetryable, resp.Error) {
			return resp, retryAfter, apiErr
		}
		return resp, -1, notify.Permanent(apiErr)
	}
	return resp, -1, nil
}

// Limits of Block Kit that Blocks keeps to, in characters.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackButtonMax  = 75
	slackFieldsPer  = 10
	slackURLMax     = 3000
)

// slackEmoji shows the severity.
var slackEmoji = map[notify.Severity]string{
	notify.Info:     ":information_source:",
	notify.Warning:  ":warning:",
	notify.Critical: ":rotating_light:",
}

// Blocks returns the Block Kit blocks that show m, with the buttons that decide m.Approval's
// gate when it is set.
func Blocks(m notify.Message) []slack.Block { return slackBlocks(m, true) }

// slackBlocks renders m; withGate adds the buttons of m.Approval's gate.
func slackBlocks(m notify.Message, withGate bool) []slack.Block {
	var blocks []slack.Block
	title := strings.TrimSpace(slackEmoji[m.Severity] + " " + m.Title)
	blocks = append(blocks, slack.NewHeaderBlock(plainText(truncate(title, slackHeaderMax))))
	if m.Text != "" {
		blocks = append(blocks, slack.NewSectionBlock(plainText(truncate(m.Text, slackSectionMax)), nil, nil))
	}
	var fields []*slack.TextBlockObject
	for _, k := range m.FieldKeys() {
		key := escapeWithin(k, 200)
		fields = append(fields, mrkdwn("*"+key+"*\n"+escapeWithin(m.Fields[k], slackFieldMax-len(key)-3)))
	}
	for chunk := range slices.Chunk(fields, slackFieldsPer) {
		blocks = append(blocks, slack.NewSectionBlock(nil, chunk, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(slackContext(m))))
	if a := m.Approval; a != nil && withGate {
		if gate := slackGateBlocks(*a); gate != nil {
			blocks = append(blocks, gate...)
		}
	}
	if link := m.Link; link != "" && len(link) <= slackURLMax {
		if _, err := notify.ParseHTTPURL(link); err == nil {
			button := slack.NewButtonBlockElement(ActionLink, "", plainText("Details")).WithURL(link)
			blocks = append(blocks, slack.NewActionBlock("lifeboat_link", button))
		}
	}
	return blocks
}

// slackContext is the context line: severity, asset, plan, escalation level and time.
func slackContext(m notify.Message) string {
	parts := []string{strings.ToUpper(string(m.Severity))}
	if m.Asset != "" {
		parts = append(parts, "asset *"+escapeWithin(m.Asset, 500)+"*")
	}
	if m.Plan != "" {
		parts = append(parts, "plan *"+escapeWithin(m.Plan, 500)+"*")
	}
	if m.Level > 0 {
		parts = append(parts, fmt.Sprintf("reminder %d", m.Level))
	}
	t := m.Time.UTC()
	// Slack shows the date in the reader's time zone; the fallback is for clients that cannot.
	parts = append(parts, fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.Format("2006-01-02 15:04 UTC")))
	return strings.Join(parts, " · ")
}

// slackGateBlocks returns the blocks that ask for a decision on a gate: who may decide, then the
// buttons. A gate whose buttons would not fit Slack's limits gets a line saying to use the CLI.
func slackGateBlocks(a notify.ApprovalRef) []slack.Block {
	who := "anyone but the requester may decide"
	if len(a.Approvers) > 0 {
		who = "approvers: " + escapeWithin(strings.Join(a.Approvers, ", "), 2000)
	}
	info := slack.NewContextBlock("", mrkdwn("Gate *"+escapeWithin(a.Gate, 500)+"* · "+who))

	value := func(choice string) (string, bool) {
		b, err := marshalJSON(Button{WorkflowID: a.WorkflowID, RunID: a.RunID, Gate: a.Gate, Choice: choice})
		return string(b), err == nil && len(b) <= MaxButtonValue
	}
	var buttons []slack.BlockElement
	ok := len(GateBlock+a.Gate) <= 255 && a.WorkflowID != "" && a.Gate != ""
	if len(a.Options) == 0 {
		v, fits := value("")
		ok = ok && fits
		buttons = append(buttons, slack.NewButtonBlockElement(ActionApprove, v, plainText("Approve")).WithStyle(slack.StylePrimary))
	}
	for i, opt := range a.Options {
		v, fits := value(opt)
		ok = ok && fits
		buttons = append(buttons, slack.NewButtonBlockElement(ActionChoose+strconv.Itoa(i), v, plainText(truncate(opt, slackButtonMax))))
	}
	v, fits := value("")
	ok = ok && fits
	confirm := slack.NewConfirmationBlockObject(
		plainText("Reject?"),
		plainText(truncate("Rejecting closes the gate "+a.Gate+" for everyone. You will be asked for a reason.", 300)),
		plainText("Reject"), plainText("Cancel")).WithStyle(slack.StyleDanger)
	buttons = append(buttons, slack.NewButtonBlockElement(ActionReject, v, plainText("Reject")).WithStyle(slack.StyleDanger).WithConfirm(confirm))
	if !ok {
		return []slack.Block{info, slack.NewContextBlock("", mrkdwn(
			"The gate's name or workflow ID is too long for Slack's buttons: decide with `lifeboat approve`, `lifeboat decide` or `lifeboat reject`."))}
	}
	return []slack.Block{info, slack.NewActionBlock(GateBlock+a.Gate, buttons...)}
}

// slackFallbackText is the message's text, shown in notifications and by clients without Block Kit.
func slackFallbackText(m notify.Message) string {
	return strings.TrimSpace(slackEmoji[m.Severity] + " " + escapeWithin(m.Title, slackSectionMax))
}

// marshalJSON is json.Marshal without escaping <, > and & (Slack reads them as they are), which
// keeps button values short.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func plainText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// slackEscape escapes the three characters that Slack's mrkdwn gives a meaning to in any text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeWithin escapes s for mrkdwn (see slackEscape) in at most n bytes, cutting it short with "…"
// where needed, never inside an escape.
func escapeWithin(s string, n int) string {
	escaped := slackEscape(s)
	if len(escaped) <= n {
		return escaped
	}
	var b strings.Builder
	for _, r := range s {
		e := slackEscape(string(r))
		if b.Len()+len(e)+len("…") > n {
			break
		}
		b.WriteString(e)
	}
	return b.String() + "…"
}

// truncate shortens s to at most n characters, ending it with "…" when it cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
