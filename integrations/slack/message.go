package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// StatusBlockID is the block_id of the context block that shows a gate's state and its decisions
// on an approval message.
const StatusBlockID = "lifeboat_status"

// maxStatusLines is how many decisions the status block lists, the most recent ones: a context
// block holds at most 10 elements, and the first is the headline.
const maxStatusLines = 9

// messageState is what Interactions knows of one approval message. Its mutex is held while the
// message is updated, so that updates to one message go out one at a time, each from everything
// known so far: a slow update cannot overwrite a newer state with an older one.
type messageState struct {
	mu     sync.Mutex
	text   string
	blocks []goslack.Block
	state  approval.GateState
	known  bool
	lines  []string
	used   uint64
}

// messageStore holds the state of the most recently updated messages, at most max.
type messageStore struct {
	mu    sync.Mutex
	max   int
	clock uint64
	byKey map[string]*messageState
}

func newMessageStore(max int) *messageStore {
	return &messageStore{max: max, byKey: map[string]*messageState{}}
}

// get returns the state of the message key, forgetting the least recently used one when full.
func (s *messageStore) get(key string) *messageState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock++
	if ms, ok := s.byKey[key]; ok {
		ms.used = s.clock
		return ms
	}
	if len(s.byKey) >= s.max {
		oldest, at := "", s.clock
		for k, ms := range s.byKey {
			if ms.used < at {
				oldest, at = k, ms.used
			}
		}
		delete(s.byKey, oldest)
	}
	ms := &messageState{used: s.clock}
	s.byKey[key] = ms
	return ms
}

// newer reports whether gate state a comes after b: a gate only gains approvals, then closes.
func newer(a, b approval.GateState) bool {
	if a.Open != b.Open {
		return !a.Open
	}
	return a.Approvals > b.Approvals
}

// showDecision updates the message the decision was made on to show the gate's state and who
// decided: the buttons go once the gate closed.
func (i *Interactions) showDecision(ctx context.Context, j job, st approval.GateState) {
	o := j.origin
	if o.channel == "" || o.ts == "" {
		i.log.Warn("slack: decision recorded, but the message to update is unknown", j.attrs()...)
		return
	}
	ms := i.messages.get(o.channel + ":" + o.ts)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(o.blocks) > 0 {
		ms.text, ms.blocks = o.text, o.blocks
	}
	if len(ms.blocks) == 0 {
		// A dialog whose message did not fit in its metadata: say it in the thread instead.
		i.log.Info("slack: message content unknown; the decision goes to its thread", j.attrs()...)
		if api, err := i.api(ctx); err == nil {
			_, _, err = api.PostMessageContext(ctx, o.channel, goslack.MsgOptionTS(o.ts),
				goslack.MsgOptionText(statusHeadline(j.d.Gate, st, j.d)+"\n"+decisionLine(j.d), false))
			if err != nil {
				i.log.Error("slack: could not reply in the message's thread", append(j.attrs(), "error", err.Error())...)
			}
		}
		return
	}
	ms.lines = mergeLines(ms.lines, statusLines(ms.blocks), []string{decisionLine(j.d)})
	if !ms.known || newer(st, ms.state) {
		ms.state, ms.known = st, true
	}
	blocks := renderStatus(ms.blocks, j.d.Gate, ms.state, ms.lines, j.d)
	if err := i.updateMessage(ctx, o.channel, o.ts, ms.text, blocks); err != nil {
		i.log.Error("slack: could not update the message", append(j.attrs(), "channel", o.channel, "ts", o.ts, "error", err.Error())...)
	}
}

// updateMessage replaces a message with chat.update, trying again after a rate limit or a 5xx.
func (i *Interactions) updateMessage(ctx context.Context, channel, ts, text string, blocks []goslack.Block) error {
	api, err := i.api(ctx)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		_, _, _, err = api.UpdateMessageContext(ctx, channel, ts, goslack.MsgOptionText(text, false), goslack.MsgOptionBlocks(blocks...))
		if err == nil || attempt == 3 {
			return err
		}
		wait := time.Duration(attempt) * 500 * time.Millisecond
		var rl *goslack.RateLimitedError
		var status goslack.StatusCodeError
		switch {
		case errors.As(err, &rl):
			wait = max(rl.RetryAfter, wait)
		case errors.As(err, &status) && status.Retryable():
		default:
			return err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// renderStatus returns blocks without an earlier status block, without the gate's buttons once it
// closed, and with a status block: the headline, then the most recent decisions.
func renderStatus(blocks []goslack.Block, gate string, st approval.GateState, lines []string, last approval.Decision) []goslack.Block {
	out := make([]goslack.Block, 0, len(blocks)+1)
	for _, b := range blocks {
		switch {
		case b.ID() == StatusBlockID:
		case !st.Open && b.ID() == slacknotify.GateBlock+gate:
		default:
			out = append(out, b)
		}
	}
	elements := []goslack.MixedElement{mrkdwn(statusHeadline(gate, st, last))}
	if len(lines) > maxStatusLines {
		lines = lines[len(lines)-maxStatusLines:]
	}
	for _, l := range lines {
		elements = append(elements, mrkdwn(l))
	}
	return append(out, goslack.NewContextBlock(StatusBlockID, elements...))
}

// statusHeadline says where the gate stands.
func statusHeadline(gate string, st approval.GateState, last approval.Decision) string {
	g := escape(gate)
	switch {
	case st.Open:
		return fmt.Sprintf(":hourglass_flowing_sand: Gate *%s* is waiting: %d of %d approvals", g, st.Approvals, st.Quorum)
	case st.Approved:
		return fmt.Sprintf(":white_check_mark: Gate *%s* approved: %d of %d approvals", g, st.Approvals, st.Quorum)
	case !last.Approve:
		return fmt.Sprintf(":no_entry: Gate *%s* rejected", g)
	default:
		return fmt.Sprintf(":no_entry: Gate *%s* closed without approval", g)
	}
}

// decisionLine says who decided what.
func decisionLine(d approval.Decision) string {
	who := "*" + escape(d.Identity) + "*"
	switch {
	case !d.Approve:
		reason := d.Reason
		if r := []rune(reason); len(r) > 300 {
			reason = string(r[:299]) + "…"
		}
		return fmt.Sprintf(":x: %s rejected: %s", who, escape(reason))
	case d.Choice != "":
		return fmt.Sprintf(":white_check_mark: %s chose *%s*", who, escape(d.Choice))
	default:
		return fmt.Sprintf(":white_check_mark: %s approved", who)
	}
}

// statusLines returns the decisions an earlier status block in blocks lists.
func statusLines(blocks []goslack.Block) []string {
	var lines []string
	for _, b := range blocks {
		ctx, ok := b.(*goslack.ContextBlock)
		if !ok || ctx.BlockID != StatusBlockID {
			continue
		}
		for n, e := range ctx.ContextElements.Elements {
			if t, ok := e.(*goslack.TextBlockObject); ok && n > 0 {
				lines = append(lines, t.Text)
			}
		}
	}
	return lines
}

// mergeLines returns the lines of each list in turn, each once.
func mergeLines(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func mrkdwn(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.MarkdownType, s, false, false)
}

func plainText(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.PlainTextType, s, true, false)
}

// truncateRunes shortens s to at most n characters, ending it with "…" when it cut.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
