package slack

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

const (
	// maxSocketInFlight bounds the interactions a Socket handles at once.
	maxSocketInFlight = 32
	// ackTimeout bounds the wait to queue an acknowledgement.
	ackTimeout = 3 * time.Second
)

// Socket receives interactions over Slack's Socket Mode: the worker opens a websocket to Slack
// with the app-level token (xapp-…, scope connections:write), so nothing needs to reach the worker
// from the internet. Each interactive envelope is handled as the HTTP handler would (without a
// signature: the connection is authenticated), and acknowledged with the answer within Slack's 3
// seconds. Other envelopes (events, slash commands) are acknowledged and ignored.
type Socket struct {
	i        *Interactions
	appToken notify.SecretFunc
	opts     []socketmode.Option
}

// NewSocket returns the Socket Mode transport of i; appToken returns the app-level token, read
// each time Run connects.
func NewSocket(i *Interactions, appToken notify.SecretFunc, opts ...socketmode.Option) *Socket {
	return &Socket{i: i, appToken: appToken, opts: opts}
}

// Run connects and handles interactions until ctx is done, reconnecting when Slack asks or the
// connection drops. It returns ctx's error once ctx is done, after the interactions in hand are
// answered, or an error when the app-level token is missing or refused.
func (s *Socket) Run(ctx context.Context) error {
	if s.appToken == nil {
		return errors.New("slack: socket mode: no app-level token")
	}
	token, err := s.appToken(ctx)
	if err != nil {
		return fmt.Errorf("slack: socket mode: app-level token: %w", err)
	}
	if len(token) == 0 {
		return errors.New("slack: socket mode: app-level token is empty")
	}
	api := goslack.New("", goslack.OptionAppLevelToken(string(token)),
		goslack.OptionAPIURL(s.i.apiURL), goslack.OptionHTTPClient(s.i.httpClient))
	opts := append([]socketmode.Option{socketmode.OptionLog(log.New(slogWriter{s.i.log}, "", 0))}, s.opts...)
	client := socketmode.New(api, opts...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxSocketInFlight)
	for {
		select {
		case err := <-runErr:
			cancel()
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("slack: socket mode: %w", err)
		case evt := <-client.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected:
				s.i.log.Info("slack: socket mode connected")
			case socketmode.EventTypeConnectionError:
				s.i.log.Warn("slack: socket mode connection failed; retrying", "error", fmt.Sprint(evt.Data))
			case socketmode.EventTypeInvalidAuth:
				s.i.log.Error("slack: socket mode: the app-level token was refused")
			case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
				s.i.log.Warn("slack: socket mode error", "type", evt.Type, "error", fmt.Sprint(evt.Data))
			case socketmode.EventTypeInteractive:
				cb, ok := evt.Data.(goslack.InteractionCallback)
				if evt.Request == nil {
					continue
				}
				req := *evt.Request
				if !ok {
					s.i.refuse(OutcomeMalformed, "slack: socket mode: unreadable interaction", "envelope_id", req.EnvelopeID)
					s.ack(client, req, nil)
					continue
				}
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					continue
				}
				wg.Go(func() {
					defer func() { <-slots }()
					s.ack(client, req, s.i.handle(ctx, &cb))
				})
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand:
				if evt.Request != nil {
					s.ack(client, *evt.Request, nil)
				}
			}
		}
	}
}

// ack acknowledges an envelope with the answer, if any, giving up after ackTimeout (when the
// connection is gone).
func (s *Socket) ack(client *socketmode.Client, req socketmode.Request, answer any) {
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := client.AckCtx(ctx, req.EnvelopeID, answer); err != nil {
		s.i.log.Error("slack: socket mode: could not acknowledge", "envelope_id", req.EnvelopeID, "error", err.Error())
	}
}

// slogWriter passes socketmode's log lines (written only in debug mode) to a slog.Logger.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("slack: socket mode: " + string(p))
	return len(p), nil
}
