package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// The outcomes of interactions, as Settings.Outcome receives them: one per interaction.
const (
	// OutcomeRecorded is a decision the gate recorded.
	OutcomeRecorded = "recorded"
	// OutcomeDuplicate is a decision already recorded: the same click delivered again, or the
	// same person deciding a second time.
	OutcomeDuplicate = "duplicate"
	// OutcomeModalOpened is a Reject click, answered with the dialog asking for the reason.
	OutcomeModalOpened = "modal_opened"
	// OutcomeNotApprover is a click by someone the gate does not list as an approver.
	OutcomeNotApprover = "not_approver"
	// OutcomeSelfApproval is an approval by the gate's requester.
	OutcomeSelfApproval = "self_approval"
	// OutcomeClosed is a decision on a gate that is not open (closed, or not opened yet), or on a
	// workflow that finished.
	OutcomeClosed = "closed"
	// OutcomeRefused is a decision the gate refused for another reason (a missing reason, a choice
	// that differs from the one already made).
	OutcomeRefused = "refused"
	// OutcomeError is an interaction that failed on Lifeboat's side: the workflow could not be
	// reached, or the dialog could not be opened.
	OutcomeError = "error"
	// OutcomeUnsigned is an HTTP request without Slack's signature headers.
	OutcomeUnsigned = "unsigned"
	// OutcomeForged is an HTTP request whose signature does not match.
	OutcomeForged = "forged"
	// OutcomeStale is an HTTP request whose timestamp is more than 5 minutes from now.
	OutcomeStale = "stale"
	// OutcomeReplayed is an HTTP request received before.
	OutcomeReplayed = "replayed"
	// OutcomeTooLarge is an HTTP request whose body is over the limit.
	OutcomeTooLarge = "too_large"
	// OutcomeMalformed is a request or button that cannot be read.
	OutcomeMalformed = "malformed"
	// OutcomeUnknownUser is a click by a Slack user not in the users map.
	OutcomeUnknownUser = "unknown_user"
	// OutcomeUnknownTeam is a click from a workspace not in the teams list.
	OutcomeUnknownTeam = "unknown_team"
	// OutcomeUnknownAction is an interaction that is not one of Lifeboat's buttons or dialogs.
	OutcomeUnknownAction = "unknown_action"
	// OutcomeIgnored is an interaction that needs nothing: the link button, a dialog closed.
	OutcomeIgnored = "ignored"
)

// Defaults of Settings.
const (
	// DefaultDecideTimeout bounds the wait for the workflow before Slack is answered; Slack gives
	// up after 3 seconds.
	DefaultDecideTimeout = 2 * time.Second
	// DefaultFinishTimeout bounds what happens after the answer: the rest of a slow decision, and
	// updating the message.
	DefaultFinishTimeout = 30 * time.Second
)

// Settings configure Interactions.
type Settings struct {
	// Users maps Slack user IDs to Lifeboat identities (required); anyone else is refused.
	Users map[string]string
	// Teams, when set, are the only Slack workspaces (team IDs) whose clicks are taken.
	Teams []string
	// Decider records the decisions (required); the worker's is worker/slackdecider.
	Decider Decider
	// BotToken returns the bot token (required), for views.open, chat.update and
	// chat.postEphemeral. It is called for each use, so that a rotated token is picked up.
	BotToken notify.SecretFunc
	// APIURL replaces https://slack.com/api/.
	APIURL string
	// HTTPClient sends the Web API and response_url requests; nil means a client with a 10-second
	// timeout.
	HTTPClient *http.Client
	// Logger receives a line for every refused or failed interaction and every recorded decision;
	// nil means slog.Default().
	Logger *slog.Logger
	// Outcome, when set, is called once per interaction with its outcome (the Outcome constants),
	// for metrics. It must be quick and safe for concurrent use.
	Outcome func(outcome string)
	// DecideTimeout bounds the wait for the workflow before Slack is answered (DefaultDecideTimeout).
	// A decision still on its way then is finished in the background, and the person told.
	DecideTimeout time.Duration
	// FinishTimeout bounds the work done after Slack is answered (DefaultFinishTimeout).
	FinishTimeout time.Duration
}

// Interactions turns interactions with Lifeboat's Slack messages into approval decisions: it maps
// the Slack user to an identity, sends the decision to the gate, shows the result on the message
// and tells a refused person why, privately. The transports (Handler for HTTP, Socket for Socket
// Mode) authenticate the interactions and feed them in. It is safe for concurrent use.
type Interactions struct {
	users         map[string]string
	teams         []string
	decider       Decider
	botToken      notify.SecretFunc
	apiURL        string
	httpClient    *http.Client
	log           *slog.Logger
	outcome       func(string)
	decideTimeout time.Duration
	finishTimeout time.Duration
	messages      *messageStore
	recorded      *idSet

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewInteractions checks s and returns the Interactions it configures.
func NewInteractions(s Settings) (*Interactions, error) {
	var errs []error
	if len(s.Users) == 0 {
		errs = append(errs, errors.New("slack: no users: map at least one Slack user ID to an identity"))
	}
	if s.Decider == nil {
		errs = append(errs, errors.New("slack: no Decider"))
	}
	if s.BotToken == nil {
		errs = append(errs, errors.New("slack: no bot token"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	i := &Interactions{
		users:         make(map[string]string, len(s.Users)),
		teams:         slices.Clone(s.Teams),
		decider:       s.Decider,
		botToken:      s.BotToken,
		apiURL:        strings.TrimSuffix(s.APIURL, "/") + "/",
		httpClient:    s.HTTPClient,
		log:           s.Logger,
		outcome:       s.Outcome,
		decideTimeout: s.DecideTimeout,
		finishTimeout: s.FinishTimeout,
		messages:      newMessageStore(1000),
		recorded:      newIDSet(10_000),
	}
	for id, identity := range s.Users {
		i.users[id] = strings.TrimSpace(identity)
	}
	if s.APIURL == "" {
		i.apiURL = goslack.APIURL
	}
	if i.httpClient == nil {
		i.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	if i.decideTimeout <= 0 {
		i.decideTimeout = DefaultDecideTimeout
	}
	if i.finishTimeout <= 0 {
		i.finishTimeout = DefaultFinishTimeout
	}
	return i, nil
}

// Close waits until the work started after answering Slack (finishing slow decisions, updating
// messages, telling people) is done, or ctx is done. Call it once the transports have stopped; work
// that starts later runs before its interaction is answered.
func (i *Interactions) Close(ctx context.Context) error {
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
	done := make(chan struct{})
	go func() {
		i.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slack: stopped waiting for updates to Slack: %w", ctx.Err())
	}
}

// background runs f, with FinishTimeout, after the interaction is answered; once Close was called,
// it runs f at once instead.
func (i *Interactions) background(f func(ctx context.Context)) {
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), i.finishTimeout)
		defer cancel()
		f(ctx)
	}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		run()
		return
	}
	i.wg.Add(1)
	i.mu.Unlock()
	go func() {
		defer i.wg.Done()
		run()
	}()
}

// count reports an outcome to the hook.
func (i *Interactions) count(outcome string) {
	if i.outcome != nil {
		i.outcome(outcome)
	}
}

// refuse counts and logs an interaction that is refused before it reaches a gate.
func (i *Interactions) refuse(outcome, msg string, attrs ...any) {
	i.count(outcome)
	i.log.Warn(msg, append([]any{"outcome", outcome}, attrs...)...)
}

// origin is where an interaction came from and where to answer it.
type origin struct {
	team, user string // Slack IDs
	// channel and ts locate the message clicked; text and blocks are its content as the click saw
	// it. Any of them may be empty.
	channel, ts string
	text        string
	blocks      []goslack.Block
	// responseURL answers the click; empty for a dialog's submission.
	responseURL string
}

func (o origin) attrs() []any {
	return []any{"slack_user", o.user, "slack_team", o.team}
}

// job is one decision to send to a gate.
type job struct {
	run      Run
	d        approval.Decision
	updateID string
	origin   origin
	// inModal is set for a rejection submitted in the dialog, which shows a refusal itself.
	inModal bool
}

func (j job) attrs() []any {
	return append(j.origin.attrs(), "workflow_id", j.run.WorkflowID, "run_id", j.run.RunID, "gate", j.d.Gate,
		"identity", j.d.Identity, "approve", j.d.Approve, "choice", j.d.Choice, "update_id", j.updateID)
}

// verdict is what became of a decision.
type verdict struct {
	outcome  string
	recorded bool
	// text tells the person why nothing was recorded; empty when something was.
	text string
}

// handle processes one authenticated interaction and returns what to answer Slack with: nil for an
// empty 200, or a view submission response.
func (i *Interactions) handle(ctx context.Context, cb *goslack.InteractionCallback) any {
	switch cb.Type {
	case goslack.InteractionTypeBlockActions:
		i.blockActions(ctx, cb)
		return nil
	case goslack.InteractionTypeViewSubmission:
		return i.viewSubmission(ctx, cb)
	case goslack.InteractionTypeViewClosed:
		i.count(OutcomeIgnored)
		return nil
	default:
		i.refuse(OutcomeUnknownAction, "slack interaction refused: not one Lifeboat handles",
			"type", cb.Type, "slack_user", cb.User.ID, "slack_team", cb.Team.ID)
		return nil
	}
}

// identify returns the Lifeboat identity of the interaction's user; when there is none, it counts
// and logs the refusal and returns what to tell the user.
func (i *Interactions) identify(cb *goslack.InteractionCallback) (identity string, refusal string, ok bool) {
	if len(i.teams) > 0 && !slices.Contains(i.teams, cb.Team.ID) {
		i.refuse(OutcomeUnknownTeam, "slack interaction refused: workspace not configured",
			"slack_user", cb.User.ID, "slack_team", cb.Team.ID)
		return "", "Lifeboat does not take decisions from this Slack workspace.", false
	}
	identity, ok = i.users[cb.User.ID]
	if !ok || identity == "" {
		i.refuse(OutcomeUnknownUser, "slack interaction refused: unknown Slack user",
			"slack_user", cb.User.ID, "slack_name", cb.User.Name, "slack_team", cb.Team.ID)
		return "", fmt.Sprintf("Your Slack account (%s) is not linked to a Lifeboat identity, so Lifeboat cannot take your decision. "+
			"Ask an operator to add it under slack.users in the worker's configuration.", cb.User.ID), false
	}
	return identity, "", true
}

// clickKind is what a button does.
type clickKind int

const (
	clickApprove clickKind = iota + 1
	clickChoose
	clickReject
)

// blockActions handles a click on a button of a Lifeboat message.
func (i *Interactions) blockActions(ctx context.Context, cb *goslack.InteractionCallback) {
	o := originOf(cb)
	var act *goslack.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if strings.HasPrefix(a.ActionID, "lifeboat_") {
			act = a
			break
		}
	}
	if act == nil {
		i.refuse(OutcomeUnknownAction, "slack interaction refused: no Lifeboat button", o.attrs()...)
		return
	}
	if act.ActionID == slacknotify.ActionLink {
		i.count(OutcomeIgnored)
		return
	}
	identity, refusal, ok := i.identify(cb)
	if !ok {
		i.background(func(ctx context.Context) { i.tell(ctx, o, refusal) })
		return
	}
	b, err := slacknotify.ParseButton(act.Value)
	var kind clickKind
	switch {
	case err != nil:
	case act.ActionID == slacknotify.ActionApprove && b.Choice == "":
		kind = clickApprove
	case strings.HasPrefix(act.ActionID, slacknotify.ActionChoose) && b.Choice != "":
		kind = clickChoose
	case act.ActionID == slacknotify.ActionReject && b.Choice == "":
		kind = clickReject
	default:
		err = fmt.Errorf("action %q does not go with the button's value", act.ActionID)
	}
	if err != nil {
		i.refuse(OutcomeMalformed, "slack interaction refused: unreadable button",
			append(o.attrs(), "action_id", act.ActionID, "error", err.Error())...)
		i.background(func(ctx context.Context) {
			i.tell(ctx, o, "Lifeboat could not read this button. Decide with `lifeboat approve` or `lifeboat reject` instead.")
		})
		return
	}
	run := Run{WorkflowID: b.WorkflowID, RunID: b.RunID}
	if kind == clickReject {
		i.openRejectDialog(ctx, cb, o, run, b.Gate)
		return
	}
	actionTS := act.ActionTs
	if actionTS == "" {
		actionTS = cb.ActionTs
	}
	d := approval.Decision{Gate: b.Gate, Approve: true, Identity: identity, Channel: approval.ChannelSlack, Choice: b.Choice}
	i.decide(ctx, job{
		run:      run,
		d:        d,
		updateID: updateID(o.team, o.user, "click", actionTS, act.ActionID, run.WorkflowID, run.RunID, b.Gate, b.Choice),
		origin:   o,
	})
}

// originOf returns where a click came from.
func originOf(cb *goslack.InteractionCallback) origin {
	o := origin{
		team: cb.Team.ID, user: cb.User.ID,
		channel: cb.Container.ChannelID, ts: cb.Container.MessageTs,
		text: cb.Message.Text, blocks: cb.Message.Blocks.BlockSet,
		responseURL: cb.ResponseURL,
	}
	if o.channel == "" {
		o.channel = cb.Channel.ID
	}
	if o.ts == "" {
		o.ts = cb.Message.Timestamp
	}
	return o
}

// updateID derives the Update's ID from what identifies one click, so that the same click
// delivered twice is one decision.
func updateID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "slack-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// decide sends j's decision, waiting at most DecideTimeout. It returns the verdict, or pending when
// the decision is still on its way or hit a passing failure: it is then finished in the background,
// and the person told there. What follows a verdict (updating the message, telling the person) also
// happens in the background.
func (i *Interactions) decide(ctx context.Context, j job) (v verdict, pending bool) {
	ctx = context.WithoutCancel(ctx) // a click counts even if Slack hangs up
	dctx, cancel := context.WithTimeout(ctx, i.decideTimeout)
	st, err := i.decider.Decide(dctx, j.run, j.d, j.updateID)
	timedOut := dctx.Err() != nil
	cancel()
	if err != nil && (timedOut || transient(err)) {
		i.log.Info("slack decision still on its way; finishing it in the background", append(j.attrs(), "error", err.Error())...)
		i.background(func(ctx context.Context) {
			// A quarter of the time is kept for telling the person.
			dctx, cancel := context.WithTimeout(ctx, i.finishTimeout*3/4)
			st, err := i.decideAgain(dctx, j)
			cancel()
			v := i.judge(j, st, err)
			i.follow(ctx, j, st, v, false)
		})
		return verdict{}, true
	}
	v = i.judge(j, st, err)
	i.background(func(ctx context.Context) { i.follow(ctx, j, st, v, j.inModal) })
	return v, false
}

// decideAgain repeats a decision (same Update ID) until it gets an answer other than a passing
// failure, or ctx is done.
func (i *Interactions) decideAgain(ctx context.Context, j job) (approval.GateState, error) {
	wait := 250 * time.Millisecond
	for {
		st, err := i.decider.Decide(ctx, j.run, j.d, j.updateID)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// transient reports whether a Decide error may go away when repeated.
func transient(err error) bool {
	var refused *RefusedError
	return err != nil && !errors.As(err, &refused) && !errors.Is(err, ErrNotRunning)
}

// judge sorts out what became of a decision, and counts and logs it.
func (i *Interactions) judge(j job, st approval.GateState, err error) verdict {
	var refused *RefusedError
	var v verdict
	switch {
	case err == nil:
		v = verdict{outcome: OutcomeRecorded, recorded: true}
		if !i.recorded.add(j.updateID) {
			// The same click again: Temporal answered from the first one.
			v.outcome = OutcomeDuplicate
		}
		i.log.Info("slack decision recorded", append(j.attrs(), "outcome", v.outcome,
			"approvals", st.Approvals, "quorum", st.Quorum, "open", st.Open, "approved", st.Approved)...)
	case errors.As(err, &refused):
		kind := refused.Kind
		v.outcome = map[approval.RefusalKind]string{
			RefusedDuplicate: OutcomeDuplicate, RefusedNotApprover: OutcomeNotApprover,
			RefusedSelfApproval: OutcomeSelfApproval, RefusedClosed: OutcomeClosed, RefusedNotOpen: OutcomeClosed,
		}[kind]
		switch kind {
		case RefusedDuplicate:
			v.text = fmt.Sprintf("Your decision on gate *%s* was already recorded.", escape(j.d.Gate))
		case RefusedNotApprover:
			v.text = fmt.Sprintf("You (%s) are not an approver of gate *%s*, so your decision was not recorded.", escape(j.d.Identity), escape(j.d.Gate))
		case RefusedSelfApproval:
			v.text = fmt.Sprintf("You (%s) requested gate *%s* and cannot approve your own request.", escape(j.d.Identity), escape(j.d.Gate))
		case RefusedClosed:
			v.text = fmt.Sprintf("Gate *%s* is no longer open, so your decision was not recorded: %s", escape(j.d.Gate), escape(refused.Reason))
		case RefusedNotOpen:
			v.text = fmt.Sprintf("Gate *%s* is not open, so your decision was not recorded: %s", escape(j.d.Gate), escape(refused.Reason))
		default:
			v.outcome = OutcomeRefused
			v.text = fmt.Sprintf("Gate *%s* did not take your decision: %s", escape(j.d.Gate), escape(refused.Reason))
		}
		level := slog.LevelWarn
		if kind == RefusedDuplicate || kind == RefusedClosed || kind == RefusedNotOpen {
			level = slog.LevelInfo
		}
		i.log.Log(context.Background(), level, "slack decision refused", append(j.attrs(), "outcome", v.outcome, "reason", refused.Reason)...)
	case errors.Is(err, ErrNotRunning):
		v = verdict{outcome: OutcomeClosed, text: fmt.Sprintf("The workflow %s is no longer running, so your decision on gate *%s* was not recorded.",
			escape(j.run.WorkflowID), escape(j.d.Gate))}
		i.log.Info("slack decision refused: workflow not running", append(j.attrs(), "outcome", v.outcome, "error", err.Error())...)
	default:
		v = verdict{outcome: OutcomeError, text: fmt.Sprintf("Lifeboat could not reach the workflow to record your decision on gate *%s*. "+
			"Try again in a minute, or use `lifeboat approve` or `lifeboat reject`.", escape(j.d.Gate))}
		i.log.Error("slack decision failed", append(j.attrs(), "outcome", v.outcome, "error", err.Error())...)
	}
	i.count(v.outcome)
	return v
}

// follow shows a recorded decision on the message, or tells the person why nothing was recorded
// (unless told is set: the dialog showed it).
func (i *Interactions) follow(ctx context.Context, j job, st approval.GateState, v verdict, told bool) {
	switch {
	case v.recorded && v.outcome == OutcomeRecorded:
		// Only the delivery that recorded the decision redraws the message: a late repeat would
		// draw it from the click's copy of the message, older than what the workflow has sent since.
		i.showDecision(ctx, j, st)
	case v.recorded:
	case !told && v.text != "":
		i.tell(ctx, j.origin, v.text)
	}
}

// tell sends the person a message only they see: through the click's response_url, or with
// chat.postEphemeral when there is none.
func (i *Interactions) tell(ctx context.Context, o origin, text string) {
	var err error
	switch {
	case o.responseURL != "":
		err = goslack.PostWebhookCustomHTTPContext(ctx, o.responseURL, i.httpClient, &goslack.WebhookMessage{
			Text: text, ResponseType: goslack.ResponseTypeEphemeral, ReplaceOriginal: false,
		})
	case o.channel != "" && o.user != "":
		var api *goslack.Client
		if api, err = i.api(ctx); err == nil {
			_, err = api.PostEphemeralContext(ctx, o.channel, o.user, goslack.MsgOptionText(text, false))
		}
	default:
		err = errors.New("no response_url and no channel to answer in")
	}
	if err != nil {
		i.log.Error("slack: could not tell the user", append(o.attrs(), "text", text, "error", err.Error())...)
	}
}

// api returns a Web API client with the current bot token.
func (i *Interactions) api(ctx context.Context) (*goslack.Client, error) {
	token, err := i.botToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("slack: bot token: %w", err)
	}
	if len(token) == 0 {
		return nil, errors.New("slack: bot token is empty")
	}
	return goslack.New(string(token), goslack.OptionAPIURL(i.apiURL), goslack.OptionHTTPClient(i.httpClient)), nil
}

// escape escapes the characters Slack's mrkdwn gives a meaning to.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// idSet remembers up to max IDs, forgetting the oldest first. It is safe for concurrent use.
type idSet struct {
	mu    sync.Mutex
	max   int
	ids   map[string]bool
	order []string
}

func newIDSet(max int) *idSet { return &idSet{max: max, ids: map[string]bool{}} }

// add adds id and reports whether it was new.
func (s *idSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	if len(s.order) >= s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	return true
}
