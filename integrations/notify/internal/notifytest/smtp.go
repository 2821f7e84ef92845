package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configures an SMTPServer.
type SMTPOptions struct {
	// TLS is "starttls" (offered, not required), "implicit" (TLS from the first byte) or "none".
	TLS string
	// Users, when set, are the logins AUTH PLAIN accepts, and logging in is required to send.
	Users map[string]string
	// DataErr, when set, answers the nth DATA (from 1) instead of accepting it, unless it returns
	// nil.
	DataErr func(n int) error
}

// Mail is an email an SMTPServer took.
type Mail struct {
	From, User string
	To         []string
	Data       []byte
	// TLS says whether the email came over TLS.
	TLS bool
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1, with a self-signed
// certificate for 127.0.0.1 and localhost. It refuses recipients at nobody@ with 550.
type SMTPServer struct {
	// Port is the port it listens on.
	Port int
	// CAFile is a PEM file of its certificate, to trust as a CA.
	CAFile string

	opts  SMTPOptions
	mu    sync.Mutex
	datas int
	mails []Mail
}

// NewSMTPServer starts an SMTP server that stops when the test ends.
func NewSMTPServer(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	cert, caFile := testCertificate(t)
	ts := &SMTPServer{opts: opts, CAFile: caFile}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{srv: ts, tls: isTLS}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch opts.TLS {
	case "starttls":
		s.TLSConfig = tlsConfig
	case "implicit":
		l = tls.NewListener(l, tlsConfig)
	}
	ts.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ts
}

// Received returns the emails taken so far.
func (ts *SMTPServer) Received() []Mail {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.mails)
}

// testCertificate returns a self-signed certificate for 127.0.0.1 and localhost, and the path of a
// PEM file holding it, to trust as a CA.
func testCertificate(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lifeboat test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// smtpSession is one connection to the server. STARTTLS makes a new session, which knows it is
// encrypted.
type smtpSession struct {
	srv  *SMTPServer
	tls  bool
	user string
	mail Mail
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string {
	if s.srv.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := s.srv.opts.Users[username]; !ok || password != want {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.Users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.mail = Mail{From: from, User: s.user, TLS: s.tls}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.mail.To = append(s.mail.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.datas++
	if s.srv.opts.DataErr != nil {
		if err := s.srv.opts.DataErr(s.srv.datas); err != nil {
			return err
		}
	}
	s.mail.Data = data
	s.srv.mails = append(s.srv.mails, s.mail)
	return nil
}

func (s *smtpSession) Reset()        { s.mail = Mail{} }
func (s *smtpSession) Logout() error { return nil }
