package notifytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

// The account the fake Twilio accepts.
const (
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	TwilioAuthToken  = "0123456789abcdef0123456789abcdef"
)

// TwilioRequest is a request the fake Twilio accepted.
type TwilioRequest struct {
	// Resource is "Messages" or "Calls".
	Resource string
	// Form is the request's form, one value a key.
	Form map[string]string
}

// Twilio is a fake of the part of Twilio's REST API that SMS and voice calls use: form-encoded POSTs
// to /2010-04-01/Accounts/{sid}/Messages.json and Calls.json with Basic auth (TwilioAccountSID and
// TwilioAuthToken), JSON answers, and error JSON {code, message, more_info, status}, as Twilio sends
// them.
type Twilio struct {
	*httptest.Server
	// Fail, when set, may answer a request instead of the fake: it returns the status and body to
	// send, or 0 to let the request through. n counts the requests to the number, from 1. Set it
	// before the first request.
	Fail func(to string, n int, w http.ResponseWriter) (status int, body string)

	mu       sync.Mutex
	tries    map[string]int
	accepted []TwilioRequest
}

var (
	twilioPath   = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json$`)
	twilioNumber = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`) // E.164
)

// NewTwilio starts a fake Twilio that stops when the test ends.
func NewTwilio(t testing.TB) *Twilio {
	t.Helper()
	f := &Twilio{tries: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func twilioJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func twilioErrorJSON(w http.ResponseWriter, status, code int, message string) {
	twilioJSON(w, status, map[string]any{"code": code, "message": message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
}

func (f *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	match := twilioPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || match == nil {
		twilioErrorJSON(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	sid, resource := match[1], match[2]
	if user, pass, ok := r.BasicAuth(); !ok || user != TwilioAccountSID || pass != TwilioAuthToken || sid != TwilioAccountSID {
		twilioErrorJSON(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		twilioErrorJSON(w, http.StatusBadRequest, 20001, "Content-Type "+ct+" is not form-encoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioErrorJSON(w, http.StatusBadRequest, 20001, err.Error())
		return
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		form[k] = v[0]
	}
	to := form["To"]
	f.mu.Lock()
	f.tries[to]++
	n := f.tries[to]
	f.mu.Unlock()
	if f.Fail != nil {
		if status, body := f.Fail(to, n, w); status != 0 {
			w.WriteHeader(status)
			_, _ = fmt.Fprint(w, body)
			return
		}
	}
	switch {
	case !twilioNumber.MatchString(to):
		twilioErrorJSON(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case !twilioNumber.MatchString(form["From"]):
		twilioErrorJSON(w, http.StatusBadRequest, 21212, "Invalid From Number (caller ID)")
		return
	case resource == "Messages" && form["Body"] == "":
		twilioErrorJSON(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case resource == "Messages" && len([]rune(form["Body"])) > 1600:
		twilioErrorJSON(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	case resource == "Calls" && form["Twiml"] == "" && form["Url"] == "":
		twilioErrorJSON(w, http.StatusBadRequest, 21205, "Url parameter is required.")
		return
	case resource == "Calls" && xml.Unmarshal([]byte(form["Twiml"]), new(struct {
		XMLName xml.Name `xml:"Response"`
	})) != nil:
		twilioErrorJSON(w, http.StatusBadRequest, 13201, "Invalid TwiML")
		return
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, TwilioRequest{Resource: resource, Form: form})
	f.mu.Unlock()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	prefix := map[string]string{"Messages": "SM", "Calls": "CA"}[resource]
	twilioJSON(w, http.StatusCreated, map[string]any{
		"sid": prefix + hex.EncodeToString(id), "account_sid": sid, "to": to, "from": form["From"],
		"body": form["Body"], "status": "queued", "api_version": "2010-04-01",
		"date_created": time.Now().UTC().Format(time.RFC1123Z),
		"uri":          fmt.Sprintf("/2010-04-01/Accounts/%s/%s/%s%s.json", sid, resource, prefix, hex.EncodeToString(id)),
	})
}

// Requests returns the requests accepted so far.
func (f *Twilio) Requests() []TwilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepted)
}

// TriesOf returns how many authenticated requests were made to the number to.
func (f *Twilio) TriesOf(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[to]
}
