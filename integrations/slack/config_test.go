package slack

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
)

func TestConfigDecodes(t *testing.T) {
	const doc = `
transport: socket
app_token: slack-app
bot_token: slack-bot
users:
  U0123ABC: alice@example.com
  W0456DEF: carol@example.com
teams: [T0LIFEBOAT]
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if c.Transport != TransportSocket || c.AppTokenRef != "slack-app" || c.BotTokenRef != "slack-bot" ||
		c.Users["W0456DEF"] != "carol@example.com" || len(c.Teams) != 1 {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate("slack"); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := Config{SigningSecretRef: "slack-signing", BotTokenRef: "slack-bot", Users: map[string]string{"U0123ABC": "alice@example.com"}}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"valid http", func(*Config) {}, nil},
		{"valid socket", func(c *Config) { c.Transport, c.SigningSecretRef, c.AppTokenRef = TransportSocket, "", "slack-app" }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{
			"slack.signing_secret: required with transport http",
			"slack.bot_token: required",
			"slack.users: empty",
		}},
		{"socket without app token", func(c *Config) { c.Transport = TransportSocket }, []string{"slack.app_token: required with transport socket"}},
		{"unknown transport", func(c *Config) { c.Transport = "carrier-pigeon" }, []string{`slack.transport: "carrier-pigeon" is not http or socket`}},
		{"bad users", func(c *Config) {
			c.Users = map[string]string{"alice": "alice@example.com", "U0EMPTY": " ", "U0SPACES": " bob ", "U0LONG": strings.Repeat("x", 201)}
		}, []string{
			`slack.users.U0EMPTY: empty identity`,
			`slack.users.U0LONG: 201 bytes, at most 200`,
			`slack.users.U0SPACES: " bob " has surrounding spaces`,
			`slack.users: "alice" is not a Slack user ID`,
		}},
		{"bad team and url", func(c *Config) { c.Teams, c.APIURL = []string{"acme"}, "slack.com/api" }, []string{
			`slack.teams[0]: "acme" is not a Slack team ID`,
			`slack.api_url: "slack.com/api" is not an absolute http(s) URL`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			c.Users = map[string]string{"U0123ABC": "alice@example.com"}
			tt.change(&c)
			err := c.Validate("slack")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tt.want)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("Validate =\n%v\nwant %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}

func TestBuild(t *testing.T) {
	resolve := secrets.Static{"slack-signing": "s", "slack-bot": slacktest.BotToken, "slack-app": slacktest.AppToken}.Secret
	users := map[string]string{"U0123ABC": "alice@example.com"}
	settings := Settings{Decider: &fakeDecider{}}
	tests := []struct {
		name       string
		cfg        Config
		wantHTTP   bool
		wantSocket bool
		wantErr    string
	}{
		{"http", Config{SigningSecretRef: "slack-signing", BotTokenRef: "slack-bot", Users: users}, true, false, ""},
		{"socket", Config{Transport: TransportSocket, AppTokenRef: "slack-app", BotTokenRef: "slack-bot", Users: users}, false, true, ""},
		{"invalid", Config{BotTokenRef: "slack-bot", Users: users}, false, false, "slack.signing_secret: required"},
		{"missing secret", Config{SigningSecretRef: "nope", BotTokenRef: "slack-bot", Users: users}, false, false, `slack.signing_secret: secret "nope": secret not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := Build(tt.cfg, resolve, settings)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (app.Handler != nil) != tt.wantHTTP || (app.Socket != nil) != tt.wantSocket || app.Interactions == nil {
				t.Fatalf("app %+v: want handler %v, socket %v", app, tt.wantHTTP, tt.wantSocket)
			}
			_ = app.Close(context.Background())
		})
	}
	if _, err := Build(Config{SigningSecretRef: "slack-signing", BotTokenRef: "slack-bot", Users: users}, resolve, Settings{}); err == nil || !strings.Contains(fmt.Sprint(err), "no Decider") {
		t.Fatalf("Build without a Decider = %v", err)
	}
}
