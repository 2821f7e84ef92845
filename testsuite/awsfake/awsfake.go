package awsfake

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials the fake accepts. Requests signed with any other key are rejected the way AWS rejects
// an unknown key; requests signed with the right key but another secret fail the signature check.
const (
	AccessKeyID     = "AKIDLIFEBOATFAKE0001"
	SecretAccessKey = "lifeboat-fake-secret-access-key"
	// Account owns every snapshot and appears in RDS ARNs.
	Account = "123456789012"
)

const (
	// DefaultReadyAfter is the number of Describe responses that show a new snapshot in progress
	// before it turns available.
	DefaultReadyAfter = 2
	// DefaultPageSize is the largest page any Describe returns, whatever MaxRecords or MaxResults
	// asks for, so that callers' pagination is exercised.
	DefaultPageSize = 2
	// DBInstanceGiB is the allocated storage of every registered DB instance.
	DBInstanceGiB = 20
)

// Call is one authenticated request the fake received.
type Call struct {
	Region  string // from the credential scope
	Service string // "rds", "ec2", "autoscaling" or "route53", from the credential scope
	Action  string // the Query protocol's Action parameter; for Route 53, the operation
}

// Fake is a running fake of the RDS, EC2, Auto Scaling and Route 53 APIs Lifeboat uses. Its state is kept per region. It is
// safe for concurrent use.
type Fake struct {
	// URL is the server's base, "http://127.0.0.1:port"; use it as the SDK's BaseEndpoint.
	URL string

	mu         sync.Mutex
	regions    map[string]*region
	calls      []Call
	failures   map[string][]string // action → error codes to answer with, in order
	readyAfter int
	pageSize   int
	lag        int
	clock      time.Time
	seq        int
	failover   *failoverState // Route 53, Auto Scaling, DB and EC2 instances (failover.go)
}

// region is the state of one region.
type region struct {
	instances map[string]bool         // lower-case DB instance ids
	volumes   map[string]int64        // volume id → size in GiB
	dbSnaps   map[string]*dbSnapshot  // lower-case identifier → snapshot
	ebsSnaps  map[string]*ebsSnapshot // snapshot id → snapshot
}

// lifecycle is the progress of a snapshot, common to both services.
type lifecycle struct {
	state     int // inProgress, ready or failed
	describes int // Describe responses that have shown it
	hidden    int // Describe calls that must still miss it (eventual consistency)
}

const (
	inProgress = iota
	ready
	failed
)

type tag struct{ Key, Value string }

// New starts a fake on a loopback port and stops it when the test ends.
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		regions:    map[string]*region{},
		failures:   map[string][]string{},
		readyAfter: DefaultReadyAfter,
		pageSize:   DefaultPageSize,
		clock:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// AddDBInstance registers a DB instance that RDS snapshots can be taken of.
func (f *Fake) AddDBInstance(regionName, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.region(regionName).instances[strings.ToLower(id)] = true
}

// AddVolume registers an EBS volume that snapshots can be taken of.
func (f *Fake) AddVolume(regionName, id string, sizeGiB int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.region(regionName).volumes[id] = sizeGiB
}

// SetReadyAfter sets how many Describe responses show a new snapshot or copy in progress before it
// becomes available (DefaultReadyAfter). Its progress rises evenly until then.
func (f *Fake) SetReadyAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readyAfter = max(n, 1)
}

// SetPageSize caps every Describe page (DefaultPageSize).
func (f *Fake) SetPageSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageSize = max(n, 1)
}

// SetVisibilityLag makes snapshots created from now on invisible to the first n Describe calls
// that would otherwise return them, as AWS's eventually consistent reads sometimes are.
func (f *Fake) SetVisibilityLag(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lag = max(n, 0)
}

// FailNext makes the next request with the given Action (in any region) fail with the given error
// code, such as "Throttling", "RequestLimitExceeded" or "AccessDenied". Calls queue up.
func (f *Fake) FailNext(action, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[action] = append(f.failures[action], code)
}

// FailSnapshot marks a snapshot (RDS identifier or EBS snapshot id) in the region as failed. It
// reports whether the snapshot exists.
func (f *Fake) FailSnapshot(regionName, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.region(regionName)
	if s, ok := r.dbSnaps[strings.ToLower(id)]; ok {
		s.state = failed
		return true
	}
	if s, ok := r.ebsSnaps[id]; ok {
		s.state = failed
		return true
	}
	return false
}

// Calls returns the authenticated requests received so far, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CountCalls returns how many authenticated requests had the given service and action, in any region.
func (f *Fake) CountCalls(service, action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Service == service && c.Action == action {
			n++
		}
	}
	return n
}

// region returns a region's state, creating it. f.mu must be held.
func (f *Fake) region(name string) *region {
	r, ok := f.regions[name]
	if !ok {
		r = &region{
			instances: map[string]bool{},
			volumes:   map[string]int64{},
			dbSnaps:   map[string]*dbSnapshot{},
			ebsSnaps:  map[string]*ebsSnapshot{},
		}
		f.regions[name] = r
	}
	return r
}

// now returns the fake's clock and advances it by a second, so that every snapshot has a distinct
// creation time. f.mu must be held.
func (f *Fake) now() time.Time {
	t := f.clock
	f.clock = f.clock.Add(time.Second)
	return t
}

// newLifecycle starts a snapshot's progress. f.mu must be held.
func (f *Fake) newLifecycle() lifecycle {
	return lifecycle{state: inProgress, hidden: f.lag}
}

// observe is called for each snapshot a Describe would return. It reports whether the snapshot is
// visible yet and, if it is, moves it along. f.mu must be held.
func (f *Fake) observe(l *lifecycle) bool {
	if l.hidden > 0 {
		l.hidden--
		return false
	}
	if l.state == inProgress {
		l.describes++
		if l.describes >= f.readyAfter {
			l.state = ready
		}
	}
	return true
}

// percent is the snapshot's progress, 0-100. f.mu must be held.
func (f *Fake) percent(l *lifecycle) int {
	if l.state == ready {
		return 100
	}
	return min(l.describes*100/f.readyAfter, 99)
}

// apiError is an error response in the service's own format.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one Query protocol request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	auth, err := parseAuthorization(r.Header.Get("Authorization"))
	service := auth.scope.service
	if err != nil {
		code := "IncompleteSignature"
		if err == errMissingAuth {
			code = "MissingAuthenticationToken"
		}
		f.writeError(w, service, errorf(http.StatusForbidden, code, "%v", err))
		return
	}
	if auth.scope.accessKey != AccessKeyID {
		code := "InvalidClientTokenId"
		if service == "ec2" {
			code = "AuthFailure"
		}
		f.writeError(w, service, errorf(http.StatusForbidden, code,
			"The security token included in the request is invalid."))
		return
	}
	if !verifySignature(r, body, auth, SecretAccessKey) {
		code := "SignatureDoesNotMatch"
		if service == "ec2" {
			code = "AuthFailure"
		}
		f.writeError(w, service, errorf(http.StatusForbidden, code,
			"The request signature we calculated does not match the signature you provided."))
		return
	}
	if service == "route53" { // REST-XML, not the Query protocol
		f.serveRoute53(w, r, body, auth.scope.region)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.writeError(w, service, errorf(http.StatusBadRequest, "InvalidAction",
			"expected a form-encoded POST, got %s %s", r.Method, r.Header.Get("Content-Type")))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.writeError(w, service, errorf(http.StatusBadRequest, "MalformedQueryString", "%v", err))
		return
	}
	action := form.Get("Action")

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Region: auth.scope.region, Service: service, Action: action})
	f.seq++
	if codes := f.failures[action]; len(codes) > 0 {
		f.failures[action] = codes[1:]
		f.writeError(w, service, errorf(injectedStatus(service, codes[0]), codes[0], "injected failure of %s", action))
		return
	}
	var resp any
	var aerr *apiError
	switch handle := f.failoverHandler(service, action); {
	case handle != nil:
		resp, aerr = handle(auth.scope.region, form)
	case service == "rds":
		resp, aerr = f.serveRDS(auth.scope.region, action, form)
	case service == "ec2":
		resp, aerr = f.serveEC2(auth.scope.region, action, form)
	default:
		aerr = errorf(http.StatusBadRequest, "InvalidAction", "service %q is not faked", service)
	}
	if aerr != nil {
		f.writeError(w, service, aerr)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", f.requestID())
	out, err := xml.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// requestID is a request id unique to the current request. f.mu must be held.
func (f *Fake) requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", f.seq)
}

// injectedStatus is the HTTP status AWS answers a given error code with.
func injectedStatus(service, code string) int {
	switch {
	case code == "RequestLimitExceeded" || code == "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case code == "InternalError" || code == "InternalFailure":
		return http.StatusInternalServerError
	case strings.HasPrefix(code, "AccessDenied") || code == "UnauthorizedOperation" || code == "AuthFailure":
		return http.StatusForbidden
	case service == "rds" && strings.HasSuffix(code, "NotFound"):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// rdsErrorResponse and ec2ErrorResponse are the two services' error documents.
type rdsErrorResponse struct {
	XMLName xml.Name `xml:"http://rds.amazonaws.com/doc/2014-10-31/ ErrorResponse"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

type ec2ErrorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string
		Message string
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

// writeError answers with e in the service's error format. f.mu may or may not be held.
func (f *Fake) writeError(w http.ResponseWriter, service string, e *apiError) {
	var doc any
	reqID := fmt.Sprintf("00000000-0000-4000-9000-%012x", time.Now().UnixNano()&0xffffffffffff)
	if service == "ec2" {
		d := ec2ErrorResponse{RequestID: reqID}
		d.Errors = append(d.Errors, struct{ Code, Message string }{e.code, e.message})
		doc = d
	} else {
		d := rdsErrorResponse{RequestID: reqID}
		d.Error.Type = "Sender"
		if e.status >= 500 {
			d.Error.Type = "Receiver"
		}
		d.Error.Code, d.Error.Message = e.code, e.message
		doc = d
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// Form helpers for the Query protocol's flattened lists.

// list returns the values of prefix.1, prefix.2, … up to the first gap.
func list(form url.Values, prefix string) []string {
	var out []string
	for i := 1; form.Has(prefix + "." + strconv.Itoa(i)); i++ {
		out = append(out, form.Get(prefix+"."+strconv.Itoa(i)))
	}
	return out
}

// tags returns the tags prefix.1.Key / prefix.1.Value, … up to the first gap.
func tags(form url.Values, prefix string) []tag {
	var out []tag
	for i := 1; form.Has(prefix + "." + strconv.Itoa(i) + ".Key"); i++ {
		p := prefix + "." + strconv.Itoa(i) + "."
		out = append(out, tag{Key: form.Get(p + "Key"), Value: form.Get(p + "Value")})
	}
	return out
}

// setTags adds or replaces tags by key, keeping the first occurrence's position.
func setTags(into []tag, add []tag) []tag {
	for _, t := range add {
		i := slices.IndexFunc(into, func(x tag) bool { return x.Key == t.Key })
		if i >= 0 {
			into[i].Value = t.Value
		} else {
			into = append(into, t)
		}
	}
	return into
}

// page cuts items to one page starting at the offset token, and returns the next token.
func page[T any](items []T, token string, size int) ([]T, string, *apiError) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "page-"))
		if err != nil || !strings.HasPrefix(token, "page-") || n < 0 || n > len(items) {
			return nil, "", errorf(http.StatusBadRequest, "InvalidParameterValue", "invalid pagination token %q", token)
		}
		start = n
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = "page-" + strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

// timestamp formats t as both services do.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
