package email

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func testConfig(ts *notifytest.SMTPServer, mode TLS) Config {
	return Config{
		Host: "127.0.0.1", Port: ts.Port, TLS: mode, CAFile: ts.CAFile,
		Username: "lifeboat", PasswordRef: "smtp-password",
		From: "Lifeboat <dr@example.com>", To: []string{"ops@example.com", "Équipe DBA <dba@example.com>"},
		Timeout: units.Duration(5 * time.Second),
	}
}

// parsedMail is a received email, read back with net/mail and mime/multipart.
type parsedMail struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsedMail{header: msg.Header}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: want multipart/alternative (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		content := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = content
		case "text/html; charset=utf-8":
			p.html = content
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestNotifier(t *testing.T) {
	ts := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "s3cret pass"}})
	e := New(testConfig(ts, ""), notify.StaticSecret([]byte("s3cret pass")))
	m := notifytest.Message()
	m.Title = "Sauvegarde de « orders-db » échouée"
	m.Text = "pg_dump: <error> & more\n.\nA line with only a dot, above."

	ref, err := e.NotifyRef(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	mails := ts.Received()
	if len(mails) != 1 {
		t.Fatalf("%d emails received, want 1", len(mails))
	}
	got := mails[0]
	if !got.TLS || got.User != "lifeboat" || got.From != "dr@example.com" || strings.Join(got.To, ",") != "ops@example.com,dba@example.com" {
		t.Errorf("received %+v: want it over TLS, logged in, from dr@ to both recipients", got)
	}
	raw := string(got.Data)
	if !strings.Contains(raw, "Subject: =?utf-8?q?") {
		t.Errorf("the non-ASCII subject is not encoded per RFC 2047:\n%s", raw)
	}
	p := parseMail(t, got.Data)
	wantSubject, _ := notify.Render(notify.TemplateSubject, m)
	wantText, _ := notify.Render(notify.TemplateText, m)
	wantHTML, _ := notify.Render(notify.TemplateHTML, m)
	if p.subject != wantSubject {
		t.Errorf("subject = %q, want %q", p.subject, wantSubject)
	}
	if p.text != wantText {
		t.Errorf("text part = %q, want %q", p.text, wantText)
	}
	if p.html != wantHTML {
		t.Errorf("html part = %q, want %q", p.html, wantHTML)
	}
	if !strings.Contains(p.html, "pg_dump: &lt;error&gt; &amp; more") {
		t.Errorf("html part does not escape the text")
	}
	if date, err := p.header.Date(); err != nil || time.Since(date) > time.Minute {
		t.Errorf("Date %q: %v", p.header.Get("Date"), err)
	}
	if id := p.header.Get("Message-ID"); id != ref || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q, ref %q: want the same, on the sender's domain", id, ref)
	}
	if from, err := p.header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Lifeboat" {
		t.Errorf("From %q: %v", p.header.Get("From"), err)
	}
	if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 || to[1].Name != "Équipe DBA" {
		t.Errorf("To %q: %v", p.header.Get("To"), err)
	}
	if p.header.Get("Auto-Submitted") != "auto-generated" || p.header.Get("X-Lifeboat-Event") != "backup.failed" {
		t.Errorf("headers %v", p.header)
	}

	// The next email of the incident answers the first.
	m.Refs = map[string]string{e.Name(): ref}
	if _, err := e.NotifyRef(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	next := parseMail(t, ts.Received()[1].Data)
	if next.header.Get("In-Reply-To") != ref || next.header.Get("References") != ref || next.header.Get("Message-ID") == ref {
		t.Errorf("reply headers: In-Reply-To %q, References %q, Message-ID %q; want the first's id %q",
			next.header.Get("In-Reply-To"), next.header.Get("References"), next.header.Get("Message-ID"), ref)
	}
	if e.Name() != "email ops@example.com,dba@example.com" {
		t.Errorf("name = %q", e.Name())
	}
}

func TestTLSModes(t *testing.T) {
	tests := []struct {
		name      string
		serverTLS string
		mode      TLS
		noAuth    bool
		wantTLS   bool
	}{
		{name: "starttls", serverTLS: "starttls", mode: StartTLS, wantTLS: true},
		{name: "implicit tls", serverTLS: "implicit", mode: ImplicitTLS, wantTLS: true},
		{name: "none, to a relay on localhost", serverTLS: "none", mode: NoTLS, noAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := notifytest.SMTPOptions{TLS: tt.serverTLS, Users: map[string]string{"lifeboat": "pw"}}
			if tt.noAuth {
				opts.Users = nil
			}
			ts := notifytest.NewSMTPServer(t, opts)
			cfg := testConfig(ts, tt.mode)
			if tt.noAuth {
				cfg.Username, cfg.PasswordRef, cfg.CAFile = "", "", ""
			}
			if err := cfg.Validate("email"); err != nil {
				t.Fatal(err)
			}
			if err := New(cfg, notify.StaticSecret([]byte("pw"))).Notify(context.Background(), notifytest.Message()); err != nil {
				t.Fatal(err)
			}
			mails := ts.Received()
			if len(mails) != 1 || mails[0].TLS != tt.wantTLS {
				t.Fatalf("received %+v, want one email, over TLS: %v", mails, tt.wantTLS)
			}
			if p := parseMail(t, mails[0].Data); p.text == "" || p.html == "" {
				t.Errorf("a part is empty: %+v", p)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name          string
		server        notifytest.SMTPOptions
		config        func(*Config)
		wantErr       []string
		wantPermanent bool
		wantAttempts  int
		wantReceived  int
	}{
		{
			name:          "starttls refuses a server without STARTTLS",
			server:        notifytest.SMTPOptions{TLS: "none"},
			config:        func(c *Config) { c.Username, c.PasswordRef = "", "" },
			wantErr:       []string{"the server does not offer STARTTLS, and tls: starttls never sends in clear text"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a certificate from an unknown CA is refused",
			server:        notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *Config) { c.CAFile = "" },
			wantErr:       []string{"certificate signed by unknown authority", "set ca_file"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "implicit tls: a certificate from an unknown CA is refused",
			server:        notifytest.SMTPOptions{TLS: "implicit", Users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *Config) { c.CAFile, c.TLS = "", ImplicitTLS },
			wantErr:       []string{"certificate signed by unknown authority"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a wrong password is permanent",
			server:        notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "other"}},
			wantErr:       []string{"login as lifeboat: SMTP 535 5.7.8 Authentication failed", "check the username and the password secret"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a server that takes no login",
			server:        notifytest.SMTPOptions{TLS: "starttls"},
			wantErr:       []string{"the server does not offer AUTH PLAIN"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a rejected recipient is permanent",
			server:        notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *Config) { c.To = append(c.To, "nobody@example.com") },
			wantErr:       []string{"recipient nobody@example.com: SMTP 550 5.1.1 no such user"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name: "a 4xx reply is retried",
			server: notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "pw"}, DataErr: func(n int) error {
				if n == 1 {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "queue full, try later"}
				}
				return nil
			}},
			wantAttempts: 2, wantReceived: 1,
		},
		{
			name: "4xx every time fails after the last try",
			server: notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "pw"}, DataErr: func(int) error {
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "closing"}
			}},
			wantErr:      []string{"attempt 3 of 3", "SMTP 421 4.3.0 closing"},
			wantAttempts: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := notifytest.NewSMTPServer(t, tt.server)
			cfg := testConfig(ts, "")
			if tt.config != nil {
				tt.config(&cfg)
			}
			e := New(cfg, notify.StaticSecret([]byte("pw")))
			e.retry.Backoff = time.Millisecond
			ctx, attempts := notify.WithAttemptCount(context.Background())
			err := e.Notify(ctx, notifytest.Message())
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to contain %q", err, want)
				}
			}
			if err != nil && notify.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error quotes the password: %v", err)
			}
			if attempts() != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts(), tt.wantAttempts)
			}
			if n := len(ts.Received()); n != tt.wantReceived {
				t.Errorf("%d emails received, want %d", n, tt.wantReceived)
			}
		})
	}
}

func TestStopsWithItsContext(t *testing.T) {
	// A server that accepts connections and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "dr@example.com", To: []string{"ops@example.com"}}
	e := New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = e.Notify(ctx, notifytest.Message())
	if !errors.Is(err, context.Canceled) || notify.IsPermanent(err) {
		t.Fatalf("error = %v, want it cancelled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %s", elapsed)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{
		Host: "smtp://mail.example.com:587", Port: 70000, TLS: "none", CAFile: "/etc/ca.pem",
		Username: "u", From: "not an address", To: []string{"ok@example.com", "bad@"}, Attempts: 11,
		Filter: notify.Filter{Events: []string{""}},
	}.Validate("email[0]")
	for _, want := range []string{
		`email[0].host: "smtp://mail.example.com:587" is not a host name`,
		"email[0].port: 70000 is not a port",
		"email[0].tls: none sends in clear text, which is allowed only for a relay on localhost",
		"email[0].ca_file: unused with tls: none",
		"email[0].password: required with username",
		`email[0].from: "not an address" is not an email address`,
		`email[0].to[1]: "bad@" is not an email address`,
		"email[0].attempts: 11",
		"email[0].events[0]: empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, c := range []Config{
		{Host: "localhost", TLS: NoTLS, From: "dr@example.com", To: []string{"ops@example.com"}},
		{Host: "::1", TLS: NoTLS, From: "dr@example.com", To: []string{"ops@example.com"}},
		{Host: "smtp.example.com", Port: 465, TLS: ImplicitTLS, Username: "u", PasswordRef: "p", From: "Lifeboat <dr@example.com>", To: []string{"a@example.com"}},
	} {
		if err := c.Validate("email"); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (Config{Host: "127.0.0.2", TLS: NoTLS, From: "a@b.c", To: []string{"a@b.c"}}).Validate("e"); err != nil {
		t.Errorf("a loopback address is local: %v", err)
	}
	if got := (&Notifier{cfg: Config{Host: "h"}}).addr(); got != "h:587" {
		t.Errorf("default address %q", got)
	}
	if got := (&Notifier{cfg: Config{Host: "h", TLS: ImplicitTLS}}).addr(); got != "h:"+strconv.Itoa(465) {
		t.Errorf("default tls address %q", got)
	}
}

func TestContract(t *testing.T) {
	ts := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "pw"}})
	e := New(testConfig(ts, ""), notify.StaticSecret([]byte("pw")))
	notifytest.Contract(t, e, func() int { return len(ts.Received()) }, "pw")
}
