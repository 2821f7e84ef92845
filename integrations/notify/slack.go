package notify

import (
	"context"
	"errors"
	"fmt"
)

// SlackConfig configures a Slack channel of a route.
type SlackConfig struct {
	// Channel is the Slack channel ID (C0123…) or name (#dr-war-room) messages are posted to.
	Channel string `yaml:"channel" json:"channel"`
	// TokenRef names the worker secret holding the bot token (xoxb-…).
	TokenRef string `yaml:"token" json:"token"`
	// APIURL replaces https://slack.com/api/ (for a proxy, or a test server).
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
}

// Validate returns every problem with the Slack channel, prefixed with path, joined, or nil.
func (c SlackConfig) Validate(path string) error {
	var errs []error
	if c.Channel == "" {
		errs = append(errs, fmt.Errorf("%s.channel: required", path))
	}
	if c.TokenRef == "" {
		errs = append(errs, fmt.Errorf("%s.token: required: the name of the secret holding the bot token", path))
	}
	return errors.Join(errs...)
}

// Slack posts messages to a Slack channel.
type Slack struct {
	cfg   SlackConfig
	token SecretFunc
}

// NewSlack returns the notifier of cfg; token returns the bot token.
func NewSlack(cfg SlackConfig, token SecretFunc) *Slack { return &Slack{cfg: cfg, token: token} }

// Name implements Notifier.
func (s *Slack) Name() string { return "slack " + s.cfg.Channel }

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, m Message) error {
	_, err := s.NotifyRef(ctx, m)
	return err
}

// NotifyRef implements Referrer.
func (s *Slack) NotifyRef(ctx context.Context, m Message) (string, error) {
	return "", Permanent(errors.New("slack: not built yet"))
}
