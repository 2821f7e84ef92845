package slack

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// The identifiers of the dialog that asks for a rejection's reason.
const (
	// RejectCallbackID is the dialog's callback_id.
	RejectCallbackID = "lifeboat_reject"
	// ReasonBlockID and ReasonActionID name the reason's input.
	ReasonBlockID  = "reason"
	ReasonActionID = "reason"
)

// maxPrivateMetadata is the most Slack keeps in a view's private_metadata.
const maxPrivateMetadata = 3000

// rejectMeta is the dialog's private_metadata: the gate, and the message to update once the
// rejection is recorded.
type rejectMeta struct {
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id,omitempty"`
	Gate        string `json:"gate"`
	Channel     string `json:"channel,omitempty"`
	TS          string `json:"ts,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
	// Message is the message's text and blocks as JSON, gzipped and in base64, when it fits.
	Message string `json:"message,omitempty"`
}

// savedMessage is what rejectMeta.Message holds.
type savedMessage struct {
	Text   string         `json:"text"`
	Blocks goslack.Blocks `json:"blocks"`
}

// encodeRejectMeta returns the dialog's private_metadata, leaving out the message, then the
// response_url, when they do not fit.
func encodeRejectMeta(m rejectMeta, text string, blocks []goslack.Block) (string, error) {
	if len(blocks) > 0 {
		raw, err := json.Marshal(savedMessage{Text: text, Blocks: goslack.Blocks{BlockSet: blocks}})
		if err != nil {
			return "", fmt.Errorf("encode message: %w", err)
		}
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, _ = zw.Write(raw)
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("compress message: %w", err)
		}
		m.Message = base64.StdEncoding.EncodeToString(zipped.Bytes())
	}
	for _, drop := range []func(){func() {}, func() { m.Message = "" }, func() { m.ResponseURL = "" }} {
		drop()
		b, err := json.Marshal(m)
		if err != nil {
			return "", err
		}
		if len(b) <= maxPrivateMetadata {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("the gate's reference is over Slack's %d characters", maxPrivateMetadata)
}

// decodeRejectMeta reads the dialog's private_metadata.
func decodeRejectMeta(s string) (rejectMeta, string, []goslack.Block, error) {
	var m rejectMeta
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, "", nil, fmt.Errorf("private_metadata: %w", err)
	}
	if m.WorkflowID == "" || m.Gate == "" {
		return m, "", nil, fmt.Errorf("private_metadata: workflow_id and gate are required")
	}
	if m.Message == "" {
		return m, "", nil, nil
	}
	zipped, err := base64.StdEncoding.DecodeString(m.Message)
	if err != nil {
		return m, "", nil, fmt.Errorf("private_metadata: message: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		return m, "", nil, fmt.Errorf("private_metadata: message: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return m, "", nil, fmt.Errorf("private_metadata: message: %w", err)
	}
	var saved savedMessage
	if err := json.Unmarshal(raw, &saved); err != nil {
		return m, "", nil, fmt.Errorf("private_metadata: message: %w", err)
	}
	return m, saved.Text, saved.Blocks.BlockSet, nil
}

// rejectDialog is the dialog that asks for a rejection's reason.
func rejectDialog(gate, meta string) goslack.ModalViewRequest {
	input := goslack.NewPlainTextInputBlockElement(plainText("What is wrong, and what should happen instead?"), ReasonActionID)
	input.Multiline = true
	input.MaxLength = approval.MaxReasonLen
	return goslack.ModalViewRequest{
		Type:       goslack.VTModal,
		CallbackID: RejectCallbackID,
		Title:      plainText("Reject"),
		Submit:     plainText("Reject"),
		Close:      plainText("Cancel"),
		Blocks: goslack.Blocks{BlockSet: []goslack.Block{
			goslack.NewSectionBlock(mrkdwn(fmt.Sprintf(
				"Reject gate *%s*? One rejection closes it for everyone, and the workflow does not go ahead.", escape(gate))), nil, nil),
			goslack.NewInputBlock(ReasonBlockID, plainText("Reason"), nil, input),
		}},
		PrivateMetadata: meta,
	}
}

// openRejectDialog answers a Reject click with the dialog asking for the reason.
func (i *Interactions) openRejectDialog(ctx context.Context, cb *goslack.InteractionCallback, o origin, run Run, gate string) {
	attrs := append(o.attrs(), "workflow_id", run.WorkflowID, "gate", gate)
	fail := func(err error) {
		i.count(OutcomeError)
		i.log.Error("slack: could not open the rejection dialog", append(attrs, "error", err.Error())...)
		i.background(func(ctx context.Context) {
			i.tell(ctx, o, fmt.Sprintf("Lifeboat could not open the rejection dialog. Reject with `lifeboat reject %s --gate %s --reason …` instead.",
				escape(run.WorkflowID), escape(gate)))
		})
	}
	meta, err := encodeRejectMeta(rejectMeta{WorkflowID: run.WorkflowID, RunID: run.RunID, Gate: gate,
		Channel: o.channel, TS: o.ts, ResponseURL: o.responseURL}, o.text, o.blocks)
	if err != nil {
		fail(err)
		return
	}
	api, err := i.api(ctx)
	if err != nil {
		fail(err)
		return
	}
	// The trigger is valid for 3 seconds from the click.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.decideTimeout)
	defer cancel()
	if _, err := api.OpenViewContext(ctx, cb.TriggerID, rejectDialog(gate, meta)); err != nil {
		fail(fmt.Errorf("views.open: %w", err))
		return
	}
	i.count(OutcomeModalOpened)
	i.log.Info("slack: rejection dialog opened", attrs...)
}

// viewSubmission handles the rejection dialog's submission. A refusal is shown in the dialog.
func (i *Interactions) viewSubmission(ctx context.Context, cb *goslack.InteractionCallback) any {
	if cb.View.CallbackID != RejectCallbackID {
		i.refuse(OutcomeUnknownAction, "slack interaction refused: not Lifeboat's dialog",
			"callback_id", cb.View.CallbackID, "slack_user", cb.User.ID, "slack_team", cb.Team.ID)
		return nil
	}
	identity, refusal, ok := i.identify(cb)
	if !ok {
		return reasonError(refusal)
	}
	meta, text, blocks, err := decodeRejectMeta(cb.View.PrivateMetadata)
	if err != nil {
		i.refuse(OutcomeMalformed, "slack interaction refused: unreadable dialog",
			"slack_user", cb.User.ID, "slack_team", cb.Team.ID, "error", err.Error())
		return reasonError("Lifeboat could not read this dialog. Reject with `lifeboat reject` instead.")
	}
	var reason string
	if cb.View.State != nil {
		reason = strings.TrimSpace(cb.View.State.Values[ReasonBlockID][ReasonActionID].Value)
	}
	if reason == "" {
		i.refuse(OutcomeRefused, "slack decision refused: rejection without a reason",
			"slack_user", cb.User.ID, "slack_team", cb.Team.ID, "gate", meta.Gate)
		return reasonError("Say why you reject: the reason is kept with the decision.")
	}
	o := origin{team: cb.Team.ID, user: cb.User.ID, channel: meta.Channel, ts: meta.TS,
		text: text, blocks: blocks, responseURL: meta.ResponseURL}
	run := Run{WorkflowID: meta.WorkflowID, RunID: meta.RunID}
	v, pending := i.decide(ctx, job{
		run:      run,
		d:        approval.Decision{Gate: meta.Gate, Approve: false, Identity: identity, Channel: approval.ChannelSlack, Reason: reason},
		updateID: updateID(o.team, o.user, "dialog", cb.View.ID, run.WorkflowID, run.RunID, meta.Gate),
		origin:   o,
		inModal:  true,
	})
	if pending || v.recorded {
		return nil // closes the dialog
	}
	return reasonError(v.text)
}

// reasonError is the answer that keeps the dialog open with text under the reason.
func reasonError(text string) *goslack.ViewSubmissionResponse {
	return goslack.NewErrorsViewSubmissionResponse(map[string]string{ReasonBlockID: truncateRunes(text, 500)})
}
