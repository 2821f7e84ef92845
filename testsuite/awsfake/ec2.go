package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	ec2Namespace  = "http://ec2.amazonaws.com/doc/2016-11-15/"
	ec2APIVersion = "2016-11-15"
	// copiedVolumeID is the volume id EC2 reports for snapshots made by CopySnapshot.
	copiedVolumeID = "vol-ffffffff"
)

// ebsSnapshot is an EBS snapshot.
type ebsSnapshot struct {
	lifecycle
	id, volume, description string
	created                 time.Time
	size                    int64
	kmsKeyID                string
	tags                    []tag
}

func (f *Fake) serveEC2(regionName, action string, form url.Values) (any, *apiError) {
	if v := form.Get("Version"); v != ec2APIVersion {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported API version %q", v)
	}
	r := f.region(regionName)
	switch action {
	case "CreateSnapshot":
		return f.createSnapshot(r, form)
	case "DescribeSnapshots":
		return f.describeSnapshots(r, form)
	case "CopySnapshot":
		return f.copySnapshot(r, form)
	case "DeleteSnapshot":
		return f.deleteSnapshot(r, form)
	}
	return nil, errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action)
}

func (f *Fake) createSnapshot(r *region, form url.Values) (any, *apiError) {
	volume := form.Get("VolumeId")
	if volume == "" {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter VolumeId")
	}
	if !strings.HasPrefix(volume, "vol-") {
		return nil, errorf(http.StatusBadRequest, "InvalidVolumeID.Malformed", "Invalid id: %q", volume)
	}
	size, ok := r.volumes[volume]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidVolume.NotFound", "The volume '%s' does not exist.", volume)
	}
	tagged, aerr := snapshotTags(form)
	if aerr != nil {
		return nil, aerr
	}
	s := &ebsSnapshot{
		lifecycle:   f.newLifecycle(),
		id:          f.snapshotID(),
		volume:      volume,
		description: form.Get("Description"),
		created:     f.now(),
		size:        size,
		tags:        tagged,
	}
	r.ebsSnaps[s.id] = s
	return createSnapshotResponse{
		XMLName:     xml.Name{Space: ec2Namespace, Local: "CreateSnapshotResponse"},
		RequestID:   f.requestID(),
		snapshotXML: f.snapshotXML(s),
	}, nil
}

func (f *Fake) describeSnapshots(r *region, form url.Values) (any, *apiError) {
	ids := list(form, "SnapshotId")
	size := len(r.ebsSnaps) + 1 // without MaxResults, EC2 returns everything at once
	if v := form.Get("MaxResults"); v != "" {
		if len(ids) > 0 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "The parameter snapshotSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		size = min(f.pageSize, n)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "snap-") {
			return nil, errorf(http.StatusBadRequest, "InvalidSnapshotID.Malformed", "Invalid id: %q (expecting \"snap-...\")", id)
		}
	}
	owners := list(form, "Owner")
	filters, aerr := snapshotFilters(form)
	if aerr != nil {
		return nil, aerr
	}
	var matches []*ebsSnapshot
	for _, s := range r.ebsSnaps {
		if (len(ids) == 0 || slices.Contains(ids, s.id)) &&
			(len(owners) == 0 || slices.Contains(owners, "self") || slices.Contains(owners, Account)) &&
			matchFilters(s, filters) && f.observe(&s.lifecycle) {
			matches = append(matches, s)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(matches, func(s *ebsSnapshot) bool { return s.id == id }) {
			return nil, errorf(http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
		}
	}
	// Newest first: callers that want an order must sort.
	sort.Slice(matches, func(i, j int) bool { return matches[i].id > matches[j].id })
	pageItems, next, aerr := page(matches, form.Get("NextToken"), size)
	if aerr != nil {
		return nil, aerr
	}
	resp := describeSnapshotsResponse{
		XMLName:   xml.Name{Space: ec2Namespace, Local: "DescribeSnapshotsResponse"},
		RequestID: f.requestID(),
		NextToken: next,
	}
	for _, s := range pageItems {
		resp.Snapshots = append(resp.Snapshots, f.snapshotXML(s))
	}
	return resp, nil
}

func (f *Fake) copySnapshot(r *region, form url.Values) (any, *apiError) {
	srcRegion, srcID := form.Get("SourceRegion"), form.Get("SourceSnapshotId")
	switch {
	case srcRegion == "":
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter SourceRegion")
	case srcID == "":
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter SourceSnapshotId")
	case !strings.HasPrefix(srcID, "snap-"):
		return nil, errorf(http.StatusBadRequest, "InvalidSnapshotID.Malformed", "Invalid id: %q (expecting \"snap-...\")", srcID)
	}
	src, ok := f.region(srcRegion).ebsSnaps[srcID]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", srcID)
	}
	if src.state != ready {
		return nil, errorf(http.StatusBadRequest, "IncorrectState", "Snapshot '%s' is not in the completed state.", srcID)
	}
	tagged, aerr := snapshotTags(form)
	if aerr != nil {
		return nil, aerr
	}
	description := form.Get("Description")
	if description == "" {
		description = fmt.Sprintf("[Copied %s from %s]", srcID, srcRegion)
	}
	s := &ebsSnapshot{
		lifecycle:   f.newLifecycle(),
		id:          f.snapshotID(),
		volume:      copiedVolumeID,
		description: description,
		created:     f.now(),
		size:        src.size,
		kmsKeyID:    form.Get("KmsKeyId"),
		tags:        tagged,
	}
	r.ebsSnaps[s.id] = s
	resp := copySnapshotResponse{
		XMLName:    xml.Name{Space: ec2Namespace, Local: "CopySnapshotResponse"},
		RequestID:  f.requestID(),
		SnapshotID: s.id,
	}
	for _, t := range s.tags {
		resp.Tags = append(resp.Tags, ec2TagXML(t))
	}
	return resp, nil
}

func (f *Fake) deleteSnapshot(r *region, form url.Values) (any, *apiError) {
	id := form.Get("SnapshotId")
	switch {
	case id == "":
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter SnapshotId")
	case !strings.HasPrefix(id, "snap-"):
		return nil, errorf(http.StatusBadRequest, "InvalidSnapshotID.Malformed", "Invalid id: %q (expecting \"snap-...\")", id)
	}
	if _, ok := r.ebsSnaps[id]; !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	delete(r.ebsSnaps, id)
	return deleteSnapshotResponse{
		XMLName:   xml.Name{Space: ec2Namespace, Local: "DeleteSnapshotResponse"},
		RequestID: f.requestID(),
		Return:    true,
	}, nil
}

// snapshotID returns a new, unique snapshot id. f.mu must be held.
func (f *Fake) snapshotID() string {
	f.seq++
	return fmt.Sprintf("snap-%017x", f.seq)
}

// snapshotTags reads TagSpecification.N, which may only target snapshots.
func snapshotTags(form url.Values) ([]tag, *apiError) {
	var out []tag
	for i := 1; form.Has("TagSpecification." + strconv.Itoa(i) + ".ResourceType"); i++ {
		p := "TagSpecification." + strconv.Itoa(i)
		if rt := form.Get(p + ".ResourceType"); rt != "snapshot" {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		out = setTags(out, tags(form, p+".Tag"))
	}
	for _, t := range out {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return out, nil
}

type filter struct {
	name   string
	values []string
}

// snapshotFilters reads Filter.N.Name / Filter.N.Value.M, accepting the filters the fake knows.
func snapshotFilters(form url.Values) ([]filter, *apiError) {
	var out []filter
	for i := 1; form.Has("Filter." + strconv.Itoa(i) + ".Name"); i++ {
		p := "Filter." + strconv.Itoa(i)
		fl := filter{name: form.Get(p + ".Name"), values: list(form, p+".Value")}
		switch {
		case fl.name == "volume-id", fl.name == "snapshot-id", fl.name == "status", fl.name == "tag-key",
			strings.HasPrefix(fl.name, "tag:"):
		default:
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The filter '%s' is invalid", fl.name)
		}
		out = append(out, fl)
	}
	return out, nil
}

func matchFilters(s *ebsSnapshot, filters []filter) bool {
	for _, fl := range filters {
		var have []string
		switch {
		case fl.name == "volume-id":
			have = []string{s.volume}
		case fl.name == "snapshot-id":
			have = []string{s.id}
		case fl.name == "status":
			have = []string{ebsStatus(s.state)}
		case fl.name == "tag-key":
			for _, t := range s.tags {
				have = append(have, t.Key)
			}
		default: // tag:Key
			key := strings.TrimPrefix(fl.name, "tag:")
			for _, t := range s.tags {
				if t.Key == key {
					have = append(have, t.Value)
				}
			}
		}
		if !slices.ContainsFunc(fl.values, func(v string) bool { return slices.Contains(have, v) }) {
			return false
		}
	}
	return true
}

func ebsStatus(state int) string {
	return map[int]string{inProgress: "pending", ready: "completed", failed: "error"}[state]
}

// EC2 response documents, with the element names of the SDK's ec2query deserializers.

type snapshotXML struct {
	SnapshotID  string      `xml:"snapshotId"`
	VolumeID    string      `xml:"volumeId"`
	Status      string      `xml:"status"`
	StartTime   string      `xml:"startTime"`
	Progress    string      `xml:"progress"`
	OwnerID     string      `xml:"ownerId"`
	VolumeSize  int64       `xml:"volumeSize"`
	Description string      `xml:"description"`
	Encrypted   bool        `xml:"encrypted"`
	KmsKeyID    string      `xml:"kmsKeyId,omitempty"`
	StorageTier string      `xml:"storageTier"`
	Tags        []ec2TagXML `xml:"tagSet>item,omitempty"`
}

type ec2TagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type createSnapshotResponse struct {
	XMLName   xml.Name
	RequestID string `xml:"requestId"`
	snapshotXML
}

type describeSnapshotsResponse struct {
	XMLName   xml.Name
	RequestID string        `xml:"requestId"`
	Snapshots []snapshotXML `xml:"snapshotSet>item"`
	NextToken string        `xml:"nextToken,omitempty"`
}

type copySnapshotResponse struct {
	XMLName    xml.Name
	RequestID  string      `xml:"requestId"`
	SnapshotID string      `xml:"snapshotId"`
	Tags       []ec2TagXML `xml:"tagSet>item,omitempty"`
}

type deleteSnapshotResponse struct {
	XMLName   xml.Name
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
}

// snapshotXML renders s. f.mu must be held.
func (f *Fake) snapshotXML(s *ebsSnapshot) snapshotXML {
	x := snapshotXML{
		SnapshotID:  s.id,
		VolumeID:    s.volume,
		Status:      ebsStatus(s.state),
		StartTime:   timestamp(s.created),
		Progress:    strconv.Itoa(f.percent(&s.lifecycle)) + "%",
		OwnerID:     Account,
		VolumeSize:  s.size,
		Description: s.description,
		Encrypted:   s.kmsKeyID != "",
		KmsKeyID:    s.kmsKeyID,
		StorageTier: "standard",
	}
	for _, t := range s.tags {
		x.Tags = append(x.Tags, ec2TagXML(t))
	}
	return x
}
