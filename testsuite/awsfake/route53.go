package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	route53Namespace = "https://route53.amazonaws.com/doc/2013-04-01/"
	route53Prefix    = "/2013-04-01/"
	// route53Region is the only region Route 53 requests may be signed for.
	route53Region = "us-east-1"
	// route53MaxItems is the largest page ListResourceRecordSets returns.
	route53MaxItems = 300
)

// hostedZone is a Route 53 hosted zone.
type hostedZone struct {
	id, name string   // name: lower case, fully qualified
	sets     []*rrset // in Route 53's listing order
}

// rrset is a resource record set. Record sets are replaced, never changed in place.
type rrset struct {
	name, typ, setID string // name: lower case, fully qualified, unescaped
	weight           *int64
	ttl              int64
	values           []string
}

// rrChange is a submitted change batch.
type rrChange struct {
	id        string
	submitted time.Time
	comment   string
	gets      int // GetChange calls while pending
	insync    bool
}

// AddHostedZone registers a public hosted zone, with the NS and SOA records Route 53 gives every
// zone at its apex. id is the zone id ("Z0123456789ABCDEFGHIJ", or "/hostedzone/Z…"), name its
// domain ("example.com"). Route 53 is global: the zone is seen whatever the request's region.
func (f *Fake) AddHostedZone(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id = strings.TrimPrefix(id, "/hostedzone/")
	name = canonicalName(name)
	f.fo().zones[id] = &hostedZone{id: id, name: name, sets: []*rrset{
		{name: name, typ: "NS", ttl: 172800, values: []string{
			"ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk.", "ns-3.awsdns-03.com.", "ns-4.awsdns-04.net."}},
		{name: name, typ: "SOA", ttl: 900, values: []string{
			"ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
	}}
}

// RecordValues returns the values of the record set with the given name, type and set identifier
// (empty for a simple record) as the zone holds it, and whether there is one.
func (f *Fake) RecordValues(zoneID, name, recordType, setID string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	z, ok := f.fo().zones[strings.TrimPrefix(zoneID, "/hostedzone/")]
	if !ok {
		return nil, false
	}
	if i := z.find(canonicalName(name), recordType, setID); i >= 0 {
		return slices.Clone(z.sets[i].values), true
	}
	return nil, false
}

// serveRoute53 answers one Route 53 REST-XML request whose signature has been checked.
func (f *Fake) serveRoute53(w http.ResponseWriter, r *http.Request, body []byte, regionName string) {
	rest, _ := strings.CutPrefix(r.URL.Path, route53Prefix)
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	rrsetPath := strings.HasPrefix(r.URL.Path, route53Prefix) && len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset"
	var action string
	switch {
	case rrsetPath && r.Method == http.MethodPost:
		action = "ChangeResourceRecordSets"
	case rrsetPath && r.Method == http.MethodGet:
		action = "ListResourceRecordSets"
	case strings.HasPrefix(r.URL.Path, route53Prefix) && len(parts) == 2 && parts[0] == "change" && r.Method == http.MethodGet:
		action = "GetChange"
	default:
		action = r.Method + " " + r.URL.Path
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Region: regionName, Service: "route53", Action: action})
	f.seq++
	if codes := f.failures[action]; len(codes) > 0 {
		f.failures[action] = codes[1:]
		status := injectedStatus("route53", codes[0])
		if strings.HasPrefix(codes[0], "NoSuch") {
			status = http.StatusNotFound
		}
		f.writeRoute53Error(w, errorf(status, codes[0], "injected failure of %s", action))
		return
	}
	if regionName != route53Region {
		f.writeRoute53Error(w, errorf(http.StatusForbidden, "SignatureDoesNotMatch",
			"Credential should be scoped to a valid region, not '%s'.", regionName))
		return
	}
	var resp any
	var aerr *apiError
	switch action {
	case "ChangeResourceRecordSets":
		resp, aerr = f.changeResourceRecordSets(parts[1], r, body)
	case "ListResourceRecordSets":
		resp, aerr = f.listResourceRecordSets(parts[1], r)
	case "GetChange":
		resp, aerr = f.getChange(parts[1])
	default:
		aerr = errorf(http.StatusNotFound, "UnknownOperationException", "the fake does not answer %s", action)
	}
	if aerr != nil {
		f.writeRoute53Error(w, aerr)
		return
	}
	out, err := xml.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", f.requestID())
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// zone returns a hosted zone or Route 53's error for a missing one. f.mu must be held.
func (f *Fake) zone(id string) (*hostedZone, *apiError) {
	z, ok := f.fo().zones[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
	}
	return z, nil
}

func (f *Fake) changeResourceRecordSets(zoneID string, r *http.Request, body []byte) (any, *apiError) {
	z, aerr := f.zone(zoneID)
	if aerr != nil {
		return nil, aerr
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") && !strings.HasPrefix(ct, "text/xml") {
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "expected an XML body, got Content-Type %q", ct)
	}
	var req changeBatchRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid XML: %v", err)
	}
	if len(req.Changes) == 0 {
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: the change batch has no changes")
	}
	sets := slices.Clone(z.sets)
	var problems []string
	for _, c := range req.Changes {
		set, aerr := rrsetFromXML(c.ResourceRecordSet, c.Action)
		if aerr != nil {
			return nil, aerr
		}
		if p := z.check(sets, set); p != "" && c.Action != "DELETE" {
			problems = append(problems, p)
			continue
		}
		i := slices.IndexFunc(sets, func(s *rrset) bool { return s.name == set.name && s.typ == set.typ && s.setID == set.setID })
		desc := fmt.Sprintf("[name='%s', type='%s'", escapeName(set.name), set.typ)
		if set.setID != "" {
			desc += fmt.Sprintf(", set-identifier='%s'", set.setID)
		}
		desc += "]"
		switch c.Action {
		case "CREATE":
			if i >= 0 {
				problems = append(problems, "Tried to create resource record set "+desc+" but it already exists")
				continue
			}
			sets = append(sets, set)
		case "UPSERT":
			if i >= 0 {
				sets[i] = set
			} else {
				sets = append(sets, set)
			}
		case "DELETE":
			switch {
			case i < 0:
				problems = append(problems, "Tried to delete resource record set "+desc+" but it was not found")
			case sets[i].ttl != set.ttl || !slices.Equal(sets[i].values, set.values) || !equalWeight(sets[i].weight, set.weight):
				problems = append(problems, "Tried to delete resource record set "+desc+" but the values provided do not match the current values")
			default:
				sets = slices.Delete(sets, i, i+1)
			}
		default:
			return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: Action %q is not CREATE, DELETE or UPSERT", c.Action)
		}
	}
	if len(problems) > 0 {
		return nil, errorf(http.StatusBadRequest, "InvalidChangeBatch", "%s", strings.Join(problems, "\n"))
	}
	slices.SortFunc(sets, compareRRSets)
	z.sets = sets
	c := &rrChange{id: fmt.Sprintf("C%013X", f.seq), submitted: f.now(), comment: req.Comment}
	f.fo().changes[c.id] = c
	return changeInfoResponse{
		XMLName:    xml.Name{Space: route53Namespace, Local: "ChangeResourceRecordSetsResponse"},
		ChangeInfo: changeInfoXMLOf(c),
	}, nil
}

// rrsetFromXML checks a record set's fields on their own and converts it.
func rrsetFromXML(x rrsetXML, action string) (*rrset, *apiError) {
	invalid := func(format string, args ...any) (*rrset, *apiError) {
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: "+format+
			" in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]", append(args, action, x.Name, x.Type, x.SetIdentifier)...)
	}
	switch {
	case x.Name == "" || x.Type == "":
		return invalid("Name and Type are required")
	case x.TTL == nil || len(x.ResourceRecords) == 0:
		return invalid("Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none")
	case (x.SetIdentifier == "") != (x.Weight == nil):
		return invalid("A weighted record set needs both SetIdentifier and Weight")
	case x.Weight != nil && (*x.Weight < 0 || *x.Weight > 255):
		return invalid("Weight %d is not between 0 and 255", *x.Weight)
	case *x.TTL < 0 || *x.TTL > 2147483647:
		return invalid("TTL %d is out of range", *x.TTL)
	}
	set := &rrset{name: canonicalName(x.Name), typ: x.Type, setID: x.SetIdentifier, weight: x.Weight, ttl: *x.TTL}
	for _, rr := range x.ResourceRecords {
		set.values = append(set.values, rr.Value)
	}
	return set, nil
}

// check returns why set may not be written to the zone whose record sets are sets, or "".
func (z *hostedZone) check(sets []*rrset, set *rrset) string {
	if set.name != z.name && !strings.HasSuffix(set.name, "."+z.name) {
		return fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", escapeName(set.name), z.name)
	}
	switch set.typ {
	case "A", "AAAA", "CNAME", "TXT":
	default:
		return fmt.Sprintf("The fake does not change %s records", set.typ)
	}
	for _, v := range set.values {
		addr, err := netip.ParseAddr(v)
		switch {
		case set.typ == "A" && (err != nil || !addr.Is4()):
			return fmt.Sprintf("[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '%s'']", v)
		case set.typ == "AAAA" && (err != nil || !addr.Is6() || addr.Is4In6()):
			return fmt.Sprintf("[Invalid Resource Record: 'FATAL problem: AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with '%s'']", v)
		}
	}
	if set.typ == "CNAME" && len(set.values) > 1 {
		return fmt.Sprintf("[Invalid Resource Record: 'FATAL problem: CNAMERRDATATooManyValues (CNAME RRSet %s has more than one value)']", escapeName(set.name))
	}
	if set.typ == "CNAME" && set.name == z.name {
		return fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s.", escapeName(set.name), z.name)
	}
	for _, s := range sets {
		if s.name != set.name {
			continue
		}
		if (s.typ == "CNAME") != (set.typ == "CNAME") {
			return fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type %s with the same DNS name already exists in zone %s.",
				set.typ, escapeName(set.name), s.typ, z.name)
		}
		if s.typ == set.typ && (s.setID == "") != (set.setID == "") {
			return fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as weighted and non-weighted sets of the same name and type cannot coexist.",
				escapeName(set.name), set.typ)
		}
	}
	return ""
}

func (f *Fake) getChange(id string) (any, *apiError) {
	c, ok := f.fo().changes[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
	}
	if !c.insync && f.settled(&c.gets) {
		c.insync = true
	}
	return changeInfoResponse{
		XMLName:    xml.Name{Space: route53Namespace, Local: "GetChangeResponse"},
		ChangeInfo: changeInfoXMLOf(c),
	}, nil
}

func (f *Fake) listResourceRecordSets(zoneID string, r *http.Request) (any, *apiError) {
	z, aerr := f.zone(zoneID)
	if aerr != nil {
		return nil, aerr
	}
	q := r.URL.Query()
	name, typ, ident := q.Get("name"), q.Get("type"), q.Get("identifier")
	switch {
	case typ != "" && name == "":
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: Specifying a type requires a name")
	case ident != "" && typ == "":
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: Specifying an identifier requires a name and a type")
	}
	maxItems := route53MaxItems
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errorf(http.StatusBadRequest, "InvalidInput", "Invalid request: maxitems %q is not a positive integer", v)
		}
		maxItems = min(n, route53MaxItems)
	}
	start := 0
	if name != "" {
		from := &rrset{name: canonicalName(name), typ: typ, setID: ident}
		start = len(z.sets)
		for i, s := range z.sets {
			if compareStart(s, from) >= 0 {
				start = i
				break
			}
		}
	}
	end := min(start+maxItems, len(z.sets))
	resp := listResourceRecordSetsResponse{
		XMLName:  xml.Name{Space: route53Namespace, Local: "ListResourceRecordSetsResponse"},
		MaxItems: strconv.Itoa(maxItems),
	}
	for _, s := range z.sets[start:end] {
		resp.ResourceRecordSets = append(resp.ResourceRecordSets, rrsetXMLOf(s))
	}
	if end < len(z.sets) {
		next := z.sets[end]
		resp.IsTruncated = true
		resp.NextRecordName, resp.NextRecordType, resp.NextRecordIdentifier = escapeName(next.name), next.typ, next.setID
	}
	return resp, nil
}

// find returns the index of the record set with the name, type and set identifier, or -1.
func (z *hostedZone) find(name, typ, setID string) int {
	return slices.IndexFunc(z.sets, func(s *rrset) bool { return s.name == name && s.typ == typ && s.setID == setID })
}

// compareRRSets orders record sets as Route 53 lists them: by name with its labels reversed
// ("com.example.www"), then type, then set identifier.
func compareRRSets(a, b *rrset) int {
	if c := slices.Compare(reversedLabels(a.name), reversedLabels(b.name)); c != 0 {
		return c
	}
	if c := strings.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	return strings.Compare(a.setID, b.setID)
}

// compareStart compares a record set with a listing's starting point, whose empty type and set
// identifier come before any.
func compareStart(s, from *rrset) int {
	if c := slices.Compare(reversedLabels(s.name), reversedLabels(from.name)); c != 0 || from.typ == "" {
		return c
	}
	if c := strings.Compare(s.typ, from.typ); c != 0 || from.setID == "" {
		return c
	}
	return strings.Compare(s.setID, from.setID)
}

func reversedLabels(name string) []string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return labels
}

func equalWeight(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// canonicalName returns a domain name as the fake stores it: octal escapes ("\052") decoded, lower
// case, fully qualified.
func canonicalName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+3 < len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	s := strings.ToLower(b.String())
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// escapeName writes a name as Route 53 returns it: characters other than a-z, 0-9, "-", "_" and
// "." as three-digit octal escapes ("*" is "\052").
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	return b.String()
}

// Route 53 documents, with the element names of the SDK's restxml serializers and deserializers.

type changeBatchRequest struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsRequest"`
	Comment string   `xml:"ChangeBatch>Comment"`
	Changes []struct {
		Action            string
		ResourceRecordSet rrsetXML
	} `xml:"ChangeBatch>Changes>Change"`
}

type rrsetXML struct {
	Name            string
	Type            string
	SetIdentifier   string              `xml:",omitempty"`
	Weight          *int64              `xml:",omitempty"`
	TTL             *int64              `xml:",omitempty"`
	ResourceRecords []resourceRecordXML `xml:"ResourceRecords>ResourceRecord"`
}

type resourceRecordXML struct {
	Value string
}

func rrsetXMLOf(s *rrset) rrsetXML {
	ttl := s.ttl
	x := rrsetXML{Name: escapeName(s.name), Type: s.typ, SetIdentifier: s.setID, Weight: s.weight, TTL: &ttl}
	for _, v := range s.values {
		x.ResourceRecords = append(x.ResourceRecords, resourceRecordXML{Value: v})
	}
	return x
}

type changeInfoXML struct {
	ID          string `xml:"Id"`
	Status      string
	SubmittedAt string
	Comment     string `xml:",omitempty"`
}

func changeInfoXMLOf(c *rrChange) changeInfoXML {
	status := "PENDING"
	if c.insync {
		status = "INSYNC"
	}
	return changeInfoXML{ID: "/change/" + c.id, Status: status, SubmittedAt: timestamp(c.submitted), Comment: c.comment}
}

type changeInfoResponse struct {
	XMLName    xml.Name
	ChangeInfo changeInfoXML
}

type listResourceRecordSetsResponse struct {
	XMLName              xml.Name
	ResourceRecordSets   []rrsetXML `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated          bool
	NextRecordName       string `xml:",omitempty"`
	NextRecordType       string `xml:",omitempty"`
	NextRecordIdentifier string `xml:",omitempty"`
	MaxItems             string
}

type route53ErrorResponse struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ErrorResponse"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

// invalidChangeBatchResponse is the document Route 53 answers InvalidChangeBatch with, one
// message per problem.
type invalidChangeBatchResponse struct {
	XMLName   xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ InvalidChangeBatch"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeRoute53Error answers with e in Route 53's error format. f.mu must be held.
func (f *Fake) writeRoute53Error(w http.ResponseWriter, e *apiError) {
	var doc any
	if e.code == "InvalidChangeBatch" {
		doc = invalidChangeBatchResponse{Messages: strings.Split(e.message, "\n"), RequestID: f.requestID()}
	} else {
		d := route53ErrorResponse{RequestID: f.requestID()}
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
	w.Header().Set("X-Amzn-Requestid", f.requestID())
	w.WriteHeader(e.status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}
