package awsfake

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	rdsNamespace  = "http://rds.amazonaws.com/doc/2014-10-31/"
	rdsAPIVersion = "2014-10-31"
)

// dbSnapshot is a manual RDS DB snapshot.
type dbSnapshot struct {
	lifecycle
	id, instance, arn string
	created           time.Time
	allocated         int64
	copy              bool   // made by CopyDBSnapshot
	sourceARN         string // the source's ARN, for cross-region copies
	sourceRegion      string
	kmsKeyID          string
	tags              []tag
}

// rdsIdentifier is RDS's rule for DB snapshot identifiers: a letter, then letters, digits and
// single hyphens, not ending in a hyphen, at most 255 characters.
var rdsIdentifier = regexp.MustCompile(`^[A-Za-z](-?[A-Za-z0-9])*$`)

func (f *Fake) serveRDS(regionName, action string, form url.Values) (any, *apiError) {
	if v := form.Get("Version"); v != rdsAPIVersion {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported API version %q", v)
	}
	r := f.region(regionName)
	switch action {
	case "CreateDBSnapshot":
		return f.createDBSnapshot(regionName, r, form)
	case "DescribeDBSnapshots":
		return f.describeDBSnapshots(r, form)
	case "CopyDBSnapshot":
		return f.copyDBSnapshot(regionName, r, form)
	case "DeleteDBSnapshot":
		return f.deleteDBSnapshot(r, form)
	}
	return nil, errorf(http.StatusBadRequest, "InvalidAction", "the action %s is not valid for this web service", action)
}

func (f *Fake) createDBSnapshot(regionName string, r *region, form url.Values) (any, *apiError) {
	id, instance := form.Get("DBSnapshotIdentifier"), form.Get("DBInstanceIdentifier")
	if aerr := checkRDSIdentifier("DBSnapshotIdentifier", id); aerr != nil {
		return nil, aerr
	}
	if instance == "" {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "DBInstanceIdentifier is required")
	}
	if !r.instances[strings.ToLower(instance)] {
		return nil, errorf(http.StatusNotFound, "DBInstanceNotFound", "DBInstance %s not found.", instance)
	}
	key := strings.ToLower(id)
	if _, ok := r.dbSnaps[key]; ok {
		return nil, errorf(http.StatusBadRequest, "DBSnapshotAlreadyExists", "Cannot create the snapshot because a snapshot with the identifier %s already exists.", key)
	}
	s := &dbSnapshot{
		lifecycle: f.newLifecycle(),
		id:        key,
		instance:  strings.ToLower(instance),
		arn:       rdsARN(regionName, key),
		created:   f.now(),
		allocated: DBInstanceGiB,
		tags:      setTags(nil, tags(form, "Tags.Tag")),
	}
	r.dbSnaps[key] = s
	return f.rdsResponse("CreateDBSnapshot", dbSnapshotResult{DBSnapshot: f.dbSnapshotXML(s)}), nil
}

func (f *Fake) describeDBSnapshots(r *region, form url.Values) (any, *apiError) {
	size := f.pageSize
	if v := form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 100 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "MaxRecords must be between 20 and 100, got %q", v)
		}
		size = min(size, n)
	}
	id := strings.ToLower(form.Get("DBSnapshotIdentifier"))
	instance := strings.ToLower(form.Get("DBInstanceIdentifier"))
	snapshotType := form.Get("SnapshotType")
	var matches []*dbSnapshot
	for _, s := range r.dbSnaps {
		if (id == "" || s.id == id) && (instance == "" || s.instance == instance) &&
			(snapshotType == "" || snapshotType == "manual") && f.observe(&s.lifecycle) {
			matches = append(matches, s)
		}
	}
	if id != "" && len(matches) == 0 {
		return nil, errorf(http.StatusNotFound, "DBSnapshotNotFound", "DBSnapshot %s not found.", id)
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].id < matches[j].id })
	pageItems, next, aerr := page(matches, form.Get("Marker"), size)
	if aerr != nil {
		return nil, aerr
	}
	var res describeDBSnapshotsResult
	res.Marker = next
	for _, s := range pageItems {
		res.DBSnapshots = append(res.DBSnapshots, f.dbSnapshotXML(s))
	}
	return f.rdsResponse("DescribeDBSnapshots", res), nil
}

func (f *Fake) copyDBSnapshot(regionName string, r *region, form url.Values) (any, *apiError) {
	source, target := form.Get("SourceDBSnapshotIdentifier"), form.Get("TargetDBSnapshotIdentifier")
	if source == "" {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "SourceDBSnapshotIdentifier is required")
	}
	if aerr := checkRDSIdentifier("TargetDBSnapshotIdentifier", target); aerr != nil {
		return nil, aerr
	}
	srcRegion, srcID := regionName, strings.ToLower(source)
	if strings.HasPrefix(source, "arn:") {
		parts := strings.SplitN(source, ":", 7)
		if len(parts) != 7 || parts[2] != "rds" || parts[5] != "snapshot" {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "%s is not a DB snapshot ARN", source)
		}
		srcRegion, srcID = parts[3], strings.ToLower(parts[6])
	}
	src, ok := f.region(srcRegion).dbSnaps[srcID]
	if !ok {
		return nil, errorf(http.StatusNotFound, "DBSnapshotNotFound", "DBSnapshot %s not found.", source)
	}
	crossRegion := srcRegion != regionName
	if crossRegion {
		if aerr := checkPreSignedURL(form.Get("PreSignedUrl"), srcRegion, regionName, source); aerr != nil {
			return nil, aerr
		}
	}
	key := strings.ToLower(target)
	if _, ok := r.dbSnaps[key]; ok {
		return nil, errorf(http.StatusBadRequest, "DBSnapshotAlreadyExists", "Cannot copy the snapshot because a snapshot with the identifier %s already exists.", key)
	}
	if src.state != ready {
		return nil, errorf(http.StatusBadRequest, "InvalidDBSnapshotState", "Snapshot %s is not in the available state.", src.id)
	}
	var copied []tag
	if form.Get("CopyTags") == "true" {
		copied = setTags(copied, src.tags)
	}
	s := &dbSnapshot{
		lifecycle: f.newLifecycle(),
		id:        key,
		instance:  src.instance,
		arn:       rdsARN(regionName, key),
		created:   f.now(),
		allocated: src.allocated,
		copy:      true,
		kmsKeyID:  form.Get("KmsKeyId"),
		tags:      setTags(copied, tags(form, "Tags.Tag")),
	}
	if crossRegion {
		s.sourceARN, s.sourceRegion = src.arn, srcRegion
	}
	r.dbSnaps[key] = s
	return f.rdsResponse("CopyDBSnapshot", dbSnapshotResult{DBSnapshot: f.dbSnapshotXML(s)}), nil
}

// checkPreSignedURL checks the URL the SDK presigns for a cross-region copy: a CopyDBSnapshot
// request to the source region naming the same source and this destination.
func checkPreSignedURL(raw, srcRegion, dstRegion, source string) *apiError {
	if raw == "" {
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl is required to copy a snapshot from %s", srcRegion)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl: %v", err)
	}
	q := u.Query()
	cred := strings.Split(q.Get("X-Amz-Credential"), "/")
	switch {
	case q.Get("Action") != "CopyDBSnapshot":
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl is not for CopyDBSnapshot")
	case len(cred) != 5 || cred[2] != srcRegion || cred[3] != "rds":
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl is not signed for rds in %s", srcRegion)
	case q.Get("DestinationRegion") != dstRegion:
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl names destination %q, not %q", q.Get("DestinationRegion"), dstRegion)
	case q.Get("SourceDBSnapshotIdentifier") != source:
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl names source %q, not %q", q.Get("SourceDBSnapshotIdentifier"), source)
	case q.Get("X-Amz-Signature") == "":
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "PreSignedUrl is not signed")
	}
	return nil
}

func (f *Fake) deleteDBSnapshot(r *region, form url.Values) (any, *apiError) {
	id := strings.ToLower(form.Get("DBSnapshotIdentifier"))
	s, ok := r.dbSnaps[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "DBSnapshotNotFound", "DBSnapshot %s not found.", id)
	}
	if s.state == inProgress {
		return nil, errorf(http.StatusBadRequest, "InvalidDBSnapshotState", "Cannot delete the snapshot because it is not in the available or failed state.")
	}
	delete(r.dbSnaps, id)
	x := f.dbSnapshotXML(s)
	x.Status = "deleted"
	return f.rdsResponse("DeleteDBSnapshot", dbSnapshotResult{DBSnapshot: x}), nil
}

func checkRDSIdentifier(param, id string) *apiError {
	if id == "" {
		return errorf(http.StatusBadRequest, "MissingParameter", "%s is required", param)
	}
	if len(id) > 255 || !rdsIdentifier.MatchString(id) {
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "%s %q is not a valid identifier", param, id)
	}
	return nil
}

func rdsARN(regionName, id string) string {
	return "arn:aws:rds:" + regionName + ":" + Account + ":snapshot:" + id
}

// RDS response documents, with the element names of the SDK's awsquery deserializers.

type rdsEnvelope struct {
	XMLName          xml.Name
	Result           any
	ResponseMetadata struct {
		RequestID string `xml:"RequestId"`
	}
}

// resultElement gives a result struct its element name at marshal time.
type resultElement struct {
	XMLName xml.Name
	Body    any
}

// rdsResponse wraps result in the XResponse and XResult elements. f.mu must be held.
func (f *Fake) rdsResponse(action string, result any) rdsEnvelope {
	e := rdsEnvelope{XMLName: xml.Name{Space: rdsNamespace, Local: action + "Response"}}
	e.Result = resultElement{XMLName: xml.Name{Local: action + "Result"}, Body: result}
	e.ResponseMetadata.RequestID = f.requestID()
	return e
}

// MarshalXML writes Body's fields inside an element named XMLName.
func (r resultElement) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	return enc.EncodeElement(r.Body, xml.StartElement{Name: r.XMLName})
}

type dbSnapshotResult struct {
	DBSnapshot dbSnapshotXML `xml:"DBSnapshot"`
}

type describeDBSnapshotsResult struct {
	DBSnapshots []dbSnapshotXML `xml:"DBSnapshots>DBSnapshot"`
	Marker      string          `xml:",omitempty"`
}

type dbSnapshotXML struct {
	DBSnapshotIdentifier       string
	DBInstanceIdentifier       string
	DBSnapshotArn              string
	SnapshotCreateTime         string
	Engine                     string
	EngineVersion              string
	AllocatedStorage           int64
	Status                     string
	PercentProgress            int
	SnapshotType               string
	Encrypted                  bool
	KmsKeyID                   string   `xml:"KmsKeyId,omitempty"`
	SourceDBSnapshotIdentifier string   `xml:",omitempty"`
	SourceRegion               string   `xml:",omitempty"`
	TagList                    []tagXML `xml:"TagList>Tag"`
}

type tagXML struct {
	Key   string
	Value string
}

// dbSnapshotXML renders s. f.mu must be held.
func (f *Fake) dbSnapshotXML(s *dbSnapshot) dbSnapshotXML {
	status := map[int]string{inProgress: "creating", ready: "available", failed: "failed"}[s.state]
	if s.copy && s.state == inProgress {
		status = "copying"
	}
	x := dbSnapshotXML{
		DBSnapshotIdentifier:       s.id,
		DBInstanceIdentifier:       s.instance,
		DBSnapshotArn:              s.arn,
		SnapshotCreateTime:         timestamp(s.created),
		Engine:                     "postgres",
		EngineVersion:              "16.4",
		AllocatedStorage:           s.allocated,
		Status:                     status,
		PercentProgress:            f.percent(&s.lifecycle),
		SnapshotType:               "manual",
		Encrypted:                  s.kmsKeyID != "",
		KmsKeyID:                   s.kmsKeyID,
		SourceDBSnapshotIdentifier: s.sourceARN,
		SourceRegion:               s.sourceRegion,
	}
	for _, t := range s.tags {
		x.TagList = append(x.TagList, tagXML(t))
	}
	return x
}
