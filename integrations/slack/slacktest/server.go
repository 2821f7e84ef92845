package slacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	goslack "github.com/slack-go/slack"
)

// Call is one request the fake Slack received.
type Call struct {
	Path        string // "/api/chat.update", "/response/1"
	Auth        string // the token, from the Authorization header or the form
	Form        url.Values
	JSON        map[string]any
	Raw         []byte
	ContentType string
}

// Blocks returns the blocks a chat.update or chat.postMessage call sent, decoded.
func (c Call) Blocks(t testing.TB) []goslack.Block {
	t.Helper()
	var b goslack.Blocks
	if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &b); err != nil {
		t.Fatalf("%s blocks: %v\n%s", c.Path, err, c.Form.Get("blocks"))
	}
	return b.BlockSet
}

// Server is Slack's Web API (views.open, chat.update, chat.postEphemeral, chat.postMessage,
// apps.connections.open) under /api/, and response_url endpoints under /response/, recording
// each call. A Web API call without BotToken (AppToken for apps.connections.open) gets
// invalid_auth. Set the exported fields before the calls they are for.
type Server struct {
	*httptest.Server
	// WSURL is what apps.connections.open answers.
	WSURL string
	// WS serves /ws, the Socket Mode websocket.
	WS func(w http.ResponseWriter, r *http.Request)
	// Fail, when set, answers a call instead when it returns true.
	Fail func(c Call, w http.ResponseWriter) bool

	mu    sync.Mutex
	calls []Call
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" && s.WS != nil {
		s.WS(w, r)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	c := Call{Path: r.URL.Path, Raw: raw, ContentType: r.Header.Get("Content-Type")}
	c.Auth, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasPrefix(c.ContentType, "application/x-www-form-urlencoded") {
		c.Form, _ = url.ParseQuery(string(raw))
		if tok := c.Form.Get("token"); tok != "" {
			c.Auth = tok
		}
	} else if len(raw) > 0 {
		_ = json.Unmarshal(raw, &c.JSON)
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	fail := s.Fail
	s.mu.Unlock()
	if fail != nil && fail(c, w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	method := strings.TrimPrefix(c.Path, "/api/")
	switch {
	case strings.HasPrefix(c.Path, "/response/"):
		_, _ = io.WriteString(w, "ok")
	case method == "apps.connections.open" && c.Auth == AppToken:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": s.WSURL})
	case method == "apps.connections.open" || c.Auth != BotToken:
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
	case method == "views.open":
		_, _ = io.WriteString(w, `{"ok":true,"view":{"id":"V0REJECT"}}`)
	case method == "chat.update", method == "chat.postMessage":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": c.Form.Get("channel"), "ts": c.Form.Get("ts")})
	case method == "chat.postEphemeral":
		_, _ = io.WriteString(w, `{"ok":true,"message_ts":"1773480999.000001"}`)
	default:
		_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

// CallsTo returns the calls whose path starts with prefix.
func (s *Server) CallsTo(prefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}
