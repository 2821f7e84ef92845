package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"
)

const (
	autoScalingNamespace  = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	autoScalingAPIVersion = "2011-01-01"
)

// Lifecycle states of an Auto Scaling group's instances.
const (
	asgPending     = "Pending"
	asgInService   = "InService"
	asgTerminating = "Terminating"
)

// scalingGroup is an Auto Scaling group.
type scalingGroup struct {
	name              string
	min, max, desired int32
	created           time.Time
	instances         []*scalingInstance // oldest first
}

type scalingInstance struct {
	id        string
	state     string // asgPending, asgInService or asgTerminating
	describes int    // describes seen while pending or terminating
}

// AddAutoScalingGroup registers an Auto Scaling group in the region with desired instances, all
// InService. When its desired capacity changes, new instances are Pending and removed ones
// Terminating until they have been described SetTransitionAfter times.
func (f *Fake) AddAutoScalingGroup(regionName, name string, minSize, maxSize, desired int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &scalingGroup{name: name, min: minSize, max: maxSize, desired: desired, created: f.now()}
	for range desired {
		g.instances = append(g.instances, &scalingInstance{id: f.instanceID(), state: asgInService})
	}
	f.foRegion(regionName).groups[name] = g
}

// instanceID returns a new, unique EC2 instance id. f.mu must be held.
func (f *Fake) instanceID() string {
	f.seq++
	return fmt.Sprintf("i-%017x", f.seq)
}

func (f *Fake) serveAutoScaling(regionName, action string, form url.Values) (any, *apiError) {
	if v := form.Get("Version"); v != autoScalingAPIVersion {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported API version %q", v)
	}
	r := f.foRegion(regionName)
	switch action {
	case "DescribeAutoScalingGroups":
		return f.describeAutoScalingGroups(regionName, r, form)
	case "SetDesiredCapacity":
		return f.setDesiredCapacity(r, form)
	}
	return nil, errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action)
}

func (f *Fake) describeAutoScalingGroups(regionName string, r *failoverRegion, form url.Values) (any, *apiError) {
	size := f.pageSize
	if v := form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, errorf(http.StatusBadRequest, "ValidationError", "MaxRecords must be between 1 and 100, got %q", v)
		}
		size = min(size, n)
	}
	names := list(form, "AutoScalingGroupNames.member")
	var matches []*scalingGroup
	for _, g := range r.groups {
		// Names that match no group are left out, not an error.
		if len(names) == 0 || slices.Contains(names, g.name) {
			matches = append(matches, g)
		}
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].name < matches[j].name })
	pageItems, next, aerr := page(matches, form.Get("NextToken"), size)
	if aerr != nil {
		return nil, aerr
	}
	res := describeAutoScalingGroupsResult{NextToken: next}
	for _, g := range pageItems {
		g.progress(f)
		res.AutoScalingGroups = append(res.AutoScalingGroups, scalingGroupXMLOf(regionName, g))
	}
	return f.queryResponse(autoScalingNamespace, "DescribeAutoScalingGroups", res), nil
}

// progress moves the group's pending and terminating instances along. f.mu must be held.
func (g *scalingGroup) progress(f *Fake) {
	var kept []*scalingInstance
	for _, inst := range g.instances {
		switch {
		case inst.state == asgPending && f.settled(&inst.describes):
			inst.state = asgInService
		case inst.state == asgTerminating && f.settled(&inst.describes):
			continue // gone
		}
		kept = append(kept, inst)
	}
	g.instances = kept
}

func (f *Fake) setDesiredCapacity(r *failoverRegion, form url.Values) (any, *apiError) {
	name := form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	n64, err := strconv.ParseInt(form.Get("DesiredCapacity"), 10, 32)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value %q at 'desiredCapacity' failed to satisfy constraint: Member must be an integer", form.Get("DesiredCapacity"))
	}
	n := int32(n64)
	g, ok := r.groups[name]
	switch {
	case !ok:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	case n > g.max:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.max)
	case n < g.min:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.min)
	case form.Get("HonorCooldown") == "true" && g.scaling():
		return nil, errorf(http.StatusBadRequest, "ScalingActivityInProgress", "Scaling activity for %s is in progress and blocks this action.", name)
	}
	g.desired = n
	var active []*scalingInstance
	for _, inst := range g.instances {
		if inst.state != asgTerminating {
			active = append(active, inst)
		}
	}
	for i := int32(len(active)); i < n; i++ {
		g.instances = append(g.instances, &scalingInstance{id: f.instanceID(), state: asgPending})
	}
	// Scale in newest first.
	for i := len(active) - 1; i >= int(n); i-- {
		active[i].state, active[i].describes = asgTerminating, 0
	}
	return f.queryResponse(autoScalingNamespace, "SetDesiredCapacity", nil), nil
}

// scaling reports whether instances are being launched or terminated.
func (g *scalingGroup) scaling() bool {
	return slices.ContainsFunc(g.instances, func(inst *scalingInstance) bool { return inst.state != asgInService })
}

// queryResponse wraps result (when not nil) in the XResponse and XResult elements of a Query
// protocol service's namespace. f.mu must be held.
func (f *Fake) queryResponse(namespace, action string, result any) rdsEnvelope {
	e := rdsEnvelope{XMLName: xml.Name{Space: namespace, Local: action + "Response"}}
	if result != nil {
		e.Result = resultElement{XMLName: xml.Name{Local: action + "Result"}, Body: result}
	}
	e.ResponseMetadata.RequestID = f.requestID()
	return e
}

type describeAutoScalingGroupsResult struct {
	AutoScalingGroups []scalingGroupXML `xml:"AutoScalingGroups>member"`
	NextToken         string            `xml:",omitempty"`
}

type scalingGroupXML struct {
	AutoScalingGroupName   string
	AutoScalingGroupARN    string
	MinSize                int32
	MaxSize                int32
	DesiredCapacity        int32
	DefaultCooldown        int32
	AvailabilityZones      []string `xml:"AvailabilityZones>member"`
	HealthCheckType        string
	HealthCheckGracePeriod int32
	CreatedTime            string
	Instances              []scalingInstanceXML `xml:"Instances>member"`
}

type scalingInstanceXML struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	ProtectedFromScaleIn bool
}

func scalingGroupXMLOf(regionName string, g *scalingGroup) scalingGroupXML {
	x := scalingGroupXML{
		AutoScalingGroupName: g.name,
		AutoScalingGroupARN: "arn:aws:autoscaling:" + regionName + ":" + Account +
			":autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/" + g.name,
		MinSize:                g.min,
		MaxSize:                g.max,
		DesiredCapacity:        g.desired,
		DefaultCooldown:        300,
		AvailabilityZones:      []string{regionName + "a", regionName + "b"},
		HealthCheckType:        "EC2",
		HealthCheckGracePeriod: 300,
		CreatedTime:            timestamp(g.created),
	}
	for i, inst := range g.instances {
		x.Instances = append(x.Instances, scalingInstanceXML{
			InstanceID:       inst.id,
			InstanceType:     "t3.micro",
			AvailabilityZone: x.AvailabilityZones[i%2],
			LifecycleState:   inst.state,
			HealthStatus:     "Healthy",
		})
	}
	return x
}
