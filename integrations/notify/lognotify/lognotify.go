package lognotify

import (
	"context"
	"log/slog"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

// Notifier writes messages to a structured log: info at slog.LevelInfo, warning at slog.LevelWarn,
// and critical (or an unknown severity) at slog.LevelError. It never fails, so a route with a log
// channel always accepts a message, even when every other channel is down.
type Notifier struct {
	// Logger receives the messages; nil means slog.Default().
	Logger *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// Name implements notify.Notifier.
func (l *Notifier) Name() string { return "log" }

// Notify implements notify.Notifier. The record's message is the title; its attributes are event,
// severity, asset, text, link, dedup_key, escalation (the level; slog uses "level" itself), at (the
// message's time), and the fields as a group, each only when set.
func (l *Notifier) Notify(ctx context.Context, m notify.Message) error {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	attrs := []slog.Attr{slog.String("event", m.Event), slog.String("severity", string(m.Severity))}
	str := func(key, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(key, v))
		}
	}
	str("asset", m.Asset)
	str("text", m.Text)
	str("link", m.Link)
	str("dedup_key", m.DedupKey)
	if m.Level != 0 {
		attrs = append(attrs, slog.Int("escalation", m.Level))
	}
	if !m.Time.IsZero() {
		attrs = append(attrs, slog.Time("at", m.Time))
	}
	if len(m.Fields) > 0 {
		fields := make([]any, 0, len(m.Fields))
		for _, k := range m.FieldKeys() {
			fields = append(fields, slog.String(k, m.Fields[k]))
		}
		attrs = append(attrs, slog.Group("fields", fields...))
	}
	// The record is written even when ctx is done: the log is the channel of last resort.
	logger.LogAttrs(context.WithoutCancel(ctx), slogLevel(m.Severity), m.Title, attrs...)
	return nil
}

func slogLevel(s notify.Severity) slog.Level {
	switch s {
	case notify.Info:
		return slog.LevelInfo
	case notify.Warning:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
